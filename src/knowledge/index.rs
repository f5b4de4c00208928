//! The tantivy index of passages: one document per passage, with indexed
//! title and body fields per analyzer language. A cache of the stored
//! articles: it is rebuilt or caught up from the store at start-up. Every
//! method here blocks; callers run them on `spawn_blocking`.
//!
//! Searches score passages with our own BM25 ([`super::scoring`]), group them
//! into articles by a fast-field article key, and read stored passages only
//! for the articles they return; [`SearchIndex::rank`] reads none.

use super::lang;
use super::parse::passages;
use super::scoring::{self, Bm25, Candidate, Scored};
use super::segments::{SegmentArticles, SegmentCache};
use crate::model::Article;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::path::Path;
use std::sync::{Arc, Mutex};
use tantivy::collector::DocSetCollector;
use tantivy::postings::Postings;
use tantivy::query::AllQuery;
use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing,
    TextOptions, Value,
};
use tantivy::{
    DocAddress, DocSet, Index, IndexReader, IndexWriter, ReloadPolicy, Searcher, TantivyDocument,
    Term, Warmer,
};

/// Bump when the schema or analyzers change: the index is then rebuilt.
const SCHEMA_VERSION: &str = "7";
const SCHEMA_FILE: &str = "replygate-schema-version";
const WRITER_HEAP_BYTES: usize = 50_000_000;
/// The scoring searches use unless told otherwise: `[retrieval]`'s defaults.
pub fn default_scoring() -> Bm25 {
    Bm25::from(&crate::config::RetrievalConfig::default())
}

#[derive(Debug, thiserror::Error)]
#[error("search index: {0}")]
pub struct IndexError(String);

impl From<tantivy::TantivyError> for IndexError {
    fn from(e: tantivy::TantivyError) -> Self {
        IndexError(e.to_string())
    }
}

impl From<std::io::Error> for IndexError {
    fn from(e: std::io::Error) -> Self {
        IndexError(e.to_string())
    }
}

type Result<T> = std::result::Result<T, IndexError>;

#[derive(Clone, Copy)]
struct LangFields {
    title: Field,
    body: Field,
    /// The whole article, on every passage of it: terms spread over sections still count.
    article: Field,
}

struct Fields {
    article_id: Field,
    locale: Field,
    version: Field,
    ordinal: Field,
    title: Field,
    heading: Field,
    text: Field,
    url: Field,
    tags: Field,
    by_lang: HashMap<&'static str, LangFields>,
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let article_id = b.add_text_field("article_id", STRING | STORED | FAST);
    let locale = b.add_text_field("locale", STRING | STORED | FAST);
    let version = b.add_u64_field("version", STORED);
    let ordinal = b.add_u64_field("ordinal", STORED | INDEXED);
    let title = b.add_text_field("title", STORED);
    let heading = b.add_text_field("heading", STORED);
    let text = b.add_text_field("text", STORED);
    let url = b.add_text_field("url", STORED);
    let tags = b.add_text_field("tags", STORED);
    let mut by_lang = HashMap::new();
    for key in lang::analyzer_keys() {
        let opts = TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(&format!("lang_{key}"))
                .set_index_option(IndexRecordOption::WithFreqsAndPositions),
        );
        let title = b.add_text_field(&format!("title_{key}"), opts.clone());
        let body = b.add_text_field(&format!("body_{key}"), opts.clone());
        let article = b.add_text_field(&format!("article_{key}"), opts);
        by_lang.insert(
            key,
            LangFields {
                title,
                body,
                article,
            },
        );
    }
    (
        b.build(),
        Fields {
            article_id,
            locale,
            version,
            ordinal,
            title,
            heading,
            text,
            url,
            tags,
            by_lang,
        },
    )
}

/// A passage found by a search.
#[derive(Debug, Clone, PartialEq)]
pub struct PassageHit {
    pub heading: String,
    pub text: String,
    pub ordinal: u64,
    pub score: f32,
}

