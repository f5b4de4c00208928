//! The request a platform sends, and the checks it must pass before anything
//! is drafted from it.

use super::Result;
use crate::config::Limits;
use crate::validate::{self, invalid};
use std::collections::BTreeMap;

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
    /// The calling platform (its token's subject; empty without tokens). The
    /// request id is an idempotency key within this caller's conversation.
    pub caller: String,
    /// The platform's id for the customer (may be empty): erasure finds the
    /// customer's conversations by it.
    pub customer_id: String,
}

/// Checks a request against the configured limits.
impl DraftRequest {
    /// The bytes of text it carries: message, history and context.
    pub fn text_bytes(&self) -> usize {
        self.message.len()
            + self.history.iter().map(|t| t.text.len()).sum::<usize>()
            + self
                .context
                .iter()
                .map(|(k, v)| k.len() + v.len())
                .sum::<usize>()
    }
}

pub fn validate(r: &DraftRequest, l: &Limits) -> Result<()> {
    validate::id("conversation_id", &r.conversation_id, l.max_id_chars, true)?;
    validate::id("request_id", &r.request_id, l.max_id_chars, false)?;
    validate::id("customer_id", &r.customer_id, l.max_id_chars, false)?;
    validate::prose("message", &r.message, l.max_message_bytes, true)?;
    if !r.locale.is_empty() {
        validate::locale("locale", &r.locale)?;
    }
    validate::channel(&r.channel)?;
    validate::count("context", r.context.len(), l.max_context_entries, "entries")?;
    for (k, v) in &r.context {
        if k.is_empty() || k.len() > l.max_context_value_bytes {
            return Err(invalid(
                "context",
                format!("keys must be 1 to {} bytes", l.max_context_value_bytes),
            )
            .into());
        }
        if v.len() > l.max_context_value_bytes {
            return Err(invalid(
                "context",
                format!(
                    "value of {k:?} must be at most {} bytes",
                    l.max_context_value_bytes
                ),
            )
            .into());
        }
        // Within the byte limits above, so only the control-character rule can refuse.
        validate::line("context", k, l.max_context_value_bytes)?;
        validate::line("context", v, l.max_context_value_bytes)?;
        super::context::check(k, v)?;
    }
    validate::count("history", r.history.len(), l.max_history_turns, "turns")?;
    for turn in &r.history {
        validate::prose("history.text", &turn.text, l.max_message_bytes, false)?;
    }
    Ok(())
}
