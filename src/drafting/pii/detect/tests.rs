use super::*;

fn found(spans: Vec<Span>, text: &str) -> Vec<String> {
    spans
        .into_iter()
        .map(|(a, b)| text[a..b].to_string())
        .collect()
}

#[test]
fn an_iban_stops_where_its_checksum_says() {
    let t = "IBAN DE89 3704 0044 0532 0130 00 please refund, or de89370400440532013000merci";
    assert_eq!(
        found(ibans(t), t),
        vec!["DE89 3704 0044 0532 0130 00", "de89370400440532013000"]
    );
}

#[test]
fn cards_hide_behind_any_separator() {
    for t in [
        "4111.1111.1111.1111",
        "4111/1111/1111/1111",
        "4111  1111  1111  1111",
        "4111_1111_1111_1111",
        "card 4111-1111-1111-1111.",
    ] {
        assert_eq!(found(cards(t), t).len(), 1, "{t}");
    }
    assert!(cards("ref 4111 1111 1111 1112").is_empty());
    assert!(cards("JJD4111111111111111").is_empty(), "glued to letters");
}

#[test]
fn phones_with_odd_separators_are_found_and_figures_are_not() {
    for t in [
        "+39 312/345/6789",
        "+39 312_345_6789",
        "0039 312 345 6789",
        "+44 (0)20 7946 0958",
        "(11) 98765-4321",
        "3 1 2 3 4 5 6 7 8 9",
    ] {
        let lower = t.to_lowercase();
        assert_eq!(found(phones(t, &lower, None), t).len(), 1, "{t}");
    }
    for t in [
        "order 4521987634",
        "15.03.2024",
        "2024-03-15",
        "version 2.24.1",
        "192.168.10.200",
        "build 2410075",
    ] {
        let lower = t.to_lowercase();
        assert!(phones(t, &lower, None).is_empty(), "{t}");
    }
}

#[test]
fn emails_in_any_script_and_spelled_out() {
    for t in [
        "josé.gonçalves@exemplo.com.br",
        "info@bücher.de",
        "ana [at] mail [dot] com",
        "ana at mail dot com",
    ] {
        assert_eq!(found(emails(t), t), vec![t.to_string()], "{t}");
    }
}
