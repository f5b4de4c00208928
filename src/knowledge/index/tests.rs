//! Tests of the index: scores against tantivy's own BM25, grouping,
//! ranking, replacing and removing articles, locales.

use super::*;
use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, BoostQuery, Occur, Query, TermQuery};

fn article(id: &str, locale: &str, title: &str, body: &str, tags: &[&str]) -> Article {
    Article {
        id: id.into(),
        locale: locale.into(),
        title: title.into(),
        body: body.into(),
        tags: tags.iter().map(|t| t.to_string()).collect(),
        url: format!("https://help.example/{id}"),
        version: 1,
        content_hash: String::new(),
        source: "test".into(),
        updated_at: 0,
        applies_to: Default::default(),
    }
}

fn help_center() -> Vec<Article> {
    vec![
        article(
            "en/backup",
            "en",
            "Back up your chats",
            "Backups keep your chats safe.\n\n## Turn on backups\nOpen Settings and choose a backup frequency.\n\n## Restore a backup\nReinstall the app and restore your chats from the backup.",
            &["backup"],
        ),
        article(
            "en/number",
            "en",
            "Change your phone number",
            "Move your account to a new phone number.\n\n## Before you start\nThe new number must receive SMS or calls.",
            &["account"],
        ),
        article(
            "en/storage",
            "en",
            "Manage storage",
            "See which chats use the most storage and delete large media from them.",
            &["space"],
        ),
    ]
}

/// Lucene's BM25 (what tantivy's queries score with) and the field weights
/// the scorer is compared at.
const TANTIVY_BM25: Bm25 = Bm25 {
    k1: 1.2,
    b: [0.75; 3],
    weights: [1.6, 1.0, 1.0],
};

fn index_with(articles: Vec<Article>) -> (tempfile::TempDir, SearchIndex) {
    let dir = tempfile::tempdir().unwrap();
    let mut index = SearchIndex::open(dir.path()).unwrap();
    index.set_scoring(TANTIVY_BM25);
    let changes: Vec<Change> = articles.into_iter().map(Change::Put).collect();
    index.apply(&changes).unwrap();
    (dir, index)
}

/// The best passage score per article of the BooleanQuery this scorer replaced.
fn tantivy_scores(index: &SearchIndex, query: &str) -> HashMap<String, f32> {
    let (terms, lf) = index.analyze(query, "en");
    let mut should: Vec<(Occur, Box<dyn Query>)> = Vec::new();
    for t in &terms {
        let [title, body, article] = TANTIVY_BM25.weights;
        for (field, boost) in [(lf.title, title), (lf.body, body), (lf.article, article)] {
            let q = TermQuery::new(
                Term::from_field_text(field, t),
                IndexRecordOption::WithFreqs,
            );
            should.push((Occur::Should, Box::new(BoostQuery::new(Box::new(q), boost))));
        }
    }
    let searcher = index.reader.searcher();
    let top = searcher
        .search(
            &BooleanQuery::new(should),
            &TopDocs::with_limit(1000).order_by_score(),
        )
        .unwrap();
    let mut best = HashMap::new();
    for (score, address) in top {
        let doc: TantivyDocument = searcher.doc(address).unwrap();
        let id = doc
            .get_first(index.fields.article_id)
            .and_then(|v| v.as_str())
            .unwrap()
            .to_string();
        best.entry(id).or_insert(score);
    }
    best
}

#[test]
fn default_scores_are_those_of_tantivys_boolean_query() {
    let (_dir, index) = index_with(help_center());
    for query in [
        "restore my chats from a backup",
        "new phone number",
        "delete media to free storage",
    ] {
        let expected = tantivy_scores(&index, query);
        let ranking = index.rank(query, "en", 10).unwrap();
        assert_eq!(ranking.articles.len(), expected.len(), "{query}");
        for a in &ranking.articles {
            let want = expected[&*a.article_id];
            assert!(
                (a.score - want).abs() <= 1e-4 * want,
                "{query}: {} scored {} instead of {want}",
                a.article_id,
                a.score
            );
        }
    }
}

