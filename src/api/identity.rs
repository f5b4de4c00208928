//! Who is calling. Until authentication exists, an agent names itself with
//! the `x-agent-id` request metadata; this is the one place that reads it.

use tonic::{Request, Status};

pub const AGENT_HEADER: &str = "x-agent-id";
const MAX_AGENT_ID_CHARS: usize = 128;

/// The reviewing agent's id.
pub fn agent_id<T>(request: &Request<T>) -> Result<String, Status> {
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
