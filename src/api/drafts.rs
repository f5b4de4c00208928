//! `replygate.v1.Drafts`: support platforms.

use super::{convert, identity, pb};
use crate::app::App;
use crate::delivery::StreamRequest;
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
type DraftEventStream = Pin<Box<dyn Stream<Item = Result<pb::DraftEvent, Status>> + Send>>;

fn draft_request(r: pb::CreateDraftRequest, caller: String) -> DraftRequest {
    DraftRequest {
        caller,
        conversation_id: r.conversation_id,
        message: r.message,
        locale: r.locale,
        channel: r.channel,
        context: r.context.into_iter().collect(),
        request_id: r.request_id,
        customer_id: r.customer_id,
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
        let caller = identity::caller(&request);
        let draft = self
            .app
            .drafter
            .create(draft_request(request.into_inner(), caller))
            .await?;
        Ok(Response::new(convert::draft(draft)))
    }

    type StreamDraftStream = DraftEventStream;

    async fn stream_draft(
        &self,
        request: Request<pb::CreateDraftRequest>,
    ) -> Result<Response<DraftEventStream>, Status> {
        let caller = identity::caller(&request);
        let r = draft_request(request.into_inner(), caller);
        self.app.drafter.validate(&r)?;
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<pb::DraftEvent, Status>>(64);
        let app = self.app.clone();
        tokio::spawn(async move {
            let (delta_tx, mut delta_rx) = tokio::sync::mpsc::channel::<String>(64);
            let forward = {
                let tx = tx.clone();
                async move {
                    while let Some(delta) = delta_rx.recv().await {
                        let event = pb::DraftEvent {
                            event: Some(pb::draft_event::Event::Delta(delta)),
                        };
                        if tx.send(Ok(event)).await.is_err() {
                            return;
                        }
                    }
                }
            };
            let create = async move { app.drafter.create_streaming(r, Some(&delta_tx)).await };
            let (result, ()) = tokio::join!(create, forward);
            let last = result
                .map(|d| pb::DraftEvent {
                    event: Some(pb::draft_event::Event::Draft(convert::draft(d))),
                })
                .map_err(Status::from);
            let _ = tx.send(last).await;
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn get_draft(
        &self,
        request: Request<pb::GetDraftRequest>,
    ) -> Result<Response<pb::Draft>, Status> {
        let scope = identity::scope(&request);
        let draft = self
            .app
            .drafter
            .get(&request.into_inner().draft_id, &scope)
            .await?;
        Ok(Response::new(convert::draft(draft)))
    }

    type StreamDeliveriesStream = DeliveryStream;

    async fn stream_deliveries(
        &self,
        request: Request<pb::StreamDeliveriesRequest>,
    ) -> Result<Response<DeliveryStream>, Status> {
        let scope = identity::scope(&request);
        let r = request.into_inner();
        let wanted = StreamRequest {
            after_cursor: r.after_cursor,
            channel: (!r.channel.is_empty()).then_some(r.channel),
            group: (!r.consumer_group.is_empty()).then_some(r.consumer_group),
            lease_seconds: r.lease_seconds,
        };
        let rx = self
            .app
            .deliveries
            .stream(wanted, scope, self.stop.clone())?;
        let stream =
            ReceiverStream::new(rx).map(|item| item.map(convert::delivery).map_err(Status::from));
        Ok(Response::new(Box::pin(stream)))
    }

    async fn ack_delivery(
        &self,
        request: Request<pb::AckDeliveryRequest>,
    ) -> Result<Response<pb::AckDeliveryResponse>, Status> {
        let scope = identity::scope(&request);
        let (newly_acked, draft) = self
            .app
            .deliveries
            .ack(request.into_inner().cursor, &scope)
            .await?;
        Ok(Response::new(pb::AckDeliveryResponse {
            newly_acked,
            draft: Some(convert::draft(draft)),
        }))
    }

    async fn get_conversation(
        &self,
        request: Request<pb::GetConversationRequest>,
    ) -> Result<Response<pb::Conversation>, Status> {
        let scope = identity::scope(&request);
        let id = request.into_inner().conversation_id;
        let transcript = self.app.transcript(&id, &scope).await?;
        Ok(Response::new(convert::conversation(transcript)))
    }

    async fn create_transcript_link(
        &self,
        request: Request<pb::CreateTranscriptLinkRequest>,
    ) -> Result<Response<pb::TranscriptLink>, Status> {
        let scope = identity::scope(&request);
        let by = identity::editor(&request);
        let r = request.into_inner();
        let link = self
            .app
            .links
            .create(&r.conversation_id, r.ttl_seconds, &by, &scope)
            .await?;
        Ok(Response::new(pb::TranscriptLink {
            link_id: link.id,
            url: link.url,
            expires_at: convert::timestamp(link.expires_at),
        }))
    }

    async fn revoke_transcript_link(
        &self,
        request: Request<pb::RevokeTranscriptLinkRequest>,
    ) -> Result<Response<pb::RevokeTranscriptLinkResponse>, Status> {
        let scope = identity::scope(&request);
        let id = request.into_inner().link_id;
        let revoked = self.app.links.revoke(&id, &scope).await?;
        Ok(Response::new(pb::RevokeTranscriptLinkResponse { revoked }))
    }
}
