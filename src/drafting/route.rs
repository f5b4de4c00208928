//! Stages "score" and "route": how sure the draft is, from what retrieval
//! found and what the writer said, and whether it goes to the customer now or
//! waits for a person.

use super::checks::Finding;
use super::confidence::{self, Signals};
use super::generate::Written;
use super::llm::LlmError;
use super::policy::Flags;
use super::retrieve::Retrieved;
use crate::config::Thresholds;
use crate::model::{Confidence, DraftState, Reason};

/// The draft's confidence, with every signal that counted as a reason.
/// `written` None: before anything is written, by retrieval alone.
pub fn score(
    retrieved: &Retrieved,
    flags: &Flags,
    detected_locale: &str,
    written: Option<&Written<'_>>,
    thresholds: Thresholds,
) -> Confidence {
    let signals = Signals {
        semantic: semantic_signals(retrieved),
        hits: &retrieved.articles,
        query_terms: retrieved.query_terms.len(),
        flags: flags.clone(),
        locale_fallback: retrieved.locale != detected_locale,
        line: retrieved.closest_line(0),
        runner_up_line: retrieved.closest_line(1),
    };
    let mut confidence = match written.and_then(|w| w.model.as_ref()) {
        Some(model) => confidence::assess_with_model(&signals, model, thresholds),
        None => confidence::assess(&signals, thresholds),
    };
    if let Some(e) = written.and_then(|w| w.fallback.as_ref()) {
        let signal = match e {
            LlmError::Unparseable(_) => "llm_unparseable",
            LlmError::Timeout
            | LlmError::Unavailable(_)
            | LlmError::RateLimited
            | LlmError::Rejected { .. }
            | LlmError::BreakerOpen
            | LlmError::Saturated => "llm_unavailable",
        };
        confidence.reasons.push(Reason {
            signal: signal.into(),
            value: 1.0,
            detail: format!(
                "the extractive drafter wrote this draft: {} ({e})",
                e.kind()
            ),
        });
    }
    confidence
}

/// Largest |z| the semantic signals take: beyond the fitting data's range.
const MAX_Z: f64 = 6.0;

/// The semantic evidence for the best retrieved article, when there is an embedder.
fn semantic_signals(retrieved: &Retrieved) -> Option<confidence::SemanticSignals> {
    let evidence = retrieved.semantic.as_ref()?;
    let best = retrieved.articles.first()?;
    let std = f64::from(evidence.cosine_std).max(1e-3);
    let cosine = f64::from(best.cosine.unwrap_or(evidence.cosine_mean));
    let z = |x: f64| (x / std).clamp(-MAX_Z, MAX_Z);
    Some(confidence::SemanticSignals {
        similarity_z: z(cosine - f64::from(evidence.cosine_mean)),
        gap_z: z(cosine - f64::from(evidence.runner_up_cosine)),
        hybrid_margin: f64::from(evidence.fused_first - evidence.fused_second).clamp(0.0, 1.0),
        lexical_agrees: evidence.lexical_top.as_deref() == Some(best.article_id.as_str()),
        dense_agrees: evidence.dense_top.as_deref() == Some(best.article_id.as_str()),
    })
}

/// The confidence of a draft made from a curated answer: recall's signals,
/// whether retrieval finds the article it rests on, and the policy flags.
pub fn score_memory(
    recall: &super::memory::Recall,
    retrieved: &Retrieved,
    flags: &Flags,
    thresholds: Thresholds,
) -> Confidence {
    let sources = &recall.answer.sources;
    let retrieval_agrees = (!sources.is_empty()).then(|| {
        retrieved
            .articles
            .first()
            .is_some_and(|best| sources.iter().any(|s| s.article_id == best.article_id))
    });
    let signals = confidence::MemorySignals {
        similarity: recall.similarity,
        semantic: recall.semantic,
        agreeing_agents: recall.agreeing_agents,
        disagreeing: recall.disagreeing,
        retrieval_agrees,
    };
    confidence::assess_memory(&signals, flags, thresholds)
}

