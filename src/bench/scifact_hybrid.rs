//! SciFact with embeddings, ranked the way `Knowledge::search_with` ranks:
//! every passage as the index splits the abstracts, embedded as the product
//! embeds it (`dense::passage_text`, `Side::Passage`; the vectors are cached
//! between runs by [`super::vectors`]); each test query embedded alone
//! (`Side::Query`); BM25 `search` for the limit's articles (100 here) with
//! their coverage, the dense index's best passage of every article, and
//! `hybrid::fuse` with the `[retrieval]` defaults. Beside it: each side
//! alone, two other candidate sets, and a sweep of `dense_weight` (chosen on
//! these same test queries, so optimistic, and not the product's setting).

use super::scifact::{Scifact, judge, mean};
use super::{BoxError, pct, vectors};
use replygate::config::{EmbeddingConfig, EmbeddingProvider, RetrievalConfig};
use replygate::embedding::{self, Embedder, Side};
use replygate::knowledge::dense::{self, ArticleVectors, DenseHit, DenseIndex};
use replygate::knowledge::hybrid::{self, Fused, Fusion, Lexical};
use replygate::knowledge::parse;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

/// Articles asked for, as in the lexical rows; also what the dense-top-100
/// candidate set keeps.
const LIMIT: usize = 100;

/// The fewest lexical candidates `search_with` takes (its `LEXICAL_CANDIDATES`):
/// what a search for 10 articles fuses.
const FEW: usize = 10;

/// `dense_weight` values tried besides the product's.
const SWEEP: [f32; 5] = [0.3, 0.6, 0.7, 0.8, 0.9];

/// The headline figures, for the report's targets.
pub struct Headline {
    /// The model folder's name.
    pub model: String,
    /// The product's fusion.
    pub ndcg10: f64,
    pub dense_only: f64,
    /// The best of the sweep: its weight and nDCG@10.
    pub best_sweep: (f32, f64),
}

/// The product's fusion: `[retrieval]`'s defaults.
fn product_fusion() -> Fusion {
    let r = RetrievalConfig::default();
    Fusion {
        dense_weight: r.dense_weight,
        cross_language_margin: r.cross_language_margin,
    }
}

/// One test query's evidence from both sides, and what each step took (ms).
struct Evidence {
    lexical: Vec<Lexical>,
    /// Every article, by its best passage, best first.
    dense: Vec<DenseHit>,
    embed_ms: f64,
    lexical_ms: f64,
    dense_ms: f64,
    fuse_ms: f64,
}

/// Each article's passage texts as the product embeds them, in passage order.
fn passage_texts(s: &Scifact) -> Vec<Vec<String>> {
    s.articles
        .iter()
        .map(|a| {
            parse::passages(&a.body)
                .iter()
                .map(|p| dense::passage_text(&a.title, &p.heading, &p.text))
                .collect()
        })
        .collect()
}

/// The dense index over every passage's vector (`vectors` in article, then
/// passage order).
fn dense_index(
    s: &Scifact,
    per_article: &[Vec<String>],
    vectors: Vec<Vec<f32>>,
    dims: usize,
) -> DenseIndex {
    let mut next = vectors.into_iter();
    let put = s
        .articles
        .iter()
        .zip(per_article)
        .map(|(a, texts)| ArticleVectors {
            article_id: a.id.clone(),
            locale: a.locale.clone(),
            vectors: next.by_ref().take(texts.len()).collect(),
        })
        .collect();
    let index = DenseIndex::new(dims);
    index.apply(put, &[]);
    index
}

/// Each test query's vector and the ms it took, one at a time after a few
/// untimed warm-up queries.
async fn embed_queries(
    e: &Arc<dyn Embedder>,
    s: &Scifact,
) -> Result<Vec<(Vec<f32>, f64)>, BoxError> {
    for q in s.warm_up.iter().take(16) {
        e.embed(Side::Query, std::slice::from_ref(q)).await?;
    }
    let mut out = Vec::with_capacity(s.queries.len());
    for (q, _) in &s.queries {
        let t = Instant::now();
        let v = e.embed(Side::Query, std::slice::from_ref(q)).await?;
        let ms = t.elapsed().as_secs_f64() * 1e3;
        out.push((v.into_iter().next().ok_or("no vector for a query")?, ms));
    }
    Ok(out)
}

