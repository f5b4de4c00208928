//! The drafting pipeline: validate a customer message, detect its language,
//! run the policy checks, retrieve passages, write a reply (extractive
//! drafter), score confidence, route it, and store it with its audit events
//! and delivery in one transaction.

pub mod confidence;
pub mod extractive;
pub mod phrases;
pub mod policy;

use crate::config::Config;
use crate::knowledge::{self, Knowledge, lang};
use crate::model::{
    AI_ACTOR, AuditEvent, Confidence, CustomerMessage, Delivery, Draft, DraftState, new_id, now_ms,
};
use crate::storage::{self, DynStore, NewDraft};
use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("draft {0} not found")]
    NotFound(String),
    #[error(transparent)]
    Knowledge(#[from] knowledge::Error),
    #[error(transparent)]
    Store(#[from] storage::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

fn invalid(field: &'static str, message: impl Into<String>) -> Error {
    Error::Invalid {
        field,
        message: message.into(),
    }
}

static DRAFTS: LazyLock<prometheus::IntCounterVec> = LazyLock::new(|| {
    prometheus::register_int_counter_vec!(
        "replygate_drafts_total",
        "Drafts created, by channel, locale, confidence level, initial state and generator",
        &["channel", "locale", "level", "state", "generator"]
    )
    .unwrap()
});

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Customer,
    Support,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Turn {
    pub role: Role,
    pub text: String,
}

/// A customer message as a platform sends it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DraftRequest {
    pub conversation_id: String,
    pub message: String,
    /// BCP 47 hint; may be empty.
    pub locale: String,
    /// May be empty ("default").
    pub channel: String,
    pub context: BTreeMap<String, String>,
    /// May be empty (no idempotency).
    pub request_id: String,
    pub history: Vec<Turn>,
}

/// A reply written and scored, not yet stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Composed {
    pub locale: String,
    pub channel: String,
    pub body: String,
    pub disclosure: String,
    pub citations: Vec<crate::model::Citation>,
    pub generator: String,
    pub confidence: Confidence,
    pub state: DraftState,
}

pub struct Drafter {
    store: DynStore,
    knowledge: Arc<Knowledge>,
    policy: policy::Policy,
    config: Arc<Config>,
}

fn check_id(field: &'static str, value: &str, max: usize, required: bool) -> Result<()> {
    if required && value.trim().is_empty() {
        return Err(invalid(field, "is required"));
    }
    if value.chars().count() > max {
        return Err(invalid(field, format!("must be at most {max} characters")));
    }
    if value.chars().any(char::is_control) {
        return Err(invalid(field, "must not contain control characters"));
    }
    Ok(())
}

fn check_text(field: &'static str, value: &str, max_bytes: usize) -> Result<()> {
    if value.len() > max_bytes {
        return Err(invalid(
            field,
            format!("must be at most {max_bytes} bytes (got {})", value.len()),
        ));
    }
    if value.contains('\0') {
        return Err(invalid(field, "must not contain NUL characters"));
    }
    Ok(())
}

/// The channel name used for routing: lowercase, "default" when empty.
fn normalize_channel(channel: &str) -> Result<String> {
    let channel = channel.trim().to_ascii_lowercase();
    if channel.is_empty() {
        return Ok("default".into());
    }
    if channel.len() > 32
        || !channel
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(invalid(
            "channel",
            "must be at most 32 characters of a-z, 0-9, _ and - (e.g. \"whatsapp\", \"email\", \"chat\")",
        ));
    }
    Ok(channel)
}

impl Drafter {
    pub fn new(store: DynStore, knowledge: Arc<Knowledge>, config: Arc<Config>) -> Drafter {
        Drafter {
            policy: policy::Policy::new(&config.policy),
            store,
            knowledge,
            config,
        }
    }

