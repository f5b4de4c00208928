//! Per-language search and detection: the analyzers (tantivy's Snowball
//! stemmers and stop-word lists, plus `stop_words.toml`) and query language
//! detection (lingua), for the languages of the language table
//! ([`crate::languages`]).

use serde::Deserialize;
use std::collections::HashMap;
use std::sync::LazyLock;
use tantivy::tokenizer::{
    AsciiFoldingFilter, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer, StopWordFilter,
    TextAnalyzer,
};

pub use crate::languages::primary_tag;

/// The analyzer key for any other locale: lowercased, accents folded, no stemming.
pub const GENERIC: &str = "xx";

/// Languages with a stemmer, stop words and reply phrases: the language table's codes.
pub fn supported() -> impl Iterator<Item = &'static str> {
    crate::languages::codes()
}

/// Every analyzer key, each with its own indexed fields.
pub fn analyzer_keys() -> impl Iterator<Item = &'static str> {
    supported().chain(std::iter::once(GENERIC))
}

/// The analyzer key for a locale's primary tag.
pub fn analyzer_key(locale: &str) -> &'static str {
    crate::languages::get(locale).map_or(GENERIC, |l| l.code.as_str())
}

/// The analyzer for an analyzer key: tokenize, lowercase, drop stop words, stem, fold accents.
pub fn analyzer(key: &str) -> TextAnalyzer {
    // Built once per language (the stop-word sets are shared between clones).
    static BUILT: LazyLock<HashMap<&'static str, TextAnalyzer>> =
        LazyLock::new(|| analyzer_keys().map(|k| (k, build_analyzer(k))).collect());
    match BUILT.get(analyzer_key(key)) {
        Some(a) => a.clone(),
        None => build_analyzer(key),
    }
}

/// A language's stop words beyond tantivy's Snowball list (see `stop_words.toml`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StopWords {
    /// Words that say nothing about a support topic.
    extra: Vec<String>,
    /// Accent-free spellings of the Snowball stop words that carry accents.
    folded: Vec<String>,
}

static STOP_WORDS: LazyLock<HashMap<String, StopWords>> = LazyLock::new(|| {
    toml::from_str(include_str!("stop_words.toml")).expect("stop_words.toml is valid")
});

fn build_analyzer(key: &str) -> TextAnalyzer {
    let base = TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .dynamic();
    match crate::languages::get(key) {
        Some(language) => {
            let with_stop = match StopWordFilter::new(language.stemmer) {
                Some(stop) => base.filter_dynamic(stop),
                None => base,
            };
            let words = STOP_WORDS.get(key);
            let extra = words.iter().flat_map(|w| w.folded.iter().chain(&w.extra));
            let folded = StopWordFilter::remove(extra.cloned());
            with_stop
                .filter_dynamic(folded)
                .filter_dynamic(Stemmer::new(language.stemmer))
                .filter_dynamic(AsciiFoldingFilter)
                .build()
        }
        None => base.filter_dynamic(AsciiFoldingFilter).build(),
    }
}

/// The analyzed terms of `text` with the analyzer of `key`, in order, duplicates kept.
pub fn analyze(key: &str, text: &str) -> Vec<String> {
    terms(&mut analyzer(key), text)
}

/// The analyzed terms of `text`, in order, duplicates kept.
pub fn terms(analyzer: &mut TextAnalyzer, text: &str) -> Vec<String> {
    let mut stream = analyzer.token_stream(text);
    let mut out = Vec::new();
    while stream.advance() {
        out.push(stream.token().text.clone());
    }
    out
}

/// How the language of a text was decided.
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    /// The chosen primary tag.
    pub locale: String,
    /// "detected", "hint" or "default".
    pub source: &'static str,
    /// The detector's confidence in its best guess (0..1), 0 when it had none.
    pub confidence: f64,
}

/// A detection at least this confident wins over the caller's hint.
const RELIABLE: f64 = 0.5;
/// Without a hint, a weaker guess is used when it is this confident and ahead of the next by `LEAD`.
const PLAUSIBLE: f64 = 0.35;
const LEAD: f64 = 0.1;

static DETECTOR: LazyLock<lingua::LanguageDetector> = LazyLock::new(|| {
    let languages: Vec<lingua::Language> =
        crate::languages::all().iter().map(|l| l.detector).collect();
    lingua::LanguageDetectorBuilder::from_languages(&languages).build()
});

/// The table's code for a detected language (the detector knows no others;
/// "en" would stand in).
fn code(language: lingua::Language) -> &'static str {
    crate::languages::all()
        .iter()
        .find(|l| l.detector == language)
        .map_or("en", |l| l.code.as_str())
}

