//! Personal data stays home: before anything leaves for an LLM, e-mail
//! addresses, phone numbers, payment card numbers, IBANs and national ids are
//! replaced by stable placeholders (`[EMAIL_1]`, `[PHONE_1]`, …); the model's
//! answer gets the originals back where it used the placeholders. Phone
//! numbers are confirmed with libphonenumber's metadata (`phonenumber`),
//! IBANs with their checksum (`iban_validate`), cards with Luhn.

use regex::Regex;
use std::sync::LazyLock;

/// What was masked: placeholder -> original, in order of first appearance.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Masked {
    pub text: String,
    pub entities: Vec<(String, String)>,
}

impl Masked {
    /// Counts of masked items per kind, e.g. [("EMAIL", 1), ("PHONE", 2)].
    pub fn kinds(&self) -> Vec<(String, usize)> {
        let mut out: Vec<(String, usize)> = Vec::new();
        for (placeholder, _) in &self.entities {
            let kind = placeholder
                .trim_matches(['[', ']'])
                .rsplit_once('_')
                .map(|(k, _)| k)
                .unwrap_or("")
                .to_string();
            match out.iter_mut().find(|(k, _)| *k == kind) {
                Some((_, n)) => *n += 1,
                None => out.push((kind, 1)),
            }
        }
        out
    }
}

static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)[a-z0-9._%+\-]+@[a-z0-9\-]+(?:\.[a-z0-9\-]+)*\.[a-z]{2,}").unwrap()
});
static IBAN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)\b[a-z]{2}\d{2}(?:[ ]?[a-z0-9]){11,30}\b").unwrap());
/// A run of digits in groups; the card numbers inside are found by `card_span`.
static CARD: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\b\d(?:[ \-]?\d){12,}\b").unwrap());
static PHONE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?:\+|\b00|\b)\d[\d \-().]{5,20}\d\b").unwrap());
/// Brazilian CPF (000.000.000-00) and Italian codice fiscale.
static NATIONAL_ID: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b\d{3}\.\d{3}\.\d{3}-\d{2}\b|\b[a-z]{6}\d{2}[a-z]\d{2}[a-z]\d{3}[a-z]\b")
        .unwrap()
});

/// Regions tried for numbers written without a country code.
const REGIONS: &[phonenumber::country::Id] = {
    use phonenumber::country::Id::*;
    &[US, BR, IT, PT, GB, ES, FR, DE, IN, MX]
};