#[test]
fn the_best_of_many_articles_come_in_order_at_any_limit() {
    let words = ["backup", "chats", "phone", "number", "storage", "media"];
    let articles = (0..300)
        .map(|i| {
            let body: Vec<&str> = (0..(i % 7 + 1)).map(|j| words[(i + j) % 6]).collect();
            article(
                &format!("en/a{i}"),
                "en",
                words[i % 6],
                &body.join(" "),
                &[],
            )
        })
        .collect();
    let (_dir, index) = index_with(articles);
    let query = "backup chats media";
    let expected = tantivy_scores(&index, query);
    let mut best: Vec<(f32, String)> = expected.iter().map(|(id, s)| (*s, id.clone())).collect();
    best.sort_by(|a, b| b.0.total_cmp(&a.0));
    for limit in [1, 3, 10, 40, 100, 300] {
        let ranking = index.rank(query, "en", limit).unwrap();
        assert_eq!(ranking.articles.len(), limit.min(best.len()));
        for (got, want) in ranking.articles.iter().zip(&best) {
            assert!((got.score - want.0).abs() <= 1e-4 * want.0, "limit {limit}");
        }
    }
}

#[test]
fn passages_are_grouped_into_articles_best_passage_first() {
    let (_dir, index) = index_with(help_center());
    let hits = index.search("restore backup", "en", 5).unwrap();
    assert_eq!(hits.articles[0].article_id, "en/backup");
    assert_eq!(
        hits.articles
            .iter()
            .filter(|a| a.article_id == "en/backup")
            .count(),
        1
    );
    let passages = &hits.articles[0].passages;
    assert_eq!(passages[0].heading, "Restore a backup");
    assert!(passages.len() > 1, "{passages:?}");
    assert!(passages.windows(2).all(|w| w[0].score >= w[1].score));
    assert_eq!(hits.articles[0].score, passages[0].score);
}

#[test]
fn rank_returns_the_articles_search_returns() {
    let (_dir, index) = index_with(help_center());
    for query in ["chats", "phone number backup", "storage"] {
        let ranked: Vec<String> = index
            .rank(query, "en", 5)
            .unwrap()
            .articles
            .into_iter()
            .map(|a| a.article_id.to_string())
            .collect();
        let searched: Vec<String> = index
            .search(query, "en", 5)
            .unwrap()
            .articles
            .into_iter()
            .map(|a| a.article_id)
            .collect();
        assert_eq!(ranked, searched, "{query}");
    }
}

#[test]
fn replaced_and_removed_articles_leave_no_trace_across_segments() {
    let (_dir, index) = index_with(help_center());
    let mut changed = help_center().remove(0);
    changed.title = "Back up your chats to the cloud".into();
    changed.version = 2;
    index.apply(&[Change::Put(changed)]).unwrap();
    index.apply(&[Change::Remove("en/storage".into())]).unwrap();
    let hits = index
        .search("chats backup storage cloud", "en", 10)
        .unwrap();
    let ids: Vec<&str> = hits
        .articles
        .iter()
        .map(|a| a.article_id.as_str())
        .collect();
    assert_eq!(ids, ["en/backup"]);
    assert_eq!(hits.articles[0].version, 2);
    assert!(index.rank("storage", "en", 10).unwrap().articles.is_empty());
}

#[test]
fn locales_without_an_analyzer_share_fields_but_not_results() {
    let (_dir, index) = index_with(vec![
        article("ja/a", "ja", "sakura", "sakura text", &[]),
        article("zh/a", "zh", "sakura", "sakura text", &[]),
    ]);
    for locale in ["ja", "zh"] {
        let ids: Vec<String> = index
            .search("sakura", locale, 5)
            .unwrap()
            .articles
            .into_iter()
            .map(|a| a.article_id)
            .collect();
        assert_eq!(ids, [format!("{locale}/a")]);
    }
    assert!(index.rank("sakura", "ko", 5).unwrap().articles.is_empty());
}

#[test]
fn coverage_counts_title_heading_and_text_but_not_tags() {
    let (_dir, index) = index_with(help_center());
    let covered = index.search("storage media", "en", 1).unwrap();
    assert_eq!(covered.articles[0].article_id, "en/storage");
    assert!((covered.articles[0].coverage - 1.0).abs() < 1e-9);
    // "space" is only a tag of the storage article.
    let tagged = index.search("storage space", "en", 1).unwrap();
    assert_eq!(tagged.articles[0].article_id, "en/storage");
    let c = tagged.articles[0].coverage;
    assert!(c > 0.0 && c < 1.0, "{c}");
}

#[test]
fn a_query_of_stop_words_finds_nothing() {
    let (_dir, index) = index_with(help_center());
    let hits = index.search("how do I", "en", 5).unwrap();
    assert!(hits.articles.is_empty() && hits.query_terms.is_empty());
    assert!(index.rank("the", "en", 5).unwrap().articles.is_empty());
}