/// Both sides' evidence for every test query, timed as `search_with` runs
/// them (lexical search, dense search over the `en` articles, fusion).
fn gather(
    s: &Scifact,
    dense: &DenseIndex,
    queries: Vec<(Vec<f32>, f64)>,
) -> Result<Vec<Evidence>, BoxError> {
    let fusion = product_fusion();
    let mut out = Vec::with_capacity(queries.len());
    for ((q, _), (vector, embed_ms)) in s.queries.iter().zip(queries) {
        let t = Instant::now();
        let hits = s.index.search(q, "en", LIMIT)?;
        let lexical_ms = t.elapsed().as_secs_f64() * 1e3;
        let lexical: Vec<Lexical> = hits
            .articles
            .into_iter()
            .map(|h| (h.article_id, h.score, h.coverage))
            .collect();
        let t = Instant::now();
        let near = dense.search(&vector, usize::MAX, |l| l == "en");
        let dense_ms = t.elapsed().as_secs_f64() * 1e3;
        let t = Instant::now();
        std::hint::black_box(hybrid::fuse(&lexical, &near, "en", fusion));
        let fuse_ms = t.elapsed().as_secs_f64() * 1e3;
        out.push(Evidence {
            lexical,
            dense: near,
            embed_ms,
            lexical_ms,
            dense_ms,
            fuse_ms,
        });
    }
    Ok(out)
}

/// A ranking's quality over the test queries.
struct Row {
    ndcg10: f64,
    recall100: f64,
}

/// Mean nDCG@10 and R@100 of `rank` over the test queries.
fn row(s: &Scifact, evidence: &[Evidence], rank: impl Fn(&Evidence) -> Vec<String>) -> Row {
    let (mut ndcg, mut recall) = (Vec::new(), Vec::new());
    for ((_, rels), ev) in s.queries.iter().zip(evidence) {
        let ids = rank(ev);
        let ranked: Vec<&str> = ids.iter().take(LIMIT).map(String::as_str).collect();
        let (n, r) = judge(&ranked, rels);
        ndcg.push(n);
        recall.push(r);
    }
    Row {
        ndcg10: mean(&ndcg),
        recall100: mean(&recall),
    }
}

/// The fused order of `lexical` and `dense` under `f`.
fn fused(lexical: &[Lexical], dense: &[DenseHit], f: Fusion) -> Vec<String> {
    hybrid::fuse(lexical, dense, "en", f)
        .into_iter()
        .map(|c: Fused| c.article_id)
        .collect()
}

/// Every ranking measured.
struct Quality {
    lexical: Row,
    dense: Row,
    /// The product's fusion on `search_with`'s candidates.
    product: Row,
    /// The product's fusion with the dense top [`LIMIT`] only.
    dense_top: Row,
    /// The product's fusion as a search for [`FEW`] articles fuses.
    few: Row,
    sweep: Vec<(f32, Row)>,
}

fn quality(s: &Scifact, evidence: &[Evidence]) -> Quality {
    let product = product_fusion();
    Quality {
        lexical: row(s, evidence, |ev| {
            ev.lexical.iter().map(|l| l.0.clone()).collect()
        }),
        dense: row(s, evidence, |ev| {
            ev.dense.iter().map(|h| h.article_id.to_string()).collect()
        }),
        product: row(s, evidence, |ev| fused(&ev.lexical, &ev.dense, product)),
        dense_top: row(s, evidence, |ev| {
            fused(&ev.lexical, &ev.dense[..LIMIT.min(ev.dense.len())], product)
        }),
        few: row(s, evidence, |ev| {
            fused(&ev.lexical[..FEW.min(ev.lexical.len())], &ev.dense, product)
        }),
        sweep: SWEEP
            .iter()
            .map(|&w| {
                let f = Fusion {
                    dense_weight: w,
                    ..product
                };
                (w, row(s, evidence, |ev| fused(&ev.lexical, &ev.dense, f)))
            })
            .collect(),
    }
}

/// One step's time (ms) in a query's evidence.
type Step = fn(&Evidence) -> f64;

/// p50 and p99 of one step's times.
fn spread(evidence: &[Evidence], step: Step) -> (f64, f64) {
    let mut xs: Vec<f64> = evidence.iter().map(step).collect();
    xs.sort_by(f64::total_cmp);
    (pct(&xs, 0.5), pct(&xs, 0.99))
}

/// The local embedder on `model_dir`, as `[embedding] provider = "local"` opens it.
pub(super) async fn open_local(model_dir: &Path) -> Result<Arc<dyn Embedder>, BoxError> {
    let config = EmbeddingConfig {
        provider: EmbeddingProvider::Local,
        model_dir: model_dir.to_path_buf(),
        ..EmbeddingConfig::default()
    };
    Ok(embedding::open(&config, Path::new("."))
        .await?
        .ok_or("provider local gave no embedder")?)
}

