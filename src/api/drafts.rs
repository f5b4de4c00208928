//! `replygate.v1.Drafts`: support platforms.

use super::{convert, pb};
use crate::app::App;
use crate::drafting::{DraftRequest, Role, Turn};
use std::pin::Pin;
use std::sync::Arc;
use tokio::sync::watch;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status};

pub struct DraftsApi {
    app: Arc<App>,
    stop: watch::Receiver<bool>,
}

impl DraftsApi {
    pub fn new(app: Arc<App>, stop: watch::Receiver<bool>) -> Self {
        DraftsApi { app, stop }
    }
}

type DeliveryStream = Pin<Box<dyn Stream<Item = Result<pb::Delivery, Status>> + Send>>;

fn draft_request(r: pb::CreateDraftRequest) -> DraftRequest {
    DraftRequest {
        conversation_id: r.conversation_id,
        message: r.message,
        locale: r.locale,
        channel: r.channel,
        context: r.context.into_iter().collect(),
        request_id: r.request_id,
        history: r
            .history
            .into_iter()
            .map(|t| Turn {
                role: if t.role == pb::Role::Support as i32 {
                    Role::Support
                } else {
                    Role::Customer
                },
                text: t.text,
            })
            .collect(),
    }
}

#[tonic::async_trait]
impl pb::drafts_server::Drafts for DraftsApi {
    async fn create_draft(
        &self,
        request: Request<pb::CreateDraftRequest>,
    ) -> Result<Response<pb::Draft>, Status> {
        let draft = self
            .app
            .drafter
            .create(draft_request(request.into_inner()))
            .await?;
        Ok(Response::new(convert::draft(draft)))
    }

    async fn get_draft(
        &self,
        request: Request<pb::GetDraftRequest>,
    ) -> Result<Response<pb::Draft>, Status> {
        let draft = self.app.drafter.get(&request.into_inner().draft_id).await?;
        Ok(Response::new(convert::draft(draft)))
    }

    type StreamDeliveriesStream = DeliveryStream;

    async fn stream_deliveries(
        &self,
        request: Request<pb::StreamDeliveriesRequest>,
    ) -> Result<Response<DeliveryStream>, Status> {
        let r = request.into_inner();
        let channel = (!r.channel.is_empty()).then_some(r.channel);
        let rx = self
            .app
            .deliveries
            .stream(r.after_cursor, channel, self.stop.clone())?;
        let stream =
            ReceiverStream::new(rx).map(|item| item.map(convert::delivery).map_err(Status::from));
        Ok(Response::new(Box::pin(stream)))
    }

    async fn ack_delivery(
        &self,
        request: Request<pb::AckDeliveryRequest>,
    ) -> Result<Response<pb::AckDeliveryResponse>, Status> {
        let (newly_acked, draft) = self.app.deliveries.ack(request.into_inner().cursor).await?;
        Ok(Response::new(pb::AckDeliveryResponse {
            newly_acked,
            draft: Some(convert::draft(draft)),
        }))
    }

    async fn get_conversation(
        &self,
        request: Request<pb::GetConversationRequest>,
    ) -> Result<Response<pb::Conversation>, Status> {
        let id = request.into_inner().conversation_id;
        let transcript = self.app.transcript(&id).await?;
        Ok(Response::new(convert::conversation(transcript)))
    }
}
