//! The local embedder on this machine: how long the model takes to load,
//! a question's embedding alone and with a second caller, passages in
//! batches of 32, and the process's memory. Texts are the help center's own
//! paragraphs and titles.

use super::{BoxError, pct};
use replygate::config::{EmbeddingConfig, EmbeddingProvider};
use replygate::embedding::{self, Embedder, Side};
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

/// Resident and peak memory of this process, in MiB (Linux; 0 elsewhere).
fn memory_mib() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Paragraphs (passages) and first lines (question-like titles) of the
/// Markdown files under `knowledge`.
fn texts(knowledge: &Path) -> Result<(Vec<String>, Vec<String>), BoxError> {
    let mut passages = Vec::new();
    let mut titles = Vec::new();
    let mut dirs = vec![knowledge.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "md") {
                let text = std::fs::read_to_string(&path)?;
                for p in text.split("\n\n").map(str::trim).filter(|p| p.len() > 40) {
                    passages.push(p.to_string());
                }
                if let Some(t) = text.lines().find(|l| l.starts_with("title:")) {
                    titles.push(t.trim_start_matches("title:").trim().to_string());
                }
            }
        }
    }
    if passages.is_empty() || titles.is_empty() {
        return Err(format!("no Markdown paragraphs under {}", knowledge.display()).into());
    }
    Ok((passages, titles))
}

/// The Markdown section for the model in `model_dir`.
pub async fn local_embedder(model_dir: &Path, knowledge: &Path) -> Result<String, BoxError> {
    let (passages, questions) = texts(knowledge)?;
    let (rss_before, _) = memory_mib();
    let config = EmbeddingConfig {
        provider: EmbeddingProvider::Local,
        model_dir: model_dir.to_path_buf(),
        ..EmbeddingConfig::default()
    };
    let started = Instant::now();
    let e = embedding::open(&config, Path::new("."))
        .await?
        .ok_or("provider local gave no embedder")?;
    let load_ms = started.elapsed().as_secs_f64() * 1e3;
    let (rss_loaded, _) = memory_mib();

    // Warm up, then one question at a time.
    e.embed(Side::Query, &questions[..8.min(questions.len())])
        .await?;
    let rounds = 200;
    let mut alone = Vec::with_capacity(rounds);
    for i in 0..rounds {
        let q = std::slice::from_ref(&questions[i % questions.len()]);
        let t = Instant::now();
        e.embed(Side::Query, q).await?;
        alone.push(t.elapsed().as_secs_f64() * 1e3);
    }
    alone.sort_by(f64::total_cmp);
    let two_callers = concurrent_queries(&e, &questions, 2, rounds).await?;

    // As indexing calls it: many passages at once, which the embedder sorts
    // by length and runs in batches of 32; and a few one at a time.
    let sample: Vec<String> = passages.iter().take(640).cloned().collect();
    let t = Instant::now();
    e.embed(Side::Passage, &sample).await?;
    let per_passage = t.elapsed().as_secs_f64() * 1e3 / sample.len() as f64;
    let chars = sample.iter().map(String::len).sum::<usize>() / sample.len();
    let few = &sample[..64.min(sample.len())];
    let t = Instant::now();
    for p in few {
        e.embed(Side::Passage, std::slice::from_ref(p)).await?;
    }
    let per_passage_alone = t.elapsed().as_secs_f64() * 1e3 / few.len() as f64;
    let (rss_after, peak) = memory_mib();

    let mut md = String::new();
    writeln!(
        md,
        "## Local embedder\n\nModel folder `{}`: {} dimensions, id `{}`.\n",
        model_dir.display(),
        e.dims(),
        e.id()
    )?;
    writeln!(md, "| measure | value |\n|---|---|")?;
    writeln!(
        md,
        "| load (read config, tokenizer, map weights, one probe) | {load_ms:.0} ms |"
    )?;
    writeln!(
        md,
        "| a question alone ({rounds} help-center titles) | p50 {:.1} ms, p99 {:.1} ms |",
        pct(&alone, 0.5),
        pct(&alone, 0.99)
    )?;
    writeln!(
        md,
        "| questions from 2 callers at once | {two_callers:.0} questions/s |"
    )?;
    writeln!(
        md,
        "| passages, {} in one call (batches of 32 by length; {chars} bytes on average) | {per_passage:.1} ms a passage |",
        sample.len()
    )?;
    writeln!(
        md,
        "| passages one at a time ({} of them) | {per_passage_alone:.1} ms a passage |",
        few.len()
    )?;
    writeln!(
        md,
        "| resident memory: before, loaded, after the runs (peak) | {rss_before:.0} / {rss_loaded:.0} / {rss_after:.0} MiB ({peak:.0} peak) |\n"
    )?;
    Ok(md)
}

/// Questions per second with `callers` embedding one question after another.
async fn concurrent_queries(
    e: &Arc<dyn Embedder>,
    questions: &[String],
    callers: usize,
    rounds: usize,
) -> Result<f64, BoxError> {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..callers {
        let e = Arc::clone(e);
        let questions = questions.to_vec();
        tasks.push(tokio::spawn(async move {
            for i in 0..rounds / callers {
                let q = std::slice::from_ref(&questions[(i * callers + c) % questions.len()]);
                e.embed(Side::Query, q).await?;
            }
            Ok::<_, embedding::Error>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok((rounds / callers * callers) as f64 / started.elapsed().as_secs_f64())
}
