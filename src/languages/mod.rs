//! The supported languages: one row each in `languages.toml` (code, name,
//! stemmer, detector), read by every per-language piece: the analyzers and
//! language detection in `knowledge::lang`, the wording in
//! `drafting::phrases`, the prompt in `drafting::prompt`. Also locale tags.
//! It imports nothing from the crate, so `config` and `knowledge` can both
//! use it.

use serde::Deserialize;
use std::sync::LazyLock;

/// One supported language.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Language {
    /// The primary language tag ("pt").
    pub code: String,
    /// The English name, as the LLM prompt says it ("Portuguese").
    pub name: String,
    /// tantivy's Snowball stemmer and stop-word list.
    pub stemmer: tantivy::tokenizer::Language,
    /// lingua's language, for detection.
    pub detector: lingua::Language,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Table {
    language: Vec<Language>,
}

static TABLE: LazyLock<Vec<Language>> = LazyLock::new(|| {
    toml::from_str::<Table>(include_str!("languages.toml"))
        .expect("languages.toml is valid")
        .language
});

/// Every supported language, in the table's order.
pub fn all() -> &'static [Language] {
    &TABLE
}

/// The supported language with this primary tag.
pub fn get(code: &str) -> Option<&'static Language> {
    all().iter().find(|l| l.code == code)
}

/// The primary tags of the supported languages, in the table's order.
pub fn codes() -> impl Iterator<Item = &'static str> {
    all().iter().map(|l| l.code.as_str())
}

/// The primary language subtag of a BCP 47 tag ("pt-BR" -> "pt"), or None when
/// the tag is malformed.
pub fn primary_tag(tag: &str) -> Option<String> {
    let tag = tag.trim();
    let mut parts = tag.split(['-', '_']);
    let primary = parts.next()?;
    let primary_ok =
        (2..=3).contains(&primary.len()) && primary.chars().all(|c| c.is_ascii_alphabetic());
    let rest_ok =
        parts.all(|p| (1..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()));
    (primary_ok && rest_ok && tag.len() <= 35).then(|| primary.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn the_language_table_parses_with_unique_lowercase_codes() {
        let codes: Vec<&str> = codes().collect();
        assert_eq!(codes, ["en", "pt", "it", "es", "fr", "de"]);
        assert_eq!(codes.iter().collect::<HashSet<_>>().len(), codes.len());
        for l in all() {
            assert_eq!(primary_tag(&l.code).as_deref(), Some(l.code.as_str()));
            assert!(!l.name.is_empty(), "{}", l.code);
        }
        assert_eq!(get("pt").map(|l| l.name.as_str()), Some("Portuguese"));
        assert!(get("xx").is_none());
    }

    #[test]
    fn each_detector_language_is_the_row_s_own() {
        for l in all() {
            assert_eq!(
                l.detector.iso_code_639_1().to_string().to_lowercase(),
                l.code,
                "{}",
                l.code
            );
        }
    }
}