fn digits(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

pub fn luhn_valid(number: &str) -> bool {
    let d = digits(number);
    if !(13..=19).contains(&d.len()) {
        return false;
    }
    let sum: u32 = d
        .chars()
        .rev()
        .enumerate()
        .map(|(i, c)| {
            let n = c.to_digit(10).unwrap_or(0);
            if i % 2 == 1 {
                let x = n * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                n
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// The first card number (13-19 digits passing Luhn, starting and ending at a
/// digit-group boundary) in a run of digit groups, as a byte range. A run can
/// hold more than a card: "card 4111 1111 1111 1111 0" or two cards in a row.
fn card_span(run: &str) -> Option<(usize, usize)> {
    let digits: Vec<(usize, u8)> = run
        .bytes()
        .enumerate()
        .filter(|(_, b)| b.is_ascii_digit())
        .collect();
    let bytes = run.as_bytes();
    let starts_group = |i: usize| i == 0 || !bytes[digits[i].0 - 1].is_ascii_digit();
    let ends_group = |j: usize| {
        let after = digits[j].0 + 1;
        after >= bytes.len() || !bytes[after].is_ascii_digit()
    };
    for i in (0..digits.len()).filter(|&i| starts_group(i)) {
        for len in (13..=19).rev() {
            let j = i + len - 1;
            if j >= digits.len() || !ends_group(j) {
                continue;
            }
            let number: String = digits[i..=j].iter().map(|&(_, d)| d as char).collect();
            if luhn_valid(&number) {
                return Some((digits[i].0, digits[j].0 + 1));
            }
        }
    }
    None
}

fn whole(accept: impl Fn(&str) -> bool) -> impl Fn(&str) -> Option<(usize, usize)> {
    move |candidate| accept(candidate).then_some((0, candidate.len()))
}

fn is_iban(candidate: &str) -> bool {
    let compact: String = candidate
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_uppercase();
    compact.parse::<iban::Iban>().is_ok()
}

fn is_phone(candidate: &str, region: Option<phonenumber::country::Id>) -> bool {
    let d = digits(candidate);
    if !(7..=15).contains(&d.len()) {
        return false;
    }
    let trimmed = candidate.trim();
    let international = trimmed.starts_with('+') || trimmed.starts_with("00");
    if international {
        let normalized = format!(
            "+{}",
            d.strip_prefix("00")
                .filter(|_| trimmed.starts_with("00"))
                .unwrap_or(&d)
        );
        return phonenumber::parse(None, &normalized).is_ok_and(|n| phonenumber::is_valid(&n));
    }
    let valid_in = |id: phonenumber::country::Id| {
        phonenumber::parse(Some(id), trimmed).is_ok_and(|n| phonenumber::is_valid(&n))
    };
    if let Some(id) = region
        && valid_in(id)
    {
        return true;
    }
    // Without a country code, only longer numbers are taken for phones, so
    // short figures (amounts, versions, codes) stay readable.
    d.len() >= 9 && REGIONS.iter().any(|id| valid_in(*id))
}

/// The phone region a locale implies ("pt-BR" -> BR), if any.
pub fn region_of(locale: &str) -> Option<phonenumber::country::Id> {
    let region = locale.split(['-', '_']).nth(1)?.to_ascii_uppercase();
    region.parse().ok()
}

struct Masker {
    entities: Vec<(String, String)>,
    counters: Vec<(&'static str, usize)>,
}

impl Masker {
    fn placeholder(&mut self, kind: &'static str, original: &str) -> String {
        let original = original.trim().to_string();
        if let Some((p, _)) = self.entities.iter().find(|(_, o)| *o == original) {
            return p.clone();
        }
        let n = match self.counters.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, n)) => {
                *n += 1;
                *n
            }
            None => {
                self.counters.push((kind, 1));
                1
            }
        };
        let p = format!("[{kind}_{n}]");
        self.entities.push((p.clone(), original));
        p
    }

    /// Replaces what `find` picks (a byte range) in each match of `re`, as
    /// many times as it finds something in the rest of the match.
    fn replace(
        &mut self,
        text: &str,
        re: &Regex,
        kind: &'static str,
        find: impl Fn(&str) -> Option<(usize, usize)>,
    ) -> String {
        let mut out = String::with_capacity(text.len());
        let mut last = 0;
        for m in re.find_iter(text) {
            let s = m.as_str();
            // Leading/trailing spaces or brackets the pattern swallowed stay in the text.
            let core = s.trim_matches(|c: char| {
                c.is_whitespace() || c == '(' || c == ')' || c == '.' || c == '-'
            });
            if core.is_empty() {
                continue;
            }
            let core_start = m.start() + s.find(core).unwrap_or(0);
            let mut searched = 0;
            while let Some((a, b)) = find(&core[searched..]) {
                let (start, end) = (core_start + searched + a, core_start + searched + b);
                out.push_str(&text[last..start]);
                out.push_str(&self.placeholder(kind, &text[start..end]));
                last = end;
                searched += b;
                if searched >= core.len() {
                    break;
                }
            }
        }
        out.push_str(&text[last..]);
        out
    }
}

/// Masks personal data in `text`; `locale` (e.g. "pt-BR") helps with local phone numbers.
pub fn mask(text: &str, locale: &str) -> Masked {
    mask_all(&[text], locale).pop().unwrap_or_default()
}

/// Masks several texts with one placeholder table, so the same e-mail in the
/// message and in the history gets the same placeholder. Every returned item
/// carries the whole table.
pub fn mask_all(texts: &[&str], locale: &str) -> Vec<Masked> {
    let region = region_of(locale);
    let mut m = Masker {
        entities: Vec::new(),
        counters: Vec::new(),
    };
    let masked: Vec<String> = texts
        .iter()
        .map(|t| {
            let t = m.replace(t, &EMAIL, "EMAIL", whole(|_| true));
            let t = m.replace(&t, &IBAN, "IBAN", whole(is_iban));
            let t = m.replace(&t, &CARD, "CARD", card_span);
            let t = m.replace(&t, &NATIONAL_ID, "ID", whole(|_| true));
            m.replace(&t, &PHONE, "PHONE", whole(|c| is_phone(c, region)))
        })
        .collect();
    masked
        .into_iter()
        .map(|text| Masked {
            text,
            entities: m.entities.clone(),
        })
        .collect()
}

/// Puts the originals back where a text uses the placeholders.
pub fn unmask(text: &str, masked: &Masked) -> String {
    let mut out = text.to_string();
    for (placeholder, original) in &masked.entities {
        out = out.replace(placeholder, original);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_card_number_is_found_inside_a_longer_run_of_digits() {
        for text in [
            "card 4111 1111 1111 1111 0 please",
            "ref 1234 4111 1111 1111 1111",
            "4111 1111 1111 1111 5500 0000 0000 0004",
        ] {
            let m = mask(text, "en");
            assert!(
                !m.text.contains("4111 1111 1111 1111"),
                "{text} -> {}",
                m.text
            );
            assert_eq!(unmask(&m.text, &m), text);
        }
        let two = mask("4111 1111 1111 1111 5500 0000 0000 0004", "en");
        assert_eq!(two.text, "[CARD_1] [CARD_2]");
        assert_eq!(
            mask("order 1234 5678 9012 3456 7", "en").text,
            "order 1234 5678 9012 3456 7"
        );
    }

    #[test]
    fn emails_phones_cards_and_ibans_are_masked() {
        let text = "I'm ana.silva+lumo@example.com.br, call +55 11 98765-4321 or +39 312 345 6789. \
                    Card 4111 1111 1111 1111, IBAN IT60 X054 2811 1010 0000 0123 456.";
        let m = mask(text, "en");
        for secret in ["ana.silva", "98765", "312 345", "4111", "X054"] {
            assert!(!m.text.contains(secret), "{secret} leaked: {}", m.text);
        }
        assert!(
            m.text.contains("[EMAIL_1]")
                && m.text.contains("[PHONE_1]")
                && m.text.contains("[PHONE_2]")
        );
        assert!(
            m.text.contains("[CARD_1]") && m.text.contains("[IBAN_1]"),
            "{}",
            m.text
        );
        assert_eq!(unmask(&m.text, &m), text);
    }

    #[test]
    fn a_local_number_is_masked_with_the_locale_region() {
        let m = mask("meu numero e (11) 98765-4321", "pt-BR");
        assert!(m.text.contains("[PHONE_1]"), "{}", m.text);
    }

    #[test]
    fn ordinary_figures_are_left_alone() {
        let text = "App version 2.24.1 on Android 14, 3 GB free, code 123456, order 2024";
        assert_eq!(mask(text, "en").text, text);
    }

    #[test]
    fn a_card_number_that_fails_luhn_is_not_a_card() {
        assert!(luhn_valid("4111111111111111"));
        assert!(!luhn_valid("4111111111111112"));
        assert!(!mask("ref 4111 1111 1111 1112", "en").text.contains("[CARD"));
    }

    #[test]
    fn the_same_value_gets_the_same_placeholder_across_texts() {
        let all = mask_all(&["write to a@b.io", "a@b.io again, or c@d.io"], "en");
        assert_eq!(all[0].text, "write to [EMAIL_1]");
        assert_eq!(all[1].text, "[EMAIL_1] again, or [EMAIL_2]");
    }

    #[test]
    fn national_ids_are_masked() {
        let m = mask("CPF 123.456.789-09 e codice RSSMRA85T10A562S", "pt");
        assert!(
            !m.text.contains("123.456") && !m.text.contains("RSSMRA"),
            "{}",
            m.text
        );
    }

    #[test]
    fn kinds_are_counted() {
        let m = mask("a@b.io c@d.io +44 20 7946 0958", "en");
        assert_eq!(
            m.kinds(),
            vec![("EMAIL".to_string(), 2), ("PHONE".to_string(), 1)]
        );
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    /// A Luhn-valid 16-digit card number from 15 digits.
    fn card() -> impl Strategy<Value = String> {
        proptest::collection::vec(0u32..10, 15).prop_map(|mut d| {
            d[0] = 4;
            let sum: u32 = d
                .iter()
                .rev()
                .enumerate()
                .map(|(i, &x)| {
                    if i % 2 == 0 {
                        let y = x * 2;
                        if y > 9 { y - 9 } else { y }
                    } else {
                        x
                    }
                })
                .sum();
            d.push((10 - sum % 10) % 10);
            let s: String = d
                .iter()
                .map(|x| char::from_digit(*x, 10).unwrap())
                .collect();
            format!("{} {} {} {}", &s[0..4], &s[4..8], &s[8..12], &s[12..16])
        })
    }

    fn email() -> impl Strategy<Value = String> {
        "[a-z][a-z0-9._]{0,10}[a-z0-9]@[a-z]{2,8}\\.(com|com\\.br|it|org)"
    }

    #[derive(Debug, Clone)]
    enum Piece {
        Word(String),
        Email(String),
        Card(String),
        Phone(String),
    }

    fn piece() -> impl Strategy<Value = Piece> {
        prop_oneof![
            4 => "\\PC{0,12}".prop_map(Piece::Word),
            1 => email().prop_map(Piece::Email),
            1 => card().prop_map(Piece::Card),
            1 => "\\+(39 3[0-9]{2} [0-9]{3} [0-9]{4}|55 11 9[0-9]{4}-[0-9]{4}|1 [2-9][0-9]{2} [2-9][0-9]{2} [0-9]{4})".prop_map(Piece::Phone),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn masking_round_trips_and_hides_every_email_and_card(
            pieces in proptest::collection::vec(piece(), 0..12),
            locale in "(en|pt-BR|it|de|xx|)",
        ) {
            let text = pieces
                .iter()
                .map(|p| match p { Piece::Word(s) | Piece::Email(s) | Piece::Card(s) | Piece::Phone(s) => s.as_str() })
                .collect::<Vec<_>>()
                .join(" ");
            prop_assume!(!text.contains('['));
            let m = mask(&text, &locale);
            prop_assert_eq!(unmask(&m.text, &m), text.clone(), "placeholders round-trip");
            for p in &pieces {
                match p {
                    Piece::Email(e) => prop_assert!(!m.text.contains(e.as_str()), "{} leaked in {}", e, m.text),
                    Piece::Card(c) => prop_assert!(!m.text.contains(c.as_str()), "{} leaked in {}", c, m.text),
                    _ => {}
                }
            }
            // Every placeholder is distinct and names what it hides.
            let mut seen = std::collections::HashSet::new();
            for (placeholder, original) in &m.entities {
                prop_assert!(seen.insert(placeholder.clone()));
                prop_assert!(text.contains(original.as_str()));
            }
        }

        #[test]
        fn any_text_masks_without_panicking(text in "\\PC{0,300}", locale in "\\PC{0,8}") {
            let m = mask(&text, &locale);
            if !text.contains('[') {
                prop_assert_eq!(unmask(&m.text, &m), text);
            }
        }
    }
}