/// An article found by a search, with its best passages (best first).
#[derive(Debug, Clone, PartialEq)]
pub struct ArticleHit {
    pub article_id: String,
    pub version: u64,
    pub locale: String,
    pub title: String,
    pub url: String,
    /// The best passage's score.
    pub score: f32,
    pub passages: Vec<PassageHit>,
    /// IDF-weighted share of the query's terms present in the best passage (with its titles), 0..1.
    pub coverage: f64,
}

/// An article in a ranking: its id and its best passage's score.
#[derive(Debug, Clone, PartialEq)]
pub struct RankedArticle {
    pub article_id: Arc<str>,
    pub score: f32,
}

/// The outcome of [`SearchIndex::rank`]: articles best first, nothing read from the store.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ranking {
    pub articles: Vec<RankedArticle>,
    /// The query's distinct analyzed terms.
    pub query_terms: Vec<String>,
}

/// The outcome of a search.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Hits {
    pub articles: Vec<ArticleHit>,
    /// The query's distinct analyzed terms.
    pub query_terms: Vec<String>,
}

/// A change to apply to the index.
#[derive(Debug, Clone)]
pub enum Change {
    Put(Article),
    Remove(String),
}

pub struct SearchIndex {
    reader: IndexReader,
    writer: Mutex<IndexWriter>,
    fields: Fields,
    scoring: Bm25,
    segments: Arc<SegmentCache>,
}

impl SearchIndex {
    /// Opens the index in `dir`, or creates it afresh when missing or of an older schema.
    pub fn open(dir: &Path) -> Result<SearchIndex> {
        std::fs::create_dir_all(dir)?;
        let (schema, fields) = schema();
        let marker = dir.join(SCHEMA_FILE);
        let current = std::fs::read_to_string(&marker).ok();
        let index = match current.as_deref() {
            Some(SCHEMA_VERSION) => match Index::open_in_dir(dir) {
                Ok(index) => index,
                Err(e) => {
                    tracing::warn!(error = %e, "search index unreadable, rebuilding");
                    Self::recreate(dir, &schema)?
                }
            },
            _ => Self::recreate(dir, &schema)?,
        };
        std::fs::write(&marker, SCHEMA_VERSION)?;
        for key in lang::analyzer_keys() {
            index
                .tokenizers()
                .register(&format!("lang_{key}"), lang::analyzer(key));
        }
        let writer = index.writer_with_num_threads(1, WRITER_HEAP_BYTES)?;
        let segments = Arc::new(SegmentCache::default());
        let warmer: Arc<dyn Warmer> = segments.clone();
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .warmers(vec![Arc::downgrade(&warmer)])
            .try_into()?;
        Ok(SearchIndex {
            reader,
            writer: Mutex::new(writer),
            fields,
            scoring: default_scoring(),
            segments,
        })
    }

    /// Searches from now on use other BM25 parameters or field weights.
    pub fn set_scoring(&mut self, scoring: Bm25) {
        self.scoring = scoring;
    }

