//! Hybrid ranking: lexical (BM25) and semantic (cosine) evidence for each
//! candidate article, combined into one order.
//!
//! Raw scores of the two sides live on different scales (BM25 is unbounded
//! and grows with the query; cosines of one model crowd into 0.8–0.9 while
//! another's spread over 0–1), so each side is rescaled per question before
//! they are mixed:
//! - lexical: the article's BM25 over the best BM25 of the question, times
//!   its coverage (the IDF-weighted share of the question's terms its best
//!   passage has), so that a weak best match stays weak (0..1);
//! - semantic: where the article's cosine stands between the typical
//!   article's (the median over the articles searched) and the best one's
//!   (0..1), which is the same for any model.
//!
//! The semantic side first takes each cosine relative to the median cosine
//! of the articles of its language: a model rates any text in the
//! question's own language a little closer, which on its own ranks a wrong
//! article in the customer's language above the right one in another.
//!
//! Each article's cosine is its closeness (`DenseHit::closeness`: the best
//! passage with a share of the second). An article in the default language
//! whose translation in the customer's language is searched too (the same
//! id after the locale: `en/chat-backup`, `pt/chat-backup`) is folded into
//! that translation: it is the same answer, and offering both split the
//! evidence between them.
//!
//! The hybrid score is `w · semantic + (1 − w) · lexical`, less
//! `cross_language_margin` for an article in another language than the one
//! searched lexically: the customer's own language wins unless an article
//! in the default language is clearly closer. Both numbers are measured on
//! the labeled questions (`replygate eval`, docs/EVALUATION.md).

use super::dense::DenseHit;
use std::collections::{HashMap, HashSet};

/// How the two sides are mixed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fusion {
    pub dense_weight: f32,
    pub cross_language_margin: f32,
}

/// A candidate article and what each side says of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Fused {
    pub article_id: String,
    pub locale: String,
    /// Its BM25 score and coverage; None: lexical search did not find it.
    pub bm25: Option<(f32, f64)>,
    /// Its closest passage's cosine, and that passage.
    pub dense: Option<(f32, u64)>,
    pub score: f32,
}

/// What the semantic side says of a question as a whole, for confidence:
/// how the articles' cosines spread, which article each side ranks first,
/// and how far the hybrid ranking's first is ahead of its second.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Evidence {
    /// Mean and standard deviation of every searched article's best cosine.
    pub cosine_mean: f32,
    pub cosine_std: f32,
    /// The highest cosine of an article other than the hybrid ranking's first.
    pub runner_up_cosine: f32,
    /// The article each side ranks first.
    pub dense_top: Option<String>,
    pub lexical_top: Option<String>,
    /// Hybrid scores of the first two articles (0 when there is no second).
    pub fused_first: f32,
    pub fused_second: f32,
}

impl Evidence {
    /// The evidence for a hybrid ranking `fused` made from `lexical` and `dense`.
    pub fn of(lexical: &[Lexical], dense: &[DenseHit], fused: &[Fused]) -> Evidence {
        let n = dense.len().max(1) as f32;
        let mean = dense.iter().map(|h| h.cosine).sum::<f32>() / n;
        let var = dense.iter().map(|h| (h.cosine - mean).powi(2)).sum::<f32>() / n;
        let first = fused.first().map(|f| f.article_id.as_str());
        Evidence {
            cosine_mean: mean,
            cosine_std: var.sqrt(),
            runner_up_cosine: dense
                .iter()
                .filter(|h| Some(&*h.article_id) != first)
                .map(|h| h.cosine)
                .fold(f32::MIN, f32::max)
                .max(-1.0),
            dense_top: dense.first().map(|h| h.article_id.to_string()),
            lexical_top: lexical
                .iter()
                .max_by(|a, b| a.1.total_cmp(&b.1))
                .map(|(id, _, _)| id.clone()),
            fused_first: fused.first().map_or(0.0, |f| f.score),
            fused_second: fused.get(1).map_or(0.0, |f| f.score),
        }
    }
}

/// Articles of one language needed to tell its typical cosine.
const MIN_FOR_TYPICAL: usize = 5;

