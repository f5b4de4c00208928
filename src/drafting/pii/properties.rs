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
                Piece::Word(_) | Piece::Phone(_) => {}
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
