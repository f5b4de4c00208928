//! The `local` provider: a BERT-family sentence model (BERT, MiniLM,
//! XLM-RoBERTa) run in-process with candle, on the CPU, from a Hugging
//! Face–layout folder (`config.json`, `tokenizer.json`, `model.safetensors`,
//! and sentence-transformers' optional files, read in `files.rs`).
//!
//! Every tokenization and forward pass runs on a blocking thread, never on
//! an async worker. At most one batch per core runs at once (a semaphore):
//! candle already spreads one batch's matrix products over the cores, so
//! more batches at once would only contend, while one per core lets a
//! question's embedding run beside an indexing batch instead of queueing
//! behind all of it (a call's texts go in batches of `batch_size`, each
//! taking a permit of its own). Texts are sorted by token count before they
//! are batched, so little is padded, and long texts go in smaller batches.

mod encoder;
mod files;

use super::{Embedder, Error, Result, Side};
use crate::config::EmbeddingConfig;
use async_trait::async_trait;
use encoder::{Batch, Encoder};
use files::Settings;
use std::path::Path;
use std::sync::Arc;
use tokenizers::{Tokenizer, TruncationParams};
use tokio::sync::Semaphore;

pub use files::Pooling;

/// A sentence model loaded from a folder; cheap to share behind an `Arc`.
pub struct LocalEmbedder {
    model: Arc<Model>,
    id: String,
    dims: usize,
    batch_size: usize,
    permits: Arc<Semaphore>,
}

/// What the blocking threads share.
struct Model {
    tokenizer: Tokenizer,
    encoder: Encoder,
    settings: Settings,
    query: Prefix,
    passage: Prefix,
}

/// Text put before every input of one side.
struct Prefix {
    text: String,
    /// Leading tokens left out of the pooling (the prompt, when the model
    /// does not pool over it; else 0).
    skip: usize,
}

impl LocalEmbedder {
    /// Loads the model in `dir` on a blocking thread. `name` (the hub id, or
    /// the folder's name) goes into [`Embedder::id`] and, when it has an
    /// `e5` part, asks for e5's prefixes.
    pub async fn load(dir: &Path, name: &str, config: &EmbeddingConfig) -> Result<Self> {
        let (dir, name, config) = (dir.to_path_buf(), name.to_string(), config.clone());
        tokio::task::spawn_blocking(move || Self::load_blocking(&dir, &name, &config))
            .await
            .map_err(|e| Error::Unavailable(format!("loading the model stopped: {e}")))?
    }

    fn load_blocking(dir: &Path, name: &str, config: &EmbeddingConfig) -> Result<Self> {
        let started = std::time::Instant::now();
        let settings = files::read(dir)?;
        let tokenizer = load_tokenizer(dir, settings.max_tokens)?;
        let encoder = Encoder::load(dir, settings.architecture)?;
        let folder = dir.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let (query, passage) = files::prefixes(
            config.query_prefix.as_deref(),
            config.passage_prefix.as_deref(),
            &settings.prompts,
            &[name, folder],
        );
        let id = format!(
            "{name}|{}|max_tokens={}|query={query:?}|passage={passage:?}",
            settings.pooling.as_str(),
            settings.max_tokens
        );
        let prefix = |text: String| -> Result<Prefix> {
            let skip = if settings.include_prompt || text.is_empty() {
                0
            } else {
                // As sentence-transformers counts it: the prompt's tokens
                // with the leading special token, without the trailing one.
                tokens(&tokenizer, &settings, &text)?
                    .len()
                    .saturating_sub(1)
            };
            Ok(Prefix { text, skip })
        };
        let (query, passage) = (prefix(query)?, prefix(passage)?);
        let model = Model {
            tokenizer,
            encoder,
            settings,
            query,
            passage,
        };
        // One text through the whole path: a tokenizer that does not match
        // the weights fails here, at start, not on a customer's question.
        let probe = model.embed(Side::Query, &["probe".to_string()])?;
        let dims = probe.first().map_or(0, Vec::len);
        if dims == 0 {
            return Err(Error::Unavailable(format!(
                "{}: the model gives empty vectors",
                dir.display()
            )));
        }
        tracing::info!(
            model = name,
            dims,
            pooling = model.settings.pooling.as_str(),
            max_tokens = model.settings.max_tokens,
            normalizes = model.settings.normalizes,
            ms = started.elapsed().as_millis() as u64,
            "local embedding model loaded"
        );
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Ok(LocalEmbedder {
            model: Arc::new(model),
            id,
            dims,
            batch_size: config.batch_size.max(1),
            permits: Arc::new(Semaphore::new(cores)),
        })
    }
}

