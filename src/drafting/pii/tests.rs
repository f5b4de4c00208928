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
