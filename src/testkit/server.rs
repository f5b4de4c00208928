//! The real server, started in this process on `127.0.0.1:0` and stopped
//! gracefully, with gRPC clients for it.

use crate::api::pb::drafts_client::DraftsClient;
use crate::api::pb::knowledge_client::KnowledgeClient;
use crate::api::pb::review_client::ReviewClient;
use crate::config::Config;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// How long [`Server::start`] waits for the Drafts service to report serving.
const READY_WITHIN: Duration = Duration::from_secs(60);
/// How long [`Server::stop`] waits for in-flight calls to finish.
const STOPPED_WITHIN: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("bind 127.0.0.1:0: {0}")]
    Bind(#[source] std::io::Error),
    #[error("server did not become ready within {0:?}")]
    NotReady(Duration),
    #[error("server exited during start-up")]
    Exited,
    #[error("server failed: {0}")]
    Failed(#[source] crate::Error),
    #[error("server task: {0}")]
    Task(#[from] tokio::task::JoinError),
    #[error("server did not stop within {0:?}")]
    NotStopped(Duration),
}

/// The real server ([`crate::run`]) on `127.0.0.1:0`, serving gRPC and HTTP
/// on the runtime of whoever started it. Dropping it asks it to stop;
/// [`Server::stop`] also waits for it.
pub struct Server {
    pub grpc_addr: SocketAddr,
    pub http_addr: SocketAddr,
    /// `config.data_dir`: the caller's to create beforehand and remove after.
    pub data_dir: PathBuf,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<Result<(), crate::Error>>>,
    channel: Channel,
}

impl Server {
    /// Starts the server on `config` (its listen addresses are ignored: both
    /// listeners are bound on `127.0.0.1:0`) and returns once its Drafts
    /// service reports serving.
    pub async fn start(config: Config) -> Result<Server, Error> {
        Self::start_with_endpoint(config, |addr| {
            Endpoint::from_shared(format!("http://{addr}"))
                .expect("http://<socket address> is a URI")
        })
        .await
    }

    /// [`Server::start`], reaching the gRPC address through the endpoint
    /// `endpoint(grpc_addr)` gives (e.g. with TLS and a client certificate),
    /// for the readiness check and for the clients this hands out.
    pub async fn start_with_endpoint(
        config: Config,
        endpoint: impl FnOnce(SocketAddr) -> Endpoint,
    ) -> Result<Server, Error> {
        let grpc = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(Error::Bind)?;
        let http = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(Error::Bind)?;
        let grpc_addr = grpc.local_addr().map_err(Error::Bind)?;
        let http_addr = http.local_addr().map_err(Error::Bind)?;
        let data_dir = config.data_dir.clone();
        let (tx, rx) = oneshot::channel::<()>();
        let handle = tokio::spawn(crate::run(
            config,
            crate::Listeners { grpc, http },
            async move {
                let _ = rx.await;
            },
        ));
        let channel = endpoint(grpc_addr).connect_lazy();
        let mut server = Server {
            grpc_addr,
            http_addr,
            data_dir,
            shutdown: Some(tx),
            handle: Some(handle),
            channel,
        };
        server.wait_until_serving().await?;
        Ok(server)
    }

    async fn wait_until_serving(&mut self) -> Result<(), Error> {
        let deadline = Instant::now() + READY_WITHIN;
        let mut health = HealthClient::new(self.channel.clone());
        loop {
            let req = HealthCheckRequest {
                service: "replygate.v1.Drafts".into(),
            };
            if let Ok(resp) = health.check(req).await
                && resp.into_inner().status == ServingStatus::Serving as i32
            {
                return Ok(());
            }
            if let Some(handle) = self.handle.take_if(|h| h.is_finished()) {
                return Err(match handle.await? {
                    Ok(()) => Error::Exited,
                    Err(e) => Error::Failed(e),
                });
            }
            if Instant::now() >= deadline {
                return Err(Error::NotReady(READY_WITHIN));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until health service [`crate::api::SEMANTIC_HEALTH`] reports
    /// serving: every passage embedded, retrieval hybrid (only with an embedder).
    pub async fn wait_until_semantic(&self, within: Duration) -> Result<(), Error> {
        let deadline = Instant::now() + within;
        let mut health = HealthClient::new(self.channel.clone());
        loop {
            let req = HealthCheckRequest {
                service: crate::api::SEMANTIC_HEALTH.into(),
            };
            if let Ok(resp) = health.check(req).await
                && resp.into_inner().status == ServingStatus::Serving as i32
            {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(Error::NotReady(within));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn drafts(&self) -> DraftsClient<Channel> {
        DraftsClient::new(self.channel.clone())
    }

    pub fn review(&self) -> ReviewClient<Channel> {
        ReviewClient::new(self.channel.clone())
    }

    pub fn knowledge(&self) -> KnowledgeClient<Channel> {
        KnowledgeClient::new(self.channel.clone())
    }

    pub fn privacy(&self) -> crate::api::pb::privacy_client::PrivacyClient<Channel> {
        crate::api::pb::privacy_client::PrivacyClient::new(self.channel.clone())
    }

    /// A channel to the gRPC address, connected on first use.
    pub fn channel(&self) -> Channel {
        self.channel.clone()
    }

    /// Stops the server gracefully and waits for it: what [`crate::run`]
    /// returned, or why it did not return in time.
    pub async fn stop(mut self) -> Result<(), Error> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let Some(handle) = self.handle.take() else {
            return Ok(());
        };
        tokio::time::timeout(STOPPED_WITHIN, handle)
            .await
            .map_err(|_| Error::NotStopped(STOPPED_WITHIN))??
            .map_err(Error::Failed)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
