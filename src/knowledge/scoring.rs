//! BM25 on tantivy's inverted index, without tantivy's query machinery: for
//! each query term and field, walk the postings of every segment and add the
//! term's score into a reusable dense buffer (term-at-a-time), then hand the
//! scored passages back in score order. Statistics (document frequency,
//! average field length) are global across segments. Deleted passages are
//! scored like the others; callers skip them with the segment's alive bitset
//! as they read candidates in score order.

use std::cell::RefCell;
use std::sync::Arc;
use tantivy::fieldnorm::FieldNormReader;
use tantivy::postings::{BlockSegmentPostings, TermInfo};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::{DocId, InvertedIndexReader, Searcher, Term};

/// How scores are made: BM25's `k1`, and per field its `b` and weight.
/// Each field gets its own BM25 (own IDF, own saturation); the weighted
/// scores are added up, as a BooleanQuery of boosted TermQuerys would.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bm25 {
    pub k1: f32,
    /// Length normalisation per field, in the order of the fields passed to [`score`].
    pub b: [f32; 3],
    /// Weight per field; 0 leaves a field out.
    pub weights: [f32; 3],
}

impl From<&crate::config::RetrievalConfig> for Bm25 {
    /// The fields in index order: title, passage, whole article.
    fn from(r: &crate::config::RetrievalConfig) -> Bm25 {
        Bm25 {
            k1: r.k1,
            b: [r.b; 3],
            weights: [r.title_weight, r.passage_weight, r.article_weight],
        }
    }
}

/// A scored passage: its segment, its document id there and its score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    pub score: f32,
    pub segment: u32,
    pub doc: DocId,
}

/// A scored passage packed for sorting: the score's bits above (positive
/// floats order like their bits), the complement of its document's index
/// across segments below, so that ties go to the earlier document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Packed(u64);

impl Packed {
    fn new(score: f32, global_doc: u32) -> Packed {
        Packed((u64::from(score.to_bits()) << 32) | u64::from(u32::MAX - global_doc))
    }

    fn score(self) -> f32 {
        f32::from_bits((self.0 >> 32) as u32)
    }

    fn global_doc(self) -> u32 {
        u32::MAX - self.0 as u32
    }
}

/// Where a term's postings are in one segment and field, kept after scoring
/// for callers that look at single documents again (coverage).
#[derive(Debug, Clone)]
pub struct TermPostings {
    pub segment: u32,
    /// Index into the fields passed to [`score`].
    pub field: usize,
    /// Index into the query terms.
    pub term: usize,
    pub info: TermInfo,
}

/// What a scoring pass produced.
#[derive(Debug, Default)]
pub struct Scored {
    /// Every passage with a positive score; the first `front` of them hold
    /// the `wanted` best (see [`score`]).
    pub candidates: Vec<Packed>,
    front: usize,
    wanted: usize,
    /// Per segment, the index across segments of its first document.
    bases: Vec<u32>,
    /// Per term and field, the number of passages containing it (all segments).
    pub doc_freq: Vec<[u64; 3]>,
    /// Passages in the index, deleted ones included (as in the document frequencies).
    pub num_docs: u64,
    pub postings: Vec<TermPostings>,
}

