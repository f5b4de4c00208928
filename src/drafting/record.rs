//! Stage "record": what a composed reply becomes in the store, the customer's
//! message, the draft, the audit events that say what happened, and the
//! delivery when it goes out now, with the draft as it is written instead
//! when the conversation waits for a person. The store writes what it is
//! handed, in one transaction.

use super::Composed;
use super::request::DraftRequest;
use crate::conversation::Act;
use crate::model::{
    AI_ACTOR, AuditEvent, CustomerMessage, Delivery, Draft, DraftState, Millis, Reason, new_id,
};
use crate::model::{Confidence, Level};
use crate::storage::{EarlierDrafts, HeldDraft, MessageInConversation, NewDraft, Notice};

pub use crate::model::HANDOFF_NOTICE;
/// Who sends the handoff notice.
pub const SYSTEM_ACTOR: &str = "system";

/// The records for `composed`, the reply to `r`, at `now`.
pub fn new_draft(r: &DraftRequest, composed: Composed, now: i64) -> NewDraft {
    let handoff = composed.handoff.clone();
    let labeling = composed.labeling.clone();
    let respond_by = composed.respond_within.map(|ms| now.saturating_add(ms));
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
        curated_answer_id: composed.curated_answer_id,
        respond_by,
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
                "curated_answer_id": draft.curated_answer_id,
            }),
            now,
        ),
    ];
    let if_held = held(&draft, &events);
    let superseded_event = AuditEvent {
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
        let delivery = Delivery::labeled(&draft, AI_ACTOR, now, &labeling);
        events.push(delivery.created_event(&draft));
        delivery
    });
    let conversation = MessageInConversation {
        act: Act::Message {
            cause: handoff.cause,
            low: draft.confidence.level == Level::Low,
        },
        rules: handoff.rules,
        notice: Some(notice(&draft, &handoff.notice, handoff.cause, now)),
    };
    NewDraft {
        message,
        draft,
        events,
        delivery,
        if_held: Some(if_held),
        earlier: earlier(superseded_event),
        conversation,
        customer_id: r.customer_id.clone(),
    }
}

/// The handoff notice for the conversation of `draft` (sent only if its
/// message escalates the conversation): a draft of its own, ready to send,
/// written by nobody's AI and labeled as what it is.
fn notice(
    draft: &Draft,
    text: &str,
    cause: Option<crate::conversation::Cause>,
    now: Millis,
) -> Notice {
    let cause = cause.map_or("repeated_low_confidence", |c| c.as_str());
    let notice = Draft {
        id: new_id(),
        request_id: None,
        body: text.to_string(),
        final_body: text.to_string(),
        disclosure: String::new(),
        ai_generated: false,
        human_reviewed: false,
        generator: HANDOFF_NOTICE.into(),
        confidence: Confidence {
            score: 1.0,
            level: Level::High,
            reasons: vec![Reason {
                signal: HANDOFF_NOTICE.into(),
                value: 1.0,
                detail: format!(
                    "the conversation went to a person ({cause}); the customer is told once"
                ),
            }],
        },
        citations: vec![],
        state: DraftState::AutoApproved,
        needs_person: false,
        reviewed_by: String::new(),
        claimed_by: String::new(),
        claim_expires_at: None,
        reject_reason: String::new(),
        curated_answer_id: String::new(),
        respond_by: None,
        ..draft.clone()
    };
    let delivery = Delivery::for_draft(&notice, SYSTEM_ACTOR, now);
    let events = vec![
        AuditEvent::new(
            "handoff_notice_created",
            SYSTEM_ACTOR,
            &notice,
            serde_json::json!({ "cause": cause, "for_draft": draft.id }),
            now,
        ),
        delivery.created_event(&notice),
    ];
    Notice {
        draft: notice,
        delivery,
        events,
    }
}

/// The rules for a conversation's earlier drafts when a new message
/// arrives; `superseded_event` is what each superseded one gets.
pub fn earlier(superseded_event: AuditEvent) -> EarlierDrafts {
    EarlierDrafts {
        supersede,
        superseded_event,
        holds: waits_for_person,
    }
}

