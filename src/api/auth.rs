//! The authentication layer: reads `authorization: Bearer <token>`, finds
//! the token's principal, checks that one of its roles may call the RPC, and
//! hands the principal to the handlers in the request's extensions. Health
//! and reflection stay open. With `auth = "none"` nobody is checked.

use super::limits::{BoxFuture, reject};
use crate::auth::{Principal, Role, Tokens};
use std::sync::Arc;
use std::task::{Context, Poll};
use tonic::Status;

/// Paths served to anyone: health checks and the schema.
pub fn is_open(path: &str) -> bool {
    path.starts_with("/grpc.health.v1.Health/") || path.starts_with("/grpc.reflection.")
}

/// The roles that may call each RPC (admin may call every one). An RPC
/// missing here is refused to everyone but admin; a test checks that every
/// RPC of the contract is listed.
pub fn roles_for(path: &str) -> Option<&'static [Role]> {
    use Role::*;
    let (service, method) = path.strip_prefix("/replygate.v1.")?.split_once('/')?;
    let roles: &'static [Role] = match (service, method) {
        ("Drafts", "CreateDraft" | "StreamDraft" | "StreamDeliveries" | "AckDelivery") => {
            &[Platform]
        }
        ("Drafts", "GetDraft" | "GetConversation") => &[Platform, Agent, Viewer],
        ("Review", "ListPending" | "WatchQueue") => &[Agent, Viewer],
        ("Review", "Claim" | "Approve" | "Reject" | "Release") => &[Agent],
        ("Knowledge", "UpsertArticle" | "DeleteArticle") => &[Editor],
        ("Knowledge", "GetArticle" | "ListArticles" | "Search") => &[Editor, Agent, Viewer],
        ("Insights", "Stats") => &[Viewer],
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

/// How a call was authenticated.
pub enum Verdict {
    /// Pass it on, with the principal when there is one.
    Allow(Option<Arc<Principal>>),
    Deny(Status),
}

/// Decides one call from its path and `authorization` header value.
pub fn decide(tokens: Option<&Tokens>, path: &str, authorization: Option<&[u8]>) -> Verdict {
    let Some(tokens) = tokens else {
        return Verdict::Allow(None);
    };
    if is_open(path) {
        return Verdict::Allow(None);
    }
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

#[derive(Clone)]
pub struct AuthLayer {
    tokens: Option<Arc<Tokens>>,
}

impl AuthLayer {
    /// `None`: auth is off.
    pub fn new(tokens: Option<Arc<Tokens>>) -> Self {
        AuthLayer { tokens }
    }
}

impl<S> tower::Layer<S> for AuthLayer {
    type Service = Authenticate<S>;
    fn layer(&self, inner: S) -> Self::Service {
        Authenticate {
            inner,
            tokens: self.tokens.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Authenticate<S> {
    inner: S,
    tokens: Option<Arc<Tokens>>,
}

impl<S, B> tower::Service<http::Request<B>> for Authenticate<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        let verdict = decide(
            self.tokens.as_deref(),
            request.uri().path(),
            request
                .headers()
                .get(http::header::AUTHORIZATION)
                .map(|v| v.as_bytes()),
        );
        match verdict {
            Verdict::Allow(principal) => {
                if let Some(p) = principal {
                    request.extensions_mut().insert(p);
                }
                Box::pin(self.inner.call(request))
            }
            Verdict::Deny(status) => {
                let reason = match status.code() {
                    tonic::Code::Unauthenticated => "unauthenticated",
                    _ => "permission_denied",
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

    fn code(path: &str, header: Option<&str>) -> Option<tonic::Code> {
        match decide(Some(&tokens()), path, header.map(str::as_bytes)) {
            Verdict::Allow(_) => None,
            Verdict::Deny(s) => Some(s.code()),
        }
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
        assert_eq!(seen, 18);
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
            Some(&tokens()),
            "/replygate.v1.Knowledge/UpsertArticle",
            Some(b"Bearer t-ana"),
        ) else {
            panic!("allowed")
        };
        assert_eq!(
            s.message(),
            "replygate.v1.Knowledge/UpsertArticle needs the role editor or admin; this token has agent"
        );
    }
}
