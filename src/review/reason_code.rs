//! Why an agent rejected a draft, in codes a desk can count: the reason is
//! stored as `"<code>: <note>"` (or the code alone), so the record stays
//! one text and reads the same in the transcript.

use crate::validate::{self, Invalid};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ReasonCode {
    /// The draft says something wrong.
    Incorrect,
    /// The article it rests on is out of date.
    OutdatedArticle,
    /// It leaves out what the customer needs (steps, a condition).
    Incomplete,
    /// Right, but not how the desk speaks.
    Tone,
    /// It must not be said (a policy, a promise the desk cannot make).
    Policy,
    Other,
}

impl ReasonCode {
    pub const ALL: [ReasonCode; 6] = [
        ReasonCode::Incorrect,
        ReasonCode::OutdatedArticle,
        ReasonCode::Incomplete,
        ReasonCode::Tone,
        ReasonCode::Policy,
        ReasonCode::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ReasonCode::Incorrect => "incorrect",
            ReasonCode::OutdatedArticle => "outdated_article",
            ReasonCode::Incomplete => "incomplete",
            ReasonCode::Tone => "tone",
            ReasonCode::Policy => "policy",
            ReasonCode::Other => "other",
        }
    }

    /// In words, for people.
    pub fn label(self) -> &'static str {
        match self {
            ReasonCode::Incorrect => "Incorrect",
            ReasonCode::OutdatedArticle => "Outdated article",
            ReasonCode::Incomplete => "Incomplete",
            ReasonCode::Tone => "Tone",
            ReasonCode::Policy => "Policy",
            ReasonCode::Other => "Other",
        }
    }

    pub fn parse(field: &'static str, s: &str) -> Result<ReasonCode, Invalid> {
        ReasonCode::ALL
            .into_iter()
            .find(|c| c.as_str() == s.trim())
            .ok_or_else(|| {
                validate::invalid(
                    field,
                    format!(
                        "must be one of {}",
                        ReasonCode::ALL.map(ReasonCode::as_str).join(", ")
                    ),
                )
            })
    }

    /// The reason as stored: the code, then the agent's note if any.
    pub fn with_note(self, note: &str) -> String {
        match note.trim() {
            "" => self.as_str().to_string(),
            note => format!("{}: {note}", self.as_str()),
        }
    }

    /// The code a stored reason starts with, if it does.
    pub fn of(reason: &str) -> Option<ReasonCode> {
        let head = reason.split(':').next().unwrap_or_default().trim();
        ReasonCode::ALL.into_iter().find(|c| c.as_str() == head)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reason_keeps_its_code_with_or_without_a_note() {
        let stored = ReasonCode::OutdatedArticle.with_note("the fee changed in May");
        assert_eq!(stored, "outdated_article: the fee changed in May");
        assert_eq!(ReasonCode::of(&stored), Some(ReasonCode::OutdatedArticle));
        assert_eq!(
            ReasonCode::of(&ReasonCode::Tone.with_note("  ")),
            Some(ReasonCode::Tone)
        );
        assert_eq!(ReasonCode::of("wrong article"), None);
        assert!(ReasonCode::parse("reason_code", "rude").is_err());
        assert_eq!(
            ReasonCode::parse("reason_code", "policy").unwrap(),
            ReasonCode::Policy
        );
    }
}
