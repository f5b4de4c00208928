//! Finders for contact and payment data in normalized text (see
//! `normalize`): e-mail addresses, IBANs, payment cards and phone numbers.
//! Each returns byte spans of the normalized text. Patterns find candidates
//! generously (any separators, any grouping); validators (checksums,
//! libphonenumber's numbering plans) decide.

use regex::Regex;
use std::sync::LazyLock;

pub type Span = (usize, usize);

/// Local part and domain may hold any letters (accented, other scripts);
/// the top-level domain is letters.
static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?x)
        [\p{L}\p{M}\p{N}] [\p{L}\p{M}\p{N}._%+'\-]* @
        [\p{L}\p{M}\p{N}] (?:[\p{L}\p{M}\p{N}\-]* [\p{L}\p{M}\p{N}])?
        (?: \. [\p{L}\p{M}\p{N}] (?:[\p{L}\p{M}\p{N}\-]* [\p{L}\p{M}\p{N}])? )*
        \. \p{L}{2,24} \b",
    )
    .unwrap()
});

/// Addresses written to dodge a filter: "ana [at] mail [dot] com", "ana at mail dot com".
static SPELLED_EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?xi)
        \b [\p{L}\p{N}][\p{L}\p{N}._+\-]* \s* (?: [\[({<] \s* (?:at|arroba|chiocciola) \s* [\])}>] | \s (?:at|arroba|chiocciola) \s ) \s*
        [\p{L}\p{N}\-]+
        (?: \s* (?: [\[({<] \s* (?:dot|punto|ponto|point|punkt) \s* [\])}>] | \s (?:dot|punto|ponto|point|punkt) \s | \. ) \s* [\p{L}\p{N}\-]+ )*
        \s* (?: [\[({<] \s* (?:dot|punto|ponto|point|punkt) \s* [\])}>] | \s (?:dot|punto|ponto|point|punkt) \s | \. ) \s*
        (?:com|net|org|edu|gov|io|me|info|biz|co|br|pt|it|es|fr|de|uk|us|ch|at|be|nl|eu|mx|ar)\b",
    )
    .unwrap()
});

pub fn emails(text: &str) -> Vec<Span> {
    EMAIL
        .find_iter(text)
        .chain(SPELLED_EMAIL.find_iter(text))
        .map(|m| (m.start(), m.end()))
        .collect()
}

/// The start of an IBAN: a country code and two check digits.
static IBAN_START: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(?i)\b[a-z]{2}\d{2}").unwrap());

/// IBANs with a valid checksum, however grouped (spaces, dashes, dots) and
/// whatever follows them ("IBAN DE89 3704 0044 0532 0130 00 please refund").
pub fn ibans(text: &str) -> Vec<Span> {
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(m) = IBAN_START.find_at(text, from) {
        // Collect up to 34 characters, allowing one separator between two of them.
        let mut compact = String::with_capacity(34);
        let mut ends = Vec::with_capacity(34); // byte end of each collected character
        compact.push_str(&m.as_str().to_ascii_uppercase());
        for i in 0..4 {
            ends.push(m.start() + i + 1);
        }
        let mut i = m.end();
        while i < bytes.len() && compact.len() < 34 {
            let b = bytes[i];
            if b.is_ascii_alphanumeric() {
                compact.push(b.to_ascii_uppercase() as char);
                ends.push(i + 1);
                i += 1;
            } else if matches!(b, b' ' | b'-' | b'.')
                && i + 1 < bytes.len()
                && bytes[i + 1].is_ascii_alphanumeric()
                && bytes[i - 1].is_ascii_alphanumeric()
            {
                i += 1;
            } else {
                break;
            }
        }
        // The longest prefix that is a valid IBAN (15 to 34 characters).
        let valid = (15..=compact.len())
            .rev()
            .find(|n| compact[..*n].parse::<iban::Iban>().is_ok());
        match valid {
            Some(n) => {
                found.push((m.start(), ends[n - 1]));
                from = ends[n - 1];
            }
            None => from = m.end(),
        }
    }
    found
}

pub fn luhn(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| {
            let n = u32::from(*d);
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

/// Runs of digits in groups separated by up to two of space - . / _.
static DIGIT_RUN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\d(?:[ \-./_]{0,2}\d)*").unwrap());

/// Whether `[start, end)` stands alone: not glued to letters or digits, nor
/// joined to them by a dash, slash, underscore or dot ("JJD602866...",
/// "INV-2023-77746", "articles/360007218" are codes, not cards or phones).
fn stands_alone(text: &str, start: usize, end: usize) -> bool {
    let mut before = text[..start].chars().rev();
    let mut after = text[end..].chars();
    let joined = |c: Option<char>, next: Option<char>| match c {
        Some(c) if c.is_alphanumeric() => true,
        Some('-' | '/' | '_' | '.') => next.is_some_and(char::is_alphanumeric),
        _ => false,
    };
    let (b1, b2) = (before.next(), before.next());
    let (a1, a2) = (after.next(), after.next());
    !joined(b1, b2) && !joined(a1, a2)
}

/// Web addresses: numbers inside them are ids, not personal data.
static URL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)(?:https?://|www\.)\S+|\b[a-z0-9-]+(?:\.[a-z0-9-]+)+\.[a-z]{2,}/\S*").unwrap()
});

