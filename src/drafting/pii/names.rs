//! People's names, where customers say them: after "my name is", "mi
//! chiamo", "ich heiße" and the like, and under a sign-off ("Regards,\nAna").
//! A name without such a cue is not looked for: telling "Rose" the person
//! from "rose" the flower takes a model this gateway does not run, and a
//! name alone identifies far less than the contact data found elsewhere.
//! The phrases are data (`names.toml`).

use super::detect::Span;
use crate::knowledge::lang;
use regex::Regex;
use serde::Deserialize;
use std::collections::{BTreeMap, HashSet};
use std::sync::LazyLock;

#[derive(Deserialize)]
struct Language {
    strong: Vec<String>,
    weak: Vec<String>,
    weak_two: Vec<String>,
    sign_off: Vec<String>,
    not_names: Vec<String>,
}

#[derive(Deserialize)]
struct File {
    particles: Vec<String>,
    #[serde(flatten)]
    languages: BTreeMap<String, Language>,
}

/// How strongly a cue says a name follows.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Cue {
    /// Lowercase names count too.
    Strong,
    /// One capitalized word is enough.
    Weak,
    /// Two capitalized words are needed.
    WeakTwo,
}

struct Cues {
    /// Every cue phrase, with its strength in the capture group that matched.
    phrases: Regex,
    kinds: Vec<Cue>,
    sign_off: Regex,
    particles: HashSet<String>,
    not_names: HashSet<String>,
}

/// A phrase as a pattern: words separated by any spaces, apostrophes of
/// either kind, a colon with or without a space before it. Word boundaries
/// are checked by hand (`at_word_boundaries`): a Unicode `\b` would keep the
/// regex engine off its fast path.
fn phrase_pattern(phrase: &str) -> String {
    let words: Vec<String> = phrase
        .split_whitespace()
        .map(|w| regex::escape(w).replace(['\'', '’'], "['’]"))
        .collect();
    words.join(r"[ \t]+").replace(r"[ \t]+:", r"[ \t]*:")
}

/// Whether `[start, end)` does not begin or end inside a word (a phrase
/// ending in ":" may be followed by anything).
fn at_word_boundaries(text: &str, start: usize, end: usize) -> bool {
    let before = text[..start].chars().next_back();
    let after = text[end..].chars().next();
    let ends_in_colon = text[..end].ends_with(':');
    !before.is_some_and(char::is_alphanumeric)
        && (ends_in_colon || !after.is_some_and(char::is_alphanumeric))
}

static CUES: LazyLock<Cues> = LazyLock::new(|| {
    let file: File = toml::from_str(include_str!("names.toml")).expect("names.toml is valid");
    let mut groups = Vec::new();
    let mut kinds = Vec::new();
    let mut sign_offs = Vec::new();
    let mut not_names = HashSet::new();
    for language in file.languages.values() {
        for (list, cue) in [
            (&language.strong, Cue::Strong),
            (&language.weak, Cue::Weak),
            (&language.weak_two, Cue::WeakTwo),
        ] {
            for phrase in list {
                groups.push(format!("({})", phrase_pattern(phrase)));
                kinds.push(cue);
            }
        }
        sign_offs.extend(language.sign_off.iter().map(|p| phrase_pattern(p)));
        not_names.extend(language.not_names.iter().map(|w| w.to_lowercase()));
    }
    // Longer phrases first, so "my name is" wins over "name:" and "sou o" over "sou".
    let mut order: Vec<usize> = (0..groups.len()).collect();
    order.sort_by_key(|i| std::cmp::Reverse(groups[*i].len()));
    let phrases = format!(
        r"(?i){}",
        order
            .iter()
            .map(|i| groups[*i].as_str())
            .collect::<Vec<_>>()
            .join("|")
    );
    sign_offs.sort_by_key(|p| std::cmp::Reverse(p.len()));
    // At the start of a line, or after a sentence on the same line (one-line
    // messages: SMS, a context value).
    let sign_off = format!(
        r"(?im)(?:^|[.!?][ \t]+)[ \t]*(?:{})[ \t]*[,.!]?[ \t]*(?:\r?\n[ \t]*)*",
        sign_offs.join("|")
    );
    Cues {
        phrases: Regex::new(&phrases).expect("name cues compile"),
        kinds: order.iter().map(|i| kinds[*i]).collect(),
        sign_off: Regex::new(&sign_off).expect("sign-offs compile"),
        particles: file.particles.into_iter().collect(),
        not_names,
    }
});

