//! replygate: a gRPC gateway that drafts customer-support replies from a
//! help-center knowledge base, labels each draft as AI-written with a
//! confidence, sends the confident ones on and holds the rest for a human.
//!
//! Module map (a module uses only those below it or beside it, never one
//! that uses it back: `scripts/module_cycles.py` checks):
//! - [`api`]: the gRPC edge: tonic services (Drafts, Review, Knowledge, Insights), health,
//!   reflection, proto <-> domain, every error -> `Status` (`status.rs`); the tower stack:
//!   `guard.rs` (the shared machinery), `auth.rs` (who is calling), `limits.rs` (load)
//! - [`http`]: `/healthz`, `/metrics`, and [`console`]: the agents' console and the customers'
//!   transcript pages (server-rendered with maud; `console/assets/` the script and styles)
//! - [`links`]: signed, expiring transcript links; [`signing`]: the HMAC keys the store keeps
//! - [`app`]: the assembled domain, opened from a [`config::Config`]
//! - [`drafting`]: the pipeline in named stages (validate, detect, policy, mask, retrieve,
//!   generate, check, score, route, record), each its own module; the LLM client and prompt
//! - [`knowledge`]: articles (`articles.rs`), Markdown parsing, the folder sync (`sync.rs`),
//!   the tantivy index and its follower (`follow.rs`), search, BM25 scoring
//! - [`embedding`]: sentence embeddings behind one `Embedder` (query and passage sides, unit
//!   vectors): `local/` runs a BERT-family model with candle, `fetch.rs` brings one from the hub
//! - [`review`]: the review state machine (pure transitions), claims with leases, the queue
//! - [`delivery`]: the outbox stream, consumer groups and acknowledgements
//! - [`insights`]: figures for managers over a time window (the Insights service)
//! - [`audit`]: verifies the audit chain the store writes (`storage::chain`)
//! - [`storage`]: the `Store` trait; one generic `SqlStore<B>` over SQLite and PostgreSQL,
//!   statements in `storage/queries/*.sql`, migrations by sqlx's migrator, the chain's writer
//! - [`validate`]: the one vocabulary for refusing input (`Invalid`, text, id, channel rules)
//! - [`languages`]: the table of supported languages every per-language piece reads
//! - [`model`]: records shared by the modules; [`auth`]: tokens (as hashes), subjects, roles
//! - [`eval`]: routing evaluation on labeled questions
//! - [`config`] (typed, layered by figment), [`telemetry`]
//! - [`testkit`]: the harness the integration tests and `replygate bench` share: the real
//!   server on `127.0.0.1:0` over a given data dir, and a scripted OpenAI-compatible fake LLM;
//!   it uses the crate from outside, and nothing here uses it
//!
//! `replygate bench` lives in the binary (`src/bench/`), not in this library;
//! it starts its servers and its fake LLM with [`testkit`].
//!
//! [`run`] starts everything on listeners the caller bound, so tests use the
//! real server on `127.0.0.1:0`.

pub mod api;
pub mod app;
pub mod audit;
pub mod auth;
pub mod config;
pub mod console;
pub mod conversation;
pub mod delivery;
pub mod device;
pub mod drafting;
pub mod embedding;
pub mod eval;
pub mod http;
pub mod insights;
pub mod knowledge;
pub mod languages;
pub mod links;
pub mod model;
pub mod privacy;
pub mod review;
pub mod signing;
pub mod storage;
pub mod telemetry;
pub mod testkit;
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
    mut config: config::Config,
    listeners: Listeners,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    let door = api::Door::from_config(&config)?;
    // The address the HTTP port is bound to (port 0 picks one): links name it.
    config.http_addr = listeners.http.local_addr()?.to_string();
    let app = Arc::new(app::App::open(config).await?);
    if app.config.embedding.index_before_serving
        && let Err(e) = app.knowledge.index_passages().await
    {
        tracing::warn!(error = %e, "passages not embedded; serving with lexical retrieval, retrying in the background");
    }
    let (stop_tx, stop_rx) = watch::channel(false);
    let sweeper = tokio::spawn(app.review.clone().run_sweeper(stop_rx.clone()));
    let follower = tokio::spawn(app.knowledge.clone().follow(stop_rx.clone()));
    let memory = tokio::spawn(app.memory.clone().follow(stop_rx.clone()));
    let retention = tokio::spawn(app.privacy.clone().run_retention(stop_rx.clone()));
    // What is not embedded yet (all of it, without index_before_serving) is
    // embedded here; retrieval is hybrid once it is.
    let passages = tokio::spawn({
        let knowledge = app.knowledge.clone();
        async move {
            knowledge
                .index_passages_retrying(std::time::Duration::from_secs(30))
                .await
        }
    });
    let wait = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stopped| *stopped).await;
    };
    let mode = door.mode();
    let grpc = api::serve(
        app.clone(),
        door,
        listeners.grpc,
        stop_rx.clone(),
        wait(stop_rx.clone()),
    );
    let http = http::serve(
        app.clone(),
        mode,
        listeners.http,
        stop_rx.clone(),
        wait(stop_rx.clone()),
    );
    let signal = async move {
        shutdown.await;
        tracing::info!("shutting down");
        let _ = stop_tx.send(true);
    };
    let (grpc, http, ()) = tokio::join!(grpc, http, signal);
    sweeper.abort();
    follower.abort();
    memory.abort();
    passages.abort();
    retention.abort();
    // Wait for them to be gone: they hold the store (and SQLite's file lock).
    let _ = tokio::join!(sweeper, follower, memory, passages, retention);
    grpc?;
    http?;
    Ok(())
}
