//! The draft state machine for review, as pure functions: given a draft as
//! read, the actor and the time, what the draft becomes, which audit events
//! record it and which delivery it produces. The store applies the result
//! only if the draft has not changed since it was read.
//!
//! ```text
//! PENDING_REVIEW --claim--> CLAIMED --release / lease expiry--> PENDING_REVIEW
//! PENDING_REVIEW | own CLAIMED --approve [edit]--> APPROVED        (delivery)
//! PENDING_REVIEW | own CLAIMED --reject [replacement]--> REJECTED  (delivery if replacement)
//! PENDING_REVIEW | CLAIMED --newer customer message--> SUPERSEDED  (in storage)
//! APPROVED | AUTO_APPROVED | REJECTED with replacement --ack--> DELIVERED (in delivery)
//! ```

use super::Error;
use crate::drafting::phrases;
use crate::model::{AuditEvent, Delivery, Draft, DraftState, Labeling, Millis};
use serde_json::json;

/// A draft's next state with what records it.
#[derive(Debug, Clone)]
pub struct Transition {
    pub draft: Draft,
    pub events: Vec<AuditEvent>,
    pub delivery: Option<Delivery>,
}

/// Fails unless `agent` may act on the draft now: it is open for review, or
/// claimed by `agent` with a live lease.
fn ensure_actionable(
    d: &Draft,
    agent: &str,
    action: &'static str,
    now: Millis,
) -> Result<(), Error> {
    if d.is_open_for_review(now) {
        return Ok(());
    }
    if d.claim_is_live(now) {
        if d.claimed_by == agent {
            return Ok(());
        }
        return Err(Error::ClaimedByOther {
            holder: d.claimed_by.clone(),
            expires_at: d.claim_expires_at.unwrap_or_default(),
        });
    }
    Err(Error::IllegalState {
        action,
        state: d.state,
    })
}

fn decided(d: &Draft, state: DraftState, agent: &str, now: Millis) -> Draft {
    let mut next = d.clone();
    next.state = state;
    next.reviewed_by = agent.to_string();
    next.human_reviewed = true;
    next.claimed_by = String::new();
    next.claim_expires_at = None;
    next.updated_at = now;
    next
}

pub fn claim(d: &Draft, agent: &str, lease_ms: i64, now: Millis) -> Result<Transition, Error> {
    ensure_actionable(d, agent, "claim", now)?;
    let renewing = d.claim_is_live(now);
    let mut next = d.clone();
    next.state = DraftState::Claimed;
    next.claimed_by = agent.to_string();
    next.claim_expires_at = Some(now + lease_ms);
    next.updated_at = now;
    let kind = if renewing {
        "claim_renewed"
    } else {
        "draft_claimed"
    };
    let event = AuditEvent::new(
        kind,
        agent,
        d,
        json!({ "lease_expires_at": now + lease_ms }),
        now,
    );
    Ok(Transition {
        draft: next,
        events: vec![event],
        delivery: None,
    })
}

pub fn release(d: &Draft, agent: &str, now: Millis) -> Result<Transition, Error> {
    if !d.claim_is_live(now) {
        return Err(Error::IllegalState {
            action: "release",
            state: if d.is_open_for_review(now) {
                DraftState::PendingReview
            } else {
                d.state
            },
        });
    }
    if d.claimed_by != agent {
        return Err(Error::ClaimedByOther {
            holder: d.claimed_by.clone(),
            expires_at: d.claim_expires_at.unwrap_or_default(),
        });
    }
    let mut next = d.clone();
    next.state = DraftState::PendingReview;
    next.claimed_by = String::new();
    next.claim_expires_at = None;
    next.updated_at = now;
    Ok(Transition {
        draft: next,
        events: vec![AuditEvent::new("claim_released", agent, d, json!({}), now)],
        delivery: None,
    })
}

