//! The dense side of retrieval: one sentence-embedding vector per indexed
//! passage, held in memory as one contiguous matrix and searched exactly
//! (every passage's dot product with the question's vector). Exact search
//! over 100k passages of 384 dimensions is ~38M multiply-adds, a few
//! milliseconds on one core (`replygate bench`, "Dense search"), so no
//! approximate index is kept: nothing to tune, nothing to rebuild, no recall
//! lost.
//!
//! Vectors come from the store (by the passage text's SHA-256, computed once
//! per model); this matrix is a cache of them for the indexed versions.

use sha2::{Digest, Sha256};
use std::sync::{Arc, RwLock};

/// The text a passage is embedded as: its article's title, its heading, its text.
pub fn passage_text(title: &str, heading: &str, text: &str) -> String {
    match heading.is_empty() {
        true => format!("{title}\n{text}"),
        false => format!("{title}\n{heading}\n{text}"),
    }
}

/// The key a passage's vector is stored under.
pub fn content_hash(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// One passage's place in the matrix.
#[derive(Debug, Clone)]
struct Row {
    article_id: Arc<str>,
    locale: Arc<str>,
    ordinal: u64,
}

/// An article found by its best passage's vector.
#[derive(Debug, Clone, PartialEq)]
pub struct DenseHit {
    pub article_id: Arc<str>,
    pub locale: Arc<str>,
    /// Its best passage.
    pub ordinal: u64,
    /// That passage's cosine similarity with the question.
    pub cosine: f32,
    /// The article's closeness to the question, which ranks it: its best
    /// passage's cosine with [`SECOND_PASSAGE_SHARE`] of its second best
    /// (the best alone for an article of one passage).
    pub closeness: f32,
}

/// How much an article's second closest passage counts in its closeness.
/// An article whose second section also speaks of the question is more
/// likely the one that answers it than one with a single close sentence
/// among unrelated ones; an article of one passage is ranked by it alone.
/// Measured on the tuning questions (docs/EVALUATION.md): 0.2 and 0.3 rank
/// alike, both above the best passage alone (0).
pub const SECOND_PASSAGE_SHARE: f32 = 0.2;

/// An article's closest two passages while one search scans its rows.
struct Closest {
    /// The best passage's row.
    row: usize,
    cosine: f32,
    second: Option<f32>,
}

impl Closest {
    fn new(row: usize, cosine: f32) -> Closest {
        Closest {
            row,
            cosine,
            second: None,
        }
    }

    fn add(&mut self, row: usize, cosine: f32) {
        if cosine > self.cosine {
            self.second = Some(self.cosine);
            (self.row, self.cosine) = (row, cosine);
        } else if self.second.is_none_or(|s| cosine > s) {
            self.second = Some(cosine);
        }
    }

    fn closeness(&self) -> f32 {
        let second = self.second.unwrap_or(self.cosine);
        (1.0 - SECOND_PASSAGE_SHARE) * self.cosine + SECOND_PASSAGE_SHARE * second
    }
}

/// The vectors of one article version's passages, in passage order.
#[derive(Debug, Clone)]
pub struct ArticleVectors {
    pub article_id: String,
    pub locale: String,
    pub vectors: Vec<Vec<f32>>,
}

#[derive(Default)]
struct Matrix {
    dims: usize,
    /// Row-major, `rows.len() * dims` values.
    values: Vec<f32>,
    rows: Vec<Row>,
}

/// The passages' vectors, searched exactly.
#[derive(Default)]
pub struct DenseIndex {
    matrix: RwLock<Matrix>,
}

impl DenseIndex {
    pub fn new(dims: usize) -> DenseIndex {
        DenseIndex {
            matrix: RwLock::new(Matrix {
                dims,
                ..Matrix::default()
            }),
        }
    }

    /// Replaces the vectors of the `put` articles and drops those of `removed`.
    pub fn apply(&self, put: Vec<ArticleVectors>, removed: &[String]) {
        let mut m = self.matrix.write().expect("dense index poisoned");
        let gone: std::collections::HashSet<&str> = removed
            .iter()
            .map(String::as_str)
            .chain(put.iter().map(|a| a.article_id.as_str()))
            .collect();
        if m.rows.iter().any(|r| gone.contains(&*r.article_id)) {
            let dims = m.dims;
            let Matrix { values, rows, .. } = &mut *m;
            let mut kept_values = Vec::with_capacity(values.len());
            let mut kept_rows = Vec::with_capacity(rows.len());
            for (row, v) in rows.drain(..).zip(values.chunks_exact(dims)) {
                if !gone.contains(&*row.article_id) {
                    kept_rows.push(row);
                    kept_values.extend_from_slice(v);
                }
            }
            *rows = kept_rows;
            *values = kept_values;
        }
        for a in put {
            let article_id: Arc<str> = Arc::from(a.article_id);
            let locale: Arc<str> = Arc::from(a.locale);
            for (ordinal, v) in a.vectors.into_iter().enumerate() {
                if v.len() != m.dims {
                    tracing::warn!(article = %article_id, dims = v.len(), expected = m.dims, "vector of another length left out");
                    continue;
                }
                m.values.extend_from_slice(&v);
                m.rows.push(Row {
                    article_id: article_id.clone(),
                    locale: locale.clone(),
                    ordinal: ordinal as u64,
                });
            }
        }
    }

    /// Passages held.
    pub fn len(&self) -> usize {
        self.matrix.read().expect("dense index poisoned").rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The cosine of `query` with each passage of one article, by ordinal.
    pub fn passage_cosines(&self, article_id: &str, query: &[f32]) -> Vec<(u64, f32)> {
        let m = self.matrix.read().expect("dense index poisoned");
        if query.len() != m.dims {
            return Vec::new();
        }
        m.rows
            .iter()
            .zip(m.values.chunks_exact(m.dims))
            .filter(|(row, _)| &*row.article_id == article_id)
            .map(|(row, v)| (row.ordinal, crate::embedding::dot(query, v)))
            .collect()
    }

    /// The `limit` articles whose best passage is closest to `query` (a unit
    /// vector), best first, among the locales `keep` accepts.
    pub fn search(
        &self,
        query: &[f32],
        limit: usize,
        keep: impl Fn(&str) -> bool,
    ) -> Vec<DenseHit> {
        let m = self.matrix.read().expect("dense index poisoned");
        if query.len() != m.dims || limit == 0 {
            return Vec::new();
        }
        // An article's passages are consecutive rows (`apply` keeps them so):
        // its best two passages are found in one pass, with no map.
        let mut best: Vec<Closest> = Vec::new();
        let mut run: Option<Closest> = None;
        for (i, v) in m.values.chunks_exact(m.dims).enumerate() {
            let row = &m.rows[i];
            let same = run
                .as_ref()
                .is_some_and(|r| m.rows[r.row].article_id == row.article_id);
            if !same && let Some(done) = run.take() {
                best.push(done);
            }
            if !keep(&row.locale) {
                continue;
            }
            let cosine = crate::embedding::dot(query, v);
            match &mut run {
                Some(r) if same => r.add(i, cosine),
                _ => run = Some(Closest::new(i, cosine)),
            }
        }
        best.extend(run);
        let mut hits: Vec<DenseHit> = best
            .into_iter()
            .map(|c| {
                let row = &m.rows[c.row];
                DenseHit {
                    article_id: row.article_id.clone(),
                    locale: row.locale.clone(),
                    ordinal: row.ordinal,
                    cosine: c.cosine,
                    closeness: c.closeness(),
                }
            })
            .collect();
        hits.sort_by(|a, b| {
            b.closeness
                .total_cmp(&a.closeness)
                .then_with(|| a.article_id.cmp(&b.article_id))
        });
        hits.truncate(limit);
        hits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn article(id: &str, locale: &str, vectors: &[[f32; 2]]) -> ArticleVectors {
        ArticleVectors {
            article_id: id.into(),
            locale: locale.into(),
            vectors: vectors.iter().map(|v| v.to_vec()).collect(),
        }
    }

    #[test]
    fn an_article_is_found_by_its_closest_passage_and_ranked_by_it() {
        let index = DenseIndex::new(2);
        index.apply(
            vec![
                article("en/a", "en", &[[1.0, 0.0], [0.6, 0.8]]),
                article("en/b", "en", &[[0.8, 0.6]]),
                article("pt/a", "pt", &[[0.0, 1.0]]),
            ],
            &[],
        );
        let hits = index.search(&[0.0, 1.0], 5, |_| true);
        let found: Vec<(&str, u64)> = hits.iter().map(|h| (&*h.article_id, h.ordinal)).collect();
        assert_eq!(found, [("pt/a", 0), ("en/a", 1), ("en/b", 0)]);
        assert!((hits[1].cosine - 0.8).abs() < 1e-6);
        let english = index.search(&[0.0, 1.0], 1, |l| l == "en");
        assert_eq!(&*english[0].article_id, "en/a");
    }

    #[test]
    fn an_article_close_in_two_passages_outranks_one_close_in_a_single_line() {
        let index = DenseIndex::new(2);
        index.apply(
            vec![
                // One passage a little closer, the rest about something else.
                article("en/one-line", "en", &[[0.9, 0.436], [-1.0, 0.0]]),
                // Two passages both close.
                article("en/two-sections", "en", &[[0.85, 0.527], [0.8, 0.6]]),
                // A single passage: its closeness is its cosine.
                article("en/short", "en", &[[0.6, 0.8]]),
            ],
            &[],
        );
        let hits = index.search(&[1.0, 0.0], 5, |_| true);
        let order: Vec<&str> = hits.iter().map(|h| &*h.article_id).collect();
        assert_eq!(order, ["en/two-sections", "en/short", "en/one-line"]);
        // The cosine reported stays the best passage's own.
        assert!((hits[2].cosine - 0.9).abs() < 1e-6);
        assert!((hits[1].closeness - 0.6).abs() < 1e-6);
        assert!((hits[0].closeness - (0.8 * 0.85 + 0.2 * 0.8)).abs() < 1e-6);
    }

    #[test]
    fn a_new_version_replaces_the_old_passages_and_a_removal_drops_them() {
        let index = DenseIndex::new(2);
        index.apply(vec![article("en/a", "en", &[[1.0, 0.0], [0.0, 1.0]])], &[]);
        index.apply(vec![article("en/a", "en", &[[0.6, 0.8]])], &[]);
        assert_eq!(index.len(), 1);
        index.apply(vec![article("en/b", "en", &[[1.0, 0.0]])], &["en/a".into()]);
        let hits = index.search(&[0.0, 1.0], 5, |_| true);
        assert_eq!(hits.len(), 1);
        assert_eq!(&*hits[0].article_id, "en/b");
    }

    #[test]
    fn a_query_of_another_length_finds_nothing() {
        let index = DenseIndex::new(2);
        index.apply(vec![article("en/a", "en", &[[1.0, 0.0]])], &[]);
        assert!(index.search(&[1.0, 0.0, 0.0], 5, |_| true).is_empty());
    }
}