/// Decides the language of `text` (lingua, built for short texts): a
/// confident detection wins, then the caller's hint, then a plausible guess,
/// then `default`.
pub fn detect(text: &str, hint: Option<&str>, default: &str) -> Detection {
    let values = DETECTOR.compute_language_confidence_values(text);
    let best = values.first().map(|(l, c)| (code(*l), *c));
    let second = values.get(1).map(|(_, c)| *c).unwrap_or(0.0);
    let confidence = best.map(|b| b.1).unwrap_or(0.0);
    match (best, hint) {
        (Some((code, c)), _) if c >= RELIABLE => Detection {
            locale: code.into(),
            source: "detected",
            confidence,
        },
        (_, Some(hint)) => Detection {
            locale: hint.into(),
            source: "hint",
            confidence,
        },
        (Some((code, c)), None) if c >= PLAUSIBLE && c - second >= LEAD => Detection {
            locale: code.into(),
            source: "detected",
            confidence,
        },
        _ => Detection {
            locale: default.into(),
            source: "default",
            confidence,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primary_tags_are_lowercased_and_malformed_tags_refused() {
        assert_eq!(primary_tag("pt-BR").as_deref(), Some("pt"));
        assert_eq!(primary_tag("IT").as_deref(), Some("it"));
        assert_eq!(primary_tag("en_US").as_deref(), Some("en"));
        assert_eq!(primary_tag(""), None);
        assert_eq!(primary_tag("english"), None);
        assert_eq!(primary_tag("e1"), None);
        assert_eq!(primary_tag("en-"), None);
    }

    #[test]
    fn the_stop_word_file_covers_exactly_the_language_table() {
        let listed: std::collections::BTreeSet<&str> =
            STOP_WORDS.keys().map(String::as_str).collect();
        let table: std::collections::BTreeSet<&str> = supported().collect();
        assert_eq!(listed, table);
        assert_eq!(STOP_WORDS["en"].extra.len(), 139);
        assert_eq!(STOP_WORDS["pt"].folded.len(), 30);
        for (code, words) in STOP_WORDS.iter() {
            for w in words.extra.iter().chain(&words.folded) {
                assert_eq!(w, &w.trim().to_lowercase(), "{code}: {w:?}");
            }
        }
    }

    #[test]
    fn extra_and_folded_stop_words_are_dropped() {
        assert!(analyze("en", "hello please thanks").is_empty());
        assert!(analyze("es", "hola tambien").is_empty());
        assert!(analyze("de", "danke fur").is_empty());
    }

    #[test]
    fn other_locales_get_the_generic_analyzer() {
        assert_eq!(analyzer_key("pt"), "pt");
        assert_eq!(analyzer_key("nl"), GENERIC);
        assert_eq!(analyze("nl", "Goedendag Één"), ["goedendag", "een"]);
    }

    #[test]
    fn portuguese_analyzer_stems_and_folds_accents() {
        let mut a = analyzer("pt");
        let t = terms(&mut a, "Não consigo restaurar os backups");
        assert!(!t.contains(&"os".to_string()), "stop word kept: {t:?}");
        assert_eq!(terms(&mut a, "conversas"), terms(&mut a, "conversa"));
        assert_eq!(terms(&mut a, "não"), terms(&mut a, "nao"));
    }

    #[test]
    fn english_analyzer_stems_plurals() {
        let mut a = analyzer("en");
        assert_eq!(
            terms(&mut a, "notifications"),
            terms(&mut a, "notification")
        );
    }

    #[test]
    fn clear_text_is_detected_over_a_wrong_hint() {
        let d = detect(
            "Olá, não consigo restaurar o backup das minhas conversas no celular novo",
            Some("en"),
            "en",
        );
        assert_eq!(d.locale, "pt");
        assert_eq!(d.source, "detected");
    }

    #[test]
    fn italian_is_detected() {
        let d = detect(
            "Come posso attivare la verifica in due passaggi sul mio account?",
            None,
            "en",
        );
        assert_eq!(d.locale, "it");
    }

    #[test]
    fn short_english_questions_are_english() {
        for q in [
            "How do I change my phone number?",
            "How do I block someone?",
            "I am not getting notifications",
        ] {
            assert_eq!(detect(q, None, "pt").locale, "en", "{q}");
        }
    }

    #[test]
    fn empty_text_falls_back_to_the_hint_then_the_default() {
        assert_eq!(detect("", Some("it"), "en").locale, "it");
        assert_eq!(detect("", None, "en").locale, "en");
    }
}
