use super::*;

#[test]
fn questions_that_say_the_same_in_other_words_overlap_and_unrelated_ones_do_not() {
    let a = question_terms("How do I change my phone number?", "en");
    let b = question_terms("how can i change my number", "en");
    let c = question_terms("What is the weather in Rome tomorrow?", "en");
    assert!(term_overlap(&a, &b) >= 0.8, "{a:?} {b:?}");
    assert_eq!(term_overlap(&a, &c), 0.0);
    assert_eq!(term_overlap(&a, &a), 1.0);
    assert_eq!(term_overlap(&a, &[]), 0.0);
}

#[test]
fn placeholders_are_not_terms_of_a_question() {
    let terms = question_terms("my email [EMAIL_1] stopped working", "en");
    assert!(!terms.iter().any(|t| t.contains("email_1")), "{terms:?}");
    assert!(terms.iter().any(|t| t.starts_with("work")), "{terms:?}");
}

#[test]
fn a_question_s_vector_key_is_not_a_passage_s() {
    let text = "How do I back up my chats?";
    assert_ne!(question_key(text), dense::content_hash(text));
    assert_eq!(question_key(text), question_key(text));
}