    /// Checks a request against the configured limits.
    pub fn validate(&self, r: &DraftRequest) -> Result<()> {
        let l = &self.config.limits;
        check_id("conversation_id", &r.conversation_id, l.max_id_chars, true)?;
        check_id("request_id", &r.request_id, l.max_id_chars, false)?;
        if r.message.trim().is_empty() {
            return Err(invalid("message", "is required"));
        }
        check_text("message", &r.message, l.max_message_bytes)?;
        if !r.locale.is_empty() && lang::primary_tag(&r.locale).is_none() {
            return Err(invalid(
                "locale",
                format!(
                    "must be a BCP 47 language tag such as \"en\" or \"pt-BR\", got {:?}",
                    r.locale
                ),
            ));
        }
        normalize_channel(&r.channel)?;
        if r.context.len() > l.max_context_entries {
            return Err(invalid(
                "context",
                format!(
                    "must have at most {} entries (got {})",
                    l.max_context_entries,
                    r.context.len()
                ),
            ));
        }
        for (k, v) in &r.context {
            if k.is_empty() || k.len() > l.max_context_value_bytes {
                return Err(invalid(
                    "context",
                    format!("keys must be 1 to {} bytes", l.max_context_value_bytes),
                ));
            }
            if v.len() > l.max_context_value_bytes {
                return Err(invalid(
                    "context",
                    format!(
                        "value of {k:?} must be at most {} bytes",
                        l.max_context_value_bytes
                    ),
                ));
            }
            if k.contains('\0') || v.contains('\0') {
                return Err(invalid("context", "must not contain NUL characters"));
            }
        }
        if r.history.len() > l.max_history_turns {
            return Err(invalid(
                "history",
                format!(
                    "must have at most {} turns (got {})",
                    l.max_history_turns,
                    r.history.len()
                ),
            ));
        }
        for turn in &r.history {
            check_text("history.text", &turn.text, l.max_message_bytes)?;
        }
        Ok(())
    }

    /// Writes and scores a reply without storing anything (also used by evaluation).
    pub async fn compose(&self, r: &DraftRequest) -> Result<Composed> {
        self.validate(r)?;
        let channel = normalize_channel(&r.channel)?;
        let hint = lang::primary_tag(&r.locale);
        let detection = lang::detect(&r.message, hint.as_deref(), self.knowledge.default_locale());
        let flags = self.policy.check(&r.message);
        let retrieval = &self.config.retrieval;
        let found = self
            .knowledge
            .search_in(&r.message, &detection.locale, retrieval.top_articles)
            .await?;
        let locale_fallback = found.locale != detection.locale;
        let generated = extractive::compose(
            &found.hits.articles,
            phrases::for_locale(&detection.locale),
            retrieval.max_passages,
            retrieval.max_reply_chars,
        );
        let thresholds = self.config.routing.for_channel(&channel);
        let confidence = confidence::assess(
            &confidence::Signals {
                hits: &found.hits.articles,
                query_terms: found.hits.query_terms.len(),
                flags: flags.clone(),
                locale_fallback,
            },
            thresholds,
        );
        let state = if confidence::auto_send(&confidence, &flags) {
            DraftState::AutoApproved
        } else {
            DraftState::PendingReview
        };
        Ok(Composed {
            disclosure: phrases::for_locale(&detection.locale)
                .disclosure_ai
                .to_string(),
            locale: detection.locale,
            channel,
            body: generated.body,
            citations: generated.citations,
            generator: generated.generator,
            confidence,
            state,
        })
    }

    /// Drafts a reply to one customer message and stores it durably; the same
    /// request id returns the same draft.
    pub async fn create(&self, r: DraftRequest) -> Result<Draft> {
        self.validate(&r)?;
        if !r.request_id.is_empty()
            && let Some(existing) = self.store.find_draft_by_request_id(&r.request_id).await?
        {
            return Ok(existing);
        }
        let composed = self.compose(&r).await?;
        let now = now_ms();
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
            channel: composed.channel.clone(),
            locale: composed.locale.clone(),
            final_body: composed.body.clone(),
            body: composed.body,
            disclosure: composed.disclosure,
            ai_generated: true,
            human_reviewed: false,
            generator: composed.generator,
            confidence: composed.confidence,
            citations: composed.citations,
            state: composed.state,
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
        let created = self
            .store
            .create_draft(NewDraft {
                message,
                draft,
                events,
                delivery,
            })
            .await?;
        let d = &created.draft;
        if created.created {
            DRAFTS
                .with_label_values(&[
                    d.channel.as_str(),
                    d.locale.as_str(),
                    d.confidence.level.as_str(),
                    d.state.as_str(),
                    d.generator.as_str(),
                ])
                .inc();
            tracing::info!(draft_id = %d.id, conversation_id = %d.conversation_id, level = d.confidence.level.as_str(), state = d.state.as_str(), superseded = created.superseded.len(), "draft created");
        }
        Ok(created.draft)
    }

    pub async fn get(&self, id: &str) -> Result<Draft> {
        check_id("draft_id", id, self.config.limits.max_id_chars, true)?;
        self.store
            .get_draft(id)
            .await?
            .ok_or_else(|| Error::NotFound(id.to_string()))
    }
}