#[derive(Default)]
struct Scratch {
    /// Per document of the current segment; 0 means not scored.
    scores: Vec<f32>,
    /// A pass did not finish (an error or a panic): the buffer must be cleared.
    dirty: bool,
    /// Candidates behind the front, before they join the others.
    back: Vec<Packed>,
    sample: Vec<f32>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

fn idf(doc_freq: u64, num_docs: u64) -> f32 {
    let n = num_docs.max(doc_freq) as f32;
    let df = doc_freq as f32;
    (1.0 + (n - df + 0.5) / (df + 0.5)).ln()
}

/// `k1 * (1 - b + b * length / average)` for each of tantivy's 256 encoded field lengths.
fn length_norms(k1: f32, b: f32, average: f32) -> [f32; 256] {
    let mut out = [0.0; 256];
    for (id, norm) in out.iter_mut().enumerate() {
        let length = FieldNormReader::id_to_fieldnorm(id as u8) as f32;
        *norm = if average > 0.0 {
            k1 * (1.0 - b + b * length / average)
        } else {
            k1
        };
    }
    out
}

/// Scores every passage containing one of `terms` in one of `fields`.
/// `wanted`: how many of the best the caller reads first; those are kept
/// apart from the rest, so that finding them does not mean sorting all.
pub fn score(
    searcher: &Searcher,
    fields: [Field; 3],
    terms: &[String],
    params: &Bm25,
    wanted: usize,
) -> tantivy::Result<Scored> {
    let segments = searcher.segment_readers();
    let mut out = Scored {
        doc_freq: vec![[0; 3]; terms.len()],
        wanted,
        ..Scored::default()
    };
    let mut inverted: Vec<[Arc<InvertedIndexReader>; 3]> = Vec::with_capacity(segments.len());
    let mut tokens = [0u64; 3];
    for (s, segment) in segments.iter().enumerate() {
        let inv = [
            segment.inverted_index(fields[0])?,
            segment.inverted_index(fields[1])?,
            segment.inverted_index(fields[2])?,
        ];
        out.bases.push(out.num_docs as u32);
        out.num_docs += u64::from(segment.max_doc());
        for (f, inv) in inv.iter().enumerate() {
            tokens[f] += inv.total_num_tokens();
        }
        for (t, text) in terms.iter().enumerate() {
            for f in 0..3 {
                let Some(info) = inv[f].get_term_info(&Term::from_field_text(fields[f], text))?
                else {
                    continue;
                };
                out.doc_freq[t][f] += u64::from(info.doc_freq);
                out.postings.push(TermPostings {
                    segment: s as u32,
                    field: f,
                    term: t,
                    info,
                });
            }
        }
        inverted.push(inv);
    }
    let n = out.num_docs;
    let norms: [[f32; 256]; 3] = std::array::from_fn(|f| {
        let average = if n > 0 {
            tokens[f] as f32 / n as f32
        } else {
            0.0
        };
        length_norms(params.k1, params.b[f], average)
    });
    SCRATCH.with(|scratch| {
        let mut scratch = scratch.borrow_mut();
        let scratch = &mut *scratch;
        if scratch.dirty {
            scratch.scores.fill(0.0);
        }
        scratch.back.clear();
        scratch.dirty = true;
        let mut block: Option<BlockSegmentPostings> = None;
        for (s, segment) in segments.iter().enumerate() {
            let max_doc = segment.max_doc() as usize;
            if scratch.scores.len() < max_doc {
                scratch.scores.resize(max_doc, 0.0);
            }
            let scores = &mut scratch.scores[..max_doc];
            let fieldnorms = [
                segment.get_fieldnorms_reader(fields[0])?,
                segment.get_fieldnorms_reader(fields[1])?,
                segment.get_fieldnorms_reader(fields[2])?,
            ];
            for p in out.postings.iter().filter(|p| p.segment == s as u32) {
                let w = params.weights[p.field];
                if w <= 0.0 {
                    continue;
                }
                let weight = w * idf(out.doc_freq[p.term][p.field], n) * (params.k1 + 1.0);
                let norm = &norms[p.field];
                let fieldnorms = &fieldnorms[p.field];
                let postings = match block.as_mut() {
                    Some(b) => {
                        inverted[s][p.field].reset_block_postings_from_terminfo(&p.info, b)?;
                        b
                    }
                    None => block.insert(inverted[s][p.field].read_block_postings_from_terminfo(
                        &p.info,
                        IndexRecordOption::WithFreqs,
                    )?),
                };
                loop {
                    let docs = postings.docs();
                    if docs.is_empty() {
                        break;
                    }
                    for (&doc, &tf) in docs.iter().zip(postings.freqs()) {
                        let tf = tf as f32;
                        let id = fieldnorms.fieldnorm_id(doc);
                        scores[doc as usize] += weight * tf / (tf + norm[id as usize]);
                    }
                    postings.advance();
                }
            }
            // Passages at or above the threshold go to the front, the others
            // behind; without a branch per document: both slots are written
            // and only the matching length advances.
            let threshold = front_threshold(scores, wanted, &mut scratch.sample);
            let base = out.bases[s];
            let (start, back_start) = (out.candidates.len(), scratch.back.len());
            let (mut front, mut back) = (start, back_start);
            out.candidates.resize(front + max_doc, Packed(0));
            scratch.back.resize(back + max_doc, Packed(0));
            for (doc, slot) in scores.iter_mut().enumerate() {
                let p = Packed::new(*slot, base + doc as u32);
                out.candidates[front] = p;
                scratch.back[back] = p;
                let ahead = *slot >= threshold;
                front += usize::from(ahead && *slot > 0.0);
                back += usize::from(!ahead && *slot > 0.0);
                *slot = 0.0;
            }
            out.candidates.truncate(front);
            scratch.back.truncate(back);
            // The sample misjudged: this segment's best `wanted` may be behind.
            if front - start < wanted {
                out.candidates.extend(scratch.back.drain(back_start..));
            }
        }
        out.front = out.candidates.len();
        out.candidates.append(&mut scratch.back);
        scratch.dirty = false;
        Ok(out)
    })
}

/// A score that about 2 × `wanted` of `scores` reach: from every 16th
/// score, the one of rank 2 × wanted / 16. 0 (everything) when that would
/// save little. The caller checks that at least `wanted` did reach it.
fn front_threshold(scores: &[f32], wanted: usize, sample: &mut Vec<f32>) -> f32 {
    const STEP: usize = 16;
    sample.clear();
    sample.extend(scores.iter().step_by(STEP).copied().filter(|&x| x > 0.0));
    let rank = 2 * wanted / STEP;
    if wanted == 0 || sample.len() < 4 * rank.max(1) {
        return 0.0;
    }
    let (_, &mut threshold, _) = sample.select_nth_unstable_by(rank, |a, b| b.total_cmp(a));
    threshold
}

impl Scored {
    fn unpack(&self, p: Packed) -> Candidate {
        let global = p.global_doc();
        let segment = self.bases.partition_point(|&base| base <= global) - 1;
        Candidate {
            score: p.score(),
            segment: segment as u32,
            doc: global - self.bases[segment],
        }
    }

