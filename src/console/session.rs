//! Who is at the console: sign-in, the session cookie, and the CSRF check.
//!
//! With tokens, an agent signs in with their token; the cookie then names
//! the token (by its id, never the token itself) and the roles are read from
//! the config on every request, so a token removed from the config ends its
//! sessions. In protected mode (no tokens) only this machine may sign in,
//! by name, as gRPC lets this machine do everything; with `auth = "none"`
//! anyone may. The cookie is signed with a key the database keeps (every
//! replica accepts it), HttpOnly and SameSite=Strict, Secure over HTTPS;
//! every form carries the session's CSRF token, and a request from another
//! origin is refused.

use crate::api::auth::{Mode, roles_for};
use crate::auth::{Principal, Role};
use crate::model::{Millis, now_ms};
use crate::signing::Signer;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::sync::Arc;

pub const COOKIE: &str = "replygate_session";
/// The form field (and header, for scripts) that carries the CSRF token.
pub const CSRF_FIELD: &str = "csrf";
const MAX_NAME_CHARS: usize = 128;

/// A signed-in person.
#[derive(Debug, Clone, PartialEq)]
pub struct Who {
    pub subject: String,
    pub roles: Vec<Role>,
    pub csrf: String,
    pub expires_at: Millis,
}

impl Who {
    fn principal(&self) -> Principal {
        Principal {
            subject: self.subject.clone(),
            roles: self.roles.clone(),
            token_id: String::new(),
        }
    }

    /// Whether the gRPC role rules let this person call `rpc` ("Review/Approve").
    pub fn may(&self, rpc: &str) -> bool {
        let path = format!("/replygate.v1.{rpc}");
        match roles_for(&path) {
            Some(allowed) => self.principal().may(allowed),
            None => self.principal().may(&[]),
        }
    }

    pub fn roles_text(&self) -> String {
        self.roles
            .iter()
            .map(|r| r.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// What the cookie carries (hex-encoded JSON, then its signature).
#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    /// The subject (a name in protected mode; checked against the token otherwise).
    s: String,
    /// The token's id, with tokens; empty otherwise.
    t: String,
    e: Millis,
    c: String,
}

/// Why a sign-in was refused, in words for the page.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("{0}")]
    Message(String),
}

fn refused(message: impl Into<String>) -> Refused {
    Refused::Message(message.into())
}

pub struct Sessions {
    mode: Mode,
    signer: Signer,
    hours: u32,
}

impl Sessions {
    pub fn new(mode: Mode, signer: Signer, hours: u32) -> Sessions {
        Sessions {
            mode,
            signer,
            hours,
        }
    }

    /// Whether sign-in asks for a token (else for a name).
    pub fn wants_token(&self) -> bool {
        matches!(self.mode, Mode::Tokens(_))
    }

    /// Whether this request may reach the console at all. In protected
    /// mode: from this machine, to a loopback name (`localhost`,
    /// `127.0.0.1`, `[::1]`), so a web page whose name an attacker rebinds
    /// to 127.0.0.1 (DNS rebinding) cannot use the trust given to this machine.
    pub fn admits(&self, peer: Option<SocketAddr>, host: Option<&str>) -> bool {
        match self.mode {
            Mode::LoopbackOnly => {
                peer.is_some_and(|p| p.ip().is_loopback()) && host.is_some_and(loopback_name)
            }
            Mode::Open | Mode::Tokens(_) => true,
        }
    }

    /// Signs in with a token (tokens mode) or a name (otherwise): the cookie value.
    pub fn sign_in(
        &self,
        secret: &str,
        peer: Option<SocketAddr>,
        host: Option<&str>,
    ) -> Result<String, Refused> {
        if !self.admits(peer, host) {
            return Err(refused(
                "this server has no tokens configured, so its console serves only this machine; configure [[tokens]] (replygate token create)",
            ));
        }
        let secret = secret.trim();
        let (subject, token_id) = match &self.mode {
            Mode::Tokens(tokens) => {
                let principal = tokens
                    .authenticate(secret)
                    .ok_or_else(|| refused("the token is not valid"))?;
                if !staff(&principal) {
                    return Err(refused(
                        "this is a platform's token: the console is for agents, viewers, editors and admins",
                    ));
                }
                (principal.subject.clone(), principal.token_id.clone())
            }
            Mode::Open | Mode::LoopbackOnly => {
                if secret.is_empty()
                    || secret.chars().count() > MAX_NAME_CHARS
                    || secret.chars().any(char::is_control)
                {
                    return Err(refused(format!(
                        "name: must be 1 to {MAX_NAME_CHARS} printable characters"
                    )));
                }
                (secret.to_string(), String::new())
            }
        };
        let csrf = crate::auth::random_bytes::<16>()
            .map(hex::encode)
            .map_err(|e| refused(format!("no randomness from the operating system: {e}")))?;
        let claims = Claims {
            s: subject,
            t: token_id,
            e: now_ms() + i64::from(self.hours) * 3600 * 1000,
            c: csrf,
        };
        let payload = hex::encode(serde_json::to_vec(&claims).unwrap_or_default());
        let signature = self.signer.sign(&payload);
        Ok(format!("{payload}.{signature}"))
    }