/// Returns an expired claim to the queue; None when the claim is still live or gone.
pub fn expire(d: &Draft, now: Millis) -> Option<Transition> {
    if d.state != DraftState::Claimed || d.claim_is_live(now) {
        return None;
    }
    let mut next = d.clone();
    next.state = DraftState::PendingReview;
    next.claimed_by = String::new();
    next.claim_expires_at = None;
    next.updated_at = now;
    let event = AuditEvent::new(
        "claim_expired",
        "system",
        d,
        json!({ "was_claimed_by": d.claimed_by }),
        now,
    );
    Some(Transition {
        draft: next,
        events: vec![event],
        delivery: None,
    })
}

/// Approves the draft; with an edit the agent's text is delivered, still
/// labeled as AI-drafted (as `labeling` says).
pub fn approve(
    d: &Draft,
    agent: &str,
    edited_body: Option<&str>,
    labeling: &Labeling,
    now: Millis,
) -> Result<Transition, Error> {
    ensure_actionable(d, agent, "approve", now)?;
    let mut next = decided(d, DraftState::Approved, agent, now);
    next.ai_generated = true;
    next.disclosure = phrases::for_locale(&d.locale)
        .disclosure_reviewed
        .to_string();
    let edited = edited_body.map(str::trim).filter(|e| *e != d.body.trim());
    next.final_body = edited.map(str::to_string).unwrap_or_else(|| d.body.clone());
    let mut events = vec![AuditEvent::new(
        "draft_approved",
        agent,
        d,
        json!({ "edited": edited.is_some() }),
        now,
    )];
    if let Some(text) = edited {
        events.push(AuditEvent::new(
            "draft_edited",
            agent,
            d,
            // Digests, not texts: the chain outlives an erasure of the texts.
            json!({
                "before_sha256": crate::storage::chain::digest(&[&d.body]),
                "after_sha256": crate::storage::chain::digest(&[text]),
                "edit_ratio": crate::model::edit_ratio(&d.body, text),
            }),
            now,
        ));
    }
    let delivery = Delivery::labeled(&next, agent, now, labeling);
    events.push(delivery.created_event(&next));
    Ok(Transition {
        draft: next,
        events,
        delivery: Some(delivery),
    })
}