    /// Calls `visit` on the candidates best first (ties by segment, then
    /// document) until it returns false. Sorts only as far as it is read:
    /// `first_chunk`, then the rest of the `wanted` best, then doubling.
    pub fn best_first(&mut self, first_chunk: usize, mut visit: impl FnMut(&Candidate) -> bool) {
        let mut candidates = std::mem::take(&mut self.candidates);
        let mut start = 0;
        let mut chunk = first_chunk.max(1);
        'chunks: while start < candidates.len() {
            // Chunks within the `wanted` best are found among the front alone.
            let end = match start + chunk <= self.wanted {
                true => self.front.max(start + chunk).min(candidates.len()),
                false => candidates.len(),
            };
            let rest = &mut candidates[start..end];
            let take = chunk.min(rest.len());
            if take < rest.len() {
                rest.select_nth_unstable_by(take - 1, |a, b| b.cmp(a));
            }
            rest[..take].sort_unstable_by(|a, b| b.cmp(a));
            for &p in &rest[..take] {
                if !visit(&self.unpack(p)) {
                    break 'chunks;
                }
            }
            start += take;
            chunk = match start < self.wanted {
                true => self.wanted - start,
                false => chunk.saturating_mul(2),
            };
        }
        self.candidates = candidates;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_come_best_first_ties_by_segment_then_document() {
        let bases = vec![0, 10];
        let entries = [
            (1.5, 0, 3),
            (2.0, 1, 0),
            (1.5, 1, 2),
            (0.5, 0, 9),
            (2.0, 0, 7),
            (1.5, 0, 1),
        ];
        let mut scored = Scored {
            candidates: entries
                .iter()
                .map(|&(score, segment, doc)| Packed::new(score, bases[segment] + doc))
                .collect(),
            bases,
            ..Scored::default()
        };
        for first_chunk in [1, 2, 100] {
            let mut seen = Vec::new();
            scored.best_first(first_chunk, |c| {
                seen.push((c.score, c.segment, c.doc));
                true
            });
            assert_eq!(
                seen,
                [
                    (2.0, 0, 7),
                    (2.0, 1, 0),
                    (1.5, 0, 1),
                    (1.5, 0, 3),
                    (1.5, 1, 2),
                    (0.5, 0, 9)
                ]
            );
        }
        let mut first_two = 0;
        scored.best_first(1, |_| {
            first_two += 1;
            first_two < 2
        });
        assert_eq!(first_two, 2);
    }
}
