//! Conversations (find one, its transcript with provenance, its state and
//! who owns it, the audit chain's verdict) and the managers' page.

use super::guard::{Acting, Signed, rpc};
use super::pages;
use super::{Answer, Console, OrPage, Shared, html, path_segment, with_notice};
use crate::model::{Scope, now_ms};
use crate::storage::ConversationSummary;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};

#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub struct Find {
    id: String,
    done: String,
}

pub async fn find_conversation(
    c: Shared,
    Signed(who, ..): Signed<rpc::GetConversation>,
    Query(q): Query<Find>,
) -> Answer {
    let id = q.id.trim();
    if id.is_empty() {
        return Ok(html(StatusCode::OK, pages::find_conversation(&who, None)));
    }
    match c.app.transcript(id, &Scope::Everything).await {
        Ok(_) => Ok(
            Redirect::to(&format!("/console/conversations/{}", path_segment(id))).into_response(),
        ),
        Err(e) => {
            let s: tonic::Status = e.into();
            Ok(html(
                super::http_status(s.code()),
                pages::find_conversation(&who, Some(s.message())),
            ))
        }
    }
}

pub async fn conversation_page(
    c: Shared,
    Signed(who, ..): Signed<rpc::GetConversation>,
    Path(id): Path<String>,
    Query(q): Query<Find>,
) -> Answer {
    let t = c
        .app
        .transcript(&id, &Scope::Everything)
        .await
        .or_page(&who)?;
    let audit = match c.audit_verdict().await {
        Ok(v) => pages::audit_words(&v, &id),
        Err(e) => (false, format!("The audit chain could not be read: {e}")),
    };
    let notice = pages::Notice::parse(&q.done).map(pages::Notice::text);
    Ok(html(
        StatusCode::OK,
        pages::conversation(&who, &t, audit, now_ms(), notice),
    ))
}

pub async fn conversation_transcript(
    c: Shared,
    Signed(who, ..): Signed<rpc::GetConversation>,
    Path(id): Path<String>,
) -> Answer {
    let t = c
        .app
        .transcript(&id, &Scope::Everything)
        .await
        .or_page(&who)?;
    Ok(html(StatusCode::OK, pages::transcript_fragment(&t)))
}

fn back_to(id: &str, notice: pages::Notice) -> axum::response::Response {
    with_notice(
        &format!("/console/conversations/{}", path_segment(id)),
        notice,
    )
}

pub async fn take_over(
    c: Shared,
    Path(id): Path<String>,
    Acting(who, ..): Acting<rpc::TakeOver>,
) -> Answer {
    c.app
        .review
        .take_over(&id, &who.subject)
        .await
        .or_page(&who)?;
    Ok(back_to(&id, pages::Notice::TakenOver))
}

pub async fn hand_back(
    c: Shared,
    Path(id): Path<String>,
    Acting(who, ..): Acting<rpc::HandBack>,
) -> Answer {
    c.app
        .review
        .hand_back(&id, &who.subject)
        .await
        .or_page(&who)?;
    Ok(back_to(&id, pages::Notice::HandedBack))
}

pub async fn resolve(
    c: Shared,
    Path(id): Path<String>,
    Acting(who, ..): Acting<rpc::Resolve>,
) -> Answer {
    c.app
        .review
        .resolve(&id, &who.subject)
        .await
        .or_page(&who)?;
    Ok(back_to(&id, pages::Notice::Resolved))
}

/// Conversations a person is or should be on, and those the AI answered in the last hour.
async fn in_progress_list(c: &Console) -> Result<Vec<ConversationSummary>, tonic::Status> {
    let hour = 3600 * 1000;
    Ok(c.app
        .store
        .conversations_in_progress(now_ms() - hour, 200)
        .await?)
}

pub async fn manager_page(c: Shared, Signed(who, ..): Signed<rpc::Stats>) -> Answer {
    let now = now_ms();
    let hour = 3600 * 1000;
    let list = in_progress_list(&c).await.or_page(&who)?;
    let insights = &c.app.insights;
    let today = insights.stats(None, Some(now), None).await.or_page(&who)?;
    let mut hours = Vec::new();
    for i in (0..12).rev() {
        let to = now - i * hour;
        hours.push(
            insights
                .stats(Some(to - hour), Some(to), None)
                .await
                .or_page(&who)?,
        );
    }
    let gauges = c.app.store.gauges(now).await.or_page(&who)?;
    let eval = tokio::fs::read(c.app.config.data_dir.join(super::LAST_EVAL_FILE))
        .await
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok());
    Ok(html(
        StatusCode::OK,
        pages::manager(
            &who,
            &pages::ManagerView {
                in_progress: &list,
                today: &today,
                hours: &hours,
                queue_depth: gauges.queue_depth,
                oldest_pending: gauges.oldest_pending,
                eval: eval.as_ref(),
                now,
            },
        ),
    ))
}

pub async fn in_progress(c: Shared, Signed(who, ..): Signed<rpc::Stats>) -> Answer {
    let list = in_progress_list(&c).await.or_page(&who)?;
    Ok(html(StatusCode::OK, pages::in_progress(&list, now_ms())))
}