/// A model folder's name, for tables.
pub(super) fn model_name(model_dir: &Path) -> String {
    model_dir.file_name().map_or_else(
        || model_dir.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// What the passages' embedding took, for the text.
struct Embedding {
    id: String,
    dims: usize,
    passages: usize,
    seconds: f64,
    cached: bool,
    file: std::path::PathBuf,
}

/// The hybrid rows for the model in `model_dir`, as Markdown.
pub(super) async fn section(s: Scifact, model_dir: &Path) -> Result<(String, Headline), BoxError> {
    let e = open_local(model_dir).await?;
    let per_article = passage_texts(&s);
    let flat: Vec<String> = per_article.iter().flatten().cloned().collect();
    let embedded = vectors::passages(&e, "scifact", &flat).await?;
    let info = Embedding {
        id: e.id().to_string(),
        dims: e.dims(),
        passages: flat.len(),
        seconds: embedded.seconds,
        cached: embedded.cached,
        file: embedded.file,
    };
    let queries = embed_queries(&e, &s).await?;
    let dims = info.dims;
    let vectors = embedded.vectors;
    let (evidence, q) = tokio::task::spawn_blocking(move || {
        let dense = dense_index(&s, &per_article, vectors, dims);
        let evidence = gather(&s, &dense, queries)?;
        let q = quality(&s, &evidence);
        Ok::<_, BoxError>((evidence, q))
    })
    .await??;
    let model = model_name(model_dir);
    let md = markdown(&model, &info, &evidence, &q)?;
    let best_sweep = q
        .sweep
        .iter()
        .max_by(|a, b| a.1.ndcg10.total_cmp(&b.1.ndcg10))
        .map_or((0.0, 0.0), |(w, r)| (*w, r.ndcg10));
    let headline = Headline {
        model,
        ndcg10: q.product.ndcg10,
        dense_only: q.dense.ndcg10,
        best_sweep,
    };
    Ok((md, headline))
}

fn markdown(
    model: &str,
    info: &Embedding,
    evidence: &[Evidence],
    q: &Quality,
) -> Result<String, BoxError> {
    let product = product_fusion();
    let mut md = String::new();
    writeln!(
        md,
        "### Hybrid retrieval: {model}\n\nEmbedder `{}` ({} dimensions), `[embedding] provider = \"local\"`. The {} passages (the index's split of the abstracts, each embedded as `dense::passage_text(title, heading, text)`) embedded in calls of 256 texts: {:.0} s, {:.1} passages/s ({}). Each of the 300 test queries embedded alone, then ranked as `Knowledge::search_with` ranks a question: BM25 `search` for {LIMIT} articles with their coverage, the dense index's closeness of every article (its best passage with a fifth of its second), and `hybrid::fuse` with the `[retrieval]` defaults (dense_weight {}, cross_language_margin {}; the margin plays no part here, every abstract being English).\n",
        info.id,
        info.dims,
        info.passages,
        info.seconds,
        info.passages as f64 / info.seconds.max(1e-9),
        match info.cached {
            true => format!(
                "in an earlier run; this run read the vectors from `{}`",
                info.file.display()
            ),
            false => format!("this run; cached in `{}`", info.file.display()),
        },
        product.dense_weight,
        product.cross_language_margin
    )?;
    writeln!(md, "| ranking | nDCG@10 | R@100 |\n|---|---|---|")?;
    let line = |md: &mut String, name: &str, r: &Row| {
        writeln!(md, "| {name} | {:.4} | {:.4} |", r.ndcg10, r.recall100)
    };
    line(
        &mut md,
        "BM25 alone (`search`, product scoring)",
        &q.lexical,
    )?;
    line(
        &mut md,
        "dense alone (each article by its closeness)",
        &q.dense,
    )?;
    line(
        &mut md,
        &format!(
            "**hybrid, the product's fusion** (dense_weight {}): BM25 top {LIMIT} + every article's closeness, as `search_with`",
            product.dense_weight
        ),
        &q.product,
    )?;
    line(
        &mut md,
        &format!(
            "hybrid, the product's fusion, BM25 top {LIMIT} + dense top {LIMIT} only (the typical cosine then taken over those {LIMIT})"
        ),
        &q.dense_top,
    )?;
    line(
        &mut md,
        &format!(
            "hybrid, the product's fusion as a search for {FEW} articles fuses (BM25 top {FEW} + every article)"
        ),
        &q.few,
    )?;
    for (w, r) in &q.sweep {
        line(
            &mut md,
            &format!(
                "hybrid, dense_weight {w}: not the product default, chosen on these test queries"
            ),
            r,
        )?;
    }
    writeln!(
        md,
        "\nPer query, one at a time (the dense search scans all {} passages of 5,183 articles):\n\n| step | p50 | p99 |\n|---|---|---|",
        info.passages
    )?;
    let steps: [(&str, Step); 5] = [
        ("embed the query", |e| e.embed_ms),
        ("BM25 `search`, 100 articles", |e| e.lexical_ms),
        ("dense search", |e| e.dense_ms),
        ("`hybrid::fuse`", |e| e.fuse_ms),
        ("all four", |e| {
            e.embed_ms + e.lexical_ms + e.dense_ms + e.fuse_ms
        }),
    ];
    for (name, step) in steps {
        let (p50, p99) = spread(evidence, step);
        writeln!(md, "| {name} | {p50:.2} ms | {p99:.2} ms |")?;
    }
    writeln!(md)?;
    Ok(md)
}
