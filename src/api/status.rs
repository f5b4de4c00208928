//! Every domain error becomes a gRPC status here, and nowhere else. Each
//! mapping names every variant (no catch-all), so a new variant forces a decision.

use crate::model::rfc3339;
use crate::{delivery, drafting, insights, knowledge, links, privacy, review, storage, validate};
use tonic::Status;

/// Every refused value, whichever module refused it: "field: message".
impl From<validate::Invalid> for Status {
    fn from(e: validate::Invalid) -> Status {
        Status::invalid_argument(e.to_string())
    }
}

impl From<storage::Error> for Status {
    fn from(e: storage::Error) -> Status {
        match e {
            storage::Error::Conflict | storage::Error::Duplicate(_) => {
                Status::aborted("the record changed concurrently; retry")
            }
            storage::Error::NotFound(what) => Status::not_found(format!("{what} not found")),
            storage::Error::Unavailable(_) => {
                tracing::warn!(error = %e, "store unavailable");
                Status::unavailable("the database is unavailable; retry later")
            }
            storage::Error::OtherPlatform(_) => Status::permission_denied(
                "conversation_id: this conversation was opened by another platform; each platform uses its own conversation ids",
            ),
            storage::Error::Refused(refusal) => refusal.into(),
            storage::Error::Internal(_) | storage::Error::Corrupt(_) => {
                tracing::error!(error = %e, "store failed");
                Status::internal("internal storage error")
            }
        }
    }
}

impl From<crate::conversation::Refusal> for Status {
    fn from(e: crate::conversation::Refusal) -> Status {
        match e {
            crate::conversation::Refusal::OwnedByOther(owner) => Status::failed_precondition(
                format!("conversation is owned by {owner}; they hand it back or resolve it first"),
            ),
            crate::conversation::Refusal::IllegalState { action, state } => {
                Status::failed_precondition(format!(
                    "cannot {action} a conversation in state {}",
                    state.as_str()
                ))
            }
        }
    }
}

impl From<knowledge::Error> for Status {
    fn from(e: knowledge::Error) -> Status {
        match e {
            knowledge::Error::Invalid(e) => e.into(),
            knowledge::Error::NotFound(id) => {
                Status::not_found(format!("article {id:?} not found"))
            }
            knowledge::Error::Index(e) => {
                tracing::error!(error = %e, "search index failed");
                Status::internal("search index error")
            }
            knowledge::Error::Store(e) => e.into(),
            knowledge::Error::Embedding(e) => {
                tracing::warn!(error = %e, "embedder failed");
                Status::unavailable("the embedding model is unavailable; try again")
            }
        }
    }
}

impl From<drafting::Error> for Status {
    fn from(e: drafting::Error) -> Status {
        match e {
            drafting::Error::Invalid(e) => e.into(),
            drafting::Error::NotFound { what, id } => {
                Status::not_found(format!("{what} {id:?} not found"))
            }
            drafting::Error::Knowledge(e) => e.into(),
            drafting::Error::Store(e) => e.into(),
        }
    }
}

impl From<review::Error> for Status {
    fn from(e: review::Error) -> Status {
        match e {
            review::Error::Invalid(e) => e.into(),
            review::Error::NotFound(id) => Status::not_found(format!("draft {id:?} not found")),
            review::Error::ClaimedByOther { holder, expires_at } => Status::failed_precondition(
                format!("draft is claimed by {holder} until {}", rfc3339(expires_at)),
            ),
            review::Error::IllegalState { action, state } => Status::failed_precondition(format!(
                "cannot {action} a draft in state {}",
                state.as_str()
            )),
            review::Error::Contended => Status::aborted("the draft kept changing; retry"),
            review::Error::ConversationNotFound(id) => {
                Status::not_found(format!("conversation {id:?} not found"))
            }
            review::Error::Store(e) => e.into(),
        }
    }
}

impl From<drafting::memory::Error> for Status {
    fn from(e: drafting::memory::Error) -> Status {
        match e {
            drafting::memory::Error::Invalid(e) => e.into(),
            drafting::memory::Error::NotFound(id) => {
                Status::not_found(format!("curated answer {id:?} not found"))
            }
            drafting::memory::Error::Contended => {
                Status::aborted("the curated answer kept changing; retry")
            }
            drafting::memory::Error::Store(e) => e.into(),
        }
    }
}

impl From<insights::Error> for Status {
    fn from(e: insights::Error) -> Status {
        match e {
            insights::Error::Invalid(e) => e.into(),
            insights::Error::Store(e) => e.into(),
        }
    }
}

impl From<delivery::Error> for Status {
    fn from(e: delivery::Error) -> Status {
        match e {
            delivery::Error::Invalid(e) => e.into(),
            delivery::Error::NotFound(cursor) => {
                Status::not_found(format!("delivery {cursor} not found"))
            }
            delivery::Error::Store(e) => e.into(),
        }
    }
}

impl From<privacy::Error> for Status {
    fn from(e: privacy::Error) -> Status {
        match e {
            privacy::Error::Invalid(e) => e.into(),
            privacy::Error::NotFound(what) => Status::not_found(format!("{what} not found")),
            privacy::Error::Store(e) => e.into(),
        }
    }
}

impl From<links::Error> for Status {
    fn from(e: links::Error) -> Status {
        match e {
            links::Error::Invalid(e) => e.into(),
            links::Error::NotFound(what) => Status::not_found(format!("{what} not found")),
            links::Error::Store(e) => e.into(),
        }
    }
}
