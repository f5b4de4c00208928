//! `replygate bench`: retrieval quality and speed on BEIR SciFact (beside the
//! Python peer bm25s), CreateDraft throughput and latency over real gRPC with
//! durable SQLite, the gateway's own time around a 500 ms LLM, and the
//! knowledge base at 10,000 articles. Given a model (`--model-dir`), also
//! the semantic side: hybrid retrieval on SciFact, CreateDraft and start-up
//! with the local embedder, the embedder itself and dense search at 100k
//! passages. Prints Markdown (docs/BENCHMARKS.md).

mod embedding;
mod llm;
mod load;
mod scale;
mod scifact;
mod scifact_hybrid;
mod vectors;

use llm::llm_overhead;
use load::{create_draft_embedded, create_draft_load, create_draft_postgres};
use scale::knowledge_scale;

use std::fmt::Write as _;
use std::path::PathBuf;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

pub struct Options {
    pub scifact: PathBuf,
    pub knowledge: PathBuf,
    /// Seconds per load level.
    pub seconds: u64,
    pub articles: usize,
    /// PostgreSQL to measure CreateDraft on with 1 and 2 replicas (a scratch schema is created).
    pub database_url: Option<String>,
    /// Sections to run; empty: all.
    pub only: Vec<Section>,
    /// A sentence model folder: the embedding section, and the semantic
    /// rows of the retrieval, drafts and knowledge sections.
    pub model_dir: Option<PathBuf>,
}

/// A section of the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Section {
    /// BEIR SciFact beside bm25s (and hybrid, with `--model-dir`).
    Retrieval,
    /// CreateDraft under load on SQLite (and with the local embedder, with `--model-dir`).
    Drafts,
    /// CreateDraft on PostgreSQL with 1 and 2 replicas (needs `--database-url`).
    Postgres,
    /// The gateway's own time around a 500 ms LLM.
    Llm,
    /// The knowledge base at `--articles` articles (and its start with embeddings, with `--model-dir`).
    Knowledge,
    /// The local embedder on `--model-dir`, and dense search at 100k passages.
    Embedding,
}

fn scratch(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "replygate-bench-{name}-{}",
        replygate::model::new_id()
    ))
}

fn pct(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 * q) as usize).min(sorted.len() - 1)]
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("MemTotal")).map(|l| {
                l.split_whitespace()
                    .nth(1)
                    .unwrap_or("0")
                    .parse::<f64>()
                    .unwrap_or(0.0)
                    / 1024.0
                    / 1024.0
            })
        })
        .unwrap_or(0.0);
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    format!(
        "{cores} cores ({cpu}), {mem:.0} GiB memory, {} {}, release build",
        std::env::consts::OS,
        std::env::consts::ARCH
    )
}

/// Runs every benchmark and returns the report as Markdown.
pub async fn run(opts: &Options) -> Result<String, BoxError> {
    let mut md = String::new();
    writeln!(
        md,
        "# Benchmarks\n\nProduced by `cargo run --release -- {}` on {} ({}).\nNumbers from one run on a shared 2-core machine; they move between runs (see the notes under each section).\n",
        std::env::args().skip(1).collect::<Vec<_>>().join(" "),
        machine(),
        replygate::model::rfc3339(replygate::model::now_ms())
    )?;
    let runs = |s: Section| opts.only.is_empty() || opts.only.contains(&s);
    let mut figures = Figures::default();
    if runs(Section::Retrieval) {
        eprintln!("retrieval: SciFact");
        let (section, headline) =
            scifact::section(&opts.scifact, opts.model_dir.as_deref()).await?;
        md.push_str(&section);
        figures.retrieval = Some(headline);
    }
    if runs(Section::Drafts) {
        eprintln!("CreateDraft under load");
        md.push_str(&create_draft_load(&opts.knowledge, opts.seconds, &mut figures).await?);
        if let Some(model) = &opts.model_dir {
            eprintln!("CreateDraft with the local embedder");
            md.push_str(
                &create_draft_embedded(&opts.knowledge, opts.seconds, model, &mut figures).await?,
            );
        }
    }
    if let Some(url) = &opts.database_url
        && runs(Section::Postgres)
    {
        eprintln!("CreateDraft on PostgreSQL, 1 and 2 replicas");
        md.push_str(&create_draft_postgres(&opts.knowledge, opts.seconds, url).await?);
    }
    if runs(Section::Llm) {
        eprintln!("gateway time around a 500 ms LLM");
        md.push_str(&llm_overhead(&opts.knowledge, opts.seconds, &mut figures).await?);
    }
    if runs(Section::Knowledge) {
        eprintln!("knowledge at {} articles", opts.articles);
        md.push_str(
            &knowledge_scale(opts.articles, opts.model_dir.as_deref(), &mut figures).await?,
        );
    }
    if runs(Section::Embedding) {
        match &opts.model_dir {
            Some(dir) => {
                eprintln!("local embedder on {}", dir.display());
                md.push_str(&embedding::local_embedder(dir, &opts.knowledge, &mut figures).await?);
            }
            None if opts.only.contains(&Section::Embedding) => {
                return Err("--only embedding needs --model-dir".into());
            }
            None => {}
        }
    }
    md.push_str(&targets(&figures)?);
    Ok(md)
}

