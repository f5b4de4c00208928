//! Keeping the dense index in step with the search index: every indexed
//! article version gets one vector per passage, read from the store when
//! some replica (or an earlier run) already computed it, else embedded in
//! batches and stored. Embedding happens here, at indexing, never while a
//! customer waits; a question is embedded once per search.

use super::dense::{self, ArticleVectors, DenseIndex};
use super::{Knowledge, Result, parse};
use crate::embedding::{Embedder, Side};
use crate::model::{Article, now_ms};
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

static EMBEDDED: LazyLock<prometheus::IntCounter> = LazyLock::new(|| {
    prometheus::register_int_counter!(
        "replygate_passages_embedded_total",
        "Passages embedded (vectors not found in the store)"
    )
    .unwrap()
});

static SEMANTIC_READY: LazyLock<prometheus::IntGauge> = LazyLock::new(|| {
    prometheus::register_int_gauge!(
        "replygate_semantic_ready",
        "1 once every article's passages are embedded and retrieval is hybrid"
    )
    .unwrap()
});

static DENSE_PASSAGES: LazyLock<prometheus::IntGauge> = LazyLock::new(|| {
    prometheus::register_int_gauge!(
        "replygate_dense_passages",
        "Passages with a vector in the dense index"
    )
    .unwrap()
});

/// The embedder and the vectors of the indexed passages.
pub(super) struct Semantic {
    pub(super) embedder: Arc<dyn Embedder>,
    pub(super) dense: Arc<DenseIndex>,
    /// article id -> version whose vectors the dense index holds.
    versions: Mutex<HashMap<String, u64>>,
    batch: usize,
    /// Every indexed article has had its passages embedded once: search is
    /// hybrid from then on (lexical before, so that a help center being
    /// embedded at start-up is never ranked half semantically).
    ready: tokio::sync::watch::Sender<bool>,
}

impl Semantic {
    pub(super) fn new(embedder: Arc<dyn Embedder>, batch: usize) -> Semantic {
        Semantic {
            dense: Arc::new(DenseIndex::new(embedder.dims())),
            embedder,
            versions: Mutex::new(HashMap::new()),
            batch: batch.max(1),
            ready: tokio::sync::watch::Sender::new(false),
        }
    }

    pub(super) fn is_ready(&self) -> bool {
        *self.ready.borrow()
    }

    pub(super) fn versions(&self) -> HashMap<String, u64> {
        self.versions
            .lock()
            .expect("dense versions poisoned")
            .clone()
    }
}

/// The texts an article's passages are embedded as, in passage order.
fn passage_texts(a: &Article) -> Vec<String> {
    parse::passages(&a.body)
        .iter()
        .map(|p| dense::passage_text(&a.title, &p.heading, &p.text))
        .collect()
}

impl Knowledge {
    /// The embedder retrieval uses, if any.
    pub fn embedder(&self) -> Option<Arc<dyn Embedder>> {
        self.semantic.as_ref().map(|s| s.embedder.clone())
    }

    /// Whether retrieval is hybrid yet (false without an embedder).
    pub fn semantic_ready(&self) -> bool {
        self.semantic.as_ref().is_some_and(Semantic::is_ready)
    }

    /// Returns once retrieval is hybrid (never without an embedder).
    pub async fn semantic_ready_wait(&self) {
        match &self.semantic {
            Some(s) => {
                let _ = s.ready.subscribe().wait_for(|ready| *ready).await;
            }
            None => std::future::pending().await,
        }
    }

    /// Embeds every indexed article's passages that lack vectors (all of
    /// them at the first start; stored vectors are read, not recomputed),
    /// until none is left; retrieval is hybrid from then on. The server
    /// awaits it before serving (`[embedding] index_before_serving`) or runs
    /// it in the background, serving lexically meanwhile; eval and bench
    /// await it. Without an embedder it returns at once.
    pub async fn index_passages(&self) -> Result<()> {
        let Some(s) = &self.semantic else {
            return Ok(());
        };
        if !s.is_ready() {
            let started = std::time::Instant::now();
            self.catch_up_dense().await?;
            s.ready.send_replace(true);
            SEMANTIC_READY.set(1);
            tracing::info!(
                passages = s.dense.len(),
                seconds = started.elapsed().as_secs_f64(),
                model = s.embedder.id(),
                "every passage embedded: retrieval is hybrid"
            );
        }
        // Articles changed while that ran were indexed lexically only: now.
        self.catch_up_dense().await?;
        Ok(())
    }

