//! Checks on a written reply before it is routed. A model that follows text
//! planted in an article or a message, or simply invents, can write a
//! fluent, cited reply that promises a refund; these checks hold such a
//! reply for a person, each with a named reason:
//!
//! - `reply_commitment`: a promise of a kind the passages do not speak of
//!   (refunds, credits, compensation, lifted bans, approvals and guarantees,
//!   legal or medical statements);
//! - `reply_new_number`: a number or amount found in neither the passages nor
//!   the customer's words (list markers aside);
//! - `reply_new_url`, `reply_new_contact`: a web address, e-mail address or
//!   phone number the passages do not give;
//! - `reply_asks_secret`: a request for a password, a code or a card number;
//! - `reply_unsupported`: a sentence whose content words the cited passages
//!   mostly do not have (courtesy aside).
//!
//! Words are data (`reply_checks.toml`).

use super::pii;
use crate::knowledge::lang;
use regex::Regex;
use serde::Deserialize;
use std::collections::{BTreeMap, HashSet};
use std::sync::LazyLock;
use tantivy::tokenizer::{AsciiFoldingFilter, LowerCaser, SimpleTokenizer, TextAnalyzer};

/// One reason to hold a reply.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub signal: &'static str,
    pub detail: String,
}

/// What one passage (or an article's title) gives a reply to draw on. An
/// article's text changes only with its version, so this is worked out once
/// per passage version and kept with the passage's facts (`passages.rs`).
#[derive(Debug, Default)]
pub struct Source {
    /// Its numbers, as digits.
    numbers: HashSet<String>,
    /// Its web addresses, as compared.
    urls: HashSet<String>,
    /// Its e-mail addresses and phone numbers, as compared.
    contacts: HashSet<String>,
    /// The kinds of commitment it speaks of (`reply_checks.toml`).
    commitments: HashSet<&'static str>,
}

impl Source {
    pub fn of(text: &str) -> Source {
        let words = fold(text);
        Source {
            commitments: WORDS
                .commitments
                .iter()
                .filter(|(_, entries)| any_occurs(&words, entries).is_some())
                .map(|(kind, _)| kind.as_str())
                .collect(),
            numbers: numbers(text),
            urls: URL.find_iter(text).map(|m| url_key(m.as_str())).collect(),
            contacts: pii::contacts(text).iter().map(|c| contact_key(c)).collect(),
        }
    }
}

/// What a reply may draw on.
pub struct Evidence<'a> {
    /// The passages the writer was given, with their articles' titles.
    pub given: Vec<&'a Source>,
    /// Whether those passages have an analyzed term (asked only of a
    /// sentence that asks for a secret, so never worked out as a set).
    pub given_has: &'a dyn Fn(&str) -> bool,
    /// The analyzed terms of the passages the reply cites.
    pub cited_terms: &'a HashSet<&'a str>,
    /// What the customer wrote (message and history, masked).
    pub customer: Vec<&'a str>,
    /// Web addresses the reply may give (the articles' own).
    pub urls: Vec<&'a str>,
    /// The analyzer of the articles' language.
    pub analyzer_key: &'static str,
}

#[derive(Deserialize)]
struct Secrets {
    verbs: Vec<String>,
    secrets: Vec<String>,
    negations: Vec<String>,
}

#[derive(Deserialize)]
struct Courtesy {
    words: Vec<String>,
}

#[derive(Deserialize)]
struct File {
    commitments: BTreeMap<String, Vec<String>>,
    secrets: Secrets,
    courtesy: Courtesy,
}

/// Word lists, folded to lowercase ASCII words.
struct Words {
    commitments: Vec<(String, Vec<Vec<String>>)>,
    verbs: Vec<Vec<String>>,
    secrets: Vec<Vec<String>>,
    negations: Vec<Vec<String>>,
    courtesy: HashSet<String>,
}

/// Lowercase, accent-free words.
fn fold(text: &str) -> Vec<String> {
    static FOLDER: LazyLock<TextAnalyzer> = LazyLock::new(|| {
        TextAnalyzer::builder(SimpleTokenizer::default())
            .filter(LowerCaser)
            .filter(AsciiFoldingFilter)
            .build()
    });
    lang::terms(&mut FOLDER.clone(), text)
}

static WORDS: LazyLock<Words> = LazyLock::new(|| {
    let file: File =
        toml::from_str(include_str!("reply_checks.toml")).expect("reply_checks.toml is valid");
    let list = |xs: &[String]| -> Vec<Vec<String>> {
        xs.iter()
            .map(|x| fold(x))
            .filter(|w| !w.is_empty())
            .collect()
    };
    Words {
        commitments: file
            .commitments
            .iter()
            .map(|(kind, xs)| (kind.clone(), list(xs)))
            .collect(),
        verbs: list(&file.secrets.verbs),
        secrets: list(&file.secrets.secrets),
        negations: list(&file.secrets.negations),
        courtesy: file.courtesy.words.iter().flat_map(|w| fold(w)).collect(),
    }
});

