//! The rules for text that enters from outside, one per kind of text, so a
//! customer's message and an agent's reply obey the same rule wherever they
//! come in. A refusal names the field and the limit.

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

/// Text written to or for a customer (a message, a history turn, an agent's
/// reply or edit, a reject reason): at most `max_bytes`, no control
/// characters but tab and line breaks, and, when `required`, something
/// visible (not only spaces, zero-width or direction marks).
pub fn prose(field: &'static str, value: &str, max_bytes: usize, required: bool) -> Result {
    if required && value.chars().all(is_invisible) {
        return Err(invalid(
            field,
            if value.trim().is_empty() {
                "is required".to_string()
            } else {
                "has no visible characters (only spaces, zero-width or direction marks)".to_string()
            },
        ));
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
                "must not contain control characters other than tab and line breaks (found {})",
                describe_char(c)
            ),
        ));
    }
    Ok(())
}

/// A one-line value (an id, a tag, a url, a context key or value): at most
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
    fn a_line_refuses_every_control_character() {
        assert_eq!(line("tag", "billing", 64), Ok(()));
        assert!(line("tag", "a\nb", 64).is_err());
        assert!(line("tag", "a\tb", 64).is_err());
        assert!(line("url", &"x".repeat(65), 64).is_err());
    }
}
