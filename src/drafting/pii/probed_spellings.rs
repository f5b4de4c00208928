use super::*;

fn hidden(text: &str, secret: &str, locale: &str) {
    let m = mask(text, locale);
    assert!(!m.text.contains(secret), "{secret:?} leaked: {:?}", m.text);
    assert_eq!(unmask(&m.text, &m), text, "round trip");
}

#[test]
fn every_probed_spelling_is_masked() {
    for (text, secret, locale) in [
        ("IBAN GB82WEST12345698765432 please", "12345698765432", "en"),
        (
            "refund to NL91ABNA0417164300 thanks a lot",
            "0417164300",
            "en",
        ),
        ("card 4111.1111.1111.1111 ok", "4111.1111.1111.1111", "en"),
        ("card 4111/1111/1111/1111", "4111/1111/1111/1111", "en"),
        ("card 4111  1111  1111  1111", "1111  1111", "en"),
        (
            "card 4111\u{a0}1111\u{a0}1111\u{a0}1111",
            "1111\u{a0}1111",
            "en",
        ),
        (
            "card ４１１１ １１１１ １１１１ １１１１",
            "１１１１ １１１１",
            "en",
        ),
        ("call +39 312/345/6789", "345/6789", "it"),
        ("call +39 312\u{2013}345\u{2013}6789", "6789", "it"),
        ("call +39_312_345_6789", "345_6789", "it"),
        ("call +39\u{a0}312\u{a0}345\u{a0}6789", "6789", "it"),
        (
            "chiamami al ＋３９ ３１２ ３４５ ６７８９",
            "６７８９",
            "it",
        ),
        ("my number is 2 0 2 5 5 5 0 1 7 3", "5 5 5 0 1 7 3", "en"),
        ("write to joão.gonçalves@exemplo.com.br", "gonçalves", "pt"),
        ("write to info@müller-bäckerei.de", "müller-bäckerei", "de"),
        ("codice fiscale RSS MRA 85T10 A562S", "A562S", "it"),
        (
            "my name is Priya Raghunathan and I can't log in",
            "Raghunathan",
            "en",
        ),
        (
            "meu nome é Fernanda Albuquerque, preciso de ajuda",
            "Albuquerque",
            "pt",
        ),
        ("mi chiamo Lorenzo Bianchi, ho un problema", "Bianchi", "it"),
        ("me llamo Carmen Vidal y no puedo entrar", "Vidal", "es"),
        ("je m'appelle Hélène Dubois", "Dubois", "fr"),
        ("ich heiße Karl Brandt", "Brandt", "de"),
    ] {
        hidden(text, secret, locale);
    }
}

#[test]
fn context_keys_and_personal_context_values_are_masked() {
    let r = mask_request(
        "hi",
        &[],
        &[
            ("customer_name", "Priya Raghunathan"),
            ("ana@example.com", "primary"),
            ("wa_id", "5511987654321"),
            ("os", "Android 14"),
        ],
        "en",
    );
    let flat = format!("{:?}", r.context);
    for secret in ["Raghunathan", "ana@example.com", "5511987654321"] {
        assert!(!flat.contains(secret), "{secret} leaked: {flat}");
    }
    assert!(flat.contains("Android 14"), "{flat}");
    assert_eq!(unmask(&r.context[0].1, &r.table), "Priya Raghunathan");
}

#[test]
fn look_alikes_are_left_alone() {
    for text in [
        "App version 2.24.1 on Android 14, 3 GB free, code 123456, order 2024",
        "order #A-10023 of 15/03/2024 for €1.299,00",
        "ticket 2024-0473-0412, build 2410075, error 0x80070005",
        "see https://help.example.com/articles/360007218 and KB-1042",
        "my name is wrong on the invoice",
        "I'm unable to pay 1,299.00 USD on 2024-03-15 at 14:30",
    ] {
        assert_eq!(mask(text, "en").text, text);
    }
}
