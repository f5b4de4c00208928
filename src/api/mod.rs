//! The gRPC surface: three services over the domain, plus health and
//! reflection. Each method unwraps the request, calls the domain and converts
//! the result; errors become statuses in `status`.

mod convert;
mod drafts;
mod identity;
mod insights;
mod knowledge;
mod review;
mod status;

use crate::app::App;
use std::future::Future;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::TcpListenerStream;

/// Generated protobuf types, clients and servers of `replygate.v1`.
pub mod pb {
    #![allow(clippy::large_enum_variant)]
    tonic::include_proto!("replygate.v1");
    /// The encoded descriptor set, for server reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        tonic::include_file_descriptor_set!("replygate_descriptor");
}

/// Serves gRPC on `listener` until `shutdown` completes; open streams end when
/// `stop` turns true.
pub async fn serve(
    app: Arc<App>,
    listener: TcpListener,
    stop: watch::Receiver<bool>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), tonic::transport::Error> {
    let max = app.config.limits.max_grpc_message_bytes;
    let (health, health_service) = tonic_health::server::health_reporter();
    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .expect("embedded descriptor sets are valid");
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()
        .expect("embedded descriptor sets are valid");

    let drafts =
        pb::drafts_server::DraftsServer::new(drafts::DraftsApi::new(app.clone(), stop.clone()))
            .max_decoding_message_size(max)
            .max_encoding_message_size(max);
    let review =
        pb::review_server::ReviewServer::new(review::ReviewApi::new(app.clone(), stop.clone()))
            .max_decoding_message_size(max)
            .max_encoding_message_size(max);
    let knowledge =
        pb::knowledge_server::KnowledgeServer::new(knowledge::KnowledgeApi::new(app.clone()))
            .max_decoding_message_size(max)
            .max_encoding_message_size(max);

    health
        .set_serving::<pb::drafts_server::DraftsServer<drafts::DraftsApi>>()
        .await;
    health
        .set_serving::<pb::review_server::ReviewServer<review::ReviewApi>>()
        .await;
    health
        .set_serving::<pb::knowledge_server::KnowledgeServer<knowledge::KnowledgeApi>>()
        .await;
    let insights =
        pb::insights_server::InsightsServer::new(insights::InsightsApi::new(app.clone()))
            .max_decoding_message_size(max)
            .max_encoding_message_size(max);
    health
        .set_serving::<pb::insights_server::InsightsServer<insights::InsightsApi>>()
        .await;

    tracing::info!(addr = %listener.local_addr().map(|a| a.to_string()).unwrap_or_default(), "grpc listening");
    // Replies are small: without TCP_NODELAY, Nagle and delayed ACKs add ~40 ms per call.
    let incoming = TcpListenerStream::new(listener).map(|conn| {
        if let Ok(stream) = &conn {
            let _ = stream.set_nodelay(true);
        }
        conn
    });
    tonic::transport::Server::builder()
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(drafts)
        .add_service(review)
        .add_service(knowledge)
        .add_service(insights)
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
}
