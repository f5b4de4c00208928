//! Stage "mask": the customer's personal data in everything the request
//! carries (message, history, context) replaced by placeholders, before
//! retrieval and before anything could leave for a model. The table of
//! placeholders puts it back in the reply.

use super::pii;
use super::request::{DraftRequest, Role, Turn};

/// A request as retrieval reads it and a model may see it.
#[derive(Debug, Clone, PartialEq)]
pub struct MaskedRequest {
    pub message: String,
    /// The history, turn by turn, each with its role.
    pub history: Vec<Turn>,
    /// The context entries (key and value both masked), in key order.
    pub context: Vec<(String, String)>,
    /// Every placeholder and its original, for [`pii::unmask`].
    pub table: pii::Masked,
}

/// Masks `r` with one placeholder table: the same e-mail in the message and
/// the history is one placeholder. Regional formats (national ids, phone
/// numbers) follow the request's locale, or `detected_locale` without one.
pub fn mask(r: &DraftRequest, detected_locale: &str) -> MaskedRequest {
    let region_hint = if r.locale.is_empty() {
        detected_locale
    } else {
        r.locale.as_str()
    };
    let history: Vec<&str> = r.history.iter().map(|t| t.text.as_str()).collect();
    let context: Vec<(&str, &str)> = r
        .context
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let texts = pii::mask_request(&r.message, &history, &context, region_hint);
    MaskedRequest {
        history: r
            .history
            .iter()
            .zip(texts.history)
            .map(|(turn, text)| Turn {
                role: turn.role,
                text,
            })
            .collect(),
        message: texts.message,
        context: texts.context,
        table: texts.table,
    }
}

impl MaskedRequest {
    /// What retrieval searches for: placeholders are not words the customer
    /// used ("[EMAIL_1]" must not retrieve articles about e-mail).
    pub fn query(&self) -> String {
        pii::strip_placeholders(&self.message)
    }

    /// The customer's own words: the message and their turns of the history
    /// (our earlier replies are no source for a number or a promise).
    pub fn customer_words(&self) -> Vec<&str> {
        std::iter::once(self.message.as_str())
            .chain(
                self.history
                    .iter()
                    .filter(|t| t.role == Role::Customer)
                    .map(|t| t.text.as_str()),
            )
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn turn(role: Role, text: &str) -> Turn {
        Turn {
            role,
            text: text.into(),
        }
    }

    fn request(message: &str, history: Vec<Turn>) -> DraftRequest {
        DraftRequest {
            conversation_id: "c1".into(),
            message: message.into(),
            history,
            ..Default::default()
        }
    }

    #[test]
    fn every_turn_keeps_its_role_and_place_and_loses_its_personal_data() {
        let r = request(
            "still nothing, my email is ana@example.com",
            vec![
                turn(Role::Customer, "hi, I am Ana, ana@example.com"),
                turn(Role::Support, "Hello! Which e-mail did you use?"),
            ],
        );
        let m = mask(&r, "en");
        assert_eq!(m.history.len(), 2);
        assert_eq!(m.history[0].role, Role::Customer);
        assert_eq!(m.history[1].role, Role::Support);
        assert_eq!(m.history[1].text, "Hello! Which e-mail did you use?");
        let everything = format!("{} {:?}", m.message, m.history);
        assert!(!everything.contains("ana@example.com"), "{everything}");
        // One address, one placeholder, wherever it appears.
        assert!(m.message.contains("[EMAIL_1]"), "{}", m.message);
        assert!(m.history[0].text.contains("[EMAIL_1]"), "{:?}", m.history);
        assert_eq!(
            pii::unmask(&m.message, &m.table),
            "still nothing, my email is ana@example.com"
        );
    }

    #[test]
    fn the_query_has_no_placeholders() {
        let m = mask(
            &request("my email ana@example.com stopped working", vec![]),
            "en",
        );
        assert!(!m.query().contains("EMAIL"), "{}", m.query());
        assert!(m.query().contains("stopped working"));
    }

    #[test]
    fn only_the_customer_s_turns_are_the_customer_s_words() {
        let r = request(
            "and now?",
            vec![
                turn(Role::Support, "Call us on 0800 123 456"),
                turn(Role::Customer, "I did"),
            ],
        );
        assert_eq!(mask(&r, "en").customer_words(), vec!["and now?", "I did"]);
    }
}
