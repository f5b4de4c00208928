//! Stage "record": what a composed reply becomes in the store, the customer's
//! message, the draft, the audit events that say what happened, and the
//! delivery when it goes out now, with the draft as it is written instead
//! when the conversation waits for a person. The store writes what it is
//! handed, in one transaction.

use super::Composed;
use super::request::DraftRequest;
use crate::model::{
    AI_ACTOR, AuditEvent, CustomerMessage, Delivery, Draft, DraftState, Reason, new_id,
};
use crate::storage::{HeldDraft, NewDraft};

/// The records for `composed`, the reply to `r`, at `now`.
pub fn new_draft(r: &DraftRequest, composed: Composed, now: i64) -> NewDraft {
    let message = CustomerMessage {
        id: new_id(),
        conversation_id: r.conversation_id.clone(),
        text: r.message.clone(),
        locale: composed.locale.clone(),
        channel: composed.channel.clone(),
        context: r.context.clone(),
        received_at: now,
    };
    let draft = Draft {
        id: new_id(),
        conversation_id: r.conversation_id.clone(),
        message_id: message.id.clone(),
        request_id: (!r.request_id.is_empty()).then(|| r.request_id.clone()),
        caller: r.caller.clone(),
        channel: composed.channel,
        locale: composed.locale,
        final_body: composed.body.clone(),
        body: composed.body,
        disclosure: composed.disclosure,
        ai_generated: true,
        human_reviewed: false,
        generator: composed.generator,
        confidence: composed.confidence,
        citations: composed.citations,
        state: composed.state,
        needs_person: composed.forced_review,
        reviewed_by: String::new(),
        claimed_by: String::new(),
        claim_expires_at: None,
        reject_reason: String::new(),
        created_at: now,
        updated_at: now,
        revision: 0,
        customer_message: r.message.clone(),
    };
    let mut events = vec![
        AuditEvent::new(
            "message_received",
            "platform",
            &draft,
            serde_json::json!({ "message_id": message.id, "channel": draft.channel, "locale": draft.locale }),
            now,
        ),
        AuditEvent::new(
            "draft_created",
            AI_ACTOR,
            &draft,
            serde_json::json!({
                "generator": draft.generator,
                "score": draft.confidence.score,
                "level": draft.confidence.level.as_str(),
                "citations": draft.citations.iter().map(|c| format!("{}@{}", c.article_id, c.version)).collect::<Vec<_>>(),
            }),
            now,
        ),
    ];
    let if_held = held(&draft, &events);
    // A newer message makes the conversation's undecided drafts obsolete.
    let superseded = AuditEvent {
        seq: 0,
        at: now,
        kind: "draft_superseded".into(),
        actor: "system".into(),
        conversation_id: r.conversation_id.clone(),
        draft_id: String::new(),
        detail: serde_json::json!({ "by_message": message.id, "by_draft": draft.id }),
        chain: Default::default(),
    };
    let delivery = (draft.state == DraftState::AutoApproved).then(|| {
        events.push(AuditEvent::new(
            "draft_auto_approved",
            AI_ACTOR,
            &draft,
            serde_json::json!({ "level": draft.confidence.level.as_str() }),
            now,
        ));
        Delivery::for_draft(&draft, AI_ACTOR, now)
    });
    NewDraft {
        message,
        draft,
        events,
        delivery,
        if_held: Some(if_held),
        superseded,
    }
}

/// The new draft as written while its conversation waits for a person: held
/// for review, whatever its confidence, with a reason saying why.
fn held(draft: &Draft, events: &[AuditEvent]) -> HeldDraft {
    let mut held = draft.clone();
    held.state = DraftState::PendingReview;
    held.confidence.reasons.push(Reason {
        signal: "conversation_waits_for_person".into(),
        value: 1.0,
        detail: "an earlier message of this conversation waits for a person; nothing in it is sent automatically until an agent decides it".into(),
    });
    HeldDraft {
        draft: held,
        events: events.to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Confidence, Level};

    fn composed(state: DraftState) -> Composed {
        Composed {
            locale: "en".into(),
            channel: "whatsapp".into(),
            body: "Open Settings > Chats > Backup.".into(),
            disclosure: "AI-generated".into(),
            citations: vec![],
            generator: "extractive".into(),
            confidence: Confidence {
                score: 0.9,
                level: Level::High,
                reasons: vec![],
            },
            state,
            forced_review: false,
            retrieved: vec![],
        }
    }

    fn request() -> DraftRequest {
        DraftRequest {
            conversation_id: "wa-1".into(),
            message: "how do I back up?".into(),
            request_id: "m-1".into(),
            caller: "platform-a".into(),
            ..Default::default()
        }
    }

    fn kinds(events: &[AuditEvent]) -> Vec<&str> {
        events.iter().map(|e| e.kind.as_str()).collect()
    }

    #[test]
    fn a_sent_draft_is_recorded_with_its_approval_and_its_delivery() {
        let new = new_draft(&request(), composed(DraftState::AutoApproved), 1_000);
        assert_eq!(
            kinds(&new.events),
            ["message_received", "draft_created", "draft_auto_approved"]
        );
        let delivery = new.delivery.expect("a delivery");
        assert_eq!(delivery.draft_id, new.draft.id);
        assert_eq!(new.draft.message_id, new.message.id);
        assert_eq!(new.draft.request_id.as_deref(), Some("m-1"));
        assert_eq!(new.draft.caller, "platform-a");
        assert!(new.draft.ai_generated);
        assert_eq!(new.superseded.kind, "draft_superseded");
        assert_eq!(new.superseded.actor, "system");
        assert_eq!(new.superseded.detail["by_draft"], new.draft.id.as_str());
        assert_eq!(new.superseded.detail["by_message"], new.message.id.as_str());
    }

    #[test]
    fn a_draft_for_review_has_no_delivery() {
        let new = new_draft(&request(), composed(DraftState::PendingReview), 1_000);
        assert_eq!(kinds(&new.events), ["message_received", "draft_created"]);
        assert!(new.delivery.is_none());
    }

    #[test]
    fn held_it_waits_for_review_and_says_why_without_an_approval() {
        let new = new_draft(&request(), composed(DraftState::AutoApproved), 1_000);
        let held = new.if_held.expect("the held version");
        assert_eq!(held.draft.state, DraftState::PendingReview);
        assert_eq!(held.draft.id, new.draft.id);
        assert_eq!(
            held.draft
                .confidence
                .reasons
                .last()
                .map(|r| r.signal.as_str()),
            Some("conversation_waits_for_person")
        );
        assert_eq!(kinds(&held.events), ["message_received", "draft_created"]);
    }
}