pub fn urls(text: &str) -> Vec<Span> {
    URL.find_iter(text).map(|m| (m.start(), m.end())).collect()
}

/// Something shaped like an IBAN whose checksum fails (a form's example, a
/// reference): no part of it is a card or a phone number.
static IBAN_SHAPE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b[a-z]{2}\d{2}(?:[ ]?[a-z0-9]{4}){2,7}(?:[ ]?[a-z0-9]{1,4})?\b").unwrap()
});

pub fn iban_shapes(text: &str) -> Vec<Span> {
    IBAN_SHAPE
        .find_iter(text)
        .filter(|m| m.as_str().bytes().filter(u8::is_ascii_digit).count() >= 8)
        .map(|m| (m.start(), m.end()))
        .collect()
}

/// Payment cards: 13 to 19 digits passing Luhn, starting with 2-6 (the
/// payment networks), beginning and ending on a group boundary of a run.
/// A run may hold more than a card ("4111 1111 1111 1111 0", two cards).
pub fn cards(text: &str) -> Vec<Span> {
    let mut found = Vec::new();
    for run in DIGIT_RUN.find_iter(text) {
        let s = run.as_str();
        let positions: Vec<(usize, u8)> = s
            .bytes()
            .enumerate()
            .filter(|(_, b)| b.is_ascii_digit())
            .map(|(i, b)| (i, b - b'0'))
            .collect();
        if positions.len() < 13 {
            continue;
        }
        let bytes = s.as_bytes();
        let starts_group = |k: usize| k == 0 || !bytes[positions[k].0 - 1].is_ascii_digit();
        let ends_group = |k: usize| {
            let after = positions[k].0 + 1;
            after >= bytes.len() || !bytes[after].is_ascii_digit()
        };
        let mut k = 0;
        'starts: while k < positions.len() {
            if starts_group(k) && (2..=6).contains(&positions[k].1) {
                for len in (13..=19).rev() {
                    let j = k + len - 1;
                    if j >= positions.len() || !ends_group(j) {
                        continue;
                    }
                    let number: Vec<u8> = positions[k..=j].iter().map(|p| p.1).collect();
                    let (a, b) = (
                        run.start() + positions[k].0,
                        run.start() + positions[j].0 + 1,
                    );
                    if luhn(&number) && stands_alone(text, a, b) {
                        found.push((a, b));
                        k = j + 1;
                        continue 'starts;
                    }
                }
            }
            k += 1;
        }
    }
    found
}

/// Phone-number candidates: an optional + or 00, then digits with spaces,
/// dashes, dots, slashes, underscores and parentheses between them.
static PHONE_CANDIDATE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:(?:\(\s*\+\s*\d{1,3}\s*\)|\+|\b00)\s?)?\(?\d(?:[ \-./_()]{0,3}\d){5,19}")
        .unwrap()
});

/// Words (or their beginnings) that say what a number right after them is,
/// when it is not a phone number: an order, an invoice, a ticket, a version...
const NOT_PHONE_CUES: &[&str] = &[
    "order",
    "pedido",
    "encomenda",
    "ordine",
    "commande",
    "bestell",
    "invoice",
    "fatura",
    "fattura",
    "factura",
    "facture",
    "rechnung",
    "ticket",
    "case",
    "caso",
    "vorgang",
    "tracking",
    "rastreio",
    "seguimiento",
    "spedizione",
    "suivi",
    "sendung",
    "ref",
    "réf",
    "build",
    "version",
    "versão",
    "versione",
    "versión",
    "code",
    "código",
    "codice",
    "error",
    "erro",
    "errore",
    "erreur",
    "fehler",
    "iban",
    "nif",
    "cpf",
    "ssn",
    "steuer",
    "cnpj",
    "dossier",
    "protocol",
    "chamado",
    "segnalazione",
    "demande",
    "kundennummer",
    "artikel",
    "article",
    "artigo",
    "articolo",
    "artículo",
    "item",
    "receipt",
    "recibo",
    "ricevuta",
    "reçu",
    "quittung",
    "transaction",
    "transação",
    "transazione",
    "transacción",
    "lote",
    "lotto",
    "serial",
    "série",
    "serie",
    "imei",
    "modelo",
    "model",
    "modèle",
];

/// What stands right before a reference number: "nº 30710568", "# 48213".
const NUMBER_SIGNS: &[&str] = &["nº", "n°", "no.", "nr", "nr.", "n.", "num", "núm", "#"];

