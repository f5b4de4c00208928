//! A secret value of the config (an API key).

use secrecy::{ExposeSecret, SecretString};

/// A secret read from the environment: zeroized when dropped, redacted in
/// `Debug`, never serialized (its field is `#[serde(skip)]`).
///
/// A newtype over [`SecretString`] rather than the type itself because the
/// config is compared as a whole (`Config: PartialEq`; the tests compare a
/// loaded config with the defaults) and `SecretString` has no `PartialEq`.
/// Equality here compares the values, in time that does not depend on
/// where they differ.
#[derive(Clone, Default)]
pub struct Secret(SecretString);

impl Secret {
    pub fn new(value: String) -> Secret {
        Secret(SecretString::from(value))
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    pub fn is_empty(&self) -> bool {
        self.expose().is_empty()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.is_empty() {
            "Secret(empty)"
        } else {
            "Secret(***)"
        })
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Secret) -> bool {
        let (a, b) = (self.expose().as_bytes(), other.expose().as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

impl Eq for Secret {}

#[cfg(test)]
mod tests {
    use super::Secret;

    #[test]
    fn secrets_compare_by_value_and_never_print_it() {
        let a = Secret::new("sk-one".into());
        assert_eq!(a, Secret::new("sk-one".into()));
        assert_ne!(a, Secret::new("sk-two".into()));
        assert_ne!(a, Secret::new("sk-one-longer".into()));
        assert_ne!(a, Secret::default());
        assert_eq!(Secret::default(), Secret::new(String::new()));
        assert_eq!(format!("{a:?}"), "Secret(***)");
        assert_eq!(format!("{:?}", Secret::default()), "Secret(empty)");
    }
}
