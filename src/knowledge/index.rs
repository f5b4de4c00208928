//! The tantivy index of passages: one document per passage, with indexed
//! title and body fields per analyzer language. A cache of the stored
//! articles: it is rebuilt or caught up from the store at start-up. Every
//! method here blocks; callers run them on `spawn_blocking`.

use super::lang;
use super::parse::passages;
use crate::model::Article;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Mutex;
use tantivy::collector::{DocSetCollector, TopDocs};
use tantivy::query::{
    AllQuery, BooleanQuery, BoostQuery, ConstScoreQuery, Occur, Query, TermQuery,
};
use tantivy::schema::{
    Field, INDEXED, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions,
    Value,
};
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};

/// Bump when the schema or analyzers change: the index is then rebuilt.
const SCHEMA_VERSION: &str = "6";
const SCHEMA_FILE: &str = "replygate-schema-version";
const WRITER_HEAP_BYTES: usize = 50_000_000;
/// Title matches weigh more than body matches.
const TITLE_BOOST: f32 = 1.6;
/// Whole-article matches: measured on knowledge/eval/questions.jsonl, top-1
/// retrieval went from 57.6% (none) to 62.9% (0.5) and 64.4% (1.0); it levels off above.
const ARTICLE_BOOST: f32 = 1.0;

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
    by_lang: HashMap<&'static str, LangFields>,
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let article_id = b.add_text_field("article_id", STRING | STORED);
    let locale = b.add_text_field("locale", STRING | STORED);
    let version = b.add_u64_field("version", STORED);
    let ordinal = b.add_u64_field("ordinal", STORED | INDEXED);
    let title = b.add_text_field("title", STORED);
    let heading = b.add_text_field("heading", STORED);
    let text = b.add_text_field("text", STORED);
    let url = b.add_text_field("url", STORED);
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
    index: Index,
    reader: IndexReader,
    writer: Mutex<IndexWriter>,
    fields: Fields,
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
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok(SearchIndex {
            index,
            reader,
            writer: Mutex::new(writer),
            fields,
        })
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

    /// The best articles for `query` among the articles of `locale`.
    pub fn search(&self, query: &str, locale: &str, limit: usize) -> Result<Hits> {
        let key = lang::analyzer_key(locale);
        let lf = self.fields.by_lang[key];
        let mut analyzer = self
            .index
            .tokenizers()
            .get(&format!("lang_{key}"))
            .unwrap_or_else(|| lang::analyzer(key));
        let mut query_terms: Vec<String> = Vec::new();
        for t in lang::terms(&mut analyzer, query) {
            if !query_terms.contains(&t) {
                query_terms.push(t);
            }
        }
        if query_terms.is_empty() || limit == 0 {
            return Ok(Hits {
                articles: vec![],
                query_terms,
            });
        }
        let searcher = self.reader.searcher();
        let mut should: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for t in &query_terms {
            let title = TermQuery::new(
                Term::from_field_text(lf.title, t),
                IndexRecordOption::WithFreqs,
            );
            let body = TermQuery::new(
                Term::from_field_text(lf.body, t),
                IndexRecordOption::WithFreqs,
            );
            should.push((
                Occur::Should,
                Box::new(BoostQuery::new(Box::new(title), TITLE_BOOST)),
            ));
            should.push((Occur::Should, Box::new(body)));
            let whole = TermQuery::new(
                Term::from_field_text(lf.article, t),
                IndexRecordOption::WithFreqs,
            );
            should.push((
                Occur::Should,
                Box::new(BoostQuery::new(Box::new(whole), ARTICLE_BOOST)),
            ));
        }
        let in_locale = TermQuery::new(
            Term::from_field_text(self.fields.locale, locale),
            IndexRecordOption::Basic,
        );
        let query = BooleanQuery::new(vec![
            (
                Occur::Must,
                Box::new(BooleanQuery::new(should)) as Box<dyn Query>,
            ),
            (
                Occur::Must,
                Box::new(ConstScoreQuery::new(Box::new(in_locale), 0.0)),
            ),
        ]);
        let top = searcher.search(&query, &TopDocs::with_limit(limit * 8 + 8).order_by_score())?;

        // IDF per query term, over this locale's passages.
        let n = searcher
            .doc_freq(&Term::from_field_text(self.fields.locale, locale))?
            .max(1) as f64;
        let idf: Vec<f64> = query_terms
            .iter()
            .map(|t| {
                let df_body = searcher
                    .doc_freq(&Term::from_field_text(lf.body, t))
                    .unwrap_or(0);
                let df_title = searcher
                    .doc_freq(&Term::from_field_text(lf.title, t))
                    .unwrap_or(0);
                let df = df_body.max(df_title) as f64;
                (1.0 + (n - df + 0.5) / (df + 0.5)).ln()
            })
            .collect();
        let idf_total: f64 = idf.iter().sum();

        let mut articles: Vec<ArticleHit> = Vec::new();
        // Reading stored passages is the cost of a search: stop once `limit`
        // articles are found and their nearest runner-up passages were seen.
        let enough = limit * 2 + 8;
        for (read, (score, address)) in top.into_iter().enumerate() {
            if articles.len() >= limit && read >= enough {
                break;
            }
            let doc: TantivyDocument = searcher.doc(address)?;
            let text_of = |field| {
                doc.get_first(field)
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_string()
            };
            let article_id = text_of(self.fields.article_id);
            let passage = PassageHit {
                heading: text_of(self.fields.heading),
                text: text_of(self.fields.text),
                ordinal: doc
                    .get_first(self.fields.ordinal)
                    .and_then(|v| v.as_u64())
                    .unwrap_or_default(),
                score,
            };
            if let Some(hit) = articles.iter_mut().find(|a| a.article_id == article_id) {
                hit.passages.push(passage);
                continue;
            }
            if articles.len() >= limit {
                continue;
            }
            let title = text_of(self.fields.title);
            let present: HashSet<String> = lang::terms(
                &mut analyzer,
                &format!("{title}\n{}\n{}", passage.heading, passage.text),
            )
            .into_iter()
            .collect();
            let covered: f64 = query_terms
                .iter()
                .zip(&idf)
                .filter(|(t, _)| present.contains(*t))
                .map(|(_, w)| w)
                .sum();
            articles.push(ArticleHit {
                article_id,
                version: doc
                    .get_first(self.fields.version)
                    .and_then(|v| v.as_u64())
                    .unwrap_or_default(),
                locale: text_of(self.fields.locale),
                title,
                url: text_of(self.fields.url),
                score,
                passages: vec![passage],
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
