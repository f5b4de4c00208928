//! What an agent's decision teaches the answer memory: which reply to file,
//! under which question, resting on which article versions; and which
//! curated answer a decision on a draft made from it rejects or replaces.
//! The store writes the lessons in the decision's own transaction.

use super::Memory;
use crate::drafting::{phrases, pii};
use crate::knowledge::{Knowledge, lang};
use crate::model::{
    Citation, CuratedAnswer, CuratedQuestion, CuratedState, Draft, Millis, SourceVersion, new_id,
};
use crate::storage::MemoryWrite;
use std::collections::HashSet;

/// What the agent did with the draft.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Approved as drafted.
    Approved,
    /// Approved with the agent's edit.
    Edited,
    /// Rejected; with a reply of the agent's own when `replaced`.
    Rejected { replaced: bool },
}

/// Reasons that say a question is not one to answer again from memory: the
/// customer asked for a person, or tried to instruct the assistant.
const NOT_A_QUESTION_TO_REUSE: &[&str] = &["policy_human_requested", "policy_injection"];

/// Share of a reply's terms an article must have for the reply to rest on it.
const GROUNDED: f64 = 0.6;
/// And how many of them at least: a short reply in an agent's own words
/// ("Reply by Ana", "We only help by chat") shares a word or three with
/// most articles without resting on any.
const MIN_GROUNDED_TERMS: usize = 4;

impl Memory {
    /// The lessons of a decision: `before` is the draft as the agent saw it,
    /// `after` as the decision leaves it (its `final_body` is the reply that
    /// goes out, if any).
    pub async fn lessons(
        &self,
        before: &Draft,
        after: &Draft,
        decision: Decision,
        agent: &str,
        now: Millis,
    ) -> Vec<MemoryWrite> {
        if !self.config.enabled {
            return Vec::new();
        }
        let mut writes = Vec::new();
        let from_memory = !before.curated_answer_id.is_empty();
        if from_memory {
            let answer_id = before.curated_answer_id.clone();
            match decision {
                Decision::Approved => {}
                Decision::Edited => writes.push(MemoryWrite::Supersede { answer_id }),
                Decision::Rejected { .. } => writes.push(MemoryWrite::Reject { answer_id }),
            }
        }
        let reply = match decision {
            Decision::Approved | Decision::Edited | Decision::Rejected { replaced: true } => {
                after.final_body.as_str()
            }
            Decision::Rejected { replaced: false } => return writes,
        };
        if let Some(learned) = self.learned(before, reply, agent, now).await {
            writes.push(learned);
        }
        writes
    }

    /// The reply filed under the draft's question, unless it must not be reused.
    async fn learned(
        &self,
        draft: &Draft,
        reply: &str,
        agent: &str,
        now: Millis,
    ) -> Option<MemoryWrite> {
        let flagged = draft
            .confidence
            .reasons
            .iter()
            .any(|r| NOT_A_QUESTION_TO_REUSE.contains(&r.signal.as_str()));
        if flagged || reply.trim().is_empty() {
            return None;
        }
        let question = pii::mask(&draft.customer_message, &draft.locale);
        if pii::strip_placeholders(&question.text).trim().is_empty() {
            return None;
        }
        // A reply with personal data in it was written for one customer:
        // reused, it would hand that customer's data to the next one.
        if !reusable(reply, &question, &draft.locale) {
            tracing::info!(draft_id = %draft.id, "reply not filed in the answer memory: it holds personal data");
            return None;
        }
        let sources = sources_of(&self.knowledge, reply, &draft.locale, &draft.citations).await;
        let answer = CuratedAnswer {
            id: new_id(),
            locale: draft.locale.clone(),
            reply: reply.to_string(),
            sources,
            questions: Vec::new(),
            approved_by: vec![agent.to_string()],
            rejections: 0,
            state: CuratedState::Active,
            created_by: agent.to_string(),
            origin_draft_id: draft.id.clone(),
            created_at: now,
            updated_at: now,
            revision: 1,
        };
        Some(MemoryWrite::Learn {
            answer: Box::new(answer),
            question: CuratedQuestion {
                text: question.text,
                draft_id: draft.id.clone(),
                agent: agent.to_string(),
                at: now,
            },
        })
    }
}

