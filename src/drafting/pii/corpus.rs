use super::*;
use std::collections::BTreeMap;

#[derive(serde::Deserialize)]
struct Row {
    id: String,
    lang: String,
    kind: String,
    category: String,
    text: String,
    values: Vec<String>,
    spelling: String,
}

fn rows() -> Vec<Row> {
    include_str!("../../../tests/data/pii_corpus.jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).expect("corpus rows are JSON"))
        .collect()
}

/// The category of one labeled value (rows with two values mix kinds).
fn category_of(value: &str, row: &Row) -> String {
    if row.values.len() == 1 {
        return row.category.clone();
    }
    let compact: String = value.chars().filter(|c| !c.is_whitespace()).collect();
    let digits: String = value.chars().filter(|c| c.is_ascii_digit()).collect();
    if value.contains('@') {
        "EMAIL"
    } else if digits.is_empty() && value.chars().all(|c| !c.is_numeric()) {
        "NAME"
    } else if compact.to_uppercase().parse::<iban::Iban>().is_ok() {
        "IBAN"
    } else if luhn_valid(value) && !digits.is_empty() {
        "CARD"
    } else if row.category == "ID" {
        "ID"
    } else {
        "PHONE"
    }
    .to_string()
}

/// Whether every byte of `[a, b)` lies inside some found span.
fn covered(spans: &[(&str, Span)], a: usize, b: usize) -> bool {
    let mut at = a;
    let mut sorted: Vec<Span> = spans.iter().map(|(_, s)| *s).collect();
    sorted.sort();
    for (s, e) in sorted {
        if s <= at && e > at {
            at = e;
        }
        if at >= b {
            return true;
        }
    }
    at >= b
}

/// Recall per category and false positives, as the closing note and docs report them.
#[test]
fn the_masker_meets_its_targets_on_the_labeled_corpus() {
    let rows = rows();
    let mut recall: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut misses = Vec::new();
    let (mut benign, mut false_positives) = (0, Vec::new());
    for row in &rows {
        let spans = find(&row.text, region_of(&row.lang));
        if row.kind == "benign" {
            benign += 1;
            if !spans.is_empty() {
                let what: Vec<String> = spans
                    .iter()
                    .map(|(k, (a, b))| format!("{k} {:?}", &row.text[*a..*b]))
                    .collect();
                false_positives.push(format!(
                    "{} ({}) {:?}: {what:?}",
                    row.id, row.category, row.text
                ));
            }
            continue;
        }
        for value in &row.values {
            let a = row
                .text
                .find(value.as_str())
                .expect("values occur in their text");
            let entry = recall.entry(category_of(value, row)).or_default();
            entry.1 += 1;
            if covered(&spans, a, a + value.len()) {
                entry.0 += 1;
            } else {
                misses.push(format!(
                    "{} [{} {}] {value:?} in {:?}; found {spans:?}",
                    row.id, row.lang, row.spelling, row.text
                ));
            }
        }
    }
    eprintln!("personal data, recall per category:");
    for (category, (caught, total)) in &recall {
        eprintln!(
            "  {category:<6} {caught}/{total} = {:.2}%",
            100.0 * *caught as f64 / *total as f64
        );
    }
    let fp_rate = false_positives.len() as f64 / benign as f64;
    eprintln!(
        "look-alikes masked: {}/{benign} = {:.2}%",
        false_positives.len(),
        100.0 * fp_rate
    );
    for m in &misses {
        eprintln!("MISSED {m}");
    }
    for f in &false_positives {
        eprintln!("FALSE POSITIVE {f}");
    }
    assert!(rows.iter().filter(|r| r.kind == "pii").count() >= 400);
    assert!(benign >= 400);
    for (category, (caught, total)) in &recall {
        assert!(*total >= 60, "{category}: only {total} labeled values");
        assert!(
            *caught as f64 / *total as f64 >= 0.995,
            "{category}: recall {caught}/{total} is under 99.5%"
        );
    }
    assert!(
        fp_rate <= 0.01,
        "{} look-alikes masked",
        false_positives.len()
    );
}
