//! The tamper-evident audit trail. Every event the store writes (messages,
//! drafts, review actions, deliveries, acks, knowledge changes) takes the
//! next position in one chain: its hash covers its own fields and the hash
//! before it, so editing, deleting or reordering a stored event breaks every
//! link after it. The store extends the chain inside the transaction that
//! writes the event; `verify` walks it from the start.
//!
//! Events also commit to the content they are about: the store seals each
//! event of a write with the SHA-256 of the texts that write stored (the
//! customer's message, the draft's body and final text, the delivery's
//! text; articles have their content hash already). `verify` then reads every
//! stored message, draft, delivery and article and names the first whose
//! text differs from what the chain recorded, or that no event mentions.
//! Records written before events were sealed (migration 3) are checked for
//! presence only.
//!
//! The chain makes tampering evident, not impossible: someone with write
//! access to the database could rewrite the whole chain from the changed
//! event on. Recording the head (`replygate audit verify` prints it) outside
//! the database closes that gap.

pub use crate::storage::chain::{GENESIS, StoredEvent};
use crate::storage::{self, DynStore, RecordKind, StoredRecord};
use std::collections::HashMap;

/// What `verify` found.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Every link holds and every stored text is what the chain recorded;
    /// `head` is the last hash (record it elsewhere to pin the chain).
    Intact { events: u64, head: String },
    /// The first link that does not hold.
    Broken {
        position: u64,
        seq: Option<u64>,
        reason: String,
    },
    /// The chain holds, but a stored record is not what it recorded: the
    /// first such record (by the position of its last event; records no event
    /// mentions come last).
    Altered {
        /// e.g. `draft 0193... (conversation c1)`.
        record: String,
        /// The event that recorded the record's content, if any.
        position: Option<u64>,
        reason: String,
    },
}

/// What the chain says a record should be: where it said so last, and the
/// digest it recorded (None: written before events were sealed).
#[derive(Debug, Clone, Default)]
struct Recorded {
    position: u64,
    sha256: Option<String>,
}

/// Every record the chain mentions, by kind and id.
#[derive(Default)]
struct Ledger {
    records: HashMap<(RecordKind, String), Recorded>,
}

impl Ledger {
    /// Takes in what one event says about the records it names.
    fn read(&mut self, e: &StoredEvent) {
        let Ok(detail) = serde_json::from_str::<serde_json::Value>(&e.detail) else {
            return;
        };
        let text = |key: &str| detail.get(key).and_then(|v| v.as_str()).map(String::from);
        let mut note = |kind: RecordKind, id: String, sha: Option<String>| {
            let r = self.records.entry((kind, id)).or_default();
            r.position = e.position;
            if sha.is_some() {
                r.sha256 = sha;
            }
        };
        if !e.draft_id.is_empty() {
            note(RecordKind::Draft, e.draft_id.clone(), text("draft_sha256"));
        }
        if let Some(id) = text("message_id") {
            note(RecordKind::Message, id, text("message_sha256"));
        }
        if e.kind == "delivery_created"
            && let Some(cursor) = detail.get("cursor").and_then(|v| v.as_u64())
        {
            note(
                RecordKind::Delivery,
                cursor.to_string(),
                text("delivery_sha256"),
            );
        }
        // An erasure records what each record of the conversation holds now.
        if e.kind == crate::storage::ERASED_EVENT
            && let Some(records) = detail.get("records").and_then(|v| v.as_array())
        {
            for r in records {
                let field = |k: &str| r.get(k).and_then(|v| v.as_str()).map(String::from);
                let kind = match field("kind").as_deref() {
                    Some("message") => RecordKind::Message,
                    Some("draft") => RecordKind::Draft,
                    Some("delivery") => RecordKind::Delivery,
                    _ => continue,
                };
                if let Some(id) = field("id") {
                    note(kind, id, field("sha256"));
                }
            }
        }
        if e.kind.starts_with("article_")
            && let Some(id) = text("article_id")
        {
            // A deletion keeps the content the last version recorded.
            let sha = (e.kind != "article_deleted")
                .then(|| text("content_hash"))
                .flatten();
            note(RecordKind::Article, id, sha);
        }
    }
}

fn describe(kind: RecordKind, r: &StoredRecord) -> String {
    let what = match kind {
        RecordKind::Message => "message",
        RecordKind::Draft => "draft",
        RecordKind::Delivery => "delivery",
        RecordKind::Article => "article",
    };
    if r.conversation_id.is_empty() {
        format!("{what} {}", r.id)
    } else {
        format!("{what} {} (conversation {})", r.id, r.conversation_id)
    }
}

/// Compares every stored record with what the chain recorded of it.
async fn check_contents(
    store: &DynStore,
    mut ledger: Ledger,
) -> Result<Option<Verdict>, storage::Error> {
    const PAGE: u32 = 1000;
    let mut findings: Vec<Verdict> = Vec::new();
    for kind in RecordKind::ALL {
        let mut after = String::new();
        loop {
            let page = store.stored_records(kind, &after, PAGE).await?;
            let done = page.len() < PAGE as usize;
            for r in &page {
                match ledger.records.remove(&(kind, r.id.clone())) {
                    None => findings.push(Verdict::Altered {
                        record: describe(kind, r),
                        position: None,
                        reason: "is in the database but no audit event mentions it (written outside replygate)".into(),
                    }),
                    Some(Recorded { position, sha256: Some(sha) }) if sha != r.sha256 => {
                        findings.push(Verdict::Altered {
                            record: describe(kind, r),
                            position: Some(position),
                            reason: format!(
                                "its stored text differs from what audit event {position} recorded (it was changed afterwards)"
                            ),
                        })
                    }
                    Some(_) => {}
                }
            }
            match page.last() {
                Some(last) if !done => after = last.id.clone(),
                _ => break,
            }
        }
    }
    // Sealed records the chain mentions that are gone from the database.
    for ((kind, id), recorded) in ledger.records {
        if recorded.sha256.is_some() && kind != RecordKind::Article {
            findings.push(Verdict::Altered {
                record: describe(
                    kind,
                    &StoredRecord {
                        id,
                        conversation_id: String::new(),
                        sha256: String::new(),
                    },
                ),
                position: Some(recorded.position),
                reason: format!(
                    "was recorded by audit event {} but is missing from the database (it was deleted)",
                    recorded.position
                ),
            });
        }
    }
    Ok(findings.into_iter().min_by_key(|v| match v {
        Verdict::Altered { position, .. } => position.unwrap_or(u64::MAX),
        Verdict::Intact { .. } | Verdict::Broken { .. } => u64::MAX,
    }))
}

/// Recomputes the whole chain, page by page.
pub async fn verify(store: &DynStore) -> Result<Verdict, storage::Error> {
    const PAGE: u32 = 1000;
    let mut expected_position = 1;
    let mut prev = GENESIS.to_string();
    let mut ledger = Ledger::default();
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
            ledger.read(&e);
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
    if let Some(altered) = check_contents(store, ledger).await? {
        return Ok(altered);
    }
    Ok(Verdict::Intact { events, head: prev })
}