/// The rules for closing a conversation's undecided drafts when an agent
/// hands it back or resolves it: every one of them, those a policy sent to a
/// person included (the person answered); `closed_event` is what each gets.
pub fn closing(closed_event: AuditEvent) -> EarlierDrafts {
    EarlierDrafts {
        supersede: close,
        superseded_event: closed_event,
        holds: |_| false,
    }
}

fn close(d: &Draft, now: Millis) -> Option<Draft> {
    undecided(d).then(|| Draft {
        state: DraftState::Superseded,
        claimed_by: String::new(),
        claim_expires_at: None,
        updated_at: now,
        ..d.clone()
    })
}

/// Whether a draft is still undecided: nobody approved, rejected or replaced it yet.
fn undecided(d: &Draft) -> bool {
    match d.state {
        DraftState::PendingReview | DraftState::Claimed => true,
        DraftState::Approved
        | DraftState::Rejected
        | DraftState::AutoApproved
        | DraftState::Superseded
        | DraftState::Delivered => false,
    }
}

/// A newer message makes its conversation's undecided drafts obsolete (a
/// claim on one lapses with it), except those a policy sent to a person:
/// they stay in the queue until an agent decides them.
fn supersede(d: &Draft, now: Millis) -> Option<Draft> {
    (undecided(d) && !d.needs_person).then(|| Draft {
        state: DraftState::Superseded,
        claimed_by: String::new(),
        claim_expires_at: None,
        updated_at: now,
        ..d.clone()
    })
}

/// While a draft a policy sent to a person is undecided, nothing else in
/// its conversation goes out on its own.
fn waits_for_person(d: &Draft) -> bool {
    undecided(d) && d.needs_person
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
            curated_answer_id: String::new(),
            nearest_memory: None,
            retrieval_score: None,
            labeling: Default::default(),
            respond_within: None,
            handoff: crate::drafting::Handoff {
                cause: None,
                rules: Default::default(),
                notice: "A person will answer you here.".into(),
            },
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
            [
                "message_received",
                "draft_created",
                "draft_auto_approved",
                "delivery_created"
            ]
        );
        let delivery = new.delivery.expect("a delivery");
        assert_eq!(delivery.draft_id, new.draft.id);
        assert_eq!(new.draft.message_id, new.message.id);
        assert_eq!(new.draft.request_id.as_deref(), Some("m-1"));
        assert_eq!(new.draft.caller, "platform-a");
        assert!(new.draft.ai_generated);
        let superseded = &new.earlier.superseded_event;
        assert_eq!(superseded.kind, "draft_superseded");
        assert_eq!(superseded.actor, "system");
        assert_eq!(superseded.detail["by_draft"], new.draft.id.as_str());
        assert_eq!(superseded.detail["by_message"], new.message.id.as_str());
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

    #[test]
    fn a_new_message_supersedes_undecided_drafts_but_not_those_a_person_must_see() {
        let new = new_draft(&request(), composed(DraftState::PendingReview), 1_000);
        let mut claimed = new.draft.clone();
        claimed.state = DraftState::Claimed;
        claimed.claimed_by = "ana".into();
        claimed.claim_expires_at = Some(5_000);
        let gone = supersede(&claimed, 2_000).expect("an undecided draft is superseded");
        assert_eq!(gone.state, DraftState::Superseded);
        assert_eq!(
            (gone.claimed_by.as_str(), gone.claim_expires_at),
            ("", None)
        );
        assert_eq!(gone.updated_at, 2_000);
        assert_eq!(
            gone.revision, claimed.revision,
            "the store counts revisions"
        );
        assert!(!waits_for_person(&claimed));

        let mut flagged = claimed.clone();
        flagged.needs_person = true;
        assert_eq!(supersede(&flagged, 2_000), None);
        assert!(waits_for_person(&flagged));

        for decided in [
            DraftState::Approved,
            DraftState::Rejected,
            DraftState::AutoApproved,
            DraftState::Superseded,
            DraftState::Delivered,
        ] {
            let d = Draft {
                state: decided,
                ..flagged.clone()
            };
            assert_eq!(supersede(&d, 2_000), None, "{decided:?} is decided");
            assert!(!waits_for_person(&d), "{decided:?} holds nothing");
        }
    }
}
