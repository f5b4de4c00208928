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
use tantivy::postings::TermInfo;
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::{DocId, InvertedIndexReader, Searcher, Term};

/// How scores are made: BM25's `k1` and `b`, and the weight of each field.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bm25 {
    pub k1: f32,
    pub b: f32,
    /// Weights of the fields passed to [`score`], in order; 0 leaves a field out.
    pub weights: [f32; 3],
    pub combine: Combine,
}

/// How a term's matches in several fields make one score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Combine {
    /// One BM25 per field (its own IDF and saturation), weighted and summed:
    /// what a tantivy BooleanQuery of boosted TermQuerys computes.
    SumOfFields,
    /// BM25F: the length-normalised term frequencies of the fields, weighted,
    /// are added before one saturation, with one IDF (from the last field,
    /// which must contain every term of the others).
    Bm25F,
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
    /// Every passage with a positive score.
    pub candidates: Vec<Packed>,
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
    /// BM25F: the current term's combined frequency per document.
    term_tf: Vec<f32>,
    term_touched: Vec<DocId>,
    /// A pass did not finish (an error or a panic): the buffers must be cleared.
    dirty: bool,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

fn idf(doc_freq: u64, num_docs: u64) -> f32 {
    let n = num_docs.max(doc_freq) as f32;
    let df = doc_freq as f32;
    (1.0 + (n - df + 0.5) / (df + 0.5)).ln()
}

/// `1 - b + b * length / average` for each of tantivy's 256 encoded field lengths.
fn length_norms(b: f32, average: f32) -> [f32; 256] {
    let mut out = [0.0; 256];
    for (id, norm) in out.iter_mut().enumerate() {
        let length = FieldNormReader::id_to_fieldnorm(id as u8) as f32;
        *norm = if average > 0.0 {
            1.0 - b + b * length / average
        } else {
            1.0
        };
    }
    out
}