    /// The person a cookie value signs in, while it holds.
    pub fn who(&self, cookie: &str, peer: Option<SocketAddr>, host: Option<&str>) -> Option<Who> {
        if !self.admits(peer, host) {
            return None;
        }
        let (payload, signature) = cookie.split_once('.')?;
        if !self.signer.verify(payload, signature) {
            return None;
        }
        let claims: Claims = serde_json::from_slice(&hex::decode(payload).ok()?).ok()?;
        if claims.e <= now_ms() {
            return None;
        }
        let (subject, roles) = match &self.mode {
            Mode::Tokens(tokens) => {
                let p: Arc<Principal> = tokens.by_id(&claims.t).filter(|p| staff(p))?;
                (p.subject.clone(), p.roles.clone())
            }
            // Without tokens gRPC lets the caller do everything; so does the console.
            Mode::Open | Mode::LoopbackOnly => (claims.s, vec![Role::Admin]),
        };
        Some(Who {
            subject,
            roles,
            csrf: claims.c,
            expires_at: claims.e,
        })
    }

    /// The `Set-Cookie` value for a session (`None`: the one that signs out).
    pub fn cookie(&self, value: Option<&str>, secure: bool) -> String {
        let secure = if secure { "; Secure" } else { "" };
        match value {
            Some(v) => format!(
                "{COOKIE}={v}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
                u64::from(self.hours) * 3600
            ),
            None => {
                format!("{COOKIE}=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0{secure}")
            }
        }
    }
}

/// Whether a token belongs to staff. A platform's token reads only the
/// conversations its platform opened (gRPC scopes it so); the console shows
/// every conversation, so it does not sign platforms in.
fn staff(p: &Principal) -> bool {
    p.roles.iter().any(|r| *r != Role::Platform)
}

/// `localhost`, `127.0.0.1` or `[::1]`, with or without a port.
fn loopback_name(host: &str) -> bool {
    let name = match host.rsplit_once(':') {
        Some((name, port)) if !name.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    matches!(
        name.to_ascii_lowercase().as_str(),
        "localhost" | "127.0.0.1" | "[::1]"
    )
}

/// Whether the CSRF token sent with a form is the session's (constant time).
pub fn csrf_holds(who: &Who, sent: &str) -> bool {
    let (a, b) = (who.csrf.as_bytes(), sent.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Whether a request's `Origin` (when the browser sends one) is this host.
pub fn same_origin(origin: Option<&str>, host: Option<&str>) -> bool {
    match (origin, host) {
        (None, _) => true,
        (Some(origin), Some(host)) => origin
            .split_once("://")
            .is_some_and(|(_, rest)| rest.trim_end_matches('/') == host),
        (Some(_), None) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{TokenConfig, Tokens, hash};

    fn tokens() -> Mode {
        Mode::Tokens(Arc::new(
            Tokens::from_config(&[
                TokenConfig {
                    subject: "ana".into(),
                    roles: vec![Role::Agent],
                    sha256: hash("t-ana"),
                },
                TokenConfig {
                    subject: "vic".into(),
                    roles: vec![Role::Viewer],
                    sha256: hash("t-vic"),
                },
            ])
            .unwrap(),
        ))
    }

    fn loopback() -> Option<SocketAddr> {
        Some("127.0.0.1:5000".parse().unwrap())
    }

    const HOST: Option<&str> = Some("127.0.0.1:9090");

    #[test]
    fn an_agent_signs_in_with_their_token_and_acts_as_grpc_lets_them() {
        let sessions = Sessions::new(tokens(), Signer::from_key(b"k"), 8);
        let cookie = sessions.sign_in("t-ana", loopback(), HOST).unwrap();
        let ana = sessions.who(&cookie, loopback(), HOST).unwrap();
        assert_eq!(ana.subject, "ana");
        assert!(ana.may("Review/Approve"));
        assert!(!ana.may("Insights/Stats"));
        let vic = sessions
            .who(
                &sessions.sign_in("t-vic", loopback(), HOST).unwrap(),
                loopback(),
                HOST,
            )
            .unwrap();
        assert!(vic.may("Review/ListPending"));
        assert!(!vic.may("Review/Approve"), "a viewer sees but cannot act");
        assert!(sessions.sign_in("t-nobody", loopback(), HOST).is_err());
    }

    #[test]
    fn an_altered_or_foreign_cookie_signs_nobody_in() {
        let sessions = Sessions::new(tokens(), Signer::from_key(b"k"), 8);
        let cookie = sessions.sign_in("t-vic", loopback(), HOST).unwrap();
        let (payload, sig) = cookie.split_once('.').unwrap();
        // The viewer's claims with the agent's token id: the signature no longer holds.
        let forged = String::from_utf8(hex::decode(payload).unwrap())
            .unwrap()
            .replace(&hash("t-vic")[..12], &hash("t-ana")[..12]);
        assert!(
            sessions
                .who(&format!("{}.{sig}", hex::encode(forged)), loopback(), HOST)
                .is_none()
        );
        let other = Sessions::new(tokens(), Signer::from_key(b"another key"), 8);
        assert!(other.who(&cookie, loopback(), HOST).is_none());
        assert!(sessions.who("garbage", loopback(), HOST).is_none());
    }

    #[test]
    fn protected_mode_signs_in_by_name_on_this_machine_only() {
        let sessions = Sessions::new(Mode::LoopbackOnly, Signer::from_key(b"k"), 8);
        let far: Option<SocketAddr> = Some("10.1.2.3:5000".parse().unwrap());
        assert!(sessions.sign_in("ana", far, HOST).is_err());
        let cookie = sessions.sign_in("ana", loopback(), HOST).unwrap();
        assert_eq!(
            sessions.who(&cookie, loopback(), HOST).unwrap().subject,
            "ana"
        );
        assert!(sessions.who(&cookie, far, HOST).is_none());
        assert!(sessions.sign_in("  ", loopback(), HOST).is_err());
        // A page of another site rebound to 127.0.0.1 names its own host.
        assert!(
            sessions
                .sign_in("ana", loopback(), Some("evil.example:9090"))
                .is_err()
        );
        assert!(
            sessions
                .who(&cookie, loopback(), Some("evil.example"))
                .is_none()
        );
        assert!(
            sessions
                .who(&cookie, loopback(), Some("localhost:9090"))
                .is_some()
        );
        assert!(
            sessions
                .who(&cookie, loopback(), Some("[::1]:9090"))
                .is_some()
        );
        assert!(sessions.who(&cookie, loopback(), None).is_none());
    }

    #[test]
    fn a_platform_s_token_does_not_sign_in_to_the_console() {
        let mode = Mode::Tokens(Arc::new(
            Tokens::from_config(&[TokenConfig {
                subject: "desk".into(),
                roles: vec![Role::Platform],
                sha256: hash("t-desk"),
            }])
            .unwrap(),
        ));
        let sessions = Sessions::new(mode, Signer::from_key(b"k"), 8);
        let refused = sessions.sign_in("t-desk", loopback(), HOST).unwrap_err();
        assert!(refused.to_string().contains("platform"), "{refused}");
    }

    #[test]
    fn a_form_from_another_origin_or_without_the_token_is_refused() {
        let who = Who {
            subject: "ana".into(),
            roles: vec![Role::Agent],
            csrf: "abc123".into(),
            expires_at: 0,
        };
        assert!(csrf_holds(&who, "abc123"));
        assert!(!csrf_holds(&who, "abc124"));
        assert!(!csrf_holds(&who, ""));
        assert!(same_origin(
            Some("http://127.0.0.1:9090"),
            Some("127.0.0.1:9090")
        ));
        assert!(!same_origin(
            Some("http://evil.example"),
            Some("127.0.0.1:9090")
        ));
        assert!(same_origin(None, Some("127.0.0.1:9090")));
    }
}
