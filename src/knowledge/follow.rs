//! Keeping the search index in step with the store: the catch-up that
//! compares every stored version with the indexed one, the follower that
//! applies changes other replicas (or this one) commit, and the one path by
//! which changes reach the index.

use super::index::{self, Change};
use super::{Knowledge, Result, blocking};
use crate::storage::StoreEvent;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, LazyLock};
use std::time::Duration;
use tokio::sync::{broadcast, watch};

/// How often `follow` compares every stored version with the index, in case
/// a change notification was lost.
const RECHECK_EVERY: Duration = Duration::from_secs(30);

static INDEXED_ARTICLES: LazyLock<prometheus::IntGauge> = LazyLock::new(|| {
    prometheus::register_int_gauge!(
        "replygate_knowledge_passages",
        "Passages in the search index"
    )
    .unwrap()
});
impl Knowledge {
    /// Re-indexes every article whose stored version differs from the indexed one.
    pub async fn catch_up(&self) -> Result<usize> {
        let _guard = self.write_lock.lock().await;
        let mut indexed = self.indexed_versions();
        let mut stale = HashSet::new();
        for (id, version) in self.store.article_versions().await? {
            if indexed.remove(&id) != Some(version) {
                stale.insert(id);
            }
        }
        let mut changes: Vec<Change> = indexed.into_keys().map(Change::Remove).collect();
        if stale.len() <= 64 {
            for id in &stale {
                // Deleted since we listed it: the next check removes it if indexed.
                if let Some(article) = self.store.get_article(id).await? {
                    changes.push(Change::Put(article));
                }
            }
        } else {
            let mut after = String::new();
            loop {
                let page = self.store.list_articles(None, &after, 500).await?;
                let Some(last) = page.last() else { break };
                after = last.id.clone();
                changes.extend(
                    page.into_iter()
                        .filter(|a| stale.contains(&a.id))
                        .map(Change::Put),
                );
            }
        }
        let n = changes.len();
        self.apply_to_index(changes).await?;
        // Before the first full embedding, `index_passages` owns the dense index.
        if self.semantic_ready()
            && let Err(e) = self.catch_up_dense().await
        {
            tracing::warn!(error = %e, "dense index not caught up; retried at the next catch-up");
        }
        if n > 0 {
            tracing::info!(changes = n, "search index caught up with the store");
        }
        Ok(n)
    }

    fn indexed_versions(&self) -> HashMap<String, u64> {
        self.indexed
            .lock()
            .expect("indexed versions poisoned")
            .clone()
    }

    /// Brings one article's index entry in line with the store.
    async fn refresh(&self, id: &str) -> Result<()> {
        let _guard = self.write_lock.lock().await;
        let stored = self.store.get_article(id).await?;
        let indexed = self
            .indexed
            .lock()
            .expect("indexed versions poisoned")
            .get(id)
            .copied();
        let change = match (stored, indexed) {
            (Some(article), v) if v != Some(article.version) => Change::Put(article),
            (None, Some(_)) => Change::Remove(id.to_string()),
            _ => return Ok(()),
        };
        self.apply_to_index(vec![change]).await
    }

    /// Keeps the index in step with changes committed elsewhere (another
    /// replica, or this one): an `ArticleChanged` re-reads that article; a
    /// `Resync` or a lagging receiver compares every version; and every
    /// `RECHECK_EVERY` a full comparison catches a lost notification.
    /// Returns on shutdown.
    pub async fn follow(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let mut events = self.store.subscribe();
        let mut recheck = tokio::time::interval(RECHECK_EVERY);
        recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        recheck.tick().await;
        loop {
            let result = tokio::select! {
                event = events.recv() => match event {
                    Ok(StoreEvent::ArticleChanged { id }) => self.refresh(&id).await,
                    Ok(StoreEvent::Resync) | Err(broadcast::error::RecvError::Lagged(_)) => {
                        self.catch_up().await.map(drop)
                    }
                    Ok(_) => Ok(()),
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                _ = recheck.tick() => self.catch_up().await.map(drop),
                _ = shutdown.changed() => return,
            };
            if let Err(e) = result {
                tracing::warn!(error = %e, "search index could not follow the store; retrying");
            }
        }
    }

    pub(super) async fn apply_to_index(&self, changes: Vec<Change>) -> Result<()> {
        if changes.is_empty() {
            return Ok(());
        }
        let index = self.index.clone();
        let changes = blocking(move || {
            index.apply(&changes)?;
            INDEXED_ARTICLES.set(index.num_passages() as i64);
            Ok::<_, index::IndexError>(changes)
        })
        .await?;
        {
            let mut indexed = self.indexed.lock().expect("indexed versions poisoned");
            for change in &changes {
                match change {
                    Change::Put(article) => {
                        indexed.insert(article.id.clone(), article.version);
                    }
                    Change::Remove(id) => {
                        indexed.remove(id);
                    }
                }
            }
        }
        let mut put = Vec::new();
        let mut removed = Vec::new();
        for change in &changes {
            match change {
                Change::Put(article) => put.push(article),
                Change::Remove(id) => removed.push(id.clone()),
            }
        }
        // The lexical index is current: a failing embedder leaves retrieval
        // lexical for these articles until the next catch-up.
        if let Err(e) = self.apply_to_dense(&put, &removed).await {
            tracing::warn!(error = %e, articles = put.len(), "passages not embedded; retried at the next catch-up");
        }
        Ok(())
    }

    /// Embeds the indexed articles whose vectors the dense index lacks and
    /// drops those no longer indexed.
    pub(super) async fn catch_up_dense(&self) -> Result<()> {
        let Some(s) = &self.semantic else {
            return Ok(());
        };
        let held = s.versions();
        let indexed = self.indexed_versions();
        let stale: HashSet<&String> = indexed
            .iter()
            .filter(|(id, v)| held.get(*id) != Some(v))
            .map(|(id, _)| id)
            .collect();
        let removed: Vec<String> = held
            .keys()
            .filter(|id| !indexed.contains_key(*id))
            .cloned()
            .collect();
        if stale.is_empty() && removed.is_empty() {
            return Ok(());
        }
        let mut after = String::new();
        loop {
            let page = self.store.list_articles(None, &after, 500).await?;
            let Some(last) = page.last() else { break };
            after = last.id.clone();
            let put: Vec<&crate::model::Article> = page
                .iter()
                .filter(|a| stale.contains(&a.id) && indexed.get(&a.id) == Some(&a.version))
                .collect();
            self.write_dense(s, &put, &[]).await?;
        }
        self.write_dense(s, &[], &removed).await?;
        tracing::info!(articles = stale.len(), "dense index caught up");
        Ok(())
    }
}