fn median(mut values: Vec<f32>) -> f32 {
    values.sort_by(|a, b| a.total_cmp(b));
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

/// What an article id shares with its translations: the id after its
/// locale (`pt/chat-backup` and `en/chat-backup` are one article in two
/// languages, as the knowledge folder names them); None for an id that
/// does not start with its locale.
fn translation_key<'a>(article_id: &'a str, locale: &str) -> Option<&'a str> {
    article_id
        .strip_prefix(locale)
        .and_then(|rest| rest.strip_prefix('/'))
        .filter(|rest| !rest.is_empty())
}

/// A lexical hit: article id, BM25, coverage.
pub type Lexical = (String, f32, f64);

/// The candidates best first: `lexical` are found in the locale `home`;
/// `dense` holds every searched article's best passage.
pub fn fuse(lexical: &[Lexical], dense: &[DenseHit], home: &str, f: Fusion) -> Vec<Fused> {
    let best_bm25 = lexical.iter().map(|(_, s, _)| *s).fold(0.0f32, f32::max);
    // A model scores texts of the question's own language higher across the
    // board: each article's cosine is first taken relative to the typical
    // article of its language (of all articles, for a language with too few
    // to tell).
    let overall = median(dense.iter().map(|h| h.closeness).collect());
    let mut by_locale: HashMap<&str, Vec<f32>> = HashMap::new();
    for h in dense {
        by_locale.entry(&*h.locale).or_default().push(h.closeness);
    }
    let typical_of: HashMap<&str, f32> = by_locale
        .into_iter()
        .map(|(l, c)| {
            (
                l,
                if c.len() >= MIN_FOR_TYPICAL {
                    median(c)
                } else {
                    overall
                },
            )
        })
        .collect();
    // An article in another language whose translation in the customer's
    // language is searched too is that translation's double: only the
    // customer's version is a candidate.
    let translated: HashSet<&str> = dense
        .iter()
        .filter(|h| &*h.locale == home)
        .filter_map(|h| translation_key(&h.article_id, &h.locale))
        .collect();
    let dense: Vec<&DenseHit> = dense
        .iter()
        .filter(|h| {
            &*h.locale == home
                || !translation_key(&h.article_id, &h.locale)
                    .is_some_and(|k| translated.contains(k))
        })
        .collect();
    let relative =
        |h: &DenseHit| h.closeness - typical_of.get(&*h.locale).copied().unwrap_or(overall);
    let top = dense.iter().map(|h| relative(h)).fold(f32::MIN, f32::max);
    let typical = median(dense.iter().map(|h| relative(h)).collect());
    let semantic = |h: &DenseHit| match top > typical {
        true => ((relative(h) - typical) / (top - typical)).clamp(0.0, 1.0),
        false => 0.0,
    };
    let by_id: HashMap<&str, &DenseHit> = dense.iter().map(|h| (&*h.article_id, *h)).collect();
    let mut out: Vec<Fused> = lexical
        .iter()
        .map(|(id, bm25, coverage)| Fused {
            article_id: id.clone(),
            locale: by_id
                .get(id.as_str())
                .map_or_else(|| home.to_string(), |h| h.locale.to_string()),
            bm25: Some((*bm25, *coverage)),
            dense: by_id.get(id.as_str()).map(|h| (h.cosine, h.ordinal)),
            score: 0.0,
        })
        .collect();
    let mut semantic_of: HashMap<String, f32> = HashMap::new();
    for h in &dense {
        semantic_of.insert(h.article_id.to_string(), semantic(h));
    }
    for h in &dense {
        if !lexical
            .iter()
            .any(|(id, _, _)| id.as_str() == &*h.article_id)
        {
            out.push(Fused {
                article_id: h.article_id.to_string(),
                locale: h.locale.to_string(),
                bm25: None,
                dense: Some((h.cosine, h.ordinal)),
                score: 0.0,
            });
        }
    }
    for c in &mut out {
        let lexical = match (c.bm25, best_bm25 > 0.0) {
            (Some((s, coverage)), true) => s / best_bm25 * coverage as f32,
            _ => 0.0,
        };
        let semantic = semantic_of.get(&c.article_id).copied().unwrap_or(0.0);
        let away = if c.locale == home {
            0.0
        } else {
            f.cross_language_margin
        };
        c.score = f.dense_weight * semantic + (1.0 - f.dense_weight) * lexical - away;
    }
    out.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| a.article_id.cmp(&b.article_id))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn dense(id: &str, locale: &str, cosine: f32) -> DenseHit {
        DenseHit {
            article_id: Arc::from(id),
            locale: Arc::from(locale),
            ordinal: 0,
            cosine,
            closeness: cosine,
        }
    }

    const EVEN: Fusion = Fusion {
        dense_weight: 0.5,
        cross_language_margin: 0.2,
    };

    fn order(f: &[Fused]) -> Vec<&str> {
        f.iter().map(|c| c.article_id.as_str()).collect()
    }

    #[test]
    fn semantic_evidence_lifts_an_article_that_shares_no_words_with_the_question() {
        let lexical = [
            ("en/weather".to_string(), 4.0, 0.5),
            ("en/backup".to_string(), 3.0, 0.5),
        ];
        let d = [
            dense("en/restore", "en", 0.80),
            dense("en/backup", "en", 0.55),
            dense("en/weather", "en", 0.20),
            dense("en/groups", "en", 0.30),
            dense("en/ticks", "en", 0.25),
        ];
        let fused = fuse(&lexical, &d, "en", EVEN);
        assert_eq!(order(&fused)[0], "en/restore");
        assert_eq!(fused[0].bm25, None);
        // The weights at their ends give one side's order.
        let lexical_only = Fusion {
            dense_weight: 0.0,
            ..EVEN
        };
        assert_eq!(
            order(&fuse(&lexical, &d, "en", lexical_only))[0],
            "en/weather"
        );
    }

    #[test]
    fn another_language_wins_only_when_clearly_closer() {
        let d = [
            dense("pt/backup", "pt", 0.70),
            dense("en/backup", "en", 0.72),
            dense("en/a", "en", 0.1),
            dense("en/b", "en", 0.1),
            dense("en/c", "en", 0.1),
        ];
        let lexical = [("pt/backup".to_string(), 2.0, 0.8)];
        assert_eq!(order(&fuse(&lexical, &d, "pt", EVEN))[0], "pt/backup");
        let far = [
            dense("pt/groups", "pt", 0.30),
            dense("en/restore", "en", 0.90),
            dense("en/a", "en", 0.1),
            dense("en/b", "en", 0.1),
            dense("en/c", "en", 0.1),
        ];
        // A weak lexical match: few of the question's words.
        let weak = [("pt/groups".to_string(), 1.0, 0.2)];
        assert_eq!(order(&fuse(&weak, &far, "pt", EVEN))[0], "en/restore");
    }

    #[test]
    fn a_translation_in_the_customer_s_language_stands_for_its_original() {
        // The English original is a little closer than its Portuguese
        // translation: the Portuguese one is the candidate, and the English
        // one is not offered beside it.
        let d = [
            dense("en/backup", "en", 0.80),
            dense("pt/backup", "pt", 0.78),
            dense("en/ticks", "en", 0.60),
            dense("en/a", "en", 0.1),
            dense("en/b", "en", 0.1),
            dense("en/c", "en", 0.1),
        ];
        let lexical = [("pt/backup".to_string(), 2.0, 0.8)];
        let fused = fuse(&lexical, &d, "pt", EVEN);
        assert_eq!(order(&fused)[0], "pt/backup");
        assert!(!order(&fused).contains(&"en/backup"));
        // An English article with no Portuguese version is still offered.
        assert!(order(&fused).contains(&"en/ticks"));
        // In the original's own language nothing is folded away.
        let english = fuse(&[], &d, "en", EVEN);
        assert!(order(&english).contains(&"en/backup"));
        // Ids that do not start with their locale are never taken for translations.
        assert_eq!(translation_key("backup", "en"), None);
        assert_eq!(translation_key("en/", "en"), None);
        assert_eq!(translation_key("pt/backup", "pt"), Some("backup"));
    }

    #[test]
    fn without_vectors_the_lexical_order_stands() {
        let lexical = [
            ("en/a".to_string(), 1.0, 1.0),
            ("en/b".to_string(), 3.0, 1.0),
        ];
        assert_eq!(order(&fuse(&lexical, &[], "en", EVEN)), ["en/b", "en/a"]);
    }
}
