//! The local embedder on this machine: how long the model takes to load,
//! a question's embedding alone and with a second caller, passages in
//! batches of 32, and the process's memory. Texts are the help center's own
//! paragraphs and titles. Then the cost of exact dense search at 100k
//! passages of the model's dimensions.

use super::{BoxError, Figures, pct};
use replygate::config::{EmbeddingConfig, EmbeddingProvider};
use replygate::embedding::{self, Embedder, Side};
use replygate::knowledge::dense::{ArticleVectors, DenseIndex};
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
pub async fn local_embedder(
    model_dir: &Path,
    knowledge: &Path,
    figures: &mut Figures,
) -> Result<String, BoxError> {
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
    // Questions from several callers at once: 16 callers get twice the
    // questions, so that each still asks a couple of dozen.
    let mut at_once = Vec::new();
    for (callers, questions_asked) in [(2, rounds), (16, rounds * 2)] {
        let rate = concurrent_queries(&e, &questions, callers, questions_asked).await?;
        at_once.push((callers, rate));
    }

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
    for (callers, rate) in at_once {
        writeln!(
            md,
            "| questions from {callers} callers at once | {rate:.0} questions/s |"
        )?;
    }
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
    let dims = e.dims();
    drop(e);
    let dense = tokio::task::spawn_blocking(move || dense_search(dims)).await?;
    md.push_str(&dense.markdown(dims)?);
    figures.dense_100k = Some((dims, dense.search.0, dense.search.1));
    Ok(md)
}

/// Passages in the dense-search measurement, in articles of 3 passages
/// each (as the generated articles of the knowledge section have).
const DENSE_PASSAGES: usize = 100_000;
const PASSAGES_PER_ARTICLE: usize = 3;
const DENSE_QUERIES: usize = 200;

/// `n` unit vectors of `dims` from a fixed seed (xorshift): search cost does
/// not depend on the values, and every run scans the same ones.
fn unit_vectors(n: usize, dims: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut state = seed.max(1);
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    };
    (0..n)
        .map(|_| {
            let mut v: Vec<f32> = (0..dims).map(|_| next()).collect();
            embedding::normalize(&mut v);
            v
        })
        .collect()
}

/// Exact dense search's cost at [`DENSE_PASSAGES`]: p50 and p99 in ms.
struct DenseCost {
    /// `DenseIndex::search` as `search_with` calls it.
    search: (f64, f64),
    /// The dot products alone, over one flat matrix.
    scan: (f64, f64),
    articles: usize,
}

impl DenseCost {
    fn markdown(&self, dims: usize) -> Result<String, BoxError> {
        let mut md = String::new();
        writeln!(
            md,
            "### Dense search\n\nExact search over {DENSE_PASSAGES} passages of {dims} dimensions ({} articles of {PASSAGES_PER_ARTICLE} passages; {:.0} MiB of vectors), one thread, {DENSE_QUERIES} queries one at a time (seeded random unit vectors: the cost does not depend on the values).\n",
            self.articles,
            (DENSE_PASSAGES * dims * 4) as f64 / (1024.0 * 1024.0)
        )?;
        writeln!(md, "| measure | p50 | p99 |\n|---|---|---|")?;
        writeln!(
            md,
            "| `DenseIndex::search` as `search_with` calls it (every article's best passage, sorted) | {:.2} ms | {:.2} ms |",
            self.search.0, self.search.1
        )?;
        writeln!(
            md,
            "| of which the {DENSE_PASSAGES} dot products alone (`embedding::dot` over one flat matrix) | {:.2} ms | {:.2} ms |\n",
            self.scan.0, self.scan.1
        )?;
        Ok(md)
    }
}

/// p50 and p99 of `f` over the queries, in ms.
fn timed(queries: &[Vec<f32>], mut f: impl FnMut(&[f32])) -> (f64, f64) {
    let mut lat: Vec<f64> = queries
        .iter()
        .map(|q| {
            let t = Instant::now();
            f(q);
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    lat.sort_by(f64::total_cmp);
    (pct(&lat, 0.5), pct(&lat, 0.99))
}

/// Builds the dense index of [`DENSE_PASSAGES`] and times searching it.
fn dense_search(dims: usize) -> DenseCost {
    let vectors = unit_vectors(DENSE_PASSAGES, dims, 7);
    let flat: Vec<f32> = vectors.iter().flatten().copied().collect();
    let articles: Vec<ArticleVectors> = vectors
        .chunks(PASSAGES_PER_ARTICLE)
        .enumerate()
        .map(|(i, v)| ArticleVectors {
            article_id: format!("en/article-{i}"),
            locale: "en".into(),
            vectors: v.to_vec(),
        })
        .collect();
    let count = articles.len();
    let index = DenseIndex::new(dims);
    index.apply(articles, &[]);
    drop(vectors);
    let queries = unit_vectors(DENSE_QUERIES, dims, 11);
    // Once untimed, so the matrix is in cache as a running server's would be.
    index.search(&queries[0], usize::MAX, |l| l == "en");
    let search = timed(&queries, |q| {
        std::hint::black_box(index.search(q, usize::MAX, |l| l == "en"));
    });
    let scan = timed(&queries, |q| {
        let best = flat
            .chunks_exact(dims)
            .map(|v| embedding::dot(q, v))
            .fold(f32::MIN, f32::max);
        std::hint::black_box(best);
    });
    DenseCost {
        search,
        scan,
        articles: count,
    }
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
