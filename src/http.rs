//! The HTTP side port: `/healthz` (the store answers), `/metrics`
//! (Prometheus text format), the agents' console at `/console` and the
//! customers' transcript pages (`console`).

use crate::app::App;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use std::future::Future;
use std::sync::Arc;
use tokio::net::TcpListener;

pub async fn serve(
    app: Arc<App>,
    mode: crate::api::auth::Mode,
    listener: TcpListener,
    stop: tokio::sync::watch::Receiver<bool>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let console = crate::console::Console::open(app.clone(), mode, stop)
        .await
        .map_err(std::io::Error::other)?;
    let router = Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .with_state(app)
        .merge(crate::console::routes(Arc::new(console)));
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "http listening");
    tracing::info!(
        "agents' console: open http://{addr}/console (README, \"Walkthrough\"); send a first message with `replygate ask \"How do I change my phone number?\"`"
    );
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

async fn healthz(State(app): State<Arc<App>>) -> impl IntoResponse {
    match app.store.ping().await {
        Ok(()) => (StatusCode::OK, "ok\n"),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "store unavailable\n"),
    }
}

async fn metrics(State(app): State<Arc<App>>) -> impl IntoResponse {
    if let Err(e) = app.review.refresh_gauges().await {
        tracing::warn!(error = %e, "queue gauges not refreshed");
    }
    let mut out = String::new();
    let encoder = prometheus::TextEncoder::new();
    match encoder.encode_utf8(&prometheus::gather(), &mut out) {
        Ok(()) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, prometheus::TEXT_FORMAT)],
            out,
        ),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "text/plain")],
            e.to_string(),
        ),
    }
}
