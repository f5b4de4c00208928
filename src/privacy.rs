//! The customer's rights over their data: export everything stored about
//! them, erase it (by conversation, or by the customer id the platform
//! passed with their messages), and remove the texts of conversations idle
//! longer than the retention period. Erasure keeps ids, times, states, who
//! acted and the audit chain (which holds digests, not texts, and records
//! each erasure with the digests of what stays, so verification passes).

use crate::config::Config;
use crate::model::{Millis, Transcript, now_ms};
use crate::storage::{self, DynStore, Erased, Erasure};
use crate::validate;
use serde_json::{Value, json};
use std::sync::{Arc, LazyLock};
use std::time::Duration;
use tokio::sync::watch;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Invalid(#[from] validate::Invalid),
    /// Nothing stored under that conversation id or customer id.
    #[error("{0} not found")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] storage::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

static ERASURES: LazyLock<prometheus::IntCounterVec> = LazyLock::new(|| {
    prometheus::register_int_counter_vec!(
        "replygate_conversations_erased_total",
        "Conversations whose texts were erased, by reason (request, retention)",
        &["reason"]
    )
    .unwrap()
});

/// Whose data: one conversation, or every conversation of one customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    Conversation(String),
    Customer(String),
}

impl Subject {
    /// Exactly one of the two, checked.
    pub fn from_request(
        conversation_id: &str,
        customer_id: &str,
        max_id_chars: usize,
    ) -> Result<Subject> {
        match (conversation_id.is_empty(), customer_id.is_empty()) {
            (false, true) => {
                validate::id("conversation_id", conversation_id, max_id_chars, true)?;
                Ok(Subject::Conversation(conversation_id.to_string()))
            }
            (true, false) => {
                validate::id("customer_id", customer_id, max_id_chars, true)?;
                Ok(Subject::Customer(customer_id.to_string()))
            }
            (true, true) | (false, false) => Err(validate::invalid(
                "conversation_id",
                "give exactly one of conversation_id and customer_id",
            )
            .into()),
        }
    }
}

/// What an erasure removed, over every conversation it touched.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    pub conversation_ids: Vec<String>,
    pub erased: Erased,
}

pub struct Privacy {
    store: DynStore,
    config: Arc<Config>,
}

impl Privacy {
    pub fn new(store: DynStore, config: Arc<Config>) -> Privacy {
        Privacy { store, config }
    }

    async fn conversations(&self, subject: &Subject) -> Result<Vec<String>> {
        let ids = match subject {
            Subject::Conversation(id) => vec![id.clone()],
            Subject::Customer(id) => self.store.conversations_of_customer(id).await?,
        };
        if ids.is_empty() {
            let Subject::Customer(id) = subject else {
                unreachable!("a conversation subject names one")
            };
            return Err(Error::NotFound(format!("customer {id:?}")));
        }
        Ok(ids)
    }

    /// Everything stored about the subject, as one JSON document.
    pub async fn export(&self, subject: &Subject) -> Result<(Value, usize)> {
        let mut conversations = Vec::new();
        for id in self.conversations(subject).await? {
            let t = self
                .store
                .transcript(&id)
                .await?
                .ok_or_else(|| Error::NotFound(format!("conversation {id:?}")))?;
            conversations.push(transcript_json(t));
        }
        let n = conversations.len();
        Ok((json!({ "conversations": conversations }), n))
    }

    /// Erases the subject's texts, conversation by conversation (each in one transaction).
    pub async fn erase(&self, subject: &Subject, actor: &str) -> Result<Report> {
        let mut report = Report::default();
        for id in self.conversations(subject).await? {
            let erased = self
                .store
                .erase_conversation(Erasure {
                    conversation_id: id.clone(),
                    actor: actor.to_string(),
                    reason: "request",
                    now: now_ms(),
                })
                .await
                .map_err(|e| match e {
                    storage::Error::NotFound(_) => Error::NotFound(format!("conversation {id:?}")),
                    e @ (storage::Error::Conflict
                    | storage::Error::Duplicate(_)
                    | storage::Error::Unavailable(_)
                    | storage::Error::Internal(_)
                    | storage::Error::Corrupt(_)
                    | storage::Error::OtherPlatform(_)
                    | storage::Error::Refused(_)) => Error::Store(e),
                })?;
            ERASURES.with_label_values(&["request"]).inc();
            tracing::info!(
                actor,
                messages = erased.messages,
                drafts = erased.drafts,
                "customer data erased"
            );
            add(&mut report.erased, &erased);
            report.conversation_ids.push(id);
        }
        Ok(report)
    }

