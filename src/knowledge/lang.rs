//! Languages: locale tags, per-language analyzers (tantivy's Snowball stemmers
//! and stop-word lists) and query language detection (whatlang).

use std::collections::HashMap;
use std::sync::LazyLock;
use tantivy::tokenizer::{
    AsciiFoldingFilter, Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer,
    StopWordFilter, TextAnalyzer,
};

/// Languages with a stemmer, stop words and reply phrases.
pub const SUPPORTED: &[&str] = &["en", "pt", "it", "es", "fr", "de"];
/// The analyzer key for any other locale: lowercased, accents folded, no stemming.
pub const GENERIC: &str = "xx";

/// Every analyzer key, each with its own indexed fields.
pub fn analyzer_keys() -> impl Iterator<Item = &'static str> {
    SUPPORTED.iter().copied().chain(std::iter::once(GENERIC))
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

/// The analyzer key for a locale's primary tag.
pub fn analyzer_key(locale: &str) -> &'static str {
    SUPPORTED
        .iter()
        .copied()
        .find(|l| *l == locale)
        .unwrap_or(GENERIC)
}

fn tantivy_language(key: &str) -> Option<Language> {
    Some(match key {
        "en" => Language::English,
        "pt" => Language::Portuguese,
        "it" => Language::Italian,
        "es" => Language::Spanish,
        "fr" => Language::French,
        "de" => Language::German,
        _ => return None,
    })
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

fn build_analyzer(key: &str) -> TextAnalyzer {
    let base = TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .dynamic();
    match tantivy_language(key) {
        Some(language) => {
            let with_stop = match StopWordFilter::new(language) {
                Some(stop) => base.filter_dynamic(stop),
                None => base,
            };
            let extra = folded_stop_words(key).iter().chain(extra_stop_words(key));
            let folded = StopWordFilter::remove(extra.map(|w| w.to_string()));
            with_stop
                .filter_dynamic(folded)
                .filter_dynamic(Stemmer::new(language))
                .filter_dynamic(AsciiFoldingFilter)
                .build()
        }
        None => base.filter_dynamic(AsciiFoldingFilter).build(),
    }
}

/// Accent-free spellings of the Snowball stop words that carry accents ("nao" for "não"),
/// derived from tantivy's lists: customers often type without accents.
fn folded_stop_words(key: &str) -> &'static [&'static str] {
    match key {
        "pt" => &[
            "ate",
            "eramos",
            "estao",
            "estavamos",
            "estiveramos",
            "estivessemos",
            "foramos",
            "fossemos",
            "ha",
            "hao",
            "houveramos",
            "houverao",
            "houveriamos",
            "houvessemos",
            "ja",
            "nao",
            "sao",
            "sera",
            "serao",
            "seriamos",
            "so",
            "tambem",
            "tera",
            "terao",
            "teriamos",
            "tinhamos",
            "tiveramos",
            "tivessemos",
            "voce",
            "voces",
        ],
        "it" => &[
            "avra", "avro", "fara", "faro", "perche", "piu", "sara", "saro", "stara", "staro",
        ],
        "es" => &[
            "eramos",
            "estabamos",
            "estais",
            "estan",
            "estara",
            "estaran",
            "estaras",
            "estare",
            "estareis",
            "estaria",
            "estariais",
            "estariamos",
            "estarian",
            "estarias",
            "esteis",
            "esten",
            "estes",
            "estuvieramos",
            "estuviesemos",
            "fueramos",
            "fuesemos",
            "habeis",
            "habia",
            "habiais",
            "habiamos",
            "habian",
            "habias",
            "habra",
            "habran",
            "habras",
            "habre",
            "habreis",
            "habria",
            "habriais",
            "habriamos",
            "habrian",
            "habrias",
            "hayais",
            "hubieramos",
            "hubiesemos",
            "mas",
            "mia",
            "mias",
            "mio",
            "mios",
            "seais",
            "sera",
            "seran",
            "seras",
            "sere",
            "sereis",
            "seria",
            "seriais",
            "seriamos",
            "serian",
            "serias",
            "si",
            "tambien",
            "tendra",
            "tendran",
            "tendras",
            "tendre",
            "tendreis",
            "tendria",
            "tendriais",
            "tendriamos",
            "tendrian",
            "tendrias",
            "teneis",
            "tengais",
            "tenia",
            "teniais",
            "teniamos",
            "tenian",
            "tenias",
            "tuvieramos",
            "tuviesemos",
        ],
        "fr" => &[
            "a", "etaient", "etais", "etait", "etant", "etee", "etees", "etes", "etiez", "etions",
            "eumes", "eutes", "fumes", "futes", "meme",
        ],
        "de" => &[
            "fur", "konnen", "konnte", "uber", "wahrend", "wurde", "wurden",
        ],
        _ => &[],
    }
}

