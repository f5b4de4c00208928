//! The knowledge base at many articles: import, search and upsert times.

use super::{BoxError, Figures, pct, scratch};
use replygate::app::App;
use replygate::config::Config;
use std::fmt::Write as _;
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

pub(super) async fn knowledge_scale(
    articles: usize,
    figures: &mut Figures,
) -> Result<String, BoxError> {
    let folder = scratch("kb");
    let mut words = Words(42);
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
    let config = Config {
        knowledge_dir: folder.clone(),
        data_dir: scratch("kbdata"),
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
    let _ = std::fs::remove_dir_all(&folder);
    let _ = std::fs::remove_dir_all(&data);
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
    Ok(md)
}