static WORD: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[\p{L}\p{M}][\p{L}\p{M}'’\-]*").unwrap());

fn capitalized(word: &str) -> bool {
    word.chars().next().is_some_and(char::is_uppercase)
}

/// A stop word of any supported language ("and", "muss", "je"): the
/// analyzers drop them.
fn stop_word(word: &str) -> bool {
    lang::supported().any(|key| {
        let mut a = lang::analyzer(key);
        lang::terms(&mut a, word).is_empty()
    })
}

/// A common given name ("josé", "anne-marie": every part known).
fn known_first_name(lower: &str) -> bool {
    static NAMES: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
        include_str!("first_names.txt")
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect()
    });
    lower.split('-').all(|part| NAMES.contains(part))
}

/// The words of a name starting at `at`, as a span; None when none follow.
/// Capitalized words are a name unless they are a word such cues are known
/// to precede ("Kunde", "Urgent"); lowercase words only after a strong cue,
/// on a sign-off's own line, or when the first is a known given name.
fn name_at(text: &str, mut at: usize, cue: Cue, own_line: bool) -> Option<Span> {
    let cues = &*CUES;
    let bytes = text.as_bytes();
    // Skip the spaces (and a label's colon) after the cue; after a comma the
    // sentence goes on about something else ("Wie ich heiße, steht ...").
    while at < bytes.len() && matches!(bytes[at], b' ' | b'\t' | b':') {
        at += 1;
    }
    let (mut first, mut last) = (None, at);
    let (mut capitals, mut lowercase, mut words) = (0, 0, 0);
    let mut first_known = false;
    let mut pos = at;
    while words < 4 {
        let Some(m) = WORD.find(&text[pos..]) else {
            break;
        };
        let word = m.as_str().trim_end_matches(['\'', '’', '-']);
        let end = pos + word.len();
        let lower = word.to_lowercase();
        if cues.particles.contains(&lower) {
            // "da", "Di", "von": part of a name only between name words.
            if first.is_none() {
                break;
            }
        } else {
            let accepted = if capitalized(word) {
                lowercase == 0 && !cues.not_names.contains(&lower)
            } else {
                let lowercase_name = cue == Cue::Strong
                    || own_line
                    || (first.is_none() && known_first_name(&lower))
                    || (first_known && lowercase > 0);
                lowercase_name
                    && capitals == 0
                    && lowercase < 3
                    && word.chars().count() >= 2
                    && !cues.not_names.contains(&lower)
                    && !stop_word(word)
            };
            if !accepted {
                break;
            }
            if first.is_none() {
                first = Some(pos);
                first_known = known_first_name(&lower);
            }
            last = end;
            if capitalized(word) {
                capitals += 1;
            } else {
                lowercase += 1;
            }
        }
        words += 1;
        // One space (or tab) between the words of a name.
        pos = end;
        match bytes.get(pos) {
            Some(b' ' | b'\t') if bytes.get(pos + 1).is_some_and(|b| !b.is_ascii_whitespace()) => {
                pos += 1
            }
            _ => break,
        }
    }
    let first = first?;
    let enough = match cue {
        Cue::Strong => true,
        Cue::Weak => capitals >= 1 || own_line || first_known,
        Cue::WeakTwo => capitals >= 2 || first_known,
    };
    if !enough {
        return None;
    }
    if own_line {
        // A sign-off's name is the whole line.
        let rest = &text[last..];
        let line_rest = rest.split('\n').next().unwrap_or("");
        if !line_rest.trim().trim_matches(['.', '!']).is_empty() {
            return None;
        }
    }
    Some((first, last))
}