/// Words that say nothing about a support topic, beyond the Snowball lists:
/// for English the Snowball function words (tantivy ships Lucene's shorter
/// list), and in every language greetings and courtesies.
fn extra_stop_words(key: &str) -> &'static [&'static str] {
    match key {
        "en" => &[
            "i",
            "me",
            "my",
            "myself",
            "we",
            "our",
            "ours",
            "ourselves",
            "you",
            "your",
            "yours",
            "yourself",
            "yourselves",
            "he",
            "him",
            "his",
            "himself",
            "she",
            "her",
            "hers",
            "herself",
            "its",
            "itself",
            "them",
            "theirs",
            "themselves",
            "what",
            "which",
            "who",
            "whom",
            "those",
            "am",
            "were",
            "been",
            "being",
            "have",
            "has",
            "had",
            "having",
            "do",
            "does",
            "did",
            "doing",
            "would",
            "should",
            "could",
            "ought",
            "can",
            "cannot",
            "don",
            "doesn",
            "didn",
            "isn",
            "aren",
            "wasn",
            "weren",
            "hasn",
            "haven",
            "hadn",
            "won",
            "wouldn",
            "shouldn",
            "couldn",
            "mustn",
            "t",
            "s",
            "ll",
            "ve",
            "re",
            "d",
            "m",
            "because",
            "until",
            "while",
            "about",
            "against",
            "between",
            "through",
            "during",
            "before",
            "after",
            "above",
            "below",
            "from",
            "up",
            "down",
            "out",
            "off",
            "over",
            "under",
            "again",
            "further",
            "once",
            "here",
            "when",
            "where",
            "why",
            "how",
            "all",
            "any",
            "both",
            "each",
            "few",
            "more",
            "most",
            "other",
            "some",
            "nor",
            "only",
            "own",
            "same",
            "so",
            "than",
            "too",
            "very",
            "hi",
            "hello",
            "hey",
            "please",
            "thanks",
            "thank",
            "thx",
            "pls",
            "also",
            "just",
            "want",
            "wanted",
            "need",
            "able",
            "possible",
            "way",
            "many",
            "much",
            "get",
            "getting",
            "got",
            "try",
            "tried",
            "trying",
        ],
        "pt" => &[
            "oi", "ola", "olá", "obrigado", "obrigada", "favor", "bom", "dia", "boa", "tarde",
            "noite", "gostaria", "preciso", "ajuda", "faço", "faco", "posso", "pode", "consigo",
            "quero", "queria", "tento", "tentei",
        ],
        "it" => &[
            "ciao",
            "salve",
            "grazie",
            "favore",
            "buongiorno",
            "buonasera",
            "vorrei",
            "aiuto",
            "posso",
            "faccio",
            "riesco",
            "voglio",
            "devo",
            "provato",
        ],
        "es" => &[
            "hola", "gracias", "favor", "buenos", "buenas", "dias", "días", "puedo", "hago",
            "quiero", "necesito",
        ],
        "fr" => &[
            "bonjour", "salut", "merci", "svp", "plaît", "plait", "peux", "veux", "dois", "comment",
        ],
        "de" => &[
            "hallo", "danke", "bitte", "guten", "tag", "kann", "möchte", "mochte", "wie",
        ],
        _ => &[],
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
    use lingua::Language::*;
    lingua::LanguageDetectorBuilder::from_languages(&[
        English, Portuguese, Italian, Spanish, French, German,
    ])
    .build()
});

fn code(language: lingua::Language) -> &'static str {
    match language {
        lingua::Language::Portuguese => "pt",
        lingua::Language::Italian => "it",
        lingua::Language::Spanish => "es",
        lingua::Language::French => "fr",
        lingua::Language::German => "de",
        _ => "en",
    }
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