#[async_trait]
impl Embedder for LocalEmbedder {
    fn id(&self) -> &str {
        &self.id
    }

    fn dims(&self) -> usize {
        self.dims
    }

    async fn embed(&self, side: Side, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let model = Arc::clone(&self.model);
        let owned = texts.to_vec();
        let ids = self.blocking(move || model.tokenize(side, &owned)).await?;
        let mut vectors = vec![Vec::new(); texts.len()];
        for chunk in encoder::plan(&ids, self.batch_size, ATTENTION_BUDGET) {
            let rows: Vec<Vec<u32>> = chunk.iter().map(|&i| ids[i].clone()).collect();
            let model = Arc::clone(&self.model);
            let done = self.blocking(move || model.forward(side, &rows)).await?;
            for (&i, v) in chunk.iter().zip(done) {
                vectors[i] = v;
            }
        }
        Ok(vectors)
    }
}

/// The most `texts × tokens²` a batch may hold: 32 texts of 128 tokens, 8
/// of 256, 2 of 512. Attention's memory grows with it (all-MiniLM-L6-v2
/// peaked at ~700 MB with 32 texts of 256 tokens).
const ATTENTION_BUDGET: usize = 32 * 128 * 128;

impl LocalEmbedder {
    /// Runs `work` on a blocking thread once a permit is free.
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|e| Error::Failed(e.to_string()))?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            work()
        })
        .await
        .map_err(|e| Error::Failed(format!("embedding task stopped: {e}")))?
    }
}

impl Model {
    fn prefix(&self, side: Side) -> &Prefix {
        match side {
            Side::Query => &self.query,
            Side::Passage => &self.passage,
        }
    }

    /// Token ids of each text with the side's prefix.
    fn tokenize(&self, side: Side, texts: &[String]) -> Result<Vec<Vec<u32>>> {
        let prefix = &self.prefix(side).text;
        texts
            .iter()
            .map(|t| tokens(&self.tokenizer, &self.settings, &format!("{prefix}{t}")))
            .collect()
    }

    /// One batch of token ids to unit vectors, on the calling (blocking) thread.
    fn forward(&self, side: Side, ids: &[Vec<u32>]) -> Result<Vec<Vec<f32>>> {
        let batch = Batch::new(ids, self.settings.pad_token_id, self.prefix(side).skip);
        encoder::embed(&self.encoder, self.settings.pooling, &batch)
    }

    /// Texts straight through, in one batch.
    fn embed(&self, side: Side, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        self.forward(side, &self.tokenize(side, texts)?)
    }
}

/// `tokenizer.json`, with its own padding off (all-MiniLM-L6-v2's pads every
/// input to 128 tokens) and truncation at the model's limit.
fn load_tokenizer(dir: &Path, max_tokens: usize) -> Result<Tokenizer> {
    let path = dir.join("tokenizer.json");
    if !path.is_file() {
        return Err(files::missing(dir, "tokenizer.json"));
    }
    let mut tokenizer = Tokenizer::from_file(&path)
        .map_err(|e| Error::Unavailable(format!("{}: {e}", path.display())))?;
    tokenizer.with_padding(None);
    tokenizer
        .with_truncation(Some(TruncationParams {
            max_length: max_tokens,
            ..TruncationParams::default()
        }))
        .map_err(|e| Error::Unavailable(format!("{}: {e}", path.display())))?;
    Ok(tokenizer)
}

/// Token ids of `text`, special tokens included, truncated to the limit.
fn tokens(tokenizer: &Tokenizer, settings: &Settings, text: &str) -> Result<Vec<u32>> {
    let text = if settings.lowercase {
        text.to_lowercase()
    } else {
        text.to_string()
    };
    tokenizer
        .encode(text, true)
        .map(|e| e.get_ids().to_vec())
        .map_err(|e| Error::Failed(format!("tokenizer: {e}")))
}

#[cfg(test)]
mod tests;
