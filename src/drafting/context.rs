//! The documented device-context keys (`context_keys.toml`) and the check of
//! their values; other keys pass within the limits.

use crate::validate::{self, Invalid, invalid};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::LazyLock;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    OneOf,
    Version,
    Integer,
    Boolean,
    Locale,
    Text,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Key {
    pub kind: Kind,
    #[serde(default)]
    pub values: Vec<String>,
    pub about: String,
}

/// The documented keys, by name.
pub static KEYS: LazyLock<BTreeMap<String, Key>> = LazyLock::new(|| {
    toml::from_str(include_str!("context_keys.toml")).expect("context_keys.toml is valid")
});

/// Checks the value of a documented key; any other key passes.
pub fn check(key: &str, value: &str) -> Result<(), Invalid> {
    let Some(k) = KEYS.get(key) else {
        return Ok(());
    };
    let v = value.trim();
    let ok = match k.kind {
        Kind::OneOf => k.values.iter().any(|x| x.eq_ignore_ascii_case(v)),
        Kind::Version => {
            let parts: Vec<&str> = v.split('.').collect();
            parts.len() <= 4
                && parts
                    .iter()
                    .all(|p| !p.is_empty() && p.len() <= 9 && p.bytes().all(|b| b.is_ascii_digit()))
        }
        Kind::Integer => v.parse::<u64>().is_ok(),
        Kind::Boolean => v.eq_ignore_ascii_case("true") || v.eq_ignore_ascii_case("false"),
        Kind::Locale => validate::locale("context", v).is_ok(),
        Kind::Text => !v.is_empty(),
    };
    if ok {
        return Ok(());
    }
    let must = match k.kind {
        Kind::OneOf => format!("one of {}", k.values.join(", ")),
        Kind::Version => "a version of up to four numbers joined by dots, e.g. 2.24.1".into(),
        Kind::Integer => "a whole number, 0 or more".into(),
        Kind::Boolean => "true or false".into(),
        Kind::Locale => "a BCP 47 language tag such as \"en\" or \"pt-BR\"".into(),
        Kind::Text => "some text".into(),
    };
    Err(invalid(
        "context",
        format!("{key:?} ({}) must be {must} (got {value:?})", k.about),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_keys_are_checked_and_others_pass() {
        for (k, v) in [
            ("os", "Android"),
            ("os", "ios"),
            ("os_version", "14"),
            ("app_version", "2.24.1"),
            ("network", "WiFi"),
            ("language", "pt-BR"),
            ("free_space_mb", "512"),
            ("backup_enabled", "false"),
            ("device_model", "Pixel 8"),
            ("plan", "anything at all"),
        ] {
            assert!(check(k, v).is_ok(), "{k}={v}");
        }
        for (k, v, needle) in [
            ("os", "Android 14", "one of android, ios"),
            ("app_version", "v2.24", "a version"),
            ("app_version", "1.2.3.4.5", "a version"),
            ("free_space_mb", "-3", "a whole number"),
            ("backup_enabled", "yes", "true or false"),
            ("language", "portuguese!", "BCP 47"),
            ("network", "5g", "one of wifi"),
            ("carrier", "  ", "some text"),
        ] {
            let e = check(k, v).unwrap_err();
            assert_eq!(e.field, "context");
            assert!(
                e.message.contains(needle) && e.message.contains(k),
                "{k}={v}: {}",
                e.message
            );
        }
    }
}