/// Rejects the draft; a replacement written by the agent is delivered as human-written.
pub fn reject(
    d: &Draft,
    agent: &str,
    reason: &str,
    replacement: Option<&str>,
    labeling: &Labeling,
    now: Millis,
) -> Result<Transition, Error> {
    ensure_actionable(d, agent, "reject", now)?;
    let mut next = decided(d, DraftState::Rejected, agent, now);
    next.reject_reason = reason.to_string();
    let mut events = vec![AuditEvent::new(
        "draft_rejected",
        agent,
        d,
        json!({ "reason": reason }),
        now,
    )];
    let delivery = match replacement.map(str::trim).filter(|r| !r.is_empty()) {
        Some(text) => {
            next.final_body = text.to_string();
            next.ai_generated = false;
            next.disclosure = String::new();
            events.push(AuditEvent::new(
                "draft_replaced",
                agent,
                d,
                json!({ "replacement_sha256": crate::storage::chain::digest(&[text]) }),
                now,
            ));
            let delivery = Delivery::labeled(&next, agent, now, labeling);
            events.push(delivery.created_event(&next));
            Some(delivery)
        }
        None => {
            next.final_body = String::new();
            None
        }
    };
    Ok(Transition {
        draft: next,
        events,
        delivery,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Confidence, Level};

    fn pending() -> Draft {
        Draft {
            id: "d1".into(),
            conversation_id: "c1".into(),
            message_id: "m1".into(),
            request_id: None,
            caller: String::new(),
            channel: "chat".into(),
            locale: "en".into(),
            body: "AI text".into(),
            disclosure: "AI label".into(),
            ai_generated: true,
            human_reviewed: false,
            generator: "extractive".into(),
            confidence: Confidence {
                score: 0.5,
                level: Level::Medium,
                reasons: vec![],
            },
            citations: vec![],
            state: DraftState::PendingReview,
            needs_person: false,
            final_body: "AI text".into(),
            reviewed_by: String::new(),
            claimed_by: String::new(),
            claim_expires_at: None,
            reject_reason: String::new(),
            created_at: 0,
            updated_at: 0,
            revision: 0,
            customer_message: "q".into(),
            curated_answer_id: String::new(),
            respond_by: None,
        }
    }

    #[test]
    fn a_live_claim_blocks_other_agents_and_names_the_holder() {
        let claimed = claim(&pending(), "ana", 1000, 10).unwrap().draft;
        let refused = claim(&claimed, "bob", 1000, 20).unwrap_err();
        let Error::ClaimedByOther { holder, expires_at } = &refused else {
            panic!("{refused:?}");
        };
        assert_eq!(holder, "ana");
        assert_eq!(*expires_at, 1010);
        assert!(approve(&claimed, "bob", None, &Labeling::default(), 20).is_err());
    }

    #[test]
    fn an_expired_claim_can_be_taken_by_another_agent() {
        let claimed = claim(&pending(), "ana", 1000, 10).unwrap().draft;
        let taken = claim(&claimed, "bob", 1000, 2000).unwrap().draft;
        assert_eq!(taken.claimed_by, "bob");
        assert!(expire(&claimed, 2000).is_some());
        assert!(expire(&claimed, 500).is_none());
    }

    #[test]
    fn an_edited_approval_delivers_the_agents_text_labeled_as_reviewed_ai() {
        let t = approve(
            &pending(),
            "ana",
            Some("Agent text"),
            &Labeling::default(),
            5,
        )
        .unwrap();
        let delivery = t.delivery.unwrap();
        assert_eq!(delivery.body, "Agent text");
        assert!(delivery.ai_generated && delivery.human_reviewed);
        assert!(delivery.text.starts_with("Agent text") && delivery.text.contains("reviewed"));
        assert!(t.events.iter().any(|e| e.kind == "draft_edited"));
    }

    #[test]
    fn a_replacement_is_delivered_as_human_written_without_a_label() {
        let t = reject(
            &pending(),
            "ana",
            "wrong article",
            Some("My own answer"),
            &Labeling::default(),
            5,
        )
        .unwrap();
        let delivery = t.delivery.unwrap();
        assert!(!delivery.ai_generated);
        assert_eq!(delivery.text, "My own answer");
        assert_eq!(t.draft.state, DraftState::Rejected);
    }

    #[test]
    fn a_plain_reject_delivers_nothing() {
        assert!(
            reject(&pending(), "ana", "no", None, &Labeling::default(), 5)
                .unwrap()
                .delivery
                .is_none()
        );
    }

    #[test]
    fn decided_drafts_cannot_be_approved_again() {
        let approved = approve(&pending(), "ana", None, &Labeling::default(), 5)
            .unwrap()
            .draft;
        assert!(matches!(
            approve(&approved, "ana", None, &Labeling::default(), 6),
            Err(Error::IllegalState {
                state: DraftState::Approved,
                ..
            })
        ));
        let rejected = reject(&pending(), "ana", "no", None, &Labeling::default(), 5)
            .unwrap()
            .draft;
        assert!(matches!(
            approve(&rejected, "ana", None, &Labeling::default(), 6),
            Err(Error::IllegalState { .. })
        ));
    }

    #[test]
    fn only_the_holder_can_release() {
        let claimed = claim(&pending(), "ana", 1000, 10).unwrap().draft;
        assert!(release(&claimed, "bob", 20).is_err());
        assert_eq!(
            release(&claimed, "ana", 20).unwrap().draft.state,
            DraftState::PendingReview
        );
        assert!(release(&pending(), "ana", 20).is_err());
    }
}
