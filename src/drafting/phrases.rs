//! Customer-facing wording of the extractive drafter and the AI disclosure,
//! per language, from `phrases.toml` (one section per language of the
//! language table). English is used for languages not listed.

use serde::Deserialize;
use std::collections::HashMap;
use std::sync::LazyLock;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Phrases {
    pub greeting: String,
    pub lead_in: String,
    pub more_info: String,
    pub no_answer: String,
    /// The label on a reply the AI wrote and no human reviewed.
    pub disclosure_ai: String,
    /// The label on a reply the AI wrote and an agent reviewed or edited.
    pub disclosure_reviewed: String,
    /// Sent once when the conversation goes to a person.
    pub handoff_notice: String,
    /// Which device the quoted steps are for; "{device}" is replaced.
    pub device_line: String,
}

/// The language whose wording stands in for languages without their own.
const FALLBACK: &str = "en";

static PHRASES: LazyLock<HashMap<String, Phrases>> =
    LazyLock::new(|| toml::from_str(include_str!("phrases.toml")).expect("phrases.toml is valid"));

impl Phrases {
    /// A reply of the extractive drafter without its own fixed lines (the
    /// greeting, the lead-in, the link line, the holding reply): what it
    /// quoted.
    pub fn without_fixed_lines(&self, body: &str) -> String {
        body.split("\n\n")
            .filter(|part| {
                let part = part.trim();
                let device_prefix = self
                    .device_line
                    .split("{device}")
                    .next()
                    .unwrap_or_default();
                part != self.greeting
                    && part != self.lead_in
                    && part != self.no_answer
                    && (device_prefix.is_empty() || !part.starts_with(device_prefix))
                    && !part.starts_with(self.more_info.as_str())
            })
            .collect::<Vec<_>>()
            .join("\n\n")
    }
}

pub fn for_locale(locale: &str) -> &'static Phrases {
    PHRASES
        .get(locale)
        .or_else(|| PHRASES.get(FALLBACK))
        .expect("phrases.toml has the fallback language")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn the_phrase_file_covers_exactly_the_language_table() {
        let listed: BTreeSet<&str> = PHRASES.keys().map(String::as_str).collect();
        let table: BTreeSet<&str> = crate::languages::codes().collect();
        assert_eq!(listed, table);
        for (code, p) in PHRASES.iter() {
            for line in [
                &p.greeting,
                &p.lead_in,
                &p.more_info,
                &p.no_answer,
                &p.disclosure_ai,
                &p.disclosure_reviewed,
            ] {
                assert!(!line.trim().is_empty(), "{code}");
            }
        }
    }

    #[test]
    fn languages_without_wording_get_english() {
        assert_eq!(for_locale("xx").greeting, "Hi, thanks for reaching out!");
        assert_eq!(
            for_locale("pt").greeting,
            "Olá, obrigado por entrar em contato!"
        );
    }
}