    /// [`Knowledge::index_passages`] until it succeeds, retrying a failing
    /// embedder every `retry`; for the server's background task.
    pub async fn index_passages_retrying(&self, retry: std::time::Duration) {
        while let Err(e) = self.index_passages().await {
            tracing::warn!(error = %e, "passages not embedded; retrieval stays lexical, retrying in {retry:?}");
            tokio::time::sleep(retry).await;
        }
    }

    /// Brings the dense index in line with `put` and `removed` (the changes
    /// just applied to the search index), once the first full embedding is
    /// done ([`Knowledge::index_passages`] covers what comes before). A
    /// failure leaves those articles' old vectors, or none, and is retried
    /// by the next catch-up.
    pub(super) async fn apply_to_dense(&self, put: &[&Article], removed: &[String]) -> Result<()> {
        match &self.semantic {
            Some(s) if s.is_ready() => self.write_dense(s, put, removed).await,
            _ => Ok(()),
        }
    }

    /// Embeds `put`'s passages into the dense index and drops `removed`'s.
    pub(super) async fn write_dense(
        &self,
        s: &Semantic,
        put: &[&Article],
        removed: &[String],
    ) -> Result<()> {
        let mut vectors = Vec::with_capacity(put.len());
        // One article's passages are small; many articles are embedded in
        // batches across articles.
        let texts: Vec<Vec<String>> = put.iter().map(|a| passage_texts(a)).collect();
        let flat: Vec<&String> = texts.iter().flatten().collect();
        let found = self.embed_passages(s, &flat).await?;
        let mut next = found.into_iter();
        for (a, texts) in put.iter().zip(&texts) {
            vectors.push(ArticleVectors {
                article_id: a.id.clone(),
                locale: a.locale.clone(),
                vectors: next.by_ref().take(texts.len()).collect(),
            });
        }
        let dense = s.dense.clone();
        let removed_ids = removed.to_vec();
        super::blocking(move || dense.apply(vectors, &removed_ids)).await;
        let mut versions = s.versions.lock().expect("dense versions poisoned");
        for a in put {
            versions.insert(a.id.clone(), a.version);
        }
        for id in removed {
            versions.remove(id);
        }
        DENSE_PASSAGES.set(s.dense.len() as i64);
        Ok(())
    }

    /// The vectors of `texts`, in order: stored ones read, the others embedded and stored.
    async fn embed_passages(&self, s: &Semantic, texts: &[&String]) -> Result<Vec<Vec<f32>>> {
        let model = s.embedder.id().to_string();
        let hashes: Vec<String> = texts.iter().map(|t| dense::content_hash(t)).collect();
        let mut known: HashMap<String, Vec<f32>> = HashMap::new();
        for (h, v) in self.store.vectors(&model, &hashes).await? {
            known.insert(h, v);
        }
        let mut missing: Vec<usize> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (i, h) in hashes.iter().enumerate() {
            if !known.contains_key(h) && seen.insert(h.clone()) {
                missing.push(i);
            }
        }
        for chunk in missing.chunks(s.batch) {
            let batch: Vec<String> = chunk.iter().map(|&i| texts[i].clone()).collect();
            let embedded = s
                .embedder
                .embed(Side::Passage, &batch)
                .await
                .map_err(|e| super::Error::Embedding(e.to_string()))?;
            let rows: Vec<(String, Vec<f32>)> = chunk
                .iter()
                .map(|&i| hashes[i].clone())
                .zip(embedded)
                .collect();
            EMBEDDED.inc_by(rows.len() as u64);
            self.store
                .put_vectors(&model, rows.clone(), now_ms())
                .await?;
            known.extend(rows);
        }
        Ok(hashes
            .iter()
            .map(|h| known.get(h).cloned().unwrap_or_default())
            .collect())
    }

    /// The question's vector, or None without an embedder (or when it fails:
    /// retrieval is then lexical, and says so in the log).
    pub async fn embed_query(&self, query: &str) -> Option<Vec<f32>> {
        let s = self.semantic.as_ref()?;
        match s.embedder.embed(Side::Query, &[query.to_string()]).await {
            Ok(mut v) if v.len() == 1 => v.pop(),
            Ok(_) => None,
            Err(e) => {
                tracing::warn!(error = %e, "question not embedded; lexical retrieval only");
                None
            }
        }
    }
}