/// What the sections measured that the targets are about.
#[derive(Default)]
struct Figures {
    retrieval: Option<scifact::Headline>,
    /// Back to back at 64 clients: drafts/s and p99 in ms.
    drafts_64: Option<(f64, f64)>,
    /// 64 clients offering 1,500 drafts/s: answered drafts/s and p99 in ms.
    drafts_offered_1500: Option<(f64, f64)>,
    /// Added time around the LLM per level: clients, p50 and mean in ms.
    llm_added: Vec<(usize, f64, f64)>,
    /// From UpsertArticle returning to the article found, worst case, ms.
    upsert_visible_max: Option<f64>,
    /// With the local embedder, 16 clients back to back: model, drafts/s, p50 in ms.
    drafts_embedded_16: Option<(String, f64, f64)>,
    /// Start-up with embeddings: model, articles, seconds.
    index_embedded: Option<(String, usize, f64)>,
    /// Dense search at 100k passages: dimensions, p50 and p99 in ms.
    dense_100k: Option<(usize, f64, f64)>,
}

/// The targets beside this run's figures.
fn targets(f: &Figures) -> Result<String, BoxError> {
    let mut md = String::new();
    writeln!(
        md,
        "## Targets\n\nThis run's figures beside the targets (benchmarks, never test assertions); the sections above say what bounds each.\n"
    )?;
    writeln!(md, "| target | this run | |\n|---|---|---|")?;
    let verdict = |met: bool| if met { "met" } else { "missed" };
    if let Some(r) = &f.retrieval {
        match r.peer_qps {
            Some(peer) => writeln!(
                md,
                "| retrieval ≥ 3× bm25s's queries/s, p99 ≤ 0.5 ms | {:.1}× ({:.0} vs {peer:.0} q/s), p99 {:.3} ms | {} |",
                r.qps / peer,
                r.qps,
                r.p99_ms,
                verdict(r.qps >= 3.0 * peer && r.p99_ms <= 0.5)
            )?,
            None => writeln!(
                md,
                "| retrieval ≥ 3× bm25s's queries/s, p99 ≤ 0.5 ms | {:.0} q/s, p99 {:.3} ms; bm25s did not run | |",
                r.qps, r.p99_ms
            )?,
        }
        writeln!(
            md,
            "| SciFact nDCG@10 ≥ 0.70 (product scoring) | {:.4} | {} |",
            r.ndcg10,
            verdict(r.ndcg10 >= 0.70)
        )?;
        if let Some(h) = &r.hybrid {
            writeln!(
                md,
                "| SciFact nDCG@10 ≥ 0.74 with hybrid retrieval ({}, the product's fusion) | {:.4} (BM25 alone {:.4}, dense alone {:.4}; best of the dense_weight sweep, not the default: {:.4} at {}) | {} |",
                h.model,
                h.ndcg10,
                r.ndcg10,
                h.dense_only,
                h.best_sweep.1,
                h.best_sweep.0,
                verdict(h.ndcg10 >= 0.74)
            )?;
        }
    }
    if let Some((rps, p99)) = f.drafts_64 {
        writeln!(
            md,
            "| ≥ 1,500 durable drafts/s at 64 clients with p99 ≤ 20 ms | back to back: {rps:.0}/s, p99 {p99:.1} ms | {} |",
            verdict(rps >= 1500.0 && p99 <= 20.0)
        )?;
    }
    if let Some((rps, p99)) = f.drafts_offered_1500 {
        writeln!(
            md,
            "| the same, 64 clients offering 1,500/s | {rps:.0}/s answered, p99 {p99:.1} ms | {} |",
            verdict(rps >= 1450.0 && p99 <= 20.0)
        )?;
    }
    for (clients, p50, mean) in &f.llm_added {
        writeln!(
            md,
            "| gateway's added time ≤ 1% of a 500 ms LLM (5 ms), {clients} client(s) | p50 {p50:.1} ms, mean {mean:.1} ms | {} |",
            verdict(*p50 <= 5.0 && *mean <= 5.0)
        )?;
    }
    if let Some((model, rps, p50)) = &f.drafts_embedded_16 {
        writeln!(
            md,
            "| CreateDraft with the local embedder ({model}), 16 clients: p50 ≤ 15 ms and ≥ 300 durable drafts/s | p50 {p50:.1} ms, {rps:.0}/s | {} |",
            verdict(*p50 <= 15.0 && *rps >= 300.0)
        )?;
    }
    if let Some((model, articles, secs)) = &f.index_embedded {
        writeln!(
            md,
            "| indexing 10,000 articles with embeddings ≤ 5 min ({model}) | {articles} articles in {:.1} min | {} |",
            secs / 60.0,
            match *articles == 10_000 {
                true => verdict(*secs <= 300.0),
                false => "not the target's size",
            }
        )?;
    }
    if let Some((dims, p50, p99)) = f.dense_100k {
        writeln!(
            md,
            "| exact dense search over 100k passages within the latency budget | {dims} dimensions: p50 {p50:.1} ms, p99 {p99:.1} ms ({:.0}% of a 15 ms CreateDraft p50) | no number set |",
            p50 / 15.0 * 100.0
        )?;
    }
    if let Some(max) = f.upsert_visible_max {
        writeln!(
            md,
            "| an upserted article searchable ≤ 1 s after UpsertArticle returns | worst {max:.2} ms | {} |",
            verdict(max <= 1000.0)
        )?;
    }
    writeln!(md)?;
    Ok(md)
}
