//! Who is calling, for the records: the authenticated token's subject.
//! Without tokens (`auth = "none"`, or protected mode when none are
//! configured) an agent names itself with the `x-agent-id` metadata and
//! knowledge changes are recorded as "api". This is the one place that decides it.

use crate::auth::{Principal, Role};
use crate::model::Scope;
use std::sync::Arc;
use tonic::{Request, Status};

pub const AGENT_HEADER: &str = "x-agent-id";
const MAX_AGENT_ID_CHARS: usize = 128;
/// Knowledge changes through the API when no token names the editor.
const ANONYMOUS_EDITOR: &str = "api";

fn principal<T>(request: &Request<T>) -> Option<&Arc<Principal>> {
    request.extensions().get::<Arc<Principal>>()
}

/// The reviewing agent's id: the token's subject (x-agent-id is then ignored).
pub fn agent_id<T>(request: &Request<T>) -> Result<String, Status> {
    if let Some(p) = principal(request) {
        return Ok(p.subject.clone());
    }
    let value = request.metadata().get(AGENT_HEADER).ok_or_else(|| {
        Status::unauthenticated(format!(
            "{AGENT_HEADER} metadata is required (the reviewing agent's id)"
        ))
    })?;
    let id = value
        .to_str()
        .map_err(|_| Status::invalid_argument(format!("{AGENT_HEADER}: must be printable ASCII")))?
        .trim()
        .to_string();
    if id.is_empty() {
        return Err(Status::unauthenticated(format!(
            "{AGENT_HEADER} metadata must not be empty"
        )));
    }
    if id.chars().count() > MAX_AGENT_ID_CHARS {
        return Err(Status::invalid_argument(format!(
            "{AGENT_HEADER}: must be at most {MAX_AGENT_ID_CHARS} characters"
        )));
    }
    Ok(id)
}

/// The calling platform, as drafts record it: the token's subject, empty
/// without tokens. Request ids are idempotency keys per caller and conversation.
pub fn caller<T>(request: &Request<T>) -> String {
    principal(request)
        .map(|p| p.subject.clone())
        .unwrap_or_default()
}

/// Whose customers' data the caller may read: a token that is only a
/// platform's sees the conversations that platform opened; staff tokens
/// (agent, viewer, editor, admin) and calls without tokens see everything.
pub fn scope<T>(request: &Request<T>) -> Scope {
    match principal(request) {
        Some(p) if p.roles.iter().all(|r| *r == Role::Platform) => {
            Scope::Platform(p.subject.clone())
        }
        _ => Scope::Everything,
    }
}

/// Whether the caller may act as a supervisor (reassign a conversation):
/// an admin token, or anyone when no tokens are checked.
pub fn supervises<T>(request: &Request<T>) -> bool {
    principal(request).is_none_or(|p| p.roles.contains(&Role::Admin))
}

/// Who changed knowledge, for the audit trail.
pub fn editor<T>(request: &Request<T>) -> String {
    principal(request)
        .map(|p| p.subject.clone())
        .unwrap_or_else(|| ANONYMOUS_EDITOR.to_string())
}
