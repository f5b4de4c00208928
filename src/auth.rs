//! Who may call: bearer tokens, stored only as SHA-256 hashes in the config,
//! each naming a subject (a platform, an agent, an editor...) and its roles.
//! This module knows tokens and roles; which RPC needs which role is the gRPC
//! layer's business (`api::auth`).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Arc;

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A support platform: sends customer messages, receives and acks deliveries.
    Platform,
    /// A human agent: reviews drafts.
    Agent,
    /// A content team member: writes articles.
    Editor,
    /// A manager or auditor: reads drafts, transcripts, articles and figures.
    Viewer,
    /// Everything.
    Admin,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Platform,
        Role::Agent,
        Role::Editor,
        Role::Viewer,
        Role::Admin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Platform => "platform",
            Role::Agent => "agent",
            Role::Editor => "editor",
            Role::Viewer => "viewer",
            Role::Admin => "admin",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Role, String> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s.trim().to_ascii_lowercase())
            .ok_or_else(|| {
                format!("unknown role {s:?}: use platform, agent, editor, viewer or admin")
            })
    }
}

/// One configured token: `[[tokens]] subject = "ana", roles = ["agent"], sha256 = "..."`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// Who holds the token; reviews and knowledge changes are recorded under this name.
    pub subject: String,
    pub roles: Vec<Role>,
    /// Hex SHA-256 of the token (`replygate token create` prints it).
    pub sha256: String,
}

/// The authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub subject: String,
    pub roles: Vec<Role>,
    /// The first 12 hex digits of the token's hash: names the token in logs
    /// and limits without revealing it.
    pub token_id: String,
}

impl Principal {
    /// Admin may do everything; otherwise one of `allowed` is needed.
    pub fn may(&self, allowed: &[Role]) -> bool {
        self.roles
            .iter()
            .any(|r| *r == Role::Admin || allowed.contains(r))
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum Error {
    #[error("tokens[{index}].{field}: {message}")]
    Invalid {
        index: usize,
        field: &'static str,
        message: String,
    },
}

/// The token table, by hash.
#[derive(Debug, Default)]
pub struct Tokens {
    by_hash: HashMap<[u8; 32], Arc<Principal>>,
}

impl Tokens {
    /// Checks every entry: a subject, at least one role, a 64-digit hex hash, no hash twice.
    pub fn from_config(entries: &[TokenConfig]) -> Result<Tokens, Error> {
        let mut by_hash = HashMap::new();
        for (index, e) in entries.iter().enumerate() {
            let invalid = |field, message: &str| Error::Invalid {
                index,
                field,
                message: message.into(),
            };
            let subject = e.subject.trim();
            if subject.is_empty()
                || subject.chars().count() > 128
                || subject.chars().any(char::is_control)
            {
                return Err(invalid("subject", "must be 1 to 128 printable characters"));
            }
            if e.roles.is_empty() {
                return Err(invalid(
                    "roles",
                    "must name at least one of platform, agent, editor, viewer, admin",
                ));
            }
            let mut hash = [0u8; 32];
            hex::decode_to_slice(e.sha256.trim().to_ascii_lowercase(), &mut hash).map_err(
                |_| {
                    invalid(
                        "sha256",
                        "must be 64 hex digits (replygate token create prints it)",
                    )
                },
            )?;
            let principal = Principal {
                subject: subject.to_string(),
                roles: e.roles.clone(),
                token_id: hex::encode(&hash[..6]),
            };
            if by_hash.insert(hash, Arc::new(principal)).is_some() {
                return Err(invalid("sha256", "the same token is configured twice"));
            }
        }
        Ok(Tokens { by_hash })
    }

    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }

    /// The principal of the token with this id (its hash's first 12 hex
    /// digits), while it is configured: a console session names its token so.
    pub fn by_id(&self, token_id: &str) -> Option<Arc<Principal>> {
        self.by_hash
            .values()
            .find(|p| p.token_id == token_id)
            .cloned()
    }

    /// The principal a presented token belongs to.
    pub fn authenticate(&self, token: &str) -> Option<Arc<Principal>> {
        let hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        self.by_hash.get(&hash).cloned()
    }
}

/// Hex SHA-256 of a token, as the config holds it.
pub fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// `N` random bytes from the operating system.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], String> {
    use rand::TryRngCore;
    let mut bytes = [0u8; N];
    rand::rngs::OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(|e| e.to_string())?;
    Ok(bytes)
}

/// A new random token (256 bits from the operating system) and its hash.
pub fn new_token() -> Result<(String, String), String> {
    let bytes = random_bytes::<32>()
        .map_err(|e| format!("no randomness from the operating system: {e}"))?;
    let token = format!("rg_{}", hex::encode(bytes));
    let hash = hash(&token);
    Ok((token, hash))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(subject: &str, roles: &[Role], token: &str) -> TokenConfig {
        TokenConfig {
            subject: subject.into(),
            roles: roles.to_vec(),
            sha256: hash(token),
        }
    }

    #[test]
    fn a_configured_token_authenticates_as_its_subject_and_others_do_not() {
        let tokens = Tokens::from_config(&[
            entry("ana", &[Role::Agent], "t-ana"),
            entry("desk", &[Role::Platform], "t-desk"),
        ])
        .unwrap();
        let ana = tokens.authenticate("t-ana").unwrap();
        assert_eq!(ana.subject, "ana");
        assert_eq!(ana.roles, vec![Role::Agent]);
        assert_eq!(ana.token_id, &hash("t-ana")[..12]);
        assert!(tokens.authenticate("t-an").is_none());
        assert!(tokens.authenticate("").is_none());
        assert!(
            tokens.authenticate(&hash("t-ana")).is_none(),
            "the hash is not the token"
        );
    }

    #[test]
    fn admin_may_do_everything_and_other_roles_only_their_own() {
        let p = |roles: &[Role]| Principal {
            subject: "x".into(),
            roles: roles.to_vec(),
            token_id: String::new(),
        };
        assert!(p(&[Role::Admin]).may(&[Role::Agent]));
        assert!(p(&[Role::Agent, Role::Viewer]).may(&[Role::Viewer]));
        assert!(!p(&[Role::Platform]).may(&[Role::Agent, Role::Editor]));
    }

    #[test]
    fn bad_entries_are_refused_naming_the_entry_and_field() {
        let mut bad = entry("ana", &[Role::Agent], "t");
        bad.sha256 = "abc".into();
        let err = Tokens::from_config(&[entry("b", &[Role::Viewer], "u"), bad]).unwrap_err();
        assert!(err.to_string().starts_with("tokens[1].sha256:"), "{err}");
        let err = Tokens::from_config(&[entry(" ", &[Role::Agent], "t")]).unwrap_err();
        assert!(err.to_string().starts_with("tokens[0].subject:"), "{err}");
        let err = Tokens::from_config(&[entry("a", &[], "t")]).unwrap_err();
        assert!(err.to_string().starts_with("tokens[0].roles:"), "{err}");
        let err = Tokens::from_config(&[
            entry("a", &[Role::Agent], "t"),
            entry("b", &[Role::Agent], "t"),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("twice"), "{err}");
    }

    #[test]
    fn new_tokens_are_random_and_hash_to_what_the_config_holds() {
        let (a, ha) = new_token().unwrap();
        let (b, _) = new_token().unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with("rg_") && a.len() == 67);
        let tokens = Tokens::from_config(&[TokenConfig {
            subject: "s".into(),
            roles: vec![Role::Viewer],
            sha256: ha,
        }])
        .unwrap();
        assert!(tokens.authenticate(&a).is_some());
    }
}
