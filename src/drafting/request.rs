//! The request a platform sends, and the checks it must pass before anything
//! is drafted from it.

use super::{Result, invalid};
use crate::config::Limits;
use crate::knowledge::lang;
use crate::validate;
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
}

pub(crate) fn check_id(field: &'static str, value: &str, max: usize, required: bool) -> Result<()> {
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

/// The channel name used for routing: lowercase, "default" when empty.
pub(crate) fn normalize_channel(channel: &str) -> Result<String> {
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

/// Checks a request against the configured limits.
pub fn validate(r: &DraftRequest, l: &Limits) -> Result<()> {
    check_id("conversation_id", &r.conversation_id, l.max_id_chars, true)?;
    check_id("request_id", &r.request_id, l.max_id_chars, false)?;
    validate::prose("message", &r.message, l.max_message_bytes, true)?;
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
        if k.chars().chain(v.chars()).any(char::is_control) {
            return Err(invalid("context", "must not contain control characters"));
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
        validate::prose("history.text", &turn.text, l.max_message_bytes, false)?;
    }
    Ok(())
}
