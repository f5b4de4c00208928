//! The knowledge base at many articles: import, search and upsert times;
//! with a model, the start-up that embeds every passage, and hybrid search.

use super::{BoxError, Figures, pct, scratch};
use replygate::app::App;
use replygate::config::{Config, EmbeddingConfig, EmbeddingProvider};
use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

/// Deterministic pseudo-words, so every run indexes the same text.
pub(super) struct Words(u64);

impl Words {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    fn word(&mut self) -> String {
        const SYLLABLES: &[&str] = &[
            "ka", "lo", "mi", "ra", "te", "su", "no", "vi", "pe", "da", "ri", "zo", "ban", "tor",
            "mel", "fin",
        ];
        let n = 2 + (self.next() % 3) as usize;
        (0..n)
            .map(|_| SYLLABLES[(self.next() % SYLLABLES.len() as u64) as usize])
            .collect()
    }

    fn words(&mut self, n: usize) -> String {
        (0..n).map(|_| self.word()).collect::<Vec<_>>().join(" ")
    }
}

/// Writes `articles` generated articles (an intro and two sections) under `folder/en`.
fn generate(folder: &Path, articles: usize, words: &mut Words) -> Result<(), BoxError> {
    std::fs::create_dir_all(folder.join("en"))?;
    for i in 0..articles {
        let text = format!(
            "---\ntitle: {}\n---\n{}\n\n## {}\n{}\n\n## {}\n{}\n",
            words.words(4),
            words.words(30),
            words.words(3),
            words.words(60),
            words.words(3),
            words.words(60)
        );
        std::fs::write(folder.join("en").join(format!("article-{i}.md")), text)?;
    }
    Ok(())
}

