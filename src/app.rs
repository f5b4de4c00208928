//! The assembled domain: store, knowledge, drafter, review and deliveries,
//! opened from a config. The gRPC layer and the CLI commands use it.

use crate::config::Config;
use crate::delivery::Deliveries;
use crate::drafting::Drafter;
use crate::drafting::memory::Memory;
use crate::knowledge::Knowledge;
use crate::model::{Scope, Transcript};
use crate::review::Review;
use crate::storage::{self, DynStore};
use std::sync::Arc;
use std::time::Instant;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot create data dir {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] storage::Error),
    #[error(transparent)]
    Knowledge(#[from] crate::knowledge::Error),
    #[error("{0}")]
    Llm(String),
}

pub struct App {
    pub config: Arc<Config>,
    pub store: DynStore,
    pub knowledge: Arc<Knowledge>,
    pub drafter: Drafter,
    /// The answer memory (also the drafter's and review's).
    pub memory: Arc<Memory>,
    pub review: Arc<Review>,
    pub deliveries: Deliveries,
    pub insights: crate::insights::Insights,
    pub privacy: Arc<crate::privacy::Privacy>,
    /// The customers' transcript links.
    pub links: crate::links::Links,
}

impl App {
    /// Opens the store and the index, and syncs the knowledge folder.
    pub async fn open(config: Config) -> Result<App, Error> {
        let started = Instant::now();
        let config = Arc::new(config);
        std::fs::create_dir_all(&config.data_dir).map_err(|source| Error::DataDir {
            path: config.data_dir.display().to_string(),
            source,
        })?;
        // Language models load lazily; load them now, not on the first customer's message.
        let warm = tokio::task::spawn_blocking(|| {
            for text in [
                "How do I back up my chats?",
                "Como faço backup?",
                "Come faccio il backup?",
            ] {
                crate::knowledge::lang::detect(text, None, "en");
            }
        });
        let store = storage::open(&config).await?;
        // Without the model, retrieval is lexical; drafting never stops for it.
        let embedder = match crate::embedding::open(&config.embedding, &config.data_dir).await {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(error = %e, provider = ?config.embedding.provider, "embeddings unavailable; retrieval is lexical only");
                None
            }
        };
        let knowledge = Arc::new(
            Knowledge::open(
                store.clone(),
                &config.data_dir.join("index"),
                &config,
                embedder,
            )
            .await?,
        );
        if config.knowledge_dir.is_dir() {
            let report = knowledge.sync_folder(&config.knowledge_dir).await?;
            tracing::info!(
                dir = %config.knowledge_dir.display(),
                added = report.added,
                updated = report.updated,
                removed = report.removed,
                unchanged = report.unchanged,
                errors = report.errors.len(),
                "knowledge folder synced"
            );
        } else {
            tracing::warn!(dir = %config.knowledge_dir.display(), "knowledge folder not found; serving the stored articles only");
        }
        let _ = warm.await;
        let memory = Arc::new(Memory::open(store.clone(), knowledge.clone(), &config).await?);
        let app = App {
            drafter: Drafter::new(
                store.clone(),
                knowledge.clone(),
                memory.clone(),
                config.clone(),
            )
            .map_err(Error::Llm)?,
            review: Arc::new(Review::new(store.clone(), config.clone(), memory.clone())),
            memory,
            deliveries: Deliveries::new(store.clone(), config.delivery.clone()),
            insights: crate::insights::Insights::new(store.clone()),
            privacy: Arc::new(crate::privacy::Privacy::new(store.clone(), config.clone())),
            links: crate::links::Links::new(store.clone(), config.clone()),
            knowledge,
            store,
            config,
        };
        tracing::info!(elapsed_ms = started.elapsed().as_millis() as u64, "ready");
        Ok(app)
    }

    /// The transcript of a conversation, if `scope` may see it.
    pub async fn transcript(
        &self,
        conversation_id: &str,
        scope: &Scope,
    ) -> Result<Transcript, crate::drafting::Error> {
        use crate::drafting::Error;
        crate::validate::id(
            "conversation_id",
            conversation_id,
            self.config.limits.max_id_chars,
            true,
        )?;
        self.store
            .transcript(conversation_id)
            .await?
            .filter(|t| scope.sees(&t.platform))
            .ok_or_else(|| Error::NotFound {
                what: "conversation",
                id: conversation_id.to_string(),
            })
    }
}