/// Names given after a cue or under a sign-off, as byte spans of `text`.
pub fn names(text: &str) -> Vec<Span> {
    let cues = &*CUES;
    let mut found = Vec::new();
    // Cheap first: most texts hold no cue at all.
    let mut from = 0;
    while let Some(m) = cues.phrases.find_at(text, from) {
        // Next time, from the next character (cues may overlap: "sou a", "sou").
        from = m.start() + text[m.start()..].chars().next().map_or(1, char::len_utf8);
        if !at_word_boundaries(text, m.start(), m.end()) {
            continue;
        }
        // The group that matched says which cue it was.
        let Some(caps) = cues.phrases.captures_at(text, m.start()) else {
            continue;
        };
        let Some(i) = caps.iter().skip(1).position(|g| g.is_some()) else {
            continue;
        };
        if let Some(span) = name_at(text, m.end(), cues.kinds[i], false) {
            found.push(span);
            from = from.max(span.1);
        }
    }
    for m in cues.sign_off.find_iter(text) {
        // The closing phrase must be whole words ("Bestellung" is not "best").
        let phrase_end = text[..m.end()]
            .trim_end_matches([' ', '\t', '\n', '\r', ',', '.', '!'])
            .len();
        let phrase_start = m.start()
            + text[m.start()..m.end()]
                .find(char::is_alphanumeric)
                .unwrap_or(0);
        if phrase_end <= phrase_start || !at_word_boundaries(text, phrase_start, phrase_end) {
            continue;
        }
        let between = &text[m.start()..m.end()];
        let on_next_line = between.contains('\n');
        // The name ends the line it is on.
        if let Some(span) = name_at(text, m.end(), Cue::Weak, on_next_line)
            && text[span.1..]
                .split('\n')
                .next()
                .is_some_and(|rest| rest.trim().trim_matches(['.', '!']).is_empty())
        {
            found.push(span);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(text: &str) -> Vec<&str> {
        names(text).into_iter().map(|(a, b)| &text[a..b]).collect()
    }

    #[test]
    fn names_after_cues_in_six_languages() {
        assert_eq!(
            named("Hi, my name is Ana Souza and I can't log in"),
            vec!["Ana Souza"]
        );
        assert_eq!(
            named("my name is john smith and i need help"),
            vec!["john smith"]
        );
        assert_eq!(
            named("meu nome é Maria da Silva, preciso de ajuda"),
            vec!["Maria da Silva"]
        );
        assert_eq!(
            named("mi chiamo Andrea D'Amico devo cambiare la password"),
            vec!["Andrea D'Amico"]
        );
        assert_eq!(
            named("Hola, me llamo Íñigo Martínez y tengo un problema"),
            vec!["Íñigo Martínez"]
        );
        assert_eq!(
            named("Bonjour, je m’appelle Marie-Hélène Roux."),
            vec!["Marie-Hélène Roux"]
        );
        assert_eq!(
            named("ich heiße björn schröder muss mein passwort ändern"),
            vec!["björn schröder"]
        );
        assert_eq!(
            named("Nom : Julien Moreau\nCommande : 4478120"),
            vec!["Julien Moreau"]
        );
        assert_eq!(
            named("Ich bin Jürgen Müller, meine Nummer"),
            vec!["Jürgen Müller"]
        );
    }

    #[test]
    fn sign_offs_name_the_writer() {
        assert_eq!(
            named("Thanks for sorting this out.  Regards, André Cole"),
            vec!["André Cole"]
        );
        assert!(named("Thanks, John said the app works").is_empty());
        assert_eq!(
            named("Thanks for the help.\n\nKind regards,\nJohn Smith"),
            vec!["John Smith"]
        );
        assert_eq!(
            named("Dans l'attente.\nBien à vous,\nbenoît rousseau"),
            vec!["benoît rousseau"]
        );
        assert_eq!(
            named("Quedo a la espera.\nUn saludo, Íñigo Martínez"),
            vec!["Íñigo Martínez"]
        );
        assert!(named("Thanks in advance.\n\nKind regards").is_empty());
    }

    #[test]
    fn cues_without_a_name_name_nobody() {
        for text in [
            "My name is wrong on my profile, how do I change it?",
            "I'm unable to log in since yesterday.",
            "this is the third time I'm writing about this",
            "Call me back when you can",
            "Mein Name ist falsch geschrieben",
            "Ich bin Kunde seit 2020",
            "Sono bloccato da ieri",
            "Je suis très déçu du service.",
            "Soy cliente de toda la vida",
            "Thanks, it works now",
        ] {
            assert!(named(text).is_empty(), "{text}: {:?}", named(text));
        }
    }
}