/// Whether `entry` occurs in `words`: one word as a prefix of a word,
/// several as those words in a row (the last as a prefix).
fn occurs(words: &[String], entry: &[String]) -> Option<usize> {
    match entry {
        [] => None,
        [one] => words.iter().position(|w| w.starts_with(one.as_str())),
        [init @ .., last] => (0..words.len().saturating_sub(entry.len() - 1)).find(|&i| {
            words[i..i + init.len()] == *init && words[i + init.len()].starts_with(last.as_str())
        }),
    }
}

fn any_occurs<'e>(words: &[String], entries: &'e [Vec<String>]) -> Option<&'e [String]> {
    entries
        .iter()
        .find(|e| occurs(words, e).is_some())
        .map(Vec::as_slice)
}

/// Numbers, as the digits they are made of ("1.299,00" and "1299.00" alike).
static NUMBER: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\d+(?:[.,:/]\d+)*").unwrap());
/// A list marker at the start of a line: "1.", "2)", "3 -".
static LIST_MARKER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?m)^\s*\d{1,2}\s*[.)\-:]").unwrap());
static URL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(?:https?://|www\.)[^\s<>()\[\]]+|\b[a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?:com|net|org|io|app|co|info|example|help)(?:/[^\s<>()\[\]]*)?").unwrap()
});