    fn recreate(dir: &Path, schema: &Schema) -> Result<Index> {
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            if path.is_dir() {
                std::fs::remove_dir_all(&path)?;
            } else {
                std::fs::remove_file(&path)?;
            }
        }
        Ok(Index::create_in_dir(dir, schema.clone())?)
    }

    /// article id -> version, for every article in the index.
    pub fn indexed_versions(&self) -> Result<HashMap<String, u64>> {
        let searcher = self.reader.searcher();
        let docs = searcher.search(&AllQuery, &DocSetCollector)?;
        let mut out = HashMap::new();
        for address in docs {
            let doc: TantivyDocument = searcher.doc(address)?;
            let id = doc
                .get_first(self.fields.article_id)
                .and_then(|v| v.as_str())
                .unwrap_or_default();
            let version = doc
                .get_first(self.fields.version)
                .and_then(|v| v.as_u64())
                .unwrap_or_default();
            out.insert(id.to_string(), version);
        }
        Ok(out)
    }

    /// Applies the changes in one commit: searches see all of them or none.
    pub fn apply(&self, changes: &[Change]) -> Result<()> {
        if changes.is_empty() {
            return Ok(());
        }
        let mut writer = self
            .writer
            .lock()
            .map_err(|_| IndexError("index writer poisoned".into()))?;
        for change in changes {
            match change {
                Change::Put(article) => {
                    writer.delete_term(Term::from_field_text(self.fields.article_id, &article.id));
                    for doc in self.documents(article) {
                        writer.add_document(doc)?;
                    }
                }
                Change::Remove(id) => {
                    writer.delete_term(Term::from_field_text(self.fields.article_id, id));
                }
            }
        }
        writer.commit()?;
        drop(writer);
        self.reader.reload()?;
        Ok(())
    }

    fn documents(&self, article: &Article) -> Vec<TantivyDocument> {
        let f = &self.fields;
        let lf = f.by_lang[lang::analyzer_key(&article.locale)];
        let tags = article.tags.join(" ");
        let whole = format!("{}\n{}\n{}", article.title, tags, article.body);
        passages(&article.body)
            .into_iter()
            .enumerate()
            .map(|(ordinal, p)| {
                let mut doc = TantivyDocument::default();
                doc.add_text(f.article_id, &article.id);
                doc.add_text(f.locale, &article.locale);
                doc.add_u64(f.version, article.version);
                doc.add_u64(f.ordinal, ordinal as u64);
                doc.add_text(f.title, &article.title);
                doc.add_text(f.heading, &p.heading);
                doc.add_text(f.text, &p.text);
                doc.add_text(f.url, &article.url);
                doc.add_text(f.tags, &tags);
                doc.add_text(lf.title, format!("{}\n{}", article.title, p.heading));
                doc.add_text(lf.body, format!("{}\n{}", p.text, tags));
                doc.add_text(lf.article, &whole);
                doc
            })
            .collect()
    }

    /// Number of passages indexed for a locale.
    pub fn passages_in(&self, locale: &str) -> Result<u64> {
        Ok(self
            .reader
            .searcher()
            .doc_freq(&Term::from_field_text(self.fields.locale, locale))?)
    }

    pub fn num_passages(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    /// The query's distinct analyzed terms and the fields of its language.
    fn analyze(&self, query: &str, locale: &str) -> (Vec<String>, LangFields) {
        let key = lang::analyzer_key(locale);
        let mut terms: Vec<String> = Vec::new();
        for t in lang::analyze(key, query) {
            if !terms.contains(&t) {
                terms.push(t);
            }
        }
        (terms, self.fields.by_lang[key])
    }

    /// Scores the passages; `first` of the best are read before any other.
    fn score(
        &self,
        searcher: &Searcher,
        terms: &[String],
        lf: LangFields,
        first: usize,
    ) -> Result<Scored> {
        Ok(scoring::score(
            searcher,
            [lf.title, lf.body, lf.article],
            terms,
            &self.scoring,
            first,
        )?)
    }

    /// Passages kept apart as the likely best when grouping into `limit`
    /// articles: long articles have several.
    fn first_read(limit: usize, window: usize) -> usize {
        2 * (limit + window)
    }

    /// The article tables of every segment of the searcher, in segment order.
    fn tables(&self, searcher: &Searcher) -> Result<Vec<Arc<SegmentArticles>>> {
        Ok(searcher
            .segment_readers()
            .iter()
            .map(|segment| self.segments.get(segment))
            .collect::<tantivy::Result<_>>()?)
    }

    /// The best `limit` articles of `locale` among the scored passages, each
    /// with its best passage. With `window` > 0 at least that many passages
    /// are read, and the returned articles' other passages among them are kept.
    fn group(
        &self,
        searcher: &Searcher,
        tables: &[Arc<SegmentArticles>],
        scored: &mut Scored,
        locale: &str,
        limit: usize,
        window: usize,
    ) -> Vec<Group> {
        // Supported languages have fields of their own; the generic analyzer's
        // fields are shared by every other locale, so those are checked.
        let check_locale = lang::analyzer_key(locale) == lang::GENERIC;
        let wanted: Vec<Option<Option<u32>>> = tables
            .iter()
            .map(|t| check_locale.then(|| t.locale_index(locale)))
            .collect();
        let segments = searcher.segment_readers();
        let mut groups: Vec<Group> = Vec::with_capacity(limit.min(1024));
        let mut read = 0usize;
        let mut by_key: HashMap<u64, usize, BuildHasherDefault<KeyHasher>> =
            HashMap::with_capacity_and_hasher(limit.min(1024), Default::default());
        scored.best_first(limit + window, |c| {
            let table = &tables[c.segment as usize];
            let alive = segments[c.segment as usize]
                .alive_bitset()
                .is_none_or(|alive| alive.is_alive(c.doc));
            let in_locale = match wanted[c.segment as usize] {
                None => true,
                Some(wanted) => wanted == Some(table.locale_of(c.doc)),
            };
            // Every passage has an article; one without is skipped like a deleted one.
            let Some(key) = table.key(c.doc).filter(|_| alive && in_locale) else {
                return true;
            };
            read += 1;
            match by_key.get(&key) {
                Some(&i) if window > 0 => groups[i].others.push(*c),
                Some(_) => {}
                None if groups.len() < limit => {
                    by_key.insert(key, groups.len());
                    groups.push(Group {
                        best: *c,
                        others: vec![],
                    });
                }
                None => {}
            }
            // Enough once `limit` articles are found and `window` passages read.
            groups.len() < limit || read < window
        });
        groups
    }

    /// The best articles for `query` among the articles of `locale`, ids and
    /// scores only: nothing is read from the document store.
    pub fn rank(&self, query: &str, locale: &str, limit: usize) -> Result<Ranking> {
        let (query_terms, lf) = self.analyze(query, locale);
        if query_terms.is_empty() || limit == 0 {
            return Ok(Ranking {
                articles: vec![],
                query_terms,
            });
        }
        let searcher = self.reader.searcher();
        let mut scored = self.score(&searcher, &query_terms, lf, Self::first_read(limit, 0))?;
        let tables = self.tables(&searcher)?;
        let groups = self.group(&searcher, &tables, &mut scored, locale, limit, 0);
        let articles = groups
            .into_iter()
            .map(|g| RankedArticle {
                article_id: tables[g.best.segment as usize]
                    .id(g.best.doc)
                    .unwrap_or_else(|| Arc::from("")),
                score: g.best.score,
            })
            .collect();
        Ok(Ranking {
            articles,
            query_terms,
        })
    }

    /// The best articles for `query` among the articles of `locale`, with
    /// their best passages and the coverage of the query.
    pub fn search(&self, query: &str, locale: &str, limit: usize) -> Result<Hits> {
        let (query_terms, lf) = self.analyze(query, locale);
        let key = lang::analyzer_key(locale);
        if query_terms.is_empty() || limit == 0 {
            return Ok(Hits {
                articles: vec![],
                query_terms,
            });
        }
        let searcher = self.reader.searcher();
        // Passages read beyond the first of each article: the runners-up of the
        // returned articles are kept for the drafters.
        let window = limit * 2 + 8;
        let first = Self::first_read(limit, window);
        let mut scored = self.score(&searcher, &query_terms, lf, first)?;
        let tables = self.tables(&searcher)?;
        let groups = self.group(&searcher, &tables, &mut scored, locale, limit, window);

        // IDF per query term over this locale's passages, for coverage.
        let n = searcher
            .doc_freq(&Term::from_field_text(self.fields.locale, locale))?
            .max(1) as f64;
        let idf: Vec<f64> = scored
            .doc_freq
            .iter()
            .map(|df| {
                let df = df[0].max(df[1]) as f64;
                (1.0 + (n - df + 0.5) / (df + 0.5)).ln()
            })
            .collect();
        let idf_total: f64 = idf.iter().sum();

        let mut articles = Vec::with_capacity(groups.len());
        for g in groups {
            let doc: TantivyDocument = searcher.doc(DocAddress::new(g.best.segment, g.best.doc))?;
            let text_of = |doc: &TantivyDocument, field| {
                doc.get_first(field)
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_string()
            };
            let passage_of = |doc: &TantivyDocument, score| PassageHit {
                heading: text_of(doc, self.fields.heading),
                text: text_of(doc, self.fields.text),
                ordinal: doc
                    .get_first(self.fields.ordinal)
                    .and_then(|v| v.as_u64())
                    .unwrap_or_default(),
                score,
            };
            let tags = lang::analyze(key, &text_of(&doc, self.fields.tags));
            let mut covered = 0.0;
            for (t, term) in query_terms.iter().enumerate() {
                let in_tags = tags.iter().filter(|x| *x == term).count() as u32;
                let in_title = term_freq(&searcher, &scored, lf.title, 0, t, &g.best)?;
                let in_body = term_freq(&searcher, &scored, lf.body, 1, t, &g.best)?;
                // The body field ends with the article's tags; those do not count.
                if in_title > 0 || in_body > in_tags {
                    covered += idf[t];
                }
            }
            let mut passages = vec![passage_of(&doc, g.best.score)];
            for c in &g.others {
                let other: TantivyDocument = searcher.doc(DocAddress::new(c.segment, c.doc))?;
                passages.push(passage_of(&other, c.score));
            }
            articles.push(ArticleHit {
                article_id: text_of(&doc, self.fields.article_id),
                version: doc
                    .get_first(self.fields.version)
                    .and_then(|v| v.as_u64())
                    .unwrap_or_default(),
                locale: text_of(&doc, self.fields.locale),
                title: text_of(&doc, self.fields.title),
                url: text_of(&doc, self.fields.url),
                score: g.best.score,
                passages,
                coverage: if idf_total > 0.0 {
                    covered / idf_total
                } else {
                    0.0
                },
            });
        }
        Ok(Hits {
            articles,
            query_terms,
        })
    }
}

