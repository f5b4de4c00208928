//! The gateway's own time around a slow LLM: a fake OpenAI-compatible
//! endpoint that answers after a fixed delay, and what the gateway adds.

use super::load::{Pace, drive, start, ticket, warm_up};
use super::{BoxError, Figures, pct};
use replygate::config::Config;
use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;

/// Sum and count of a histogram in this process's registry.
pub(super) fn histogram(name: &str) -> (f64, u64) {
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

/// How long the fake LLM held each request, in ms, by the ticket in its prompt.
pub(super) type Holds = std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, f64>>>;

/// The [`ticket`] in a request body, if any.
pub(super) fn find_ticket(body: &str) -> Option<String> {
    let at = body.find("tkt")? + 3;
    let rest: String = body[at..]
        .chars()
        .take_while(char::is_ascii_lowercase)
        .collect();
    Some(format!("tkt{rest}"))
}

/// An OpenAI-compatible endpoint that answers every request after `delay`,
/// on a thread and runtime of its own (so it takes no time from the
/// gateway's workers), and records how long it held each request.
pub(super) fn fake_llm(delay: Duration) -> Result<(std::net::SocketAddr, Holds), BoxError> {
    use axum::routing::post;
    let answer = serde_json::json!({
        "choices": [{ "message": { "content": serde_json::json!({ "reply": "To block a contact, open the chat, tap the contact's name and choose Block. [1]", "citations": [1], "answerable": true, "confidence": 0.9 }).to_string() }, "finish_reason": "stop" }]
    })
    .to_string();
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let holds = Holds::default();
    let recorded = holds.clone();
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        post(move |body: String| {
            let (answer, recorded) = (answer.clone(), recorded.clone());
            async move {
                let held = Instant::now();
                tokio::time::sleep(delay).await;
                if let Some(t) = find_ticket(&body) {
                    let ms = held.elapsed().as_secs_f64() * 1000.0;
                    recorded.lock().expect("not poisoned").insert(t, ms);
                }
                (
                    [(axum::http::header::CONTENT_TYPE, "application/json")],
                    answer,
                )
            }
        }),
    );
    std::thread::Builder::new()
        .name("fake-llm".into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for the fake LLM");
            runtime.block_on(async move {
                if let Ok(listener) = TcpListener::from_std(listener) {
                    let _ = axum::serve(listener, app).await;
                }
            });
        })?;
    Ok((addr, holds))
}

pub(super) async fn llm_overhead(
    knowledge: &Path,
    seconds: u64,
    figures: &mut Figures,
) -> Result<String, BoxError> {
    let (llm, holds) = fake_llm(Duration::from_millis(500))?;
    let mut config = Config {
        knowledge_dir: knowledge.to_path_buf(),
        ..Config::default()
    };
    config.llm.base_url = format!("http://{llm}/v1");
    config.llm.model = "fake-500ms".into();
    config.llm.max_concurrency = 64;
    let server = start(config).await?;
    warm_up(server.addr).await?;
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
        let run = drive(&[server.addr], clients, secs, &tag, pace, true).await?;
        let (sum1, count1) = histogram("replygate_llm_request_seconds");
        let holds = holds.lock().expect("not poisoned");
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
    server.stop().await;
    Ok(md)
}