    /// Erases the conversations idle since before `cutoff`; returns how many.
    pub async fn apply_retention(&self, cutoff: Millis) -> Result<usize> {
        const BATCH: u32 = 100;
        let mut n = 0;
        loop {
            let ids = self.store.idle_conversations(cutoff, BATCH).await?;
            for id in &ids {
                match self
                    .store
                    .erase_conversation(Erasure {
                        conversation_id: id.clone(),
                        actor: "retention".into(),
                        reason: "retention",
                        now: now_ms(),
                    })
                    .await
                {
                    Ok(_) | Err(storage::Error::NotFound(_)) => {}
                    Err(e) => return Err(e.into()),
                }
                ERASURES.with_label_values(&["retention"]).inc();
                n += 1;
            }
            if ids.len() < BATCH as usize {
                return Ok(n);
            }
        }
    }

    /// With `[retention] message_days` set, erases idle conversations every
    /// `sweep_interval_seconds` until `shutdown` turns true.
    pub async fn run_retention(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let r = &self.config.retention;
        if r.message_days == 0 {
            return;
        }
        let days = i64::from(r.message_days);
        let mut tick = tokio::time::interval(Duration::from_secs(r.sweep_interval_seconds.max(1)));
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    let cutoff = now_ms() - days * 24 * 3600 * 1000;
                    match self.apply_retention(cutoff).await {
                        Ok(0) => {}
                        Ok(n) => tracing::info!(conversations = n, days, "retention erased idle conversations"),
                        Err(e) => tracing::warn!(error = %e, "retention sweep failed; trying again later"),
                    }
                }
                _ = shutdown.changed() => return,
            }
        }
    }
}

fn add(total: &mut Erased, one: &Erased) {
    total.messages += one.messages;
    total.drafts += one.drafts;
    total.deliveries += one.deliveries;
    total.curated_questions += one.curated_questions;
    total.texts_kept_in_audit_chain += one.texts_kept_in_audit_chain;
}

fn transcript_json(t: Transcript) -> Value {
    json!({
        "id": t.conversation_id,
        "state": t.ownership.state.as_str(),
        "owner": t.ownership.owner,
        "messages": t.messages.iter().map(|m| json!({
            "id": m.id, "text": m.text, "locale": m.locale, "channel": m.channel,
            "context": m.context, "received_at": m.received_at,
        })).collect::<Vec<_>>(),
        "drafts": t.drafts.iter().map(|d| json!({
            "id": d.id, "message_id": d.message_id, "state": d.state.as_str(),
            "body": d.body, "final_body": d.final_body, "generator": d.generator,
            "ai_generated": d.ai_generated, "human_reviewed": d.human_reviewed,
            "reviewed_by": d.reviewed_by, "reject_reason": d.reject_reason,
            "confidence": d.confidence.score, "level": d.confidence.level.as_str(),
            "citations": d.citations.iter().map(|c| json!({"article_id": c.article_id, "version": c.version})).collect::<Vec<_>>(),
            "created_at": d.created_at,
        })).collect::<Vec<_>>(),
        "deliveries": t.deliveries.iter().map(|d| json!({
            "cursor": d.cursor, "draft_id": d.draft_id, "text": d.text, "author": d.author,
            "provenance": d.provenance.as_str(), "created_at": d.created_at, "acked_at": d.acked_at,
        })).collect::<Vec<_>>(),
        "events": t.events.iter().map(|e| json!({
            "at": e.at, "kind": e.kind, "actor": e.actor, "draft_id": e.draft_id, "detail": e.detail,
        })).collect::<Vec<_>>(),
    })
}
