//! The tamper-evident audit trail. Every event the store writes (messages,
//! drafts, review actions, deliveries, acks, knowledge changes) takes the
//! next position in one chain: its hash covers its own fields and the hash
//! before it, so editing, deleting or reordering a stored event breaks every
//! link after it. The store extends the chain inside the transaction that
//! writes the event; `verify` walks it from the start.
//!
//! The chain makes tampering evident, not impossible: someone with write
//! access to the database could rewrite the whole chain from the changed
//! event on. Recording the head (`replygate audit verify` prints it) outside
//! the database closes that gap.

use crate::storage::{self, DynStore};
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
    fn expected_hash(&self) -> String {
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

/// What `verify` found.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Every link holds; `head` is the last hash (record it elsewhere to pin the chain).
    Intact { events: u64, head: String },
    /// The first link that does not hold.
    Broken {
        position: u64,
        seq: Option<u64>,
        reason: String,
    },
}

/// Recomputes the whole chain, page by page.
pub async fn verify(store: &DynStore) -> Result<Verdict, storage::Error> {
    const PAGE: u32 = 1000;
    let mut expected_position = 1;
    let mut prev = GENESIS.to_string();
    loop {
        let page = store.audit_chain(expected_position - 1, PAGE).await?;
        let done = page.len() < PAGE as usize;
        for e in page {
            let broken = |reason: String| Verdict::Broken {
                position: expected_position,
                seq: Some(e.seq),
                reason,
            };
            if e.position != expected_position {
                return Ok(broken(format!(
                    "position {} is missing (next stored is {})",
                    expected_position, e.position
                )));
            }
            if e.prev_hash != prev {
                return Ok(broken(
                    "its prev_hash is not the hash of the event before it".into(),
                ));
            }
            if e.hash != e.expected_hash() {
                return Ok(broken(
                    "its hash does not match its contents (the event was changed)".into(),
                ));
            }
            prev = e.hash;
            expected_position += 1;
        }
        if done {
            break;
        }
    }
    let events = expected_position - 1;
    let (head_position, head_hash) = store.audit_head().await?;
    if head_position != events || head_hash != prev {
        return Ok(Verdict::Broken {
            position: events + 1,
            seq: None,
            reason: format!(
                "the chain head says {head_position} events but {events} are stored (events were removed from the end)"
            ),
        });
    }
    Ok(Verdict::Intact { events, head: prev })
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