/// Whether a reply may be reused for other customers: it holds no personal
/// data, neither what the masker finds nor what the customer's own message
/// had masked (a name, an address the agent repeated).
fn reusable(reply: &str, question: &pii::Masked, locale: &str) -> bool {
    if !pii::mask(reply, locale).entities.is_empty() {
        return false;
    }
    let lower = reply.to_lowercase();
    let words: HashSet<&str> = lower
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    // Whole originals, and each word of one (a first name alone).
    question.entities.iter().all(|(_, original)| {
        let original = original.to_lowercase();
        !lower.contains(&original)
            && original
                .split(|c: char| !c.is_alphanumeric())
                .filter(|w| w.chars().count() >= 3)
                .all(|w| !words.contains(w))
    })
}

/// The live article versions `reply` rests on: the articles the draft
/// cited that have most of the reply's terms (its fixed phrases aside), best
/// first; when none has, the article the reply's own words find first, if
/// it has them (an agent who rewrote a wrong draft from the right article).
/// None: the reply is the agent's own and rests on no article.
pub async fn sources_of(
    knowledge: &Knowledge,
    reply: &str,
    locale: &str,
    cited: &[Citation],
) -> Vec<SourceVersion> {
    let own = phrases::for_locale(locale).without_fixed_lines(reply);
    let mut grounded: Vec<(f64, SourceVersion)> = Vec::new();
    let mut seen = HashSet::new();
    for c in cited {
        if seen.insert(c.article_id.clone())
            && let Some(g) = grounding(knowledge, &own, &c.article_id).await
        {
            grounded.push(g);
        }
    }
    if grounded.is_empty()
        && let Ok(found) = knowledge.search_in(&own, locale, 1).await
        && let Some(best) = found.hits.articles.first()
        && let Some(g) = grounding(knowledge, &own, &best.article_id).await
    {
        grounded.push(g);
    }
    grounded.sort_by(|a, b| b.0.total_cmp(&a.0));
    grounded.into_iter().map(|(_, s)| s).collect()
}

/// The share of `text`'s terms the live article `id` has (with its title),
/// and its version, when that share makes the text rest on it.
async fn grounding(knowledge: &Knowledge, text: &str, id: &str) -> Option<(f64, SourceVersion)> {
    let article = knowledge.get(id).await.ok()?;
    let key = lang::analyzer_key(&article.locale);
    let text_terms: HashSet<String> = lang::analyze(key, text).into_iter().collect();
    if text_terms.is_empty() {
        return None;
    }
    let article_terms: HashSet<String> =
        lang::analyze(key, &format!("{}\n{}", article.title, article.body))
            .into_iter()
            .collect();
    let shared = text_terms.intersection(&article_terms).count();
    if shared < MIN_GROUNDED_TERMS {
        return None;
    }
    let share = shared as f64 / text_terms.len() as f64;
    let source = SourceVersion {
        article_id: article.id,
        version: article.version,
    };
    (share >= GROUNDED).then_some((share, source))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_with_the_customer_s_personal_data_is_not_reused() {
        let question = pii::mask("my email is ana@example.com and I cannot log in", "en");
        assert!(reusable(
            "Open Settings > Account and tap Log in again.",
            &question,
            "en"
        ));
        assert!(!reusable(
            "We wrote to ana@example.com with the steps.",
            &question,
            "en"
        ));
        // Found by the masker in the reply itself, whoever it belongs to.
        assert!(!reusable("Call us on +44 20 7946 0958.", &question, "en"));
    }

    #[test]
    fn what_the_customer_s_message_had_masked_is_not_reused_even_unrecognised() {
        let question = pii::mask("hi, my name is Joana Prates and my backup is gone", "en");
        assert!(
            question.entities.iter().any(|(_, v)| v.contains("Joana")),
            "{:?}",
            question.entities
        );
        assert!(!reusable(
            "Hi Joana, open Settings > Chats > Backup.",
            &question,
            "en"
        ));
    }
}
