//! The queue, one draft with everything needed to decide it, the decisions,
//! and the articles a draft cites.

use super::guard::{Acting, Signed, rpc};
use super::pages::{self, QueueQuery};
use super::session::Who;
use super::{Answer, Console, OrPage, Shared, field, html, with_notice};
use crate::model::{Delivery, Draft, Scope, now_ms};
use crate::review::{QueueFilter, ReasonCode};
use axum::extract::{Path, Query};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect};

async fn pending(c: &Console, q: &QueueQuery) -> Result<Vec<Draft>, tonic::Status> {
    let filter = QueueFilter::of(&q.channel, &q.locale);
    Ok(c.app.review.list_pending(&filter, 0).await?)
}

/// How many drafts the queue lists at most (the review queue's page).
fn page(c: &Console) -> usize {
    c.app.config.limits.max_page_size as usize
}

pub async fn queue_page(
    c: Shared,
    Signed(who, ..): Signed<rpc::ListPending>,
    Query(q): Query<QueueQuery>,
) -> Answer {
    let drafts = pending(&c, &q).await.or_page(&who)?;
    Ok(html(
        StatusCode::OK,
        pages::queue(&who, &q, &drafts, page(&c), now_ms()),
    ))
}

pub async fn queue_fragment(
    c: Shared,
    Signed(who, ..): Signed<rpc::ListPending>,
    Query(q): Query<QueueQuery>,
) -> Answer {
    let drafts = pending(&c, &q).await.or_page(&who)?;
    Ok(html(
        StatusCode::OK,
        pages::queue_live(&q, &drafts, page(&c), now_ms()),
    ))
}

/// The review view; with `error`, the refusal of the action just tried above it.
async fn draft_view(c: &Console, who: &Who, id: &str, error: Option<&str>) -> Answer {
    let draft = c
        .app
        .drafter
        .get(id, &Scope::Everything)
        .await
        .or_page(who)?;
    let transcript = c
        .app
        .transcript(&draft.conversation_id, &Scope::Everything)
        .await
        .or_page(who)?;
    // What approving it as written sends now: its body, its label, a template after the window.
    let labeling = crate::drafting::sending(
        &c.app.config,
        &*c.app.store,
        &draft.conversation_id,
        &draft.channel,
        now_ms(),
    )
    .await
    .or_page(who)?;
    let mut as_written = draft.clone();
    as_written.final_body = draft.body.clone();
    let preview = Delivery::labeled(&as_written, &who.subject, now_ms(), &labeling);
    let status = if error.is_some() {
        StatusCode::CONFLICT
    } else {
        StatusCode::OK
    };
    Ok(html(
        status,
        pages::review(
            who,
            &pages::ReviewView {
                draft: &draft,
                transcript: &transcript,
                preview: &preview,
                now: now_ms(),
                lease_seconds: c.app.config.review.lease_seconds,
                error,
            },
        ),
    ))
}

pub async fn draft_page(
    c: Shared,
    Signed(who, ..): Signed<rpc::GetDraft>,
    Path(id): Path<String>,
) -> Answer {
    draft_view(&c, &who, &id, None).await
}

pub async fn draft_status(
    c: Shared,
    Signed(who, ..): Signed<rpc::GetDraft>,
    Path(id): Path<String>,
) -> Answer {
    let draft = c
        .app
        .drafter
        .get(&id, &Scope::Everything)
        .await
        .or_page(&who)?;
    Ok(html(StatusCode::OK, pages::status(&who, &draft, now_ms())))
}

/// After an action: where the agent goes next, or the review view with the
/// refusal (a draft someone else holds, a decided one, a bad reason code).
async fn decided(
    c: &Console,
    who: &Who,
    id: &str,
    done: Result<Option<pages::Notice>, tonic::Status>,
) -> Answer {
    match done {
        Ok(None) => Ok(
            Redirect::to(&format!("/console/drafts/{}", super::path_segment(id))).into_response(),
        ),
        Ok(Some(notice)) => Ok(with_notice("/console", notice)),
        Err(status) if status.code() == tonic::Code::NotFound => {
            Err(super::failure(Some(who), status).into())
        }
        Err(status) => draft_view(c, who, id, Some(status.message())).await,
    }
}

pub async fn claim(
    c: Shared,
    Path(id): Path<String>,
    Acting(who, f, ..): Acting<rpc::Claim>,
) -> Answer {
    let lease = field(&f, "lease_seconds")
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let done = c.app.review.claim(&id, &who.subject, lease).await;
    decided(&c, &who, &id, done.map(|_| None).map_err(Into::into)).await
}

pub async fn release(
    c: Shared,
    Path(id): Path<String>,
    Acting(who, ..): Acting<rpc::Release>,
) -> Answer {
    let done = c.app.review.release(&id, &who.subject).await;
    decided(&c, &who, &id, done.map(|_| None).map_err(Into::into)).await
}

/// Approves as written, or with `edited_body` when it differs from the draft.
pub async fn approve(
    c: Shared,
    Path(id): Path<String>,
    Acting(who, f, ..): Acting<rpc::Approve>,
) -> Answer {
    let draft = c
        .app
        .drafter
        .get(&id, &Scope::Everything)
        .await
        .or_page(&who)?;
    let edited = field(&f, "edited_body").filter(|e| e.trim() != draft.body.trim());
    let done = c
        .app
        .review
        .approve(&id, &who.subject, edited.as_deref())
        .await
        .map(|_| {
            Some(if edited.is_some() {
                pages::Notice::ApprovedEdit
            } else {
                pages::Notice::Approved
            })
        });
    decided(&c, &who, &id, done.map_err(Into::into)).await
}

/// Rejects with a reason code and an optional note; with `replacement_body`
/// the agent's own reply goes to the customer instead.
pub async fn reject(
    c: Shared,
    Path(id): Path<String>,
    Acting(who, f, ..): Acting<rpc::Reject>,
) -> Answer {
    let code = match ReasonCode::parse("reason_code", &field(&f, "reason_code").unwrap_or_default())
    {
        Ok(code) => code,
        Err(e) => return decided(&c, &who, &id, Err(e.into())).await,
    };
    let reason = code.with_note(&field(&f, "reason").unwrap_or_default());
    let replacement = field(&f, "replacement_body");
    let done = c
        .app
        .review
        .reject(&id, &who.subject, &reason, replacement.as_deref())
        .await
        .map(|_| {
            Some(if replacement.is_some() {
                pages::Notice::Replaced
            } else {
                pages::Notice::Rejected
            })
        });
    decided(&c, &who, &id, done.map_err(Into::into)).await
}

#[derive(serde::Deserialize)]
pub struct Version {
    version: Option<u64>,
}

/// An article as the side panel shows it (`x-fragment`), or as a page.
pub async fn article(
    c: Shared,
    Signed(who, ..): Signed<rpc::GetArticle>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(v): Query<Version>,
) -> Answer {
    crate::validate::id("article_id", &id, c.app.config.limits.max_id_chars, true).or_page(&who)?;
    let Some(a) = c.app.store.get_article(&id).await.or_page(&who)? else {
        return Err(super::failure(
            Some(&who),
            tonic::Status::not_found(format!(
                "article {id:?} not found (deleted since the draft cited it)"
            )),
        )
        .into());
    };
    let body = pages::article(&a, v.version);
    Ok(if headers.contains_key("x-fragment") {
        html(StatusCode::OK, body)
    } else {
        html(
            StatusCode::OK,
            pages::layout(&a.title, Some(&who), None, body),
        )
    })
}