/// Sends the draft on only when it is confident, no policy asks for a person
/// and the checks found nothing; a finding also becomes a reason and brings
/// the level below HIGH.
pub fn route(
    confidence: &mut Confidence,
    flags: &Flags,
    findings: &[Finding],
    thresholds: Thresholds,
) -> DraftState {
    hold(confidence, findings, thresholds);
    if findings.is_empty() && confidence::auto_send(confidence, flags) {
        DraftState::AutoApproved
    } else {
        DraftState::PendingReview
    }
}

/// Holds a reply the checks found fault with: each finding becomes a reason,
/// and the level drops below HIGH (the draft goes to review either way).
fn hold(confidence: &mut Confidence, findings: &[Finding], t: Thresholds) {
    if findings.is_empty() {
        return;
    }
    for f in findings {
        confidence.reasons.push(Reason {
            signal: f.signal.into(),
            value: 1.0,
            detail: f.detail.clone(),
        });
    }
    let below_high = (t.high - 0.01).max(0.0);
    confidence.score = confidence.score.min(below_high);
    confidence.level = confidence::level_for(confidence.score, t);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Level;

    const T: Thresholds = Thresholds {
        high: 0.7,
        medium: 0.4,
    };

    fn sure() -> Confidence {
        Confidence {
            score: 0.9,
            level: Level::High,
            reasons: vec![],
        }
    }

    fn nothing_retrieved() -> Retrieved {
        Retrieved {
            locale: "en".into(),
            articles: vec![],
            query_terms: vec![],
            facts: vec![],
            semantic: None,
        }
    }

    fn extractive(fallback: Option<LlmError>) -> Written<'static> {
        Written {
            body: String::new(),
            citations: vec![],
            generator: "extractive".into(),
            given: vec![],
            cited: vec![],
            own_words: String::new(),
            model: None,
            fallback,
            missing_steps: false,
        }
    }

    #[test]
    fn a_confident_clean_draft_is_sent() {
        let mut c = sure();
        assert_eq!(
            route(&mut c, &Flags::default(), &[], T),
            DraftState::AutoApproved
        );
        assert_eq!(c, sure());
    }

    #[test]
    fn a_finding_holds_a_confident_draft_and_says_why() {
        let mut c = sure();
        let finding = Finding {
            signal: "reply_new_url",
            detail: "https://evil.example".into(),
        };
        assert_eq!(
            route(&mut c, &Flags::default(), &[finding], T),
            DraftState::PendingReview
        );
        assert_eq!(c.level, Level::Medium);
        assert!(c.score < T.high);
        assert_eq!(c.reasons[0].signal, "reply_new_url");
    }

    #[test]
    fn a_policy_flag_holds_a_confident_draft() {
        let flags = Flags {
            always_review: Some("chargeback".into()),
            ..Default::default()
        };
        assert_eq!(
            route(&mut sure(), &flags, &[], T),
            DraftState::PendingReview
        );
    }

    #[test]
    fn a_draft_that_is_not_sure_waits() {
        let mut c = Confidence {
            score: 0.5,
            level: Level::Medium,
            reasons: vec![],
        };
        assert_eq!(
            route(&mut c, &Flags::default(), &[], T),
            DraftState::PendingReview
        );
    }

    #[test]
    fn a_model_that_failed_is_a_reason_naming_what_failed() {
        let c = score(
            &nothing_retrieved(),
            &Flags::default(),
            "en",
            Some(&extractive(Some(LlmError::Timeout))),
            T,
        );
        let reason = c.reasons.iter().find(|r| r.signal == "llm_unavailable");
        assert!(reason.is_some(), "{:?}", c.reasons);
        let c = score(
            &nothing_retrieved(),
            &Flags::default(),
            "en",
            Some(&extractive(Some(LlmError::Unparseable("not json".into())))),
            T,
        );
        assert!(c.reasons.iter().any(|r| r.signal == "llm_unparseable"));
        let c = score(
            &nothing_retrieved(),
            &Flags::default(),
            "en",
            Some(&extractive(None)),
            T,
        );
        assert!(!c.reasons.iter().any(|r| r.signal.starts_with("llm_")));
        assert_eq!(c.level, Level::Low);
    }
}
