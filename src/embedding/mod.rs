//! Sentence embeddings: text in, a unit-length vector out, so that the dot
//! product of two vectors is their cosine similarity. Retrieval compares a
//! customer's question with every passage this way, and the answer memory
//! compares it with the questions agents already answered.
//!
//! Two providers stand behind one [`Embedder`]:
//! - `local`: a BERT-family sentence model run in-process from a Hugging
//!   Face-layout folder (or fetched once by hub id into the data dir);
//! - `openai`: any OpenAI-compatible `/v1/embeddings` endpoint.
//!
//! Queries and passages are embedded differently where the model wants it
//! (e5's `query: ` / `passage: ` prefixes, or separate remote model names):
//! [`Side`] says which one a text is.
//!
//! [`open`] builds the configured one; `fetch.rs` downloads a hub model into
//! the data dir (also `replygate model fetch`), `local/` runs it.

pub mod fetch;
pub mod local;
pub mod remote;

use crate::config::{EmbeddingConfig, EmbeddingProvider};
use async_trait::async_trait;
use std::path::Path;
use std::sync::Arc;

/// Which side of a search a text is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// A customer's question.
    Query,
    /// A passage of an article (or a curated question to match against).
    Passage,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The model cannot be loaded or fetched (a missing file, a bad config).
    #[error("embedding model unavailable: {0}")]
    Unavailable(String),
    /// One call failed (a remote error, a text the model cannot take).
    #[error("embedding failed: {0}")]
    Failed(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Turns texts into unit-length vectors of one model.
#[async_trait]
pub trait Embedder: Send + Sync {
    /// Names the model and everything that changes its vectors (prefixes,
    /// pooling): vectors are stored under it, and a new id recomputes them.
    fn id(&self) -> &str;

    /// The length of every vector.
    fn dims(&self) -> usize;

    /// One vector per text, in order, each of length [`Embedder::dims`] and
    /// unit length. Never holds an async worker: CPU work runs on a blocking
    /// thread, remote work is awaited.
    async fn embed(&self, side: Side, texts: &[String]) -> Result<Vec<Vec<f32>>>;
}

/// The configured embedder, or `None` for provider "none". For "local":
/// `model_dir` when set; else the hub model `model` (empty: the default,
/// [`crate::config::DEFAULT_EMBEDDING_MODEL`]), from
/// `<data_dir>/models/<owner>--<name>` when it was fetched before, else
/// fetched there now (from `hub_endpoint`).
pub async fn open(config: &EmbeddingConfig, data_dir: &Path) -> Result<Option<Arc<dyn Embedder>>> {
    match config.provider {
        EmbeddingProvider::None => Ok(None),
        EmbeddingProvider::Local => {
            let (dir, name) = local_model_dir(config, data_dir).await?;
            let embedder = local::LocalEmbedder::load(&dir, &name, config).await?;
            Ok(Some(Arc::new(embedder)))
        }
        EmbeddingProvider::Openai => Ok(Some(Arc::new(
            remote::RemoteEmbedder::connect(config).await?,
        ))),
    }
}

/// The folder of the local model and the name it goes by (the hub id, or
/// the folder's name).
async fn local_model_dir(
    config: &EmbeddingConfig,
    data_dir: &Path,
) -> Result<(std::path::PathBuf, String)> {
    if !config.model_dir.as_os_str().is_empty() {
        let name = if config.model.is_empty() {
            config
                .model_dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        } else {
            config.model.clone()
        };
        return Ok((config.model_dir.clone(), name));
    }
    let model = match config.model.as_str() {
        "" => crate::config::DEFAULT_EMBEDDING_MODEL,
        m => m,
    };
    let dir = fetch::model_dir(data_dir, model)?;
    if !fetch::is_complete(&dir) {
        tracing::info!(model, dir = %dir.display(), "fetching the embedding model (once; `replygate model fetch` does it ahead of time)");
        fetch::fetch(model, data_dir, &config.hub_endpoint).await?;
    }
    Ok((dir, model.to_string()))
}

/// Scales `v` to unit length (a zero vector stays zero).
pub fn normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}

/// The dot product: the cosine similarity of two unit vectors (over the
/// shorter one's length). Eight independent sums, so that the compiler
/// vectorizes the loop (a single running sum is a dependency chain it may
/// not reorder).
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    const LANES: usize = 8;
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let (xs, ys) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f32 = xs
        .remainder()
        .iter()
        .zip(ys.remainder())
        .map(|(x, y)| x * y)
        .sum();
    let mut sums = [0.0f32; LANES];
    for (x, y) in xs.zip(ys) {
        for k in 0..LANES {
            sums[k] += x[k] * y[k];
        }
    }
    sums.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_normalized_vector_has_unit_length_and_cosine_one_with_itself() {
        let mut v = vec![3.0, 4.0];
        normalize(&mut v);
        assert_eq!(v, [0.6, 0.8]);
        assert!((dot(&v, &v) - 1.0).abs() < 1e-6);
        let mut zero = vec![0.0; 3];
        normalize(&mut zero);
        assert_eq!(zero, [0.0; 3]);
    }

    #[test]
    fn the_dot_product_counts_every_element_whatever_the_length() {
        for n in [0, 1, 7, 8, 9, 384, 385] {
            let a: Vec<f32> = (0..n).map(|i| (i % 5) as f32 - 2.0).collect();
            let b: Vec<f32> = (0..n).map(|i| (i % 3) as f32 * 0.5).collect();
            let plain: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
            assert!((dot(&a, &b) - plain).abs() < 1e-3, "length {n}");
        }
        assert_eq!(dot(&[1.0, 2.0, 3.0], &[1.0]), 1.0);
    }
}
