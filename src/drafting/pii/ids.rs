//! National identifiers: their shapes and check digits. A shape alone is
//! too common (nine digits are an order number as often as a tax number),
//! so each is confirmed by its checksum, and the ones whose checksum passes
//! for one number in ten are taken only after a word that names them.

use regex::Regex;
use std::sync::LazyLock;

/// One kind of national identifier.
pub struct IdScheme {
    pub name: &'static str,
    pattern: Regex,
    valid: fn(&str) -> bool,
    /// Words (lowercase, accents kept) one of which must come shortly before
    /// the number; empty: the shape and checksum are enough.
    cues: &'static [&'static str],
}

impl IdScheme {
    /// Byte spans of `text` (normalized) holding a valid identifier of this scheme.
    pub fn find(&self, text: &str, lower: &str) -> Vec<(usize, usize)> {
        self.pattern
            .find_iter(text)
            .filter(|m| (self.valid)(m.as_str()))
            .filter(|m| self.cues.is_empty() || cued(lower, m.start(), self.cues))
            .map(|m| (m.start(), m.end()))
            .collect()
    }
}

/// Whether one of `cues` ends within 48 bytes before `at`.
fn cued(lower: &str, at: usize, cues: &[&str]) -> bool {
    let mut from = at.saturating_sub(48);
    while !lower.is_char_boundary(from) {
        from -= 1;
    }
    let before = &lower[from..at];
    cues.iter().any(|c| before.contains(c))
}

fn digits(s: &str) -> Vec<u32> {
    s.chars().filter_map(|c| c.to_digit(10)).collect()
}