/// Scores every passage containing one of `terms` in one of `fields`.
pub fn score(
    searcher: &Searcher,
    fields: [Field; 3],
    terms: &[String],
    params: &Bm25,
) -> tantivy::Result<Scored> {
    let segments = searcher.segment_readers();
    let mut inverted: Vec<[Arc<InvertedIndexReader>; 3]> = Vec::with_capacity(segments.len());
    for segment in segments {
        inverted.push([
            segment.inverted_index(fields[0])?,
            segment.inverted_index(fields[1])?,
            segment.inverted_index(fields[2])?,
        ]);
    }
    let mut out = Scored {
        doc_freq: vec![[0; 3]; terms.len()],
        ..Scored::default()
    };
    let mut tokens = [0u64; 3];
    for (s, (segment, inv)) in segments.iter().zip(&inverted).enumerate() {
        out.bases.push(out.num_docs as u32);
        out.num_docs += u64::from(segment.max_doc());
        for f in 0..3 {
            tokens[f] += inv[f].total_num_tokens();
            for (t, text) in terms.iter().enumerate() {
                let term = Term::from_field_text(fields[f], text);
                if let Some(info) = inv[f].get_term_info(&term)? {
                    out.doc_freq[t][f] += u64::from(info.doc_freq);
                    out.postings.push(TermPostings {
                        segment: s as u32,
                        field: f,
                        term: t,
                        info,
                    });
                }
            }
        }
    }
    let n = out.num_docs;
    let norms: Vec<[f32; 256]> = (0..3)
        .map(|f| {
            let average = if n > 0 {
                tokens[f] as f32 / n as f32
            } else {
                0.0
            };
            length_norms(params.b, average)
        })
        .collect();
    SCRATCH.with(|scratch| {
        let mut scratch = scratch.borrow_mut();
        let scratch = &mut *scratch;
        if scratch.dirty {
            scratch.scores.fill(0.0);
            scratch.term_tf.fill(0.0);
            scratch.term_touched.clear();
        }
        scratch.dirty = true;
        for (s, segment) in segments.iter().enumerate() {
            let max_doc = segment.max_doc() as usize;
            if scratch.scores.len() < max_doc {
                scratch.scores.resize(max_doc, 0.0);
                scratch.term_tf.resize(max_doc, 0.0);
            }
            let fieldnorms = [
                segment.get_fieldnorms_reader(fields[0])?,
                segment.get_fieldnorms_reader(fields[1])?,
                segment.get_fieldnorms_reader(fields[2])?,
            ];
            let in_segment = out
                .postings
                .iter()
                .filter(|p| p.segment == s as u32 && params.weights[p.field] > 0.0);
            match params.combine {
                Combine::SumOfFields => {
                    for p in in_segment {
                        let weight = params.weights[p.field]
                            * idf(out.doc_freq[p.term][p.field], n)
                            * (params.k1 + 1.0);
                        let mut norm = norms[p.field];
                        for x in norm.iter_mut() {
                            *x *= params.k1;
                        }
                        walk(
                            &inverted[s][p.field],
                            &p.info,
                            &fieldnorms[p.field],
                            |doc, tf, id| {
                                let tf = tf as f32;
                                scratch.scores[doc as usize] +=
                                    weight * tf / (tf + norm[id as usize]);
                            },
                        )?;
                    }
                }
                Combine::Bm25F => {
                    for t in 0..terms.len() {
                        let mut any = false;
                        for p in in_segment.clone().filter(|p| p.term == t) {
                            any = true;
                            let w = params.weights[p.field];
                            let norm = &norms[p.field];
                            walk(
                                &inverted[s][p.field],
                                &p.info,
                                &fieldnorms[p.field],
                                |doc, tf, id| {
                                    let slot = &mut scratch.term_tf[doc as usize];
                                    if *slot == 0.0 {
                                        scratch.term_touched.push(doc);
                                    }
                                    *slot += w * tf as f32 / norm[id as usize];
                                },
                            )?;
                        }
                        if !any {
                            continue;
                        }
                        let weight = idf(out.doc_freq[t][2], n) * (params.k1 + 1.0);
                        let k1 = params.k1;
                        for &doc in &scratch.term_touched {
                            let tf = std::mem::take(&mut scratch.term_tf[doc as usize]);
                            scratch.scores[doc as usize] += weight * tf / (tf + k1);
                        }
                        scratch.term_touched.clear();
                    }
                }
            }
            // Without a branch per document: every slot is written, and the
            // length advances past the scored ones only.
            let base = out.bases[s];
            let mut len = out.candidates.len();
            out.candidates.resize(len + max_doc, Packed(0));
            for (doc, slot) in scratch.scores[..max_doc].iter_mut().enumerate() {
                out.candidates[len] = Packed::new(*slot, base + doc as u32);
                len += usize::from(*slot > 0.0);
                *slot = 0.0;
            }
            out.candidates.truncate(len);
        }
        scratch.dirty = false;
        Ok(out)
    })
}

/// Calls `f(doc, term_freq, fieldnorm_id)` for every posting of a term.
fn walk(
    inverted: &InvertedIndexReader,
    info: &TermInfo,
    fieldnorms: &FieldNormReader,
    mut f: impl FnMut(DocId, u32, u8),
) -> tantivy::Result<()> {
    let mut block =
        inverted.read_block_postings_from_terminfo(info, IndexRecordOption::WithFreqs)?;
    loop {
        let docs = block.docs();
        if docs.is_empty() {
            return Ok(());
        }
        for (&doc, &tf) in docs.iter().zip(block.freqs()) {
            f(doc, tf, fieldnorms.fieldnorm_id(doc));
        }
        block.advance();
    }
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
    /// chunks of `first_chunk`, then doubling.
    pub fn best_first(&mut self, first_chunk: usize, mut visit: impl FnMut(&Candidate) -> bool) {
        let mut candidates = std::mem::take(&mut self.candidates);
        let mut start = 0;
        let mut chunk = first_chunk.max(1);
        'chunks: while start < candidates.len() {
            let rest = &mut candidates[start..];
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
            chunk = chunk.saturating_mul(2);
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