fn digits(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

fn numbers(text: &str) -> HashSet<String> {
    NUMBER.find_iter(text).map(|m| digits(m.as_str())).collect()
}

fn url_key(url: &str) -> String {
    let u = url
        .trim_end_matches(['.', ',', ';', ':', '!', '?', ')'])
        .to_lowercase();
    let u = u
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_start_matches("www.");
    u.trim_end_matches('/').to_string()
}

/// Sentences: cut at sentence ends and line breaks.
fn sentences(text: &str) -> impl Iterator<Item = &str> {
    text.split(['\n', '.', '!', '?', ';'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// The checks, in the order their reasons are reported.
pub fn check(reply: &str, e: &Evidence) -> Vec<Finding> {
    let w = &*WORDS;
    let mut findings = Vec::new();
    // Placeholders stand for the customer's own data: not the reply's.
    let reply = pii::strip_placeholders(reply);
    let customer_text = e.customer.join("\n");
    let reply_words = fold(&reply);

    // Promises of a kind the passages do not speak of.
    for (kind, entries) in &w.commitments {
        let spoken_of = e
            .given
            .iter()
            .any(|g| g.commitments.contains(kind.as_str()));
        if let Some(entry) = any_occurs(&reply_words, entries)
            && !spoken_of
        {
            findings.push(Finding {
                signal: "reply_commitment",
                detail: format!(
                    "promises something of a kind ({kind}: \"{}\") that the articles do not mention",
                    entry.join(" ")
                ),
            });
        }
    }

    // Numbers from nowhere.
    let without_markers = LIST_MARKER.replace_all(&reply, " ");
    let without_urls = URL.replace_all(&without_markers, " ");
    let customer_numbers = numbers(&customer_text);
    let known =
        |n: &str| customer_numbers.contains(n) || e.given.iter().any(|g| g.numbers.contains(n));
    let mut new_numbers: Vec<String> = NUMBER
        .find_iter(&without_urls)
        .map(|m| m.as_str().to_string())
        .filter(|n| !known(&digits(n)))
        .collect();
    new_numbers.dedup();
    if !new_numbers.is_empty() {
        findings.push(Finding {
            signal: "reply_new_number",
            detail: format!(
                "gives numbers found in neither the articles nor the customer's words: {}",
                new_numbers.join(", ")
            ),
        });
    }

    // Web addresses from nowhere.
    let allowed: HashSet<String> = URL
        .find_iter(&customer_text)
        .map(|m| url_key(m.as_str()))
        .chain(e.urls.iter().map(|u| url_key(u)))
        .chain(e.given.iter().flat_map(|g| g.urls.iter().cloned()))
        .collect();
    let new_urls: Vec<String> = URL
        .find_iter(&reply)
        .map(|m| m.as_str().to_string())
        .filter(|u| {
            let k = url_key(u);
            !allowed
                .iter()
                .any(|a| *a == k || a.starts_with(&k) || k.starts_with(a.as_str()))
        })
        .collect();
    if !new_urls.is_empty() {
        findings.push(Finding {
            signal: "reply_new_url",
            detail: format!(
                "links to addresses the articles do not give: {}",
                new_urls.join(", ")
            ),
        });
    }

    // E-mail addresses and phone numbers from nowhere.
    let new_contacts = pii::contacts(&reply)
        .iter()
        .filter(|c| {
            let k = contact_key(c);
            !e.given.iter().any(|g| g.contacts.contains(&k))
        })
        .count();
    if new_contacts > 0 {
        findings.push(Finding {
            signal: "reply_new_contact",
            detail: format!("gives {new_contacts} contact detail(s) the articles do not"),
        });
    }

    // Requests for secrets, unless an article says the same.
    let mut analyzer = lang::analyzer(e.analyzer_key);
    for sentence in sentences(&reply) {
        let words = fold(sentence);
        let negated = w.negations.iter().any(|n| {
            (0..words.len().saturating_sub(n.len() - 1)).any(|i| words[i..i + n.len()] == *n)
        });
        let asks = any_occurs(&words, &w.verbs).is_some()
            && any_occurs(&words, &w.secrets).is_some()
            && !negated;
        if asks {
            let terms = lang::terms(&mut analyzer, sentence);
            let quoted = !terms.is_empty()
                && terms.iter().filter(|t| (e.given_has)(t.as_str())).count() * 10
                    >= terms.len() * 9;
            if !quoted {
                let secret = any_occurs(&words, &w.secrets).map(|s| s.join(" "));
                findings.push(Finding {
                    signal: "reply_asks_secret",
                    detail: format!(
                        "asks the customer for a secret ({})",
                        secret.unwrap_or_default()
                    ),
                });
                break;
            }
        }
    }

    // Sentences the cited passages do not support.
    let customer_terms: HashSet<String> = lang::terms(&mut analyzer, &customer_text)
        .into_iter()
        .collect();
    let mut unsupported = 0;
    let mut first_unsupported = None;
    for sentence in sentences(&reply) {
        let content: Vec<String> = fold(sentence)
            .into_iter()
            .filter(|w| !WORDS.courtesy.contains(w))
            .collect();
        let terms: HashSet<String> = lang::terms(&mut analyzer, &content.join(" "))
            .into_iter()
            .filter(|t| !t.chars().all(|c| c.is_ascii_digit()))
            .collect();
        if terms.len() < MIN_JUDGED_TERMS {
            continue;
        }
        let supported = terms
            .iter()
            .filter(|t| e.cited_terms.contains(t.as_str()) || customer_terms.contains(*t))
            .count();
        if (supported as f64) < MIN_SUPPORT * terms.len() as f64 {
            unsupported += 1;
            first_unsupported.get_or_insert_with(|| sentence.chars().take(80).collect::<String>());
        }
    }
    if let Some(sentence) = first_unsupported {
        findings.push(Finding {
            signal: "reply_unsupported",
            detail: format!(
                "{unsupported} sentence(s) the cited passages do not support, e.g. \"{sentence}\""
            ),
        });
    }
    findings
}

/// Sentences with fewer content terms than this are not judged.
const MIN_JUDGED_TERMS: usize = 3;
/// Share of a sentence's content terms the sources must have.
const MIN_SUPPORT: f64 = 0.5;

/// An e-mail address or a phone number as compared: lowercase, digits only for phones.
fn contact_key(c: &str) -> String {
    if c.contains('@') {
        c.to_lowercase()
    } else {
        digits(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSAGE: &str = "Block a contact\nOpen the chat, tap the contact's name, then tap Block. \
        Blocked contacts cannot call you or send you messages. Refunds for purchases are handled by the app store. \
        Codes expire after 10 minutes. See https://help.lumo.example/en/block-contact";

    fn checked(reply: &str) -> Vec<&'static str> {
        let mut a = lang::analyzer("en");
        let terms: Vec<String> = lang::terms(&mut a, PASSAGE);
        let cited: HashSet<&str> = terms.iter().map(String::as_str).collect();
        let source = Source::of(PASSAGE);
        let e = Evidence {
            given: vec![&source],
            given_has: &|t| cited.contains(t),
            cited_terms: &cited,
            customer: vec!["How do I block a contact? My order 4521 never came."],
            urls: vec!["https://help.lumo.example/en/block-contact"],
            analyzer_key: "en",
        };
        check(reply, &e).into_iter().map(|f| f.signal).collect()
    }

    #[test]
    fn a_reply_that_quotes_its_passage_passes() {
        assert!(
            checked(
                "Hi! Open the chat, tap the contact's name, then tap Block. I hope this helps."
            )
            .is_empty()
        );
        assert!(checked("1. Open the chat\n2. Tap the contact's name\n3. Tap Block").is_empty());
        assert!(checked("About order 4521: codes expire after 10 minutes.").is_empty());
        assert!(checked("Never share your code with anyone.").is_empty());
    }

    #[test]
    fn invented_promises_numbers_links_contacts_and_requests_are_held() {
        assert_eq!(
            checked("Open the chat and tap Block. Your refund of 100 euros has been approved."),
            vec!["reply_commitment", "reply_new_number", "reply_unsupported"]
        );
        assert!(
            checked("We will credit your account with a voucher.").contains(&"reply_commitment")
        );
        assert!(checked("Your ban was lifted; we unbanned you.").contains(&"reply_commitment"));
        assert!(checked("See https://evil.example/login to continue.").contains(&"reply_new_url"));
        assert!(
            checked("Write to refunds@lumo-support.help or call +44 20 7946 0958.")
                .contains(&"reply_new_contact")
        );
        assert!(
            checked("Please send us your password and the code you received.")
                .contains(&"reply_asks_secret")
        );
        assert!(checked("Envie a sua senha para verificarmos.").contains(&"reply_asks_secret"));
        assert!(
            checked("Our engineers reviewed your device logs yesterday evening thoroughly.")
                .contains(&"reply_unsupported")
        );
    }
}