pub(super) async fn knowledge_scale(
    articles: usize,
    model_dir: Option<&Path>,
    figures: &mut Figures,
) -> Result<String, BoxError> {
    let folder = scratch("kb");
    let mut words = Words(42);
    generate(&folder, articles, &mut words)?;
    let config = Config {
        knowledge_dir: folder.clone(),
        data_dir: scratch("kbdata"),
        embedding: EmbeddingConfig::none(),
        ..Config::default()
    };
    let data = config.data_dir.clone();
    let started = Instant::now();
    let app = App::open(config).await?;
    let import = started.elapsed().as_secs_f64();
    let mut lat = Vec::new();
    for _ in 0..500 {
        let q = words.words(3);
        let t = Instant::now();
        app.knowledge.search_in(&q, "en", 5).await?;
        lat.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    lat.sort_by(f64::total_cmp);
    let mut upsert = Vec::new();
    let mut visible = Vec::new();
    for i in 0..30 {
        let marker = format!("zzmarker{i}qq");
        let input = replygate::knowledge::ArticleInput {
            id: format!("en/fresh-{i}"),
            locale: "en".into(),
            title: format!("Fresh {marker}"),
            body: format!("{} {marker}", words.words(40)),
            ..Default::default()
        };
        let t = Instant::now();
        app.knowledge.upsert(input, "api").await?;
        upsert.push(t.elapsed().as_secs_f64() * 1000.0);
        let after = Instant::now();
        loop {
            let hits = app.knowledge.search_in(&marker, "en", 1).await?;
            if hits
                .hits
                .articles
                .first()
                .is_some_and(|h| h.article_id == format!("en/fresh-{i}"))
            {
                break;
            }
            if after.elapsed() > Duration::from_secs(5) {
                return Err("an upserted article was not found within 5 s".into());
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        visible.push(after.elapsed().as_secs_f64() * 1000.0);
    }
    upsert.sort_by(f64::total_cmp);
    visible.sort_by(f64::total_cmp);
    drop(app);
    let _ = std::fs::remove_dir_all(&data);
    let embedded = match model_dir {
        Some(model) => Some(embedded_start(&folder, model, &mut words).await),
        None => None,
    };
    let _ = std::fs::remove_dir_all(&folder);
    let embedded = embedded.transpose()?;
    let mut md = String::new();
    writeln!(
        md,
        "## Knowledge at {articles} articles\n\nGenerated articles (an intro and two sections, ~150 words) synced from a folder into SQLite and the index at start-up; then 500 searches of 3 random words; then 30 UpsertArticle calls, each followed by a search for a word only the new article has.\n"
    )?;
    writeln!(md, "| measure | value |\n|---|---|")?;
    writeln!(
        md,
        "| import {articles} articles (store + index, one commit) | {import:.1} s |"
    )?;
    writeln!(
        md,
        "| search p50 / p99 | {:.2} ms / {:.2} ms |",
        pct(&lat, 0.5),
        pct(&lat, 0.99)
    )?;
    writeln!(
        md,
        "| UpsertArticle p50 / p99 (store commit + index commit) | {:.1} ms / {:.1} ms |",
        pct(&upsert, 0.5),
        pct(&upsert, 0.99)
    )?;
    writeln!(
        md,
        "| from UpsertArticle returning to found, max | {:.2} ms |",
        visible.last().copied().unwrap_or(0.0)
    )?;
    figures.upsert_visible_max = visible.last().copied();
    writeln!(md)?;
    if let Some(e) = embedded {
        md.push_str(&e.markdown(articles)?);
        figures.index_embedded = Some((e.model.clone(), articles, e.start_s));
    }
    Ok(md)
}

/// A start with embeddings on a fresh data dir.
struct EmbeddedStart {
    model: String,
    /// Loading the model alone, measured apart.
    load_s: f64,
    /// `App::open`: store, model, `Knowledge::open` and the folder sync.
    start_s: f64,
    passages: i64,
    /// Hybrid `search_in` times, sorted, ms.
    search: Vec<f64>,
}

impl EmbeddedStart {
    fn markdown(&self, articles: usize) -> Result<String, BoxError> {
        let mut md = String::new();
        let embed_s = (self.start_s - self.load_s).max(1e-9);
        writeln!(
            md,
            "**With embeddings** ({}): the same {articles} articles, a fresh data dir, `[embedding] provider = \"local\"`. Start-up is `App::open`: the store, the model, `Knowledge::open` and the folder sync, which indexes every article and embeds each of its passages in batches of `[embedding] batch_size` (32), storing the vectors. The generated pseudo-words split into several word pieces each, so a passage here is more tokens than English text of the same length.\n",
            self.model
        )?;
        writeln!(md, "| measure | value |\n|---|---|")?;
        writeln!(
            md,
            "| start with embeddings (store + model + index + {} passages embedded) | {:.0} s ({:.1} min) |",
            self.passages,
            self.start_s,
            self.start_s / 60.0
        )?;
        writeln!(
            md,
            "| of which loading the model (measured apart) | {:.1} s |",
            self.load_s
        )?;
        writeln!(
            md,
            "| passages embedded per second (start-up less the model's load) | {:.1} |",
            self.passages as f64 / embed_s
        )?;
        writeln!(
            md,
            "| hybrid search p50 / p99 (the question embedded, BM25, {} passages scanned) | {:.2} ms / {:.2} ms |\n",
            self.passages,
            pct(&self.search, 0.5),
            pct(&self.search, 0.99)
        )?;
        Ok(md)
    }
}

/// Opens the articles in `folder` with the local embedder on `model_dir`,
/// then runs 200 hybrid searches of 3 random words.
async fn embedded_start(
    folder: &Path,
    model_dir: &Path,
    words: &mut Words,
) -> Result<EmbeddedStart, BoxError> {
    eprintln!("  start-up with embeddings from {}", model_dir.display());
    let t = Instant::now();
    drop(super::scifact_hybrid::open_local(model_dir).await?);
    let load_s = t.elapsed().as_secs_f64();
    let config = Config {
        knowledge_dir: folder.to_path_buf(),
        data_dir: scratch("kbdense"),
        embedding: EmbeddingConfig {
            provider: EmbeddingProvider::Local,
            model_dir: model_dir.to_path_buf(),
            ..EmbeddingConfig::default()
        },
        ..Config::default()
    };
    let data = config.data_dir.clone();
    let started = Instant::now();
    let app = App::open(config).await?;
    app.knowledge.index_passages().await?;
    let start_s = started.elapsed().as_secs_f64();
    if app.knowledge.embedder().is_none() {
        return Err(format!("{}: the app opened without embeddings", model_dir.display()).into());
    }
    let passages = super::load::dense_passages();
    let mut search = Vec::new();
    for _ in 0..200 {
        let q = words.words(3);
        let t = Instant::now();
        app.knowledge.search_in(&q, "en", 5).await?;
        search.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    search.sort_by(f64::total_cmp);
    drop(app);
    let _ = std::fs::remove_dir_all(&data);
    Ok(EmbeddedStart {
        model: super::scifact_hybrid::model_name(model_dir),
        load_s,
        start_s,
        passages,
        search,
    })
}