fn alnum_upper(s: &str) -> String {
    s.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

fn regex(pattern: &str) -> Regex {
    Regex::new(pattern).expect("identifier patterns are valid")
}

/// Brazilian CPF: two check digits (mod 11), not all digits alike.
pub fn cpf_valid(s: &str) -> bool {
    let d = digits(s);
    if d.len() != 11 || d.iter().all(|x| *x == d[0]) {
        return false;
    }
    let check = |n: usize| {
        let sum: u32 = (0..n).map(|i| d[i] * (n as u32 + 1 - i as u32)).sum();
        let r = (sum * 10) % 11;
        if r == 10 { 0 } else { r }
    };
    check(9) == d[9] && check(10) == d[10]
}

/// Brazilian CNPJ: two check digits (mod 11 with weights 2..9).
pub fn cnpj_valid(s: &str) -> bool {
    let d = digits(s);
    if d.len() != 14 || d.iter().all(|x| *x == d[0]) {
        return false;
    }
    let check = |n: usize| {
        let weights: Vec<u32> = (0..n).map(|i| 2 + ((n - 1 - i) % 8) as u32).collect();
        let sum: u32 = (0..n).map(|i| d[i] * weights[i]).sum();
        let r = sum % 11;
        if r < 2 { 0 } else { 11 - r }
    };
    check(12) == d[12] && check(13) == d[13]
}

/// Italian codice fiscale: 16 characters, the last a check letter.
pub fn codice_fiscale_valid(s: &str) -> bool {
    const ODD: [u32; 36] = [
        1, 0, 5, 7, 9, 13, 15, 17, 19, 21, // 0-9
        1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24,
        23, // A-Z
    ];
    let c = alnum_upper(s);
    if c.len() != 16 {
        return false;
    }
    let value = |ch: char| -> Option<usize> {
        match ch {
            '0'..='9' => Some(ch as usize - '0' as usize),
            'A'..='Z' => Some(10 + ch as usize - 'A' as usize),
            _ => None,
        }
    };
    let mut sum = 0u32;
    for (i, ch) in c.chars().take(15).enumerate() {
        let Some(v) = value(ch) else { return false };
        sum += if i % 2 == 0 {
            ODD[v]
        } else if v < 10 {
            v as u32
        } else {
            (v - 10) as u32
        };
    }
    let expected = (b'A' + (sum % 26) as u8) as char;
    c.ends_with(expected)
}

const DNI_LETTERS: &[u8] = b"TRWAGMYFPDXBNJZSQVHLCKE";

/// Spanish DNI: eight digits and the letter of their remainder mod 23.
pub fn dni_valid(s: &str) -> bool {
    let c = alnum_upper(s);
    let (num, letter) = c.split_at(c.len().saturating_sub(1));
    num.len() == 8
        && num.bytes().all(|b| b.is_ascii_digit())
        && num
            .parse::<usize>()
            .is_ok_and(|n| DNI_LETTERS[n % 23] == letter.as_bytes()[0])
}

/// Spanish NIE: X, Y or Z (0, 1, 2), seven digits, the DNI letter.
pub fn nie_valid(s: &str) -> bool {
    let c = alnum_upper(s);
    let Some(first) = c.chars().next() else {
        return false;
    };
    let prefix = match first {
        'X' => '0',
        'Y' => '1',
        'Z' => '2',
        _ => return false,
    };
    dni_valid(&format!("{prefix}{}", &c[1..]))
}

/// Portuguese NIF of a person (first digit 1, 2 or 3): mod 11 check digit.
pub fn nif_pt_valid(s: &str) -> bool {
    let d = digits(s);
    if d.len() != 9 || !matches!(d[0], 1..=3) {
        return false;
    }
    let sum: u32 = (0..8).map(|i| d[i] * (9 - i as u32)).sum();
    let r = 11 - sum % 11;
    let check = if r >= 10 { 0 } else { r };
    check == d[8]
}

/// French NIR (social security number): 13 characters and a key of 97
/// minus the number mod 97 (Corsica's 2A and 2B count as 19 and 18).
pub fn nir_valid(s: &str) -> bool {
    let c = alnum_upper(s);
    if c.len() != 15 || !matches!(c.as_bytes()[0], b'1' | b'2') {
        return false;
    }
    let (body, key) = c.split_at(13);
    let numeric = body.replace("2A", "19").replace("2B", "18");
    let (Ok(n), Ok(k)) = (numeric.parse::<u64>(), key.parse::<u64>()) else {
        return false;
    };
    97 - n % 97 == k
}

/// German tax id (Steuer-ID): eleven digits, the first not 0, one digit
/// repeated (two or three times) among the first ten, ISO 7064 MOD 11,10.
pub fn steuer_id_valid(s: &str) -> bool {
    let d = digits(s);
    if d.len() != 11 || d[0] == 0 {
        return false;
    }
    let mut counts = [0u8; 10];
    for x in &d[..10] {
        counts[*x as usize] += 1;
    }
    let repeated = counts.iter().filter(|c| **c >= 2).count();
    if repeated != 1 || counts.iter().any(|c| *c > 3) {
        return false;
    }
    let mut product = 10u32;
    for x in &d[..10] {
        let mut sum = (x + product) % 10;
        if sum == 0 {
            sum = 10;
        }
        product = (sum * 2) % 11;
    }
    let check = (11 - product) % 10;
    check == d[10]
}

/// US Social Security number: no area 000, 666 or 9xx, no group 00, no serial 0000.
pub fn ssn_valid(s: &str) -> bool {
    let d = digits(s);
    if d.len() != 9 {
        return false;
    }
    let area = d[0] * 100 + d[1] * 10 + d[2];
    let group = d[3] * 10 + d[4];
    let serial = d[5] * 1000 + d[6] * 100 + d[7] * 10 + d[8];
    area != 0 && area != 666 && area < 900 && group != 0 && serial != 0
}

/// UK National Insurance number: two letters (not D, F, I, Q, U, V; second
/// not O; not BG, GB, KN, NK, NT, TN, ZZ), six digits, A-D.
pub fn nino_valid(s: &str) -> bool {
    let c = alnum_upper(s);
    if c.len() != 9 {
        return false;
    }
    let b = c.as_bytes();
    let bad_first = b"DFIQUV";
    let bad_second = b"DFIQUVO";
    let prefix = &c[..2];
    b[0].is_ascii_uppercase()
        && b[1].is_ascii_uppercase()
        && !bad_first.contains(&b[0])
        && !bad_second.contains(&b[1])
        && !["BG", "GB", "KN", "NK", "NT", "TN", "ZZ"].contains(&prefix)
        && b[2..8].iter().all(u8::is_ascii_digit)
        && (b'A'..=b'D').contains(&b[8])
}

/// Every scheme the masker looks for, most distinctive first.
pub static SCHEMES: LazyLock<Vec<IdScheme>> = LazyLock::new(|| {
    vec![
        IdScheme {
            name: "codice fiscale",
            pattern: regex(
                r"(?i)\b[A-Z]{3} ?[A-Z]{3} ?[0-9LMNPQRSTUV]{2}[A-Z][0-9LMNPQRSTUV]{2} ?[A-Z][0-9LMNPQRSTUV]{3}[A-Z]\b",
            ),
            valid: codice_fiscale_valid,
            cues: &[],
        },
        IdScheme {
            name: "NIR",
            pattern: regex(r"\b[12] ?\d{2} ?\d{2} ?(?:\d{2}|2[AaBb]) ?\d{3} ?\d{3} ?\d{2}\b"),
            valid: nir_valid,
            cues: &[],
        },
        IdScheme {
            name: "CNPJ",
            pattern: regex(r"\b\d{2}[. ]?\d{3}[. ]?\d{3}[/ ]?\d{4}[- ]?\d{2}\b"),
            valid: cnpj_valid,
            cues: &[],
        },
        IdScheme {
            name: "CPF",
            pattern: regex(r"\b\d{3}[. ]?\d{3}[. ]?\d{3}[-. ]?\d{2}\b"),
            valid: cpf_valid,
            cues: &[],
        },
        IdScheme {
            name: "DNI",
            pattern: regex(r"(?i)\b\d{1,2}[.]?\d{3}[.]?\d{3}[-. ]?[A-Z]\b"),
            valid: dni_valid,
            cues: &[],
        },
        IdScheme {
            name: "NIE",
            pattern: regex(r"(?i)\b[XYZ][-. ]?\d{7}[-. ]?[A-Z]\b"),
            valid: nie_valid,
            cues: &[],
        },
        IdScheme {
            name: "National Insurance number",
            pattern: regex(r"(?i)\b[A-Z]{2} ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b"),
            valid: nino_valid,
            cues: &[],
        },
        IdScheme {
            name: "SSN",
            pattern: regex(r"\b\d{3}[- ]\d{2}[- ]\d{4}\b"),
            valid: ssn_valid,
            cues: &[],
        },
        IdScheme {
            name: "SSN",
            pattern: regex(r"\b\d{9}\b"),
            valid: ssn_valid,
            cues: &["ssn", "social security", "itin", "tax id", "taxpayer"],
        },
        IdScheme {
            name: "NIF",
            pattern: regex(r"\b\d{3} ?\d{3} ?\d{3}\b"),
            valid: nif_pt_valid,
            cues: &[
                "nif",
                "contribuinte",
                "fiscal",
                "tax number",
                "tax id",
                "vat",
            ],
        },
        IdScheme {
            name: "Steuer-ID",
            pattern: regex(r"\b\d{2} ?\d{3} ?\d{3} ?\d{3}\b"),
            valid: steuer_id_valid,
            cues: &[
                "steuer",
                "identifikationsnummer",
                "idnr",
                "finanzamt",
                "tax id",
                "tin",
            ],
        },
    ]
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_digits_accept_published_examples_and_refuse_a_changed_digit() {
        for (valid, good, bad) in [
            (
                cpf_valid as fn(&str) -> bool,
                "529.982.247-25",
                "529.982.247-26",
            ),
            (cnpj_valid, "11.222.333/0001-81", "11.222.333/0001-82"),
            (codice_fiscale_valid, "RSSMRA85T10A562S", "RSSMRA85T10A562T"),
            (dni_valid, "12345678Z", "12345678A"),
            (nie_valid, "X1234567L", "X1234567M"),
            (nif_pt_valid, "123456789", "123456788"),
            (nir_valid, "1 85 05 78 006 084 91", "1 85 05 78 006 084 36"),
            (steuer_id_valid, "86095742719", "86095742718"),
            (ssn_valid, "123-45-6789", "666-45-6789"),
            (nino_valid, "AB 12 34 56 C", "GB 12 34 56 C"),
        ] {
            assert!(valid(good), "{good}");
            assert!(!valid(bad), "{bad}");
        }
    }

    #[test]
    fn weak_checksums_need_a_cue_word() {
        let nif = SCHEMES.iter().find(|s| s.name == "NIF").unwrap();
        let cued = "o meu nif é 123456789";
        assert_eq!(nif.find(cued, cued).len(), 1);
        let order = "pedido 123456789 atrasado";
        assert!(nif.find(order, order).is_empty());
    }
}
