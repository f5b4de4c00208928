//! The tantivy index of passages: one document per passage, with indexed
//! title and body fields per analyzer language. A cache of the stored
//! articles: it is rebuilt or caught up from the store at start-up. Every
//! method here blocks; callers run them on `spawn_blocking`.
//!
//! This file owns the schema and the write side (open, apply changes); the
//! read side is in `query`: searches score passages with our own BM25
//! ([`super::scoring`]), group them into articles by a fast-field article
//! key, and read stored passages only for the articles they return;
//! [`SearchIndex::rank`] reads none. Its tests are in `index/tests.rs`.

mod article;
mod query;

use super::lang;
use super::parse::passages;
use super::scoring::Bm25;
use super::segments::SegmentCache;
use crate::model::Article;
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use tantivy::collector::DocSetCollector;
use tantivy::query::AllQuery;
use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing,
    TextOptions, Value,
};
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term, Warmer};

/// Bump when the schema or analyzers change: the index is then rebuilt.
const SCHEMA_VERSION: &str = "8";
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
    /// The article's applies_to, as JSON ("" for every device).
    applies_to: Field,
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
    let applies_to = b.add_text_field("applies_to", STORED);
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
            applies_to,
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
    /// Its BM25 score; 0 for a passage the question's words did not find
    /// (the best article carries all its passages).
    pub score: f32,
    /// With embeddings, for the best article's passages: its cosine
    /// similarity with the question.
    pub cosine: Option<f32>,
}

/// An article's applies_to as the index stores it ("": every device).
fn applies_to_of(stored: &str) -> crate::device::AppliesTo {
    serde_json::from_str(stored).unwrap_or_default()
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
    /// Which devices its steps are for.
    pub applies_to: crate::device::AppliesTo,
    /// With embeddings: the cosine similarity of the question and the
    /// article's closest passage.
    pub cosine: Option<f32>,
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
#[expect(
    clippy::large_enum_variant,
    reason = "changes are made a few at a time and consumed at once; boxing would buy nothing"
)]
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
    /// The articles that apply to some devices only, by id (the others
    /// apply to every device): retrieval passes over those that do not fit.
    device_rules: std::sync::RwLock<HashMap<String, crate::device::AppliesTo>>,
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
        let index = SearchIndex {
            reader,
            writer: Mutex::new(writer),
            fields,
            scoring: default_scoring(),
            segments,
            device_rules: Default::default(),
        };
        index.load_device_rules()?;
        Ok(index)
    }

    /// Reads every indexed article's applies_to (at open).
    fn load_device_rules(&self) -> Result<()> {
        let searcher = self.reader.searcher();
        let docs = searcher.search(&AllQuery, &DocSetCollector)?;
        let mut rules = HashMap::new();
        for address in docs {
            let doc: TantivyDocument = searcher.doc(address)?;
            let text = |f: Field| {
                doc.get_first(f)
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
            };
            let applies_to = applies_to_of(text(self.fields.applies_to));
            if !applies_to.is_empty() {
                rules.insert(text(self.fields.article_id).to_string(), applies_to);
            }
        }
        *self.device_rules.write().expect("device rules lock") = rules;
        Ok(())
    }

    /// Whether the article may apply to `device` (every article does when
    /// the device is unknown or the article names no device).
    pub fn fits(&self, article_id: &str, device: &crate::device::Device) -> bool {
        self.device_rules
            .read()
            .expect("device rules lock")
            .get(article_id)
            .is_none_or(|a| a.fits(device))
    }

    /// Whether any article is for some devices only.
    pub fn has_device_rules(&self) -> bool {
        !self
            .device_rules
            .read()
            .expect("device rules lock")
            .is_empty()
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
        // After the commit: searches see the new rules with the new documents.
        let mut rules = self.device_rules.write().expect("device rules lock");
        for change in changes {
            match change {
                Change::Put(a) if !a.applies_to.is_empty() => {
                    rules.insert(a.id.clone(), a.applies_to.clone());
                }
                Change::Put(a) => {
                    rules.remove(&a.id);
                }
                Change::Remove(id) => {
                    rules.remove(id);
                }
            }
        }
        Ok(())
    }

    fn documents(&self, article: &Article) -> Vec<TantivyDocument> {
        let f = &self.fields;
        let lf = f.by_lang[lang::analyzer_key(&article.locale)];
        let tags = article.tags.join(" ");
        let whole = format!("{}\n{}\n{}", article.title, tags, article.body);
        let applies_to = if article.applies_to.is_empty() {
            String::new()
        } else {
            serde_json::to_string(&article.applies_to).expect("plain data")
        };
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
                doc.add_text(f.applies_to, &applies_to);
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
}

#[cfg(test)]
mod tests;