/// Hashes article keys, which are already uniformly distributed, as themselves.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }

    fn write_u64(&mut self, key: u64) {
        self.0 = key;
    }
}

/// An article among the scored passages.
struct Group {
    best: Candidate,
    /// Its other passages among those read, best first (full searches only).
    others: Vec<Candidate>,
}

/// How often query term `term` occurs in field `field` (index `slot` in the
/// scored fields) of the candidate passage.
fn term_freq(
    searcher: &Searcher,
    scored: &Scored,
    field: Field,
    slot: usize,
    term: usize,
    c: &Candidate,
) -> Result<u32> {
    let Some(p) = scored
        .postings
        .iter()
        .find(|p| p.segment == c.segment && p.field == slot && p.term == term)
    else {
        return Ok(0);
    };
    let inverted = searcher.segment_readers()[c.segment as usize].inverted_index(field)?;
    let mut postings =
        inverted.read_postings_from_terminfo(&p.info, IndexRecordOption::WithFreqs)?;
    // `seek` only moves forward: a list starting after the passage misses it.
    Ok(
        if postings.doc() <= c.doc && postings.seek(c.doc) == c.doc {
            postings.term_freq()
        } else {
            0
        },
    )
}

#[cfg(test)]
mod tests {
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
        let mut best: Vec<(f32, String)> =
            expected.iter().map(|(id, s)| (*s, id.clone())).collect();
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
}
