//! `replygate.v1.Review`: agents.

use super::identity::{agent_id, supervises};
use super::{convert, pb};
use crate::app::App;
use crate::review::{QueueFilter, ReasonCode};
use std::pin::Pin;
use std::sync::Arc;
use tokio::sync::watch;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status};

pub struct ReviewApi {
    app: Arc<App>,
    stop: watch::Receiver<bool>,
}

impl ReviewApi {
    pub fn new(app: Arc<App>, stop: watch::Receiver<bool>) -> Self {
        ReviewApi { app, stop }
    }
}

type QueueStream = Pin<Box<dyn Stream<Item = Result<pb::QueueEvent, Status>> + Send>>;

#[tonic::async_trait]
impl pb::review_server::Review for ReviewApi {
    async fn list_pending(
        &self,
        request: Request<pb::ListPendingRequest>,
    ) -> Result<Response<pb::ListPendingResponse>, Status> {
        let r = request.into_inner();
        let drafts = self
            .app
            .review
            .list_pending(&QueueFilter::of(&r.channel, &r.locale), r.limit)
            .await?;
        Ok(Response::new(pb::ListPendingResponse {
            drafts: drafts.into_iter().map(convert::draft).collect(),
        }))
    }

    async fn claim(
        &self,
        request: Request<pb::ClaimRequest>,
    ) -> Result<Response<pb::Draft>, Status> {
        let agent = agent_id(&request)?;
        let r = request.into_inner();
        let draft = self
            .app
            .review
            .claim(&r.draft_id, &agent, r.lease_seconds)
            .await?;
        Ok(Response::new(convert::draft(draft)))
    }

    async fn approve(
        &self,
        request: Request<pb::ApproveRequest>,
    ) -> Result<Response<pb::Draft>, Status> {
        let agent = agent_id(&request)?;
        let r = request.into_inner();
        let draft = self
            .app
            .review
            .approve(&r.draft_id, &agent, r.edited_body.as_deref())
            .await?;
        Ok(Response::new(convert::draft(draft)))
    }

    async fn reject(
        &self,
        request: Request<pb::RejectRequest>,
    ) -> Result<Response<pb::Draft>, Status> {
        let agent = agent_id(&request)?;
        let r = request.into_inner();
        let reason = if r.reason_code.is_empty() {
            r.reason
        } else {
            ReasonCode::parse("reason_code", &r.reason_code)?.with_note(&r.reason)
        };
        let draft = self
            .app
            .review
            .reject(&r.draft_id, &agent, &reason, r.replacement_body.as_deref())
            .await?;
        Ok(Response::new(convert::draft(draft)))
    }

    async fn release(
        &self,
        request: Request<pb::ReleaseRequest>,
    ) -> Result<Response<pb::Draft>, Status> {
        let agent = agent_id(&request)?;
        let draft = self
            .app
            .review
            .release(&request.into_inner().draft_id, &agent)
            .await?;
        Ok(Response::new(convert::draft(draft)))
    }

    async fn take_over(
        &self,
        request: Request<pb::ConversationActionRequest>,
    ) -> Result<Response<pb::ConversationOwnership>, Status> {
        let agent = agent_id(&request)?;
        let supervisor = supervises(&request);
        let r = request.into_inner();
        let changed = if r.reassign_to.is_empty() {
            self.app
                .review
                .take_over(&r.conversation_id, &agent)
                .await?
        } else if supervisor {
            self.app
                .review
                .reassign(&r.conversation_id, &r.reassign_to, &agent)
                .await?
        } else {
            return Err(Status::permission_denied(
                "reassign_to: only an admin may give a conversation to another agent",
            ));
        };
        Ok(Response::new(convert::ownership(
            &r.conversation_id,
            changed,
        )))
    }

    async fn hand_back(
        &self,
        request: Request<pb::ConversationActionRequest>,
    ) -> Result<Response<pb::ConversationOwnership>, Status> {
        let agent = agent_id(&request)?;
        let id = request.into_inner().conversation_id;
        let changed = self.app.review.hand_back(&id, &agent).await?;
        Ok(Response::new(convert::ownership(&id, changed)))
    }

    async fn resolve(
        &self,
        request: Request<pb::ConversationActionRequest>,
    ) -> Result<Response<pb::ConversationOwnership>, Status> {
        let agent = agent_id(&request)?;
        let id = request.into_inner().conversation_id;
        let changed = self.app.review.resolve(&id, &agent).await?;
        Ok(Response::new(convert::ownership(&id, changed)))
    }

    type WatchQueueStream = QueueStream;

    async fn watch_queue(
        &self,
        request: Request<pb::WatchQueueRequest>,
    ) -> Result<Response<QueueStream>, Status> {
        let r = request.into_inner();
        let rx = self
            .app
            .review
            .watch(QueueFilter::of(&r.channel, &r.locale), self.stop.clone())
            .await?;
        let stream = ReceiverStream::new(rx)
            .map(|item| item.map(convert::queue_event).map_err(Status::from));
        Ok(Response::new(Box::pin(stream)))
    }
}
