//! The help center: articles (Markdown + front matter), the folder sync, the
//! knowledge RPCs' domain, and retrieval for drafting. The store holds the
//! articles; the tantivy index is a cache of them, updated in the same call
//! as the store so a change is searchable when the call returns. Changes
//! other replicas commit reach this index through `follow`.
//!
//! `Knowledge` is one type; its methods are spread by concern:
//! - `follow`: keeping the index in step with the store (catch-up, the follower)
//! - `articles`: validation, the slug rule and create / read / list / delete
//! - `search`: searching the index, in the query's language
//! - `sync`: the knowledge-folder sync

mod articles;
pub mod dense;
mod follow;
pub mod hybrid;
pub mod index;
pub mod lang;
pub mod parse;
pub mod scoring;
mod search;
mod segments;
mod semantic;
mod sync;

use crate::config::{Config, Limits};
use crate::embedding::Embedder;
use crate::storage::{self, DynStore};
use crate::validate;
pub use articles::slugify;
use index::SearchIndex;
pub use index::{ArticleHit, Hits, PassageHit};
pub use search::SearchResults;
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
pub use sync::{FOLDER_ACTOR, SyncReport};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Invalid(#[from] validate::Invalid),
    #[error("article {0} not found")]
    NotFound(String),
    #[error(transparent)]
    Index(#[from] index::IndexError),
    #[error(transparent)]
    Store(#[from] storage::Error),
    /// The embedder failed while indexing (the lexical index is up to date;
    /// the next catch-up tries the vectors again).
    #[error("{0}")]
    Embedding(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

fn invalid(field: &'static str, message: impl Into<String>) -> Error {
    validate::invalid(field, message).into()
}

/// An article as written by a content team, before it is versioned.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ArticleInput {
    pub id: String,
    pub locale: String,
    pub title: String,
    pub body: String,
    pub tags: Vec<String>,
    pub url: String,
    pub applies_to: crate::device::AppliesTo,
}

/// The help center's domain: the articles in the store and the index over them.
pub struct Knowledge {
    store: DynStore,
    index: Arc<SearchIndex>,
    /// Serializes writers so the index applies changes in the store's order.
    write_lock: tokio::sync::Mutex<()>,
    /// article id -> version in the index; changed only under `write_lock`.
    indexed: Mutex<HashMap<String, u64>>,
    limits: Limits,
    default_locale: String,
    /// With an embedder: the passages' vectors, for hybrid retrieval.
    semantic: Option<semantic::Semantic>,
    fusion: hybrid::Fusion,
}

/// Runs index work (tantivy reads, writes, commits) off the async runtime.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f)
        .await
        .expect("index task panicked")
}

impl Knowledge {
    /// Opens the index under `index_dir` and brings it up to date with the
    /// store; with an `embedder`, the passages' vectors too.
    pub async fn open(
        store: DynStore,
        index_dir: &Path,
        config: &Config,
        embedder: Option<Arc<dyn Embedder>>,
    ) -> Result<Knowledge> {
        let dir = index_dir.to_path_buf();
        let scoring = scoring::Bm25::from(&config.retrieval);
        let (index, indexed) = blocking(move || {
            let mut index = SearchIndex::open(&dir)?;
            index.set_scoring(scoring);
            let indexed = index.indexed_versions()?;
            Ok::<_, index::IndexError>((index, indexed))
        })
        .await?;
        let knowledge = Knowledge {
            store,
            index: Arc::new(index),
            write_lock: tokio::sync::Mutex::new(()),
            indexed: Mutex::new(indexed),
            limits: config.limits.clone(),
            default_locale: config.default_locale.clone(),
            semantic: embedder.map(|e| semantic::Semantic::new(e, config.embedding.batch_size)),
            fusion: hybrid::Fusion {
                dense_weight: config.retrieval.dense_weight,
                cross_language_margin: config.retrieval.cross_language_margin,
            },
        };
        knowledge.catch_up().await?;
        Ok(knowledge)
    }

    pub fn default_locale(&self) -> &str {
        &self.default_locale
    }

    /// The version of the article that retrieval serves now (None: no such live article).
    pub fn live_version(&self, id: &str) -> Option<u64> {
        self.indexed
            .lock()
            .expect("indexed versions poisoned")
            .get(id)
            .copied()
    }
}
