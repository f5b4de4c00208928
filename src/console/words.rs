//! A draft's confidence in plain words: what an agent needs to know about
//! why the AI is sure or unsure, one sentence a signal, strongest first.
//! Signals without a sentence here are still listed, with their own detail.

use crate::model::{Confidence, Level, Reason};

/// The level, as the agent should read it.
pub fn level(level: Level) -> &'static str {
    match level {
        Level::High => "Confident: a draft like this is sent on its own",
        Level::Medium => "Unsure: a person decides",
        Level::Low => "Not confident: the draft probably does not answer the question",
    }
}

fn value(reasons: &[Reason], signal: &str) -> Option<f64> {
    reasons.iter().find(|r| r.signal == signal).map(|r| r.value)
}

/// Sentences explaining the confidence, most telling first.
pub fn explain(confidence: &Confidence) -> Vec<String> {
    let r = &confidence.reasons;
    let mut out = Vec::new();
    let mut say = |s: String| out.push(s);
    for (signal, sentence) in [
        (
            "conversation_waits_for_person",
            "The conversation waits for a person, so nothing is sent without one.",
        ),
        ("policy_human_requested", "The customer asked for a person."),
        (
            "policy_always_review",
            "The topic always needs a person (account security, payments, legal or similar).",
        ),
        (
            "policy_injection",
            "The message tries to give the AI instructions.",
        ),
        ("policy_frustration", "The customer sounds frustrated."),
        (
            "incomplete_steps",
            "The draft leaves out steps the question asks for.",
        ),
        (
            "reply_unsupported",
            "The reply says things the articles do not.",
        ),
        (
            "reply_new_url",
            "The reply has a link that is not in the articles.",
        ),
        (
            "reply_new_number",
            "The reply has a number that is not in the articles.",
        ),
        (
            "reply_new_contact",
            "The reply has contact details that are not in the articles.",
        ),
        (
            "reply_commitment",
            "The reply promises something (a refund, a date) the articles do not.",
        ),
        (
            "reply_asks_secret",
            "The reply asks the customer for a secret (a code or password).",
        ),
    ] {
        if value(r, signal).is_some_and(|v| v > 0.0) {
            say(sentence.to_string());
        }
    }
    if let Some(similarity) = value(r, "memory_similarity") {
        let approvals = value(r, "memory_approvals").unwrap_or(0.0);
        say(format!(
            "An answer agents approved before fits: its question is {:.0}% alike, approved {} time{}.",
            similarity * 100.0,
            approvals as u64,
            if approvals as u64 == 1 { "" } else { "s" }
        ));
    }
    match (value(r, "retrieval_strength"), value(r, "question_terms")) {
        (Some(s), _) if s <= 0.0 => say("No article matches the question.".into()),
        (Some(s), Some(terms)) if terms >= 1.0 => {
            let terms = terms.round() as u64;
            let matched = ((s * terms as f64).round() as u64).min(terms);
            say(format!(
                "The best article matches {matched} of the question's {terms} key word{}.",
                if terms == 1 { "" } else { "s" }
            ));
        }
        (Some(s), _) => say(format!(
            "The best article matches {:.0}% of the question's key words.",
            s * 100.0
        )),
        (None, _) => {}
    }
    if let Some(m) = value(r, "hybrid_margin").or_else(|| value(r, "margin")) {
        say(if m < 0.1 {
            "A second article is almost as good: the AI may have picked the wrong one.".into()
        } else if m < 0.3 {
            "A second article comes fairly close.".into()
        } else {
            "No other article comes close.".into()
        });
    }
    if let Some(s) = value(r, "semantic_similarity") {
        say(if s >= 2.5 {
            "In meaning, the best article is clearly closer to the question than the others.".into()
        } else if s >= 1.5 {
            "In meaning, the best article is somewhat closer to the question than the others."
                .into()
        } else {
            "In meaning, no article stands out: the question may not be covered.".into()
        });
    }
    let words = value(r, "lexical_agreement");
    let meaning = value(r, "semantic_agreement");
    if let (Some(w), Some(m)) = (words, meaning)
        && (w <= 0.0 || m <= 0.0)
    {
        say("The question's words and its meaning point to different articles.".into());
    }
    if value(r, "locale_fallback").is_some_and(|v| v > 0.0) {
        say(
            "No article is in the customer's language; the answer comes from another language."
                .into(),
        );
    }
    if value(r, "few_terms").is_some_and(|v| v > 0.0) {
        say("The question has too few words to be sure what it asks.".into());
    }
    if let Some(a) = value(r, "llm_answerable") {
        say(if a >= 0.5 {
            "The language model judged that the articles answer the question.".into()
        } else {
            "The language model judged that the articles do not answer the question.".into()
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(signal: &str, value: f64) -> Reason {
        Reason {
            signal: signal.into(),
            value,
            detail: String::new(),
        }
    }

    #[test]
    fn an_unsure_lexical_draft_reads_as_the_agent_would_say_it() {
        let confidence = Confidence {
            score: 0.5,
            level: Level::Medium,
            reasons: vec![
                reason("retrieval_strength", 0.74),
                reason("question_terms", 4.0),
                reason("margin", 0.04),
            ],
        };
        assert_eq!(
            explain(&confidence),
            vec![
                "The best article matches 3 of the question's 4 key words.",
                "A second article is almost as good: the AI may have picked the wrong one.",
            ]
        );
    }

    #[test]
    fn a_request_for_a_person_comes_first() {
        let confidence = Confidence {
            score: 0.0,
            level: Level::Low,
            reasons: vec![
                reason("retrieval_strength", 0.0),
                reason("policy_human_requested", 1.0),
            ],
        };
        assert_eq!(
            explain(&confidence),
            vec![
                "The customer asked for a person.",
                "No article matches the question."
            ]
        );
    }
}
