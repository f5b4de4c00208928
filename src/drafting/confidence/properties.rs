use super::*;
use crate::knowledge::{ArticleHit, PassageHit};
use proptest::prelude::*;

fn any_f64() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => -0.5f64..1.5,
        1 => Just(f64::NAN),
        1 => Just(f64::INFINITY),
        1 => Just(f64::NEG_INFINITY),
        1 => any::<f64>(),
    ]
}

fn hit() -> impl Strategy<Value = ArticleHit> {
    (any::<f32>(), any_f64(), 0usize..3).prop_map(|(score, coverage, passages)| ArticleHit {
        article_id: "en/a".into(),
        version: 1,
        locale: "en".into(),
        title: "A".into(),
        url: String::new(),
        applies_to: Default::default(),
        score,
        passages: (0..passages)
            .map(|i| PassageHit {
                heading: String::new(),
                text: "text".into(),
                ordinal: i as u64,
                score,
                cosine: None,
            })
            .collect(),
        coverage,
        cosine: None,
    })
}

fn thresholds() -> impl Strategy<Value = Thresholds> {
    (0.0f64..=1.0, 0.0f64..=1.0).prop_map(|(a, b)| Thresholds {
        high: a.max(b),
        medium: a.min(b),
    })
}

fn flags() -> impl Strategy<Value = Flags> {
    (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>()).prop_map(|(a, h, f, i)| Flags {
        always_review: a.then(|| "billing".into()),
        human_requested: h.then(|| "asked".into()),
        frustration: f.then(|| "third time i ask".into()),
        injection: i.then(|| "ignore previous".into()),
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn the_score_is_in_0_1_and_levelled_by_the_thresholds(
        hits in proptest::collection::vec(hit(), 0..5),
        query_terms in 0usize..50,
        flags in flags(),
        locale_fallback in any::<bool>(),
        t in thresholds(),
    ) {
        let s = Signals { hits: &hits, query_terms, flags: flags.clone(), locale_fallback, ..Default::default() };
        let c = assess(&s, t);
        prop_assert!((0.0..=1.0).contains(&c.score), "score {}", c.score);
        prop_assert_eq!(c.level, level_for(c.score, t));
        prop_assert!(c.reasons.iter().all(|r| !r.signal.is_empty()));
        if flags.forces_review() {
            prop_assert!(!auto_send(&c, &flags), "a policy flag always goes to review");
        }
        if hits.is_empty() {
            prop_assert!(!auto_send(&c, &flags) || t.high == 0.0);
        }
    }

    #[test]
    fn the_model_cannot_lift_an_unanswerable_or_ungrounded_draft(
        hits in proptest::collection::vec(hit(), 0..4),
        answerable in proptest::option::of(any::<bool>()),
        self_rating in proptest::option::of(any_f64()),
        token_confidence in proptest::option::of(any_f64()),
        groundedness in any_f64(),
        citations_valid in any::<bool>(),
        t in thresholds(),
    ) {
        let s = Signals { hits: &hits, query_terms: 5, ..Default::default() };
        let m = ModelSignals { answerable, self_rating, token_confidence, groundedness, citations_valid };
        let c = assess_with_model(&s, &m, t);
        prop_assert!((0.0..=1.0).contains(&c.score), "score {}", c.score);
        if answerable == Some(false) || !citations_valid {
            prop_assert!(c.level == Level::Low || t.medium == 0.0, "{:?}", c);
        }
    }
}
