//! The audit chain's writer: how an event is linked to the one before it
//! and sealed with the digests of the content it is about. The store calls
//! these inside the transaction that writes the events; the `audit` module
//! reads the chain back and verifies it.

use crate::model::{AuditEvent, CustomerMessage, Delivery, Draft};
use sha2::{Digest, Sha256};
/// The `prev_hash` of the first event.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// An event exactly as stored (the detail as its stored JSON text), for hashing.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    pub position: u64,
    pub seq: u64,
    pub at: i64,
    pub kind: String,
    pub actor: String,
    pub conversation_id: String,
    pub draft_id: String,
    pub detail: String,
    pub prev_hash: String,
    pub hash: String,
}

/// The hash of one link: SHA-256 over the previous hash and every field,
/// each length-prefixed so no two different events encode alike.
#[allow(clippy::too_many_arguments)]
pub fn link_hash(
    prev_hash: &str,
    position: u64,
    at: i64,
    kind: &str,
    actor: &str,
    conversation_id: &str,
    draft_id: &str,
    detail: &str,
) -> String {
    let mut h = Sha256::new();
    for part in [
        prev_hash.as_bytes(),
        &position.to_be_bytes(),
        &at.to_be_bytes(),
        kind.as_bytes(),
        actor.as_bytes(),
        conversation_id.as_bytes(),
        draft_id.as_bytes(),
        detail.as_bytes(),
    ] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part);
    }
    hex::encode(h.finalize())
}

impl StoredEvent {
    pub fn expected_hash(&self) -> String {
        link_hash(
            &self.prev_hash,
            self.position,
            self.at,
            &self.kind,
            &self.actor,
            &self.conversation_id,
            &self.draft_id,
            &self.detail,
        )
    }
}

/// SHA-256 over the parts, each length-prefixed so no two different
/// contents encode alike.
pub fn digest(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for part in parts {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    hex::encode(h.finalize())
}

/// A customer message's content: its text and its context (as stored, JSON).
pub fn message_digest(text: &str, context_json: &str) -> String {
    digest(&["message", text, context_json])
}

/// A draft's texts: what the AI wrote, what goes (or went) out, the label,
/// the reject reason and the citations (as stored, JSON).
pub fn draft_digest(
    body: &str,
    final_body: &str,
    disclosure: &str,
    reject_reason: &str,
    citations_json: &str,
) -> String {
    digest(&[
        "draft",
        body,
        final_body,
        disclosure,
        reject_reason,
        citations_json,
    ])
}

/// A delivery's texts: what the customer is sent, and who is named as its author.
pub fn delivery_digest(body: &str, disclosure: &str, text: &str, author: &str) -> String {
    digest(&["delivery", body, disclosure, text, author])
}

fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("serializing plain data cannot fail")
}

fn set(event: &mut AuditEvent, key: &str, value: serde_json::Value) {
    if let serde_json::Value::Object(map) = &mut event.detail {
        map.insert(key.to_string(), value);
    }
}

/// Seals the events of one write with the contents it stores: every event
/// about `draft` records the draft's digest (and the message's, when the
/// write stores the message), and a `delivery_created` event the delivery's.
/// The store calls this just before it appends the events to the chain.
pub(crate) fn seal(
    events: &mut [AuditEvent],
    draft: &Draft,
    message: Option<&CustomerMessage>,
    delivery: Option<(u64, &Delivery)>,
) {
    let draft_sha = draft_digest(
        &draft.body,
        &draft.final_body,
        &draft.disclosure,
        &draft.reject_reason,
        &json(&draft.citations),
    );
    let message_sha = message.map(|m| (m.id.clone(), message_digest(&m.text, &json(&m.context))));
    for e in events.iter_mut().filter(|e| e.draft_id == draft.id) {
        set(e, "draft_sha256", draft_sha.clone().into());
        if let Some((id, sha)) = &message_sha {
            set(e, "message_id", id.clone().into());
            set(e, "message_sha256", sha.clone().into());
        }
        if let Some((cursor, d)) = delivery
            && e.kind == "delivery_created"
        {
            set(e, "cursor", cursor.into());
            set(
                e,
                "delivery_sha256",
                delivery_digest(&d.body, &d.disclosure, &d.text, &d.author).into(),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_and_the_previous_hash_change_the_link() {
        let base = link_hash(GENESIS, 1, 10, "draft_created", "ai", "c1", "d1", "{}");
        assert_eq!(base.len(), 64);
        assert_eq!(
            base,
            link_hash(GENESIS, 1, 10, "draft_created", "ai", "c1", "d1", "{}")
        );
        for other in [
            link_hash(&base, 1, 10, "draft_created", "ai", "c1", "d1", "{}"),
            link_hash(GENESIS, 2, 10, "draft_created", "ai", "c1", "d1", "{}"),
            link_hash(GENESIS, 1, 11, "draft_created", "ai", "c1", "d1", "{}"),
            link_hash(GENESIS, 1, 10, "draft_approved", "ai", "c1", "d1", "{}"),
            link_hash(GENESIS, 1, 10, "draft_created", "ana", "c1", "d1", "{}"),
            link_hash(GENESIS, 1, 10, "draft_created", "ai", "c2", "d1", "{}"),
            link_hash(GENESIS, 1, 10, "draft_created", "ai", "c1", "d2", "{}"),
            link_hash(GENESIS, 1, 10, "draft_created", "ai", "c1", "d1", "{ }"),
            // moving text between fields is not the same event
            link_hash(GENESIS, 1, 10, "draft_created", "aic", "1", "d1", "{}"),
        ] {
            assert_ne!(other, base);
        }
    }
}
