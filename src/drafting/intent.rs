//! What a question asks for, beyond its topic: whether the customer asks how
//! to do something, so that a reply must carry the article's steps. Phrases
//! per language in `intent.toml`.

use super::policy::{normalizer, words};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::LazyLock;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Phrases {
    steps: Vec<String>,
    not_steps: Vec<String>,
}

/// Every language's phrases, as normalized words, pooled: a question's
/// language is not always told right, and the phrases do not collide.
struct Intents {
    steps: Vec<Vec<String>>,
    not_steps: Vec<Vec<String>>,
}

static INTENTS: LazyLock<Intents> = LazyLock::new(|| {
    let table: BTreeMap<String, Phrases> =
        toml::from_str(include_str!("intent.toml")).expect("intent.toml is valid");
    let mut a = normalizer();
    let mut as_words = |list: &[String]| -> Vec<Vec<String>> {
        list.iter()
            .map(|p| words(&mut a, p))
            .filter(|w| !w.is_empty())
            .collect()
    };
    let mut steps = Vec::new();
    let mut not_steps = Vec::new();
    for p in table.values() {
        steps.extend(as_words(&p.steps));
        not_steps.extend(as_words(&p.not_steps));
    }
    Intents { steps, not_steps }
});

fn starts_with(words: &[String], phrase: &[String]) -> bool {
    words.len() >= phrase.len() && words.iter().zip(phrase).all(|(w, p)| w == p)
}

/// Whether the customer asks how to do something.
pub fn asks_for_steps(text: &str) -> bool {
    let words = words(&mut normalizer(), text);
    let intents = &*INTENTS;
    (0..words.len()).any(|i| {
        let rest = &words[i..];
        !intents.not_steps.iter().any(|p| starts_with(rest, p))
            && intents.steps.iter().any(|p| starts_with(rest, p))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn how_to_questions_ask_for_steps_in_every_language() {
        for q in [
            "How do I change my phone number?",
            "how can i get my chats back",
            "is there a way to hide a chat",
            "Como faço backup das conversas?",
            "tem como esconder uma conversa?",
            "Come cambio il mio numero?",
            "c'è un modo per ingrandire le scritte?",
            "¿Cómo cambio mi número?",
            "Comment changer mon numéro ?",
            "Wie ändere ich meine Nummer?",
        ] {
            assert!(asks_for_steps(q), "{q}");
        }
    }

    #[test]
    fn questions_of_another_kind_do_not() {
        for q in [
            "How long does support take to answer?",
            "how many devices can I link",
            "Why are my messages stuck on one tick?",
            "Can Lumo employees read my messages?",
            "como assim minha conta foi banida?",
            "come mai non ricevo il codice?",
            "Wie lange dauert das?",
        ] {
            assert!(!asks_for_steps(q), "{q}");
        }
    }

    #[test]
    fn the_phrase_file_covers_exactly_the_language_table() {
        let table: BTreeMap<String, Phrases> = toml::from_str(include_str!("intent.toml")).unwrap();
        let listed: Vec<&str> = table.keys().map(String::as_str).collect();
        let mut languages: Vec<&str> = crate::knowledge::lang::supported().collect();
        languages.sort_unstable();
        assert_eq!(listed, languages);
    }
}
