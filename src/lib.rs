//! replygate: a gRPC gateway that drafts customer-support replies from a
//! help-center knowledge base, labels each draft as AI-written with a
//! confidence, sends the confident ones on and holds the rest for a human.
//!
//! Module map:
//! - [`api`]: tonic services (Drafts, Review, Knowledge, Insights), health, reflection; the
//!   tower stack (auth, load limits), TLS; errors -> statuses
//! - [`auth`]: bearer tokens (kept as hashes), subjects and roles
//! - [`http`]: `/healthz` and `/metrics`
//! - [`app`]: the assembled domain, opened from a [`config::Config`]
//! - [`drafting`]: the pipeline: validation, language, policy, retrieval, extractive drafter, confidence
//! - [`knowledge`]: articles, Markdown parsing, the folder sync, the tantivy index
//! - [`review`]: the review state machine, claims with leases, the queue
//! - [`delivery`]: the outbox stream and acknowledgements
//! - [`insights`]: figures for managers over a time window (the Insights service)
//! - [`storage`]: the `Store` trait and its SQLite implementation
//! - [`model`]: records shared by the modules
//! - [`eval`]: routing evaluation on labeled questions
//! - [`languages`]: the table of supported languages every per-language piece reads
//! - [`config`], [`telemetry`]
//!
//! [`run`] starts everything on listeners the caller bound, so tests use the
//! real server on `127.0.0.1:0`.

pub mod api;
pub mod app;
pub mod audit;
pub mod auth;
pub mod config;
pub mod delivery;
pub mod drafting;
pub mod eval;
pub mod http;
pub mod insights;
pub mod knowledge;
pub mod languages;
pub mod model;
pub mod review;
pub mod storage;
pub mod telemetry;
pub mod validate;

use std::future::Future;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Sockets the server answers on, bound by the caller.
pub struct Listeners {
    pub grpc: TcpListener,
    pub http: TcpListener,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Open(#[from] app::Error),
    #[error(transparent)]
    Grpc(#[from] api::Error),
    #[error("http server: {0}")]
    Http(#[from] std::io::Error),
}

/// Opens the app and serves gRPC and HTTP until `shutdown` completes, then
/// stops accepting, ends open streams and returns once in-flight calls finish.
pub async fn run(
    config: config::Config,
    listeners: Listeners,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    let door = api::Door::from_config(&config)?;
    let app = Arc::new(app::App::open(config).await?);
    let (stop_tx, stop_rx) = watch::channel(false);
    let sweeper = tokio::spawn(app.review.clone().run_sweeper(stop_rx.clone()));
    let follower = tokio::spawn(app.knowledge.clone().follow(stop_rx.clone()));
    let wait = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stopped| *stopped).await;
    };
    let grpc = api::serve(
        app.clone(),
        door,
        listeners.grpc,
        stop_rx.clone(),
        wait(stop_rx.clone()),
    );
    let http = http::serve(app.clone(), listeners.http, wait(stop_rx.clone()));
    let signal = async move {
        shutdown.await;
        tracing::info!("shutting down");
        let _ = stop_tx.send(true);
    };
    let (grpc, http, ()) = tokio::join!(grpc, http, signal);
    sweeper.abort();
    follower.abort();
    // Wait for them to be gone: they hold the store (and SQLite's file lock).
    let _ = tokio::join!(sweeper, follower);
    grpc?;
    http?;
    Ok(())
}
