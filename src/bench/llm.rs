//! The gateway's own time around a slow LLM: a fake OpenAI-compatible
//! endpoint that answers after a fixed delay, and what the gateway adds.

use super::load::{Pace, drive, start, stop, ticket, warm_up};
use super::{BoxError, Figures, pct};
use replygate::config::{Config, EmbeddingConfig};
use replygate::testkit::{FakeLlm, FakeResponse};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

/// Sum and count of a histogram in this process's registry.
fn histogram(name: &str) -> (f64, u64) {
    prometheus::gather()
        .iter()
        .filter(|f| f.name() == name)
        .flat_map(|f| f.get_metric())
        .map(|m| {
            let h = m.get_histogram();
            (h.get_sample_sum(), h.get_sample_count())
        })
        .fold((0.0, 0), |(s, c), (s2, c2)| (s + s2, c + c2))
}

/// The [`ticket`] in a request body, if any.
fn find_ticket(body: &str) -> Option<String> {
    let at = body.find("tkt")? + 3;
    let rest: String = body[at..]
        .chars()
        .take_while(char::is_ascii_lowercase)
        .collect();
    Some(format!("tkt{rest}"))
}

/// The fake LLM (the one the tests use), on a thread and runtime of its own
/// so it takes no time from the gateway's workers, answering every request
/// after `delay`.
fn fake_llm(delay: Duration) -> FakeLlm {
    let reply = "To block a contact, open the chat, tap the contact's name and choose Block. [1]";
    let answer = FakeResponse::answer(reply, &[1], true, 0.9).delayed(delay);
    FakeLlm::start_on_own_thread(move |_, _| answer.clone())
}

/// How long `llm` held each request so far, in ms, by the ticket in its prompt.
fn holds_by_ticket(llm: &FakeLlm) -> HashMap<String, f64> {
    llm.holds()
        .into_iter()
        .filter_map(|(request, held)| {
            find_ticket(&request.to_string()).map(|t| (t, held.as_secs_f64() * 1000.0))
        })
        .collect()
}

pub(super) async fn llm_overhead(
    knowledge: &Path,
    seconds: u64,
    figures: &mut Figures,
) -> Result<String, BoxError> {
    let llm = fake_llm(Duration::from_millis(500));
    let mut config = Config {
        knowledge_dir: knowledge.to_path_buf(),
        embedding: EmbeddingConfig::none(),
        ..Config::default()
    };
    config.llm.base_url = llm.base_url();
    config.llm.model = "fake-500ms".into();
    config.llm.max_concurrency = 64;
    let server = start(config).await?;
    warm_up(server.grpc_addr).await?;
    let mut md = String::new();
    writeln!(
        md,
        "## The gateway's own time around an LLM\n\nA local OpenAI-compatible fake, on a thread of its own, answers every request after 500 ms and records how long it held each one (its timer wakes up to a millisecond late). The added time of a draft is its CreateDraft latency minus the fake's own time for it: language detection, PII masking, retrieval, prompt, the HTTP exchange with the LLM, parsing, scoring, the durable commit and gRPC. Each request carries a ticket in its `context`, which reaches the fake inside the prompt, so the two are paired exactly.\n"
    )?;
    writeln!(
        md,
        "| concurrent clients | drafts | drafts/s | added p50 | added p99 | added mean | of which the HTTP exchange with the LLM, mean |\n|---|---|---|---|---|---|---|"
    )?;
    // One client back to back; more clients spread evenly over time (each
    // sending every 640 ms), as independent conversations arrive, rather
    // than all in step, which would make every draft wait for the others'
    // post-processing when their LLM answers land together.
    let levels = [
        (1usize, Pace::BackToBack, seconds * 4),
        (16, Pace::Offered(25.0), seconds * 2),
        (64, Pace::Offered(100.0), seconds * 2),
    ];
    for (clients, pace, secs) in levels {
        eprintln!("  {clients} clients");
        let (sum0, count0) = histogram("replygate_llm_request_seconds");
        let tag = format!("llm{clients}");
        let run = drive(&[server.grpc_addr], clients, secs, &tag, pace, true).await?;
        let (sum1, count1) = histogram("replygate_llm_request_seconds");
        let holds = holds_by_ticket(&llm);
        let held: Vec<(f64, f64)> = run
            .samples
            .iter()
            .filter_map(|(conversation, ms)| holds.get(&ticket(conversation)).map(|h| (*ms, *h)))
            .collect();
        if held.len() != run.samples.len() {
            return Err(format!(
                "{} of {} drafts did not reach the fake LLM",
                run.samples.len() - held.len(),
                run.samples.len()
            )
            .into());
        }
        let mut added: Vec<f64> = held.iter().map(|(ms, h)| ms - h).collect();
        added.sort_by(f64::total_cmp);
        let n = held.len().max(1) as f64;
        let mean_added = added.iter().sum::<f64>() / n;
        let mean_held = held.iter().map(|(_, h)| h).sum::<f64>() / n;
        let http_ms = (sum1 - sum0) * 1000.0 / (count1 - count0).max(1) as f64 - mean_held;
        writeln!(
            md,
            "| {clients} | {} | {:.1} | {:.1} ms | {:.1} ms | {mean_added:.1} ms | {http_ms:.1} ms |",
            held.len(),
            run.rps,
            pct(&added, 0.5),
            pct(&added, 0.99),
        )?;
        figures
            .llm_added
            .push((clients, pct(&added, 0.5), mean_added));
    }
    writeln!(md)?;
    stop(server).await;
    Ok(md)
}
