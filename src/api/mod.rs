//! The gRPC surface: three services over the domain, plus health and
//! reflection. Each method unwraps the request, calls the domain and converts
//! the result; errors become statuses in `status`.

pub mod auth;
pub mod codec;
mod convert;
mod drafts;
pub mod guard;
mod identity;
mod insights;
mod knowledge;
pub mod limits;
mod privacy;
mod review;
mod status;

use crate::app::App;
use crate::config::{AuthMode, Config};
use guard::GuardLayer;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
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

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("auth: {0}")]
    Auth(String),
    #[error("tls: {0}")]
    Tls(String),
    #[error("grpc server: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// What guards the door, checked before the server opens: who may call and
/// the TLS settings.
pub struct Door {
    mode: auth::Mode,
    tls: Option<tonic::transport::ServerTlsConfig>,
}

impl Door {
    pub fn from_config(config: &Config) -> Result<Door, Error> {
        let mode = match config.auth {
            AuthMode::Disabled => {
                tracing::warn!(
                    "auth is off (auth = \"none\"): any caller may do anything; for local use only"
                );
                auth::Mode::Open
            }
            AuthMode::Tokens => {
                let tokens = crate::auth::Tokens::from_config(&config.tokens)
                    .map_err(|e| Error::Auth(e.to_string()))?;
                if tokens.is_empty() {
                    tracing::warn!(
                        "no [[tokens]] configured: serving clients on this machine only, without tokens (protected mode); create tokens with `replygate token create`"
                    );
                    auth::Mode::LoopbackOnly
                } else {
                    auth::Mode::Tokens(Arc::new(tokens))
                }
            }
        };
        let tls = match config.tls.enabled() {
            false => None,
            true => Some(tls_config(&config.tls)?),
        };
        Ok(Door { mode, tls })
    }

    /// Who may call: the console signs people in by the same rules.
    pub fn mode(&self) -> auth::Mode {
        self.mode.clone()
    }
}

fn tls_config(c: &crate::config::TlsConfig) -> Result<tonic::transport::ServerTlsConfig, Error> {
    use tonic::transport::{Certificate, Identity, ServerTlsConfig};
    let read = |key: &str, path: &std::path::Path| {
        std::fs::read(path).map_err(|e| Error::Tls(format!("tls.{key} {}: {e}", path.display())))
    };
    let identity = Identity::from_pem(read("cert", &c.cert)?, read("key", &c.key)?);
    let mut tls = ServerTlsConfig::new().identity(identity);
    if !c.client_ca.as_os_str().is_empty() {
        tls = tls.client_ca_root(Certificate::from_pem(read("client_ca", &c.client_ca)?));
    }
    Ok(tls)
}

/// The health-check service name that reports SERVING once every passage
/// is embedded and retrieval is hybrid (only with an embedder).
pub const SEMANTIC_HEALTH: &str = "replygate.semantic";

/// Serves gRPC on `listener` until `shutdown` completes; open streams end when
/// `stop` turns true.
pub async fn serve(
    app: Arc<App>,
    door: Door,
    listener: TcpListener,
    stop: watch::Receiver<bool>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), Error> {
    let limits = app.config.limits.clone();
    let max = limits.max_grpc_message_bytes;
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
    let privacy = pb::privacy_server::PrivacyServer::new(privacy::PrivacyApi::new(app.clone()))
        .max_decoding_message_size(max)
        .max_encoding_message_size(max);
    health
        .set_serving::<pb::privacy_server::PrivacyServer<privacy::PrivacyApi>>()
        .await;

    // With an embedder, "replygate.semantic" says whether retrieval is hybrid
    // yet (NOT_SERVING while the help center is being embedded).
    if app.knowledge.embedder().is_some() {
        let knowledge = app.knowledge.clone();
        let health = health.clone();
        let mut stop = stop.clone();
        tokio::spawn(async move {
            use tonic_health::ServingStatus;
            health
                .set_service_status(SEMANTIC_HEALTH, ServingStatus::NotServing)
                .await;
            tokio::select! {
                _ = knowledge.semantic_ready_wait() => {}
                _ = stop.changed() => return,
            }
            health
                .set_service_status(SEMANTIC_HEALTH, ServingStatus::Serving)
                .await;
        });
    }

    tracing::info!(
        addr = %listener.local_addr().map(|a| a.to_string()).unwrap_or_default(),
        tls = door.tls.is_some(),
        client_certificates = !app.config.tls.client_ca.as_os_str().is_empty(),
        auth = match door.mode {
            auth::Mode::Open => "none",
            auth::Mode::LoopbackOnly => "loopback only",
            auth::Mode::Tokens(_) => "tokens",
        },
        "grpc listening"
    );
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(
            "try it: `cargo run -- ask \"How do I back up my chats?\" --addr {addr}` prints a draft; the README's Walkthrough goes through review and delivery"
        );
    }
    // Replies are small: without TCP_NODELAY, Nagle and delayed ACKs add ~40 ms per call.
    let incoming = TcpListenerStream::new(listener).map(|conn| {
        if let Ok(stream) = &conn {
            let _ = stream.set_nodelay(true);
        }
        conn
    });
    // Outermost first: refuse oversized metadata and shed load before any
    // work, then authenticate, then the per-token limits.
    let layers = tower::ServiceBuilder::new()
        .layer(GuardLayer(limits::MetadataLimit::new(
            limits.max_header_list_bytes,
        )))
        .layer(GuardLayer(limits::Shed::new(
            limits.max_concurrent_requests,
        )))
        .layer(GuardLayer(auth::Authenticate::new(door.mode.clone())))
        .layer(GuardLayer(limits::RateLimit::new(
            limits.requests_per_second_per_token,
            limits.burst_per_token,
        )))
        .layer(GuardLayer(limits::StreamLimit::new(
            limits.max_streams_per_token,
        )))
        .layer(GuardLayer(limits::Timeout::new(Duration::from_millis(
            limits.request_timeout_ms,
        ))));
    let mut server = tonic::transport::Server::builder()
        .max_concurrent_streams(limits.max_concurrent_streams_per_connection)
        .http2_max_header_list_size(limits::http2_header_list_bytes(
            limits.max_header_list_bytes,
        ));
    if let Some(tls) = door.tls {
        server = server.tls_config(tls)?;
    }
    server
        .layer(layers)
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(drafts)
        .add_service(review)
        .add_service(knowledge)
        .add_service(insights)
        .add_service(privacy)
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await?;
    Ok(())
}
