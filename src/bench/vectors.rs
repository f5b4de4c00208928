//! Passage vectors kept between bench runs, so that a second run of the
//! SciFact hybrid rows does not embed thousands of passages again: one file
//! per model and set of texts under [`cache_dir`], named by the SHA-256 of
//! the embedder's id and every text (a new model, prefix or corpus gets a
//! new file). The file holds the count and the dimensions (u32 each) and
//! the seconds the embedding took (f64), then the vectors as little-endian f32.

use super::BoxError;
use replygate::embedding::{Embedder, Side};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// Texts handed to the embedder per call: it sorts a call's texts by token
/// count before batching them, so larger calls pad less.
const CHUNK: usize = 256;

/// The bench's cache folder, kept between runs (unlike `scratch`).
pub(super) fn cache_dir() -> PathBuf {
    std::env::temp_dir().join("replygate-bench-cache")
}

/// Passage vectors, and how they were had.
pub(super) struct Embedded {
    pub(super) vectors: Vec<Vec<f32>>,
    /// Seconds spent embedding them (in an earlier run, when cached).
    pub(super) seconds: f64,
    /// Read from the cache file rather than embedded now.
    pub(super) cached: bool,
    pub(super) file: PathBuf,
}

/// The vectors of `texts` as passages: from the cache file when there is
/// one for this embedder and these texts, else embedded in calls of
/// [`CHUNK`] texts (progress on stderr) and written there.
pub(super) async fn passages(
    e: &Arc<dyn Embedder>,
    name: &str,
    texts: &[String],
) -> Result<Embedded, BoxError> {
    let file = file_for(&cache_dir(), name, e.id(), texts);
    if let Some((vectors, seconds)) = read(&file, texts.len(), e.dims()) {
        return Ok(Embedded {
            vectors,
            seconds,
            cached: true,
            file,
        });
    }
    let started = Instant::now();
    let mut vectors = Vec::with_capacity(texts.len());
    for chunk in texts.chunks(CHUNK) {
        vectors.extend(e.embed(Side::Passage, chunk).await?);
        let secs = started.elapsed().as_secs_f64();
        eprintln!(
            "  embedded {}/{} passages ({:.1}/s)",
            vectors.len(),
            texts.len(),
            vectors.len() as f64 / secs.max(1e-9)
        );
    }
    let seconds = started.elapsed().as_secs_f64();
    write(&file, &vectors, e.dims(), seconds)?;
    Ok(Embedded {
        vectors,
        seconds,
        cached: false,
        file,
    })
}

/// `dir/<name>-<first 16 hex digits of SHA-256(model, texts)>.f32`.
fn file_for(dir: &Path, name: &str, model: &str, texts: &[String]) -> PathBuf {
    let mut h = Sha256::new();
    h.update(model.as_bytes());
    for t in texts {
        h.update([0u8]);
        h.update(t.as_bytes());
    }
    let key = hex::encode(h.finalize());
    dir.join(format!("{name}-{}.f32", &key[..16]))
}

/// Bytes before the vectors: count, dimensions, seconds.
const HEADER: usize = 16;

/// The cached vectors and the seconds they took, when the file exists and
/// holds `count` of `dims`.
fn read(file: &Path, count: usize, dims: usize) -> Option<(Vec<Vec<f32>>, f64)> {
    let bytes = std::fs::read(file).ok()?;
    let u32_at =
        |i: usize| Some(u32::from_le_bytes(bytes.get(i..i + 4)?.try_into().ok()?) as usize);
    let seconds = f64::from_le_bytes(bytes.get(8..HEADER)?.try_into().ok()?);
    if u32_at(0)? != count || u32_at(4)? != dims || bytes.len() != HEADER + count * dims * 4 {
        return None;
    }
    let values: Vec<f32> = bytes[HEADER..]
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    Some((
        values.chunks_exact(dims).map(<[f32]>::to_vec).collect(),
        seconds,
    ))
}

/// Writes the vectors beside the file, then moves them in place.
fn write(file: &Path, vectors: &[Vec<f32>], dims: usize, seconds: f64) -> Result<(), BoxError> {
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut bytes = Vec::with_capacity(HEADER + vectors.len() * dims * 4);
    bytes.extend_from_slice(&(vectors.len() as u32).to_le_bytes());
    bytes.extend_from_slice(&(dims as u32).to_le_bytes());
    bytes.extend_from_slice(&seconds.to_le_bytes());
    for v in vectors {
        if v.len() != dims {
            return Err(format!("a vector of {} dimensions, not {dims}", v.len()).into());
        }
        for x in v {
            bytes.extend_from_slice(&x.to_le_bytes());
        }
    }
    let partial = file.with_extension("partial");
    std::fs::write(&partial, bytes)?;
    std::fs::rename(&partial, file)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_written_are_read_back_only_for_the_same_count_and_dimensions() {
        let dir = tempfile::tempdir().unwrap();
        let texts = vec!["a".to_string(), "b".to_string()];
        let file = file_for(dir.path(), "t", "model", &texts);
        let vectors = vec![vec![0.6, 0.8], vec![1.0, 0.0]];
        write(&file, &vectors, 2, 1.5).unwrap();
        assert_eq!(read(&file, 2, 2), Some((vectors, 1.5)));
        assert_eq!(read(&file, 3, 2), None);
        assert_eq!(read(&file, 2, 3), None);
    }

    #[test]
    fn another_model_or_other_texts_name_another_file() {
        let dir = Path::new("/cache");
        let texts = vec!["a".to_string()];
        let file = file_for(dir, "t", "m1", &texts);
        assert_ne!(file, file_for(dir, "t", "m2", &texts));
        assert_ne!(file, file_for(dir, "t", "m1", &["b".to_string()]));
        assert_eq!(file, file_for(dir, "t", "m1", &texts));
    }
}
