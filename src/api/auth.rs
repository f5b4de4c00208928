//! The authentication layer: reads `authorization: Bearer <token>`, finds
//! the token's principal, checks that one of its roles may call the RPC, and
//! hands the principal to the handlers in the request's extensions. Health
//! and reflection stay open. With `auth = "none"` nobody is checked. With no
//! tokens configured the server is in protected mode: it serves clients on
//! the same machine (loopback) without a token, and refuses every other
//! client, so a fresh `cargo run` works and is not open to the network.

use super::guard::{BoxFuture, Guard, attach_principal, is_open, reject};
use crate::auth::{Principal, Role, Tokens};
use std::net::SocketAddr;
use std::sync::Arc;
use tonic::Status;

/// The roles that may call each RPC (admin may call every one). An RPC
/// missing here is refused to everyone but admin; a test checks that every
/// RPC of the contract is listed.
pub fn roles_for(path: &str) -> Option<&'static [Role]> {
    use Role::*;
    let (service, method) = path.strip_prefix("/replygate.v1.")?.split_once('/')?;
    let roles: &'static [Role] = match (service, method) {
        (
            "Drafts",
            "CreateDraft"
            | "StreamDraft"
            | "StreamDeliveries"
            | "AckDelivery"
            | "CreateTranscriptLink"
            | "RevokeTranscriptLink",
        ) => &[Platform],
        ("Drafts", "GetDraft" | "GetConversation") => &[Platform, Agent, Viewer],
        ("Review", "ListPending" | "WatchQueue") => &[Agent, Viewer],
        (
            "Review",
            "Claim" | "Approve" | "Reject" | "Release" | "TakeOver" | "HandBack" | "Resolve",
        ) => &[Agent],
        ("Knowledge", "UpsertArticle" | "DeleteArticle") => &[Editor],
        ("Knowledge", "GetArticle" | "ListArticles" | "Search") => &[Editor, Agent, Viewer],
        ("Knowledge", "DisableCuratedAnswer" | "EnableCuratedAnswer" | "DeleteCuratedAnswer") => {
            &[Editor]
        }
        ("Knowledge", "ListCuratedAnswers" | "GetCuratedAnswer") => &[Editor, Agent, Viewer],
        ("Insights", "Stats") => &[Viewer],
        // A customer's data, whole: admins only.
        ("Privacy", "ExportCustomerData" | "EraseCustomerData") => &[],
        _ => return None,
    };
    Some(roles)
}

fn names(roles: &[Role]) -> String {
    roles
        .iter()
        .chain(std::iter::once(&Role::Admin))
        .map(|r| r.as_str())
        .collect::<Vec<_>>()
        .join(" or ")
}

/// Who the server lets in.
#[derive(Clone)]
pub enum Mode {
    /// `auth = "none"`: everyone, unchecked.
    Open,
    /// No tokens configured: clients on this machine, unchecked; nobody else.
    LoopbackOnly,
    /// Bearer tokens.
    Tokens(Arc<Tokens>),
}

/// How a call was authenticated.
pub enum Verdict {
    /// Pass it on, with the principal when there is one.
    Allow(Option<Arc<Principal>>),
    Deny(Status),
}