/// Dates, times, versions and amounts that look like digit groups.
static NOT_PHONE_SHAPE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?x)^(?:
          \d{1,4}[./-]\d{1,2}[./-]\d{1,4}              # dates
        | \d{1,2}[:.]\d{2}(?:[:.]\d{2})?               # times
        | v?\d{1,3}(?:\.\d{1,3}){1,3}                  # versions, IPv4
        )$",
    )
    .unwrap()
});

/// Dates, times, versions, IP addresses, and references that begin with a
/// year ("2023-0475-0010", "2023/8250").
fn looks_like_a_reference(candidate: &str) -> bool {
    static YEAR_FIRST: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^(?:19[89]\d|20[0-4]\d)[\-/._]\d").unwrap());
    NOT_PHONE_SHAPE.is_match(candidate) || YEAR_FIRST.is_match(candidate)
}

/// Regions tried for numbers written without a country code: the countries
/// of the supported languages first.
const REGIONS: &[phonenumber::country::Id] = {
    use phonenumber::country::Id::*;
    &[
        US, GB, BR, PT, IT, ES, FR, DE, MX, AR, CO, CL, CA, AU, IE, IN, BE, CH, AT, NL,
    ]
};

fn valid_number(number: &str, region: Option<phonenumber::country::Id>) -> bool {
    phonenumber::parse(region, number).is_ok_and(|n| phonenumber::is_valid(&n))
}

/// Phone numbers valid in libphonenumber's plans: international ones as
/// written, national ones in the locale's region or a supported language's
/// (at least 8 digits then, so short figures stay readable; 7 after a word
/// such as "phone").
pub fn phones(text: &str, lower: &str, region: Option<phonenumber::country::Id>) -> Vec<Span> {
    let mut found = Vec::new();
    for m in PHONE_CANDIDATE.find_iter(text) {
        let (start, mut end) = (m.start(), m.end());
        // A trailing separator or parenthesis is not part of the number.
        while end > start && !text.as_bytes()[end - 1].is_ascii_digit() {
            end -= 1;
        }
        let candidate = &text[start..end];
        if !stands_alone(text, start, end) {
            continue;
        }
        let digits: String = candidate.chars().filter(char::is_ascii_digit).collect();
        if !(7..=15).contains(&digits.len()) {
            continue;
        }
        let before = {
            let mut from = start.saturating_sub(40);
            while !lower.is_char_boundary(from) {
                from -= 1;
            }
            &lower[from..start]
        };
        // The last three words before the number.
        let words: Vec<&str> = before
            .split(|c: char| c.is_whitespace() || matches!(c, ':' | ',' | '(' | ')'))
            .filter(|w| !w.is_empty())
            .rev()
            .take(3)
            .collect();
        let phone_word = words
            .iter()
            .any(|w| PHONE_CUES.iter().any(|c| w.starts_with(c)));
        let other_number = !phone_word
            && (words.iter().any(|w| {
                NOT_PHONE_CUES
                    .iter()
                    .any(|c| w.trim_start_matches('#').starts_with(c))
            }) || words.first().is_some_and(|w| NUMBER_SIGNS.contains(w))
                || before.trim_end().ends_with('#'));
        if other_number || (!phone_word && looks_like_a_reference(candidate)) {
            continue;
        }
        let trimmed = candidate.trim_start_matches(['(', ' ']);
        let international = trimmed.starts_with('+') || candidate.starts_with("00");
        let ok = if international {
            // "+44 (0)20 ..." writes the trunk prefix that international form drops.
            let without_trunk = candidate.replace("(0)", "");
            let d: String = without_trunk.chars().filter(char::is_ascii_digit).collect();
            let d = if !trimmed.starts_with('+') {
                d.strip_prefix("00").unwrap_or(&d).to_string()
            } else {
                d
            };
            valid_number(&format!("+{d}"), None)
        } else {
            let min_digits = if phone_word { 7 } else { 8 };
            digits.len() >= min_digits
                && (region.is_some_and(|r| valid_number(&digits, Some(r)))
                    || REGIONS.iter().any(|r| valid_number(&digits, Some(*r))))
        };
        if ok {
            found.push((start, end));
        }
    }
    found
}

/// Words that announce a phone number.
const PHONE_CUES: &[&str] = &[
    "phone",
    "call",
    "tel",
    "mobile",
    "cell",
    "whatsapp",
    "number",
    "telefone",
    "celular",
    "número",
    "numero",
    "ligue",
    "telefono",
    "cellulare",
    "chiama",
    "teléfono",
    "móvil",
    "llam",
    "téléphone",
    "portable",
    "numéro",
    "appel",
    "telefon",
    "handy",
    "nummer",
    "anruf",
    "erreich",
    "joindre",
    "contatt",
    "contact",
];

#[cfg(test)]
mod tests;
