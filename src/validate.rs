//! The rules for values that enter from outside, one per kind of value, so a
//! customer's message and an agent's reply obey the same rule wherever they
//! come in, and an id is an id whether it names a draft, a conversation or
//! an article. A refusal ([`Invalid`]) names the field and the limit; the
//! gRPC layer turns every one into INVALID_ARGUMENT "field: message".
//!
//! Kinds of value and their rules:
//! - prose ([`prose`], [`document`]): text written by or for a person; no
//!   control characters but tab and line breaks; required means visible.
//! - one line ([`id`], [`line`]): ids, titles, tags, urls, context keys and
//!   values; no control characters at all.
//! - [`channel`], [`locale`]: names normalized for routing and retrieval.
//! - counts and numbers ([`count`], [`at_most`]).

use crate::languages;
use crate::model::{describe_char, is_forbidden_control, is_invisible};

/// A value that breaks a rule: which field, and what the rule is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct Invalid {
    pub field: &'static str,
    pub message: String,
}

pub type Result<T = ()> = std::result::Result<T, Invalid>;

pub fn invalid(field: &'static str, message: impl Into<String>) -> Invalid {
    Invalid {
        field,
        message: message.into(),
    }
}

/// The blank-text rule: something visible (not only spaces, controls,
/// zero-width or direction marks).
fn visible(field: &'static str, value: &str) -> Result {
    if !value.chars().all(is_invisible) {
        return Ok(());
    }
    Err(invalid(
        field,
        if value.trim().is_empty() {
            "is required"
        } else {
            "has no visible characters (only spaces, zero-width or direction marks)"
        },
    ))
}

/// Text written to or for a customer (a message, a history turn, an agent's
/// reply or edit, a reject reason, a search query): at most `max_bytes`, no
/// control characters but tab and line breaks, and, when `required`,
/// something visible (not only spaces, zero-width or direction marks).
pub fn prose(field: &'static str, value: &str, max_bytes: usize, required: bool) -> Result {
    prose_with_hint(field, value, max_bytes, required, "")
}

/// Prose that arrives as a file (an article's body): the [`prose`] rule,
/// required, with a hint when a control character suggests a binary file.
pub fn document(field: &'static str, value: &str, max_bytes: usize) -> Result {
    prose_with_hint(field, value, max_bytes, true, "; is it a binary file?")
}

fn prose_with_hint(
    field: &'static str,
    value: &str,
    max_bytes: usize,
    required: bool,
    control_hint: &str,
) -> Result {
    if required {
        visible(field, value)?;
    }
    if value.len() > max_bytes {
        return Err(invalid(
            field,
            format!("must be at most {max_bytes} bytes (got {})", value.len()),
        ));
    }
    if let Some(c) = value.chars().find(|c| is_forbidden_control(*c)) {
        return Err(invalid(
            field,
            format!(
                "must not contain control characters other than tab and line breaks (found {}){control_hint}",
                describe_char(c)
            ),
        ));
    }
    Ok(())
}

/// A one-line value (a tag, a url, a context key or value): at most
/// `max_chars` characters and no control characters at all.
pub fn line(field: &'static str, value: &str, max_chars: usize) -> Result {
    if value.chars().count() > max_chars {
        return Err(invalid(
            field,
            format!("must be at most {max_chars} characters"),
        ));
    }
    if let Some(c) = value.chars().find(|c| c.is_control()) {
        return Err(invalid(
            field,
            format!(
                "must not contain control characters (found {})",
                describe_char(c)
            ),
        ));
    }
    Ok(())
}

/// An id (of a draft, a conversation, a request, an article) or a title: a
/// [`line`] that, when `required`, has something visible.
pub fn id(field: &'static str, value: &str, max_chars: usize, required: bool) -> Result {
    if required {
        visible(field, value)?;
    }
    line(field, value, max_chars)
}

