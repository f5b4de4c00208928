use super::*;
use crate::drafting::phrases::for_locale;

fn passage(ordinal: u64, heading: &str, text: &str, score: f32) -> PassageHit {
    PassageHit {
        heading: heading.into(),
        text: text.into(),
        ordinal,
        score,
        cosine: None,
    }
}

/// The sample help center's "Change your phone number", as retrieval
/// returns it for "How do I change my phone number?": the sections whose
/// words match come first, by score, the steps among the last.
fn change_number() -> ArticleHit {
    ArticleHit {
        article_id: "en/change-phone-number".into(),
        version: 3,
        locale: "en".into(),
        title: "Change your phone number".into(),
        url: "https://help.example/en/change-phone-number".into(),
        applies_to: Default::default(),
        score: 6.0,
        passages: vec![
            passage(
                0,
                "",
                "This article explains how to move your account to a new phone number.",
                6.0,
            ),
            passage(
                4,
                "Limits of Change number",
                "- You can change your phone number a limited number of times.\n- Support cannot change it for you.",
                5.5,
            ),
            passage(
                1,
                "Before you start",
                "Before you change your phone number, make sure that:\n- The new SIM card is in your phone.",
                5.0,
            ),
            passage(
                2,
                "Steps to change your number",
                "1. Open Settings > Account > Change number.\n2. Enter your old and new numbers.\n3. Tap Done.",
                3.0,
            ),
            passage(
                3,
                "What happens after you change your number",
                "Your chats and groups move to the new number.",
                2.0,
            ),
        ],
        coverage: 1.0,
        cosine: None,
    }
}

fn ask(wants_steps: bool) -> Ask<'static> {
    Ask {
        phrases: for_locale("en"),
        wants_steps,
        answerable: true,
        max_passages: 2,
        max_chars: 1200,
    }
}

#[test]
fn a_how_to_question_gets_the_steps_whole_and_in_the_article_s_order() {
    let g = compose(&[change_number()], &ask(true));
    assert!(g.body.contains("1. Open Settings > Account > Change number.\n2. Enter your old and new numbers.\n3. Tap Done."), "{}", g.body);
    assert!(!g.missing_steps);
    assert!(g.quoted.contains(&2), "{:?}", g.quoted);
    assert!(g.quoted.windows(2).all(|w| w[0] < w[1]), "{:?}", g.quoted);
    assert!(
        !g.body.contains("explains how to move"),
        "the untitled opening gives way: {}",
        g.body
    );
    assert_eq!(g.citations[0].article_id, "en/change-phone-number");
    assert_eq!(g.citations[0].version, 3);
}

#[test]
fn a_question_that_is_not_how_to_gets_the_sections_that_match_best() {
    let g = compose(&[change_number()], &ask(false));
    assert!(g.body.contains("Limits of Change number"), "{}", g.body);
    assert!(!g.missing_steps, "steps were not asked for");
}

#[test]
fn meaning_chooses_the_section_when_words_do_not() {
    let mut hit = change_number();
    for p in &mut hit.passages {
        p.score = if p.ordinal == 0 { 6.0 } else { 0.0 };
        p.cosine = Some(if p.ordinal == 3 { 0.9 } else { 0.4 });
    }
    let g = compose(&[hit], &ask(false));
    assert!(g.body.contains("Your chats and groups move"), "{}", g.body);
}

#[test]
fn steps_that_do_not_fit_make_the_draft_incomplete() {
    let mut a = ask(true);
    a.max_chars = 60;
    let g = compose(&[change_number()], &a);
    assert!(g.missing_steps, "{}", g.body);
}

#[test]
fn a_second_section_that_matches_poorly_is_left_out() {
    let mut hit = change_number();
    hit.passages = vec![
        passage(1, "Steps", "1. Open Settings.\n2. Tap Back up.", 5.0),
        passage(2, "Encryption", "Backups can be encrypted.", 1.0),
    ];
    let g = compose(&[hit], &ask(true));
    assert_eq!(g.quoted, vec![1]);
}

#[test]
fn nothing_found_or_nothing_that_answers_gives_the_holding_reply_once_thanked() {
    let g = compose(&[], &ask(false));
    assert!(g.citations.is_empty());
    let mut not_answerable = ask(false);
    not_answerable.answerable = false;
    let h = compose(&[change_number()], &not_answerable);
    assert!(h.citations.is_empty() && h.quoted.is_empty());
    assert_eq!(h.body, g.body);
    for locale in ["en", "pt", "it", "es", "fr", "de"] {
        let mut a = ask(false);
        a.phrases = for_locale(locale);
        let body = compose(&[], &a).body.to_lowercase();
        let thanks = ["thank", "obrigad", "grazie", "gracias", "merci", "danke"];
        let n: usize = thanks.iter().map(|t| body.matches(t).count()).sum();
        assert_eq!(n, 1, "{locale}: {body}");
    }
}

#[test]
fn numbered_lists_are_steps_and_one_item_or_prose_is_not() {
    assert!(has_steps("1. Open Settings.\n2. Tap Done."));
    assert!(has_steps("Do this:\n  1) Open\n  2) Tap"));
    assert!(!has_steps("1. Open Settings."));
    assert!(!has_steps("- a bullet\n- another"));
}

#[test]
fn clip_prefers_line_ends() {
    assert_eq!(clip("one line\nsecond line that is long", 15), "one line");
    assert_eq!(clip("short", 15), "short");
}