/// Decides one call from its path, `authorization` header value and peer address.
pub fn decide(
    mode: &Mode,
    path: &str,
    authorization: Option<&[u8]>,
    peer: Option<SocketAddr>,
) -> Verdict {
    let tokens = match mode {
        Mode::Open => return Verdict::Allow(None),
        _ if is_open(path) => return Verdict::Allow(None),
        Mode::LoopbackOnly => {
            return match peer {
                Some(addr) if addr.ip().is_loopback() => Verdict::Allow(None),
                _ => Verdict::Deny(Status::unauthenticated(
                    "this server has no tokens configured, so it serves only clients on its own machine; configure [[tokens]] (replygate token create) or set auth = \"none\"",
                )),
            };
        }
        Mode::Tokens(tokens) => tokens,
    };
    let Some(value) = authorization else {
        return Verdict::Deny(Status::unauthenticated(
            "authorization metadata is required: \"Bearer <token>\"",
        ));
    };
    let token = std::str::from_utf8(value)
        .ok()
        .and_then(|v| {
            let (scheme, rest) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        })
        .filter(|t| !t.is_empty());
    let Some(token) = token else {
        return Verdict::Deny(Status::unauthenticated(
            "authorization metadata must be \"Bearer <token>\"",
        ));
    };
    let Some(principal) = tokens.authenticate(token) else {
        return Verdict::Deny(Status::unauthenticated("the token is not valid"));
    };
    let rpc = path.trim_start_matches('/');
    match roles_for(path) {
        Some(allowed) if principal.may(allowed) => Verdict::Allow(Some(principal)),
        Some(allowed) => Verdict::Deny(Status::permission_denied(format!(
            "{rpc} needs the role {}; this token has {}",
            names(allowed),
            principal
                .roles
                .iter()
                .map(|r| r.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
        // Unknown methods reach the router, which answers UNIMPLEMENTED, but only for admin.
        None if principal.may(&[]) => Verdict::Allow(Some(principal)),
        None => Verdict::Deny(Status::permission_denied(format!(
            "{rpc} is not open to this token's roles"
        ))),
    }
}

/// Authenticates and authorizes every call, per `mode`.
#[derive(Clone)]
pub struct Authenticate {
    mode: Mode,
}

impl Authenticate {
    pub fn new(mode: Mode) -> Self {
        Authenticate { mode }
    }
}

/// The client's address, over plain TCP or TLS.
fn peer<B>(request: &http::Request<B>) -> Option<SocketAddr> {
    use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};
    let e = request.extensions();
    e.get::<TcpConnectInfo>()
        .and_then(|i| i.remote_addr())
        .or_else(|| {
            e.get::<TlsConnectInfo<TcpConnectInfo>>()
                .and_then(|i| i.get_ref().remote_addr())
        })
}

impl Guard for Authenticate {
    fn call<S, B>(
        &self,
        inner: &mut S,
        mut request: http::Request<B>,
    ) -> BoxFuture<Result<http::Response<tonic::body::Body>, S::Error>>
    where
        S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>>,
        S::Future: Send + 'static,
        S::Error: Send + 'static,
    {
        let verdict = decide(
            &self.mode,
            request.uri().path(),
            request
                .headers()
                .get(http::header::AUTHORIZATION)
                .map(|v| v.as_bytes()),
            peer(&request),
        );
        match verdict {
            Verdict::Allow(principal) => {
                if let Some(p) = principal {
                    attach_principal(&mut request, p);
                }
                Box::pin(inner.call(request))
            }
            Verdict::Deny(status) => {
                let reason = if status.code() == tonic::Code::Unauthenticated {
                    "unauthenticated"
                } else {
                    "permission_denied"
                };
                reject(reason, status)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{TokenConfig, hash};
    use prost::Message;

    fn tokens() -> Tokens {
        let entry = |subject: &str, roles: &[Role]| TokenConfig {
            subject: subject.into(),
            roles: roles.to_vec(),
            sha256: hash(&format!("t-{subject}")),
        };
        Tokens::from_config(&[
            entry("desk", &[Role::Platform]),
            entry("ana", &[Role::Agent]),
            entry("root", &[Role::Admin]),
        ])
        .unwrap()
    }

    const REMOTE: Option<SocketAddr> = Some(SocketAddr::new(
        std::net::IpAddr::V4(std::net::Ipv4Addr::new(203, 0, 113, 7)),
        40000,
    ));
    const LOCAL: Option<SocketAddr> = Some(SocketAddr::new(
        std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
        40000,
    ));

    fn code(path: &str, header: Option<&str>) -> Option<tonic::Code> {
        let mode = Mode::Tokens(Arc::new(tokens()));
        match decide(&mode, path, header.map(str::as_bytes), REMOTE) {
            Verdict::Allow(_) => None,
            Verdict::Deny(s) => Some(s.code()),
        }
    }

    #[test]
    fn without_tokens_only_clients_on_this_machine_are_served() {
        let p = "/replygate.v1.Review/Approve";
        let allowed =
            |mode: &Mode, peer| matches!(decide(mode, p, None, peer), Verdict::Allow(None));
        assert!(allowed(&Mode::LoopbackOnly, LOCAL));
        let v6 = Some(SocketAddr::new(
            std::net::IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
            1,
        ));
        assert!(allowed(&Mode::LoopbackOnly, v6));
        assert!(!allowed(&Mode::LoopbackOnly, REMOTE));
        assert!(
            !allowed(&Mode::LoopbackOnly, None),
            "an unknown peer is not trusted"
        );
        let Verdict::Deny(s) = decide(&Mode::LoopbackOnly, p, None, REMOTE) else {
            panic!("a remote client was served")
        };
        assert_eq!(s.code(), tonic::Code::Unauthenticated);
        assert!(s.message().contains("[[tokens]]"), "{}", s.message());
        // Health stays open to everyone; auth = "none" opens everything.
        assert!(matches!(
            decide(
                &Mode::LoopbackOnly,
                "/grpc.health.v1.Health/Check",
                None,
                REMOTE
            ),
            Verdict::Allow(None)
        ));
        assert!(allowed(&Mode::Open, REMOTE));
        // With tokens, a local client needs one like anyone else.
        let mode = Mode::Tokens(Arc::new(tokens()));
        assert!(!allowed(&mode, LOCAL));
    }

    #[test]
    fn every_rpc_of_the_contract_has_a_rule() {
        let set =
            prost_types::FileDescriptorSet::decode(crate::api::pb::FILE_DESCRIPTOR_SET).unwrap();
        let mut seen = 0;
        for file in &set.file {
            for service in &file.service {
                for method in &service.method {
                    let path = format!("/{}.{}/{}", file.package(), service.name(), method.name());
                    assert!(roles_for(&path).is_some(), "no role rule for {path}");
                    seen += 1;
                }
            }
        }
        assert_eq!(seen, 30);
    }

    #[test]
    fn a_missing_or_malformed_or_unknown_token_is_unauthenticated() {
        use tonic::Code::Unauthenticated;
        let p = "/replygate.v1.Drafts/CreateDraft";
        assert_eq!(code(p, None), Some(Unauthenticated));
        assert_eq!(code(p, Some("t-desk")), Some(Unauthenticated));
        assert_eq!(code(p, Some("Basic t-desk")), Some(Unauthenticated));
        assert_eq!(code(p, Some("Bearer ")), Some(Unauthenticated));
        assert_eq!(code(p, Some("Bearer t-nobody")), Some(Unauthenticated));
        assert_eq!(code(p, Some("Bearer t-desk")), None);
        assert_eq!(code(p, Some("bearer  t-desk ")), None);
    }

    #[test]
    fn a_token_without_the_role_is_denied_and_admin_passes_everywhere() {
        use tonic::Code::PermissionDenied;
        let approve = "/replygate.v1.Review/Approve";
        assert_eq!(code(approve, Some("Bearer t-desk")), Some(PermissionDenied));
        assert_eq!(code(approve, Some("Bearer t-ana")), None);
        assert_eq!(code(approve, Some("Bearer t-root")), None);
        assert_eq!(
            code("/replygate.v1.Drafts/CreateDraft", Some("Bearer t-ana")),
            Some(PermissionDenied)
        );
        assert_eq!(
            code("/replygate.v1.Nope/Nothing", Some("Bearer t-ana")),
            Some(PermissionDenied)
        );
        assert_eq!(
            code("/replygate.v1.Nope/Nothing", Some("Bearer t-root")),
            None
        );
    }

    #[test]
    fn health_and_reflection_need_no_token() {
        assert_eq!(code("/grpc.health.v1.Health/Check", None), None);
        assert_eq!(
            code(
                "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
                None
            ),
            None
        );
    }

    #[test]
    fn the_denial_names_the_rpc_and_the_roles_it_needs() {
        let Verdict::Deny(s) = decide(
            &Mode::Tokens(Arc::new(tokens())),
            "/replygate.v1.Knowledge/UpsertArticle",
            Some(b"Bearer t-ana"),
            REMOTE,
        ) else {
            panic!("allowed")
        };
        assert_eq!(
            s.message(),
            "replygate.v1.Knowledge/UpsertArticle needs the role editor or admin; this token has agent"
        );
    }
}