/// The channel name used for routing: lowercase, "default" when empty.
/// A channel filter obeys the same rule, so it names channels as drafts store them.
pub fn channel(value: &str) -> Result<String> {
    let channel = value.trim().to_ascii_lowercase();
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

/// A BCP 47 language tag; its primary language subtag ("pt" for "pt-BR").
pub fn locale(field: &'static str, value: &str) -> Result<String> {
    languages::primary_tag(value).ok_or_else(|| {
        invalid(
            field,
            format!("must be a BCP 47 language tag such as \"en\" or \"pt-BR\", got {value:?}"),
        )
    })
}

/// A list of at most `max` `things` (entries, turns).
pub fn count(field: &'static str, len: usize, max: usize, things: &str) -> Result {
    if len > max {
        return Err(invalid(
            field,
            format!("must have at most {max} {things} (got {len})"),
        ));
    }
    Ok(())
}

/// A number (a page size, a limit, a lease, a cursor) of at most `max`.
pub fn at_most(field: &'static str, value: u64, max: u64) -> Result {
    if value > max {
        return Err(invalid(field, format!("must be at most {max}")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prose_refuses_controls_and_invisible_text_but_keeps_line_breaks() {
        assert_eq!(prose("m", "Hi\n\tthere\r\n", 100, true), Ok(()));
        for (text, needle) in [
            ("", "is required"),
            (" \u{200B}\u{FEFF} ", "no visible characters"),
            ("hi\u{1b}[31m", "U+001B"),
            ("hi\0", "NUL"),
            ("hi\u{7f}", "U+007F"),
        ] {
            let e = prose("reason", text, 100, true).unwrap_err();
            assert_eq!(e.field, "reason");
            assert!(e.message.contains(needle), "{text:?}: {e}");
        }
        assert_eq!(prose("m", "", 100, false), Ok(()));
        assert!(
            prose("m", "abcd", 3, true)
                .unwrap_err()
                .message
                .contains("at most 3 bytes")
        );
    }

    #[test]
    fn a_document_is_prose_that_hints_at_binary_files() {
        assert_eq!(document("body", "# Title\n\ttext\r\n", 100), Ok(()));
        let e = document("body", "PK\u{3}\u{4}", 100).unwrap_err();
        assert_eq!(
            e.message,
            "must not contain control characters other than tab and line breaks (found U+0003); is it a binary file?"
        );
        assert_eq!(
            document("body", "  ", 100).unwrap_err().message,
            "is required"
        );
        assert!(
            document("body", "\u{200B}", 100)
                .unwrap_err()
                .message
                .contains("no visible characters")
        );
        assert!(
            document("body", "abcd", 3)
                .unwrap_err()
                .message
                .starts_with("must be at most 3 bytes")
        );
    }

    #[test]
    fn a_line_refuses_every_control_character() {
        assert_eq!(line("tag", "billing", 64), Ok(()));
        assert!(line("tag", "a\nb", 64).is_err());
        assert!(line("tag", "a\tb", 64).is_err());
        assert!(line("url", &"x".repeat(65), 64).is_err());
    }

    #[test]
    fn an_id_is_a_visible_line() {
        assert_eq!(id("draft_id", "0192f000-0000-7000", 128, true), Ok(()));
        assert_eq!(id("request_id", "", 128, false), Ok(()));
        for (value, message) in [
            ("", "is required"),
            ("  ", "is required"),
            (
                "\u{200B}",
                "has no visible characters (only spaces, zero-width or direction marks)",
            ),
            ("ccc", "must be at most 2 characters"),
            ("c\n", "must not contain control characters (found U+000A)"),
            (
                "c\u{7}",
                "must not contain control characters (found U+0007)",
            ),
        ] {
            let e = id("draft_id", value, 2, true).unwrap_err();
            assert_eq!(
                (e.field, e.message.as_str()),
                ("draft_id", message),
                "{value:?}"
            );
        }
    }

    #[test]
    fn channels_are_lowercase_names_and_default_when_empty() {
        assert_eq!(channel(" WhatsApp ").unwrap(), "whatsapp");
        assert_eq!(channel("").unwrap(), "default");
        for bad in ["whats app", "ch\nat", &"w".repeat(33)] {
            let e = channel(bad).unwrap_err();
            assert_eq!(e.field, "channel");
            assert!(
                e.message.starts_with("must be at most 32 characters"),
                "{e}"
            );
        }
    }

    #[test]
    fn counts_and_numbers_name_their_limit() {
        assert_eq!(count("history", 2, 2, "turns"), Ok(()));
        assert_eq!(
            count("history", 3, 2, "turns").unwrap_err().to_string(),
            "history: must have at most 2 turns (got 3)"
        );
        assert_eq!(at_most("limit", 5, 5), Ok(()));
        assert_eq!(
            at_most("limit", 6, 5).unwrap_err().to_string(),
            "limit: must be at most 5"
        );
        assert_eq!(locale("locale", "pt-BR").unwrap(), "pt");
        assert!(
            locale("locale", "en_US@!!")
                .unwrap_err()
                .message
                .contains("BCP 47")
        );
    }
}
