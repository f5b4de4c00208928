use super::*;
use crate::knowledge::PassageHit;

const T: Thresholds = Thresholds {
    high: 0.7,
    medium: 0.4,
};

fn hit(title: &str, score: f32, coverage: f64) -> ArticleHit {
    ArticleHit {
        article_id: title.into(),
        version: 1,
        locale: "en".into(),
        title: title.into(),
        url: String::new(),
        applies_to: Default::default(),
        score,
        passages: vec![PassageHit {
            heading: String::new(),
            text: "x".into(),
            ordinal: 0,
            score,
            cosine: None,
        }],
        coverage,
        cosine: None,
    }
}

#[test]
fn nothing_retrieved_is_low() {
    let c = assess(
        &Signals {
            hits: &[],
            query_terms: 4,
            ..Default::default()
        },
        T,
    );
    assert_eq!(c.level, Level::Low);
    assert_eq!(c.score, 0.0);
}

/// A question of four terms, the best article's closest line `line` (recall, precision).
fn signals<'a>(hits: &'a [ArticleHit], line: (f64, f64), runner_up: (f64, f64)) -> Signals<'a> {
    Signals {
        hits,
        query_terms: 4,
        line: LineMatch {
            recall: line.0,
            precision: line.1,
        },
        runner_up_line: LineMatch {
            recall: runner_up.0,
            precision: runner_up.1,
        },
        ..Default::default()
    }
}

#[test]
fn a_question_an_article_answers_line_for_line_with_a_clear_margin_is_high() {
    let hits = [hit("a", 10.0, 1.0), hit("b", 4.0, 0.5)];
    let c = assess(&signals(&hits, (1.0, 0.8), (0.3, 0.3)), T);
    assert_eq!(c.level, Level::High, "{c:?}");
    for (signal, value) in [
        ("retrieval_strength", 1.0),
        ("margin", 0.6),
        ("line_recall", 1.0),
        ("line_precision", 0.8),
        ("coverage_margin", 0.5),
        ("question_terms", 4.0),
    ] {
        assert!(
            c.reasons
                .iter()
                .any(|r| r.signal == signal && (r.value - value).abs() < 1e-6),
            "{signal} = {value} in {:?}",
            c.reasons
        );
    }
}

#[test]
fn sharing_an_articles_words_without_a_close_line_is_not_enough_to_send() {
    // Every term is somewhere in the article, but no line of it says what was asked.
    let hits = [hit("a", 10.0, 1.0), hit("b", 4.0, 0.5)];
    let c = assess(&signals(&hits, (0.3, 0.3), (0.3, 0.3)), T);
    assert_ne!(c.level, Level::High, "{c:?}");
    let close = assess(&signals(&hits, (1.0, 0.8), (0.3, 0.3)), T);
    assert!(
        close.score > c.score + 0.3,
        "{} vs {}",
        close.score,
        c.score
    );
}

#[test]
fn weak_coverage_is_low() {
    let hits = [hit("a", 2.0, 0.2), hit("b", 1.9, 0.2)];
    assert_eq!(
        assess(&signals(&hits, (0.25, 0.2), (0.25, 0.2)), T).level,
        Level::Low
    );
}

#[test]
fn an_article_in_another_language_counts_less() {
    let hits = [hit("a", 10.0, 1.0), hit("b", 4.0, 0.5)];
    let home = assess(&signals(&hits, (1.0, 0.8), (0.3, 0.3)), T);
    let abroad = assess(
        &Signals {
            locale_fallback: true,
            ..signals(&hits, (1.0, 0.8), (0.3, 0.3))
        },
        T,
    );
    assert!((abroad.score - home.score * LOCALE_FALLBACK_FACTOR).abs() < 1e-9);
    assert!(abroad.reasons.iter().any(|r| r.signal == "locale_fallback"));
}

#[test]
fn a_policy_flag_forces_review_even_when_high() {
    let hits = [hit("a", 10.0, 1.0)];
    let flags = Flags {
        human_requested: Some("talk to a human".into()),
        ..Default::default()
    };
    let c = assess(
        &Signals {
            flags: flags.clone(),
            ..signals(&hits, (1.0, 1.0), (0.0, 0.0))
        },
        T,
    );
    assert_eq!(c.level, Level::High);
    assert!(!auto_send(&c, &flags));
    assert!(
        c.reasons
            .iter()
            .any(|r| r.signal == "policy_human_requested")
    );
}

fn good_model() -> ModelSignals {
    ModelSignals {
        answerable: Some(true),
        self_rating: Some(0.9),
        token_confidence: Some(0.85),
        groundedness: 0.9,
        citations_valid: true,
    }
}

#[test]
fn a_grounded_cited_answerable_reply_on_a_covered_question_is_high() {
    let hits = [hit("a", 10.0, 1.0), hit("b", 4.0, 0.5)];
    let c = assess_with_model(&signals(&hits, (1.0, 0.8), (0.3, 0.3)), &good_model(), T);
    assert_eq!(c.level, Level::High, "{c:?}");
    for s in [
        "groundedness",
        "citation_validity",
        "llm_answerable",
        "llm_self_rating",
        "llm_token_confidence",
        "retrieval_strength",
    ] {
        assert!(c.reasons.iter().any(|r| r.signal == s), "{s} missing");
    }
}

#[test]
fn cannot_answer_invalid_citations_or_ungrounded_replies_are_low() {
    let hits = [hit("a", 10.0, 1.0)];
    let signals = Signals {
        hits: &hits,
        query_terms: 4,
        ..Default::default()
    };
    for m in [
        ModelSignals {
            answerable: Some(false),
            ..good_model()
        },
        ModelSignals {
            citations_valid: false,
            ..good_model()
        },
        ModelSignals {
            groundedness: 0.1,
            ..good_model()
        },
    ] {
        assert_eq!(
            assess_with_model(&signals, &m, T).level,
            Level::Low,
            "{m:?}"
        );
    }
}

#[test]
fn groundedness_counts_distinct_reply_terms_found_in_the_sources() {
    let src: std::collections::HashSet<&str> = ["open", "set"].into_iter().collect();
    let reply: Vec<String> = ["open", "set", "set", "moon"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert!((groundedness(&reply, &src) - 2.0 / 3.0).abs() < 1e-9);
    assert_eq!(groundedness(&[], &src), 1.0);
}

#[test]
fn score_stays_in_range_for_odd_inputs() {
    let hits = [hit("a", f32::NAN, 7.0), hit("b", -3.0, -1.0)];
    let c = assess(
        &Signals {
            hits: &hits,
            query_terms: 0,
            locale_fallback: true,
            ..Default::default()
        },
        T,
    );
    assert!((0.0..=1.0).contains(&c.score), "{c:?}");
}
