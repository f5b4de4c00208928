//! Text as the detectors see it: compatibility forms folded (NFKC: full-width
//! digits and letters become ASCII), every kind of space one space, every
//! dash one hyphen, invisible characters gone. Each character of the
//! normalized text remembers the original characters it came from, so a
//! span found in the normalized text maps back to the exact original span.

use unicode_normalization::UnicodeNormalization;

/// A normalized text and where each of its characters came from.
#[derive(Debug, Clone)]
pub struct Normalized {
    pub text: String,
    /// For each normalized character, in order: its byte offset in `text`
    /// and the byte range of the original character(s) it came from.
    chars: Vec<(usize, usize, usize)>,
}

/// Characters that show nothing and may hide inside a number or an address.
fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{180E}' | '\u{200B}'..='\u{200F}'
        | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{2069}'
        | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}')
}

fn is_dash(c: char) -> bool {
    matches!(
        c,
        '\u{2010}'..='\u{2015}' | '\u{2212}' | '\u{FE58}' | '\u{FE63}' | '\u{FF0D}' | '\u{2043}'
    )
}

/// Horizontal spaces other than the ASCII space and tab (no-break, thin,
/// narrow no-break, ideographic, ...).
fn is_other_space(c: char) -> bool {
    c != ' ' && c != '\t' && c != '\n' && c != '\r' && c.is_whitespace()
}

impl Normalized {
    pub fn new(original: &str) -> Normalized {
        let mut text = String::with_capacity(original.len());
        let mut chars = Vec::with_capacity(original.len());
        let mut buf = [0u8; 4];
        for (start, c) in original.char_indices() {
            let end = start + c.len_utf8();
            let mut push = |n: char, text: &mut String| {
                chars.push((text.len(), start, end));
                text.push(n);
            };
            if is_invisible(c) {
                continue;
            } else if is_other_space(c) {
                push(' ', &mut text);
            } else if is_dash(c) {
                push('-', &mut text);
            } else if c.is_ascii() || matches!(c, 'º' | 'ª') {
                // NFKC would make "nº" (número) the word "no".
                push(c, &mut text);
            } else {
                for n in c.encode_utf8(&mut buf).nfkc() {
                    if is_other_space(n) {
                        push(' ', &mut text);
                    } else if is_dash(n) {
                        push('-', &mut text);
                    } else {
                        push(n, &mut text);
                    }
                }
            }
        }
        Normalized { text, chars }
    }

    /// The original byte range of the normalized byte range `[start, end)`
    /// (both on character boundaries of `text`).
    pub fn original_span(&self, start: usize, end: usize) -> (usize, usize) {
        let first = self.chars.partition_point(|(at, _, _)| *at < start);
        let last = self.chars.partition_point(|(at, _, _)| *at < end);
        match (
            self.chars.get(first),
            last.checked_sub(1).and_then(|i| self.chars.get(i)),
        ) {
            (Some(&(_, a, _)), Some(&(_, _, b))) if a <= b => (a, b),
            _ => (0, 0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_width_digits_spaces_and_dashes_fold_and_map_back() {
        let original = "tel ０５１\u{00A0}３２４\u{2013}７９５８\u{200B}!";
        let n = Normalized::new(original);
        assert_eq!(n.text, "tel 051 324-7958!");
        let start = n.text.find("051").unwrap();
        let end = n.text.find('!').unwrap();
        let (a, b) = n.original_span(start, end);
        assert_eq!(&original[a..b], "０５１\u{00A0}３２４\u{2013}７９５８");
    }

    #[test]
    fn plain_text_is_unchanged() {
        let n = Normalized::new("Olá, João! 4111 1111");
        assert_eq!(n.text, "Olá, João! 4111 1111");
        assert_eq!(n.original_span(13, 22), (13, 22));
    }
}
