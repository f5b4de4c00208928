//! The agents' console, served on the HTTP address at `/console`, and the
//! customers' transcript pages at `/transcript/<link>`.
//!
//! A thin edge like the gRPC one: every page reads the domain (`App`),
//! every action calls the same review methods the `Review` service calls,
//! under the same role rules (`guard`, over `api::auth::roles_for`), and
//! every domain error becomes a status through the one mapping to gRPC
//! codes, then to HTTP here. Pages are server-rendered (`pages`, with
//! maud); `assets/console.js` (no build step, no dependencies) makes them
//! live: it listens to `/console/events` and re-reads the parts of the page
//! marked `data-live`.
//!
//! - `session`: sign-in, the cookie, CSRF; `guard`: the extractors that let a person in
//! - `review`: the queue, one draft and its actions, articles
//! - `desk`: conversations and the managers' page
//! - `pages`, `words`: what the person sees

mod desk;
mod guard;
mod pages;
mod review;
pub mod session;
mod words;

use crate::api::auth::Mode;
use crate::app::App;
use axum::Router;
use axum::extract::{ConnectInfo, Form, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::Markup;
use pages::path_segment;
use session::{COOKIE, Sessions, Who};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::watch;

const SCRIPT: &str = include_str!("assets/console.js");
const STYLE: &str = include_str!("assets/console.css");
/// Where `replygate eval` records its last summary, under the data dir.
pub const LAST_EVAL_FILE: &str = "last-eval.json";

pub struct Console {
    app: Arc<App>,
    sessions: Sessions,
    stop: watch::Receiver<bool>,
    /// The audit chain's last verdict, with the chain head it was reached at
    /// and when: a conversation page verifies the chain again only when it
    /// grew or the verdict is a minute old (a change behind the store's
    /// back adds no event).
    audit: tokio::sync::Mutex<Option<AuditSeen>>,
}

type Shared = State<Arc<Console>>;

struct AuditSeen {
    head: (u64, String),
    at: std::time::Instant,
    verdict: crate::audit::Verdict,
}

/// How long a verdict of the audit chain stands when the chain has not grown.
const AUDIT_VERDICT_STANDS: std::time::Duration = std::time::Duration::from_secs(60);

impl Console {
    pub async fn open(
        app: Arc<App>,
        mode: Mode,
        stop: watch::Receiver<bool>,
    ) -> Result<Console, crate::storage::Error> {
        let signer = crate::signing::Signer::load(&app.store, "console_sessions").await?;
        let hours = app.config.console.session_hours;
        Ok(Console {
            sessions: Sessions::new(mode, signer, hours),
            app,
            stop,
            audit: tokio::sync::Mutex::new(None),
        })
    }

    /// The audit chain's verdict (see `audit`); one verification at a time.
    async fn audit_verdict(&self) -> Result<crate::audit::Verdict, crate::storage::Error> {
        let mut last = self.audit.lock().await;
        let head = self.app.store.audit_head().await?;
        if let Some(seen) = last.as_ref()
            && seen.head == head
            && seen.at.elapsed() < AUDIT_VERDICT_STANDS
        {
            return Ok(seen.verdict.clone());
        }
        let verdict = crate::audit::verify(&self.app.store).await?;
        *last = Some(AuditSeen {
            head,
            at: std::time::Instant::now(),
            verdict: verdict.clone(),
        });
        Ok(verdict)
    }

    /// The person a request's session cookie signs in, if any.
    fn who(&self, headers: &HeaderMap, peer: Option<SocketAddr>) -> Option<Who> {
        let value = headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .find_map(|c| c.trim().strip_prefix(COOKIE)?.strip_prefix('='))?;
        self.sessions.who(value, peer, text(headers, header::HOST))
    }

    fn secure(&self, headers: &HeaderMap) -> bool {
        self.app.config.console.secure_cookie
            || headers
                .get("x-forwarded-proto")
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"))
    }
}

/// The console's routes, to merge into the HTTP router.
pub fn routes(console: Arc<Console>) -> Router {
    Router::new()
        .route("/console", get(review::queue_page))
        .route("/console/", get(|| async { Redirect::to("/console") }))
        .route("/console/login", get(login_page).post(login))
        .route("/console/logout", post(logout))
        .route("/console/queue", get(review::queue_fragment))
        .route("/console/events", get(events))
        .route("/console/drafts/{id}", get(review::draft_page))
        .route("/console/drafts/{id}/status", get(review::draft_status))
        .route("/console/drafts/{id}/claim", post(review::claim))
        .route("/console/drafts/{id}/release", post(review::release))
        .route("/console/drafts/{id}/approve", post(review::approve))
        .route("/console/drafts/{id}/reject", post(review::reject))
        .route("/console/articles/{id}", get(review::article))
        .route("/console/conversations", get(desk::find_conversation))
        .route("/console/conversations/{id}", get(desk::conversation_page))
        .route(
            "/console/conversations/{id}/transcript",
            get(desk::conversation_transcript),
        )
        .route(
            "/console/conversations/{id}/take-over",
            post(desk::take_over),
        )
        .route(
            "/console/conversations/{id}/hand-back",
            post(desk::hand_back),
        )
        .route("/console/conversations/{id}/resolve", post(desk::resolve))
        .route("/console/manager", get(desk::manager_page))
        .route("/console/manager/in-progress", get(desk::in_progress))
        .route("/console/assets/console.js", get(script))
        .route("/console/assets/console.css", get(style))
        .route("/transcript/assets/record.css", get(style))
        .route("/transcript/{token}", get(customer_record))
        .with_state(console)
}

// --- responses ---

/// A page, with the headers every console page carries: no framing, no
/// scripts or styles from elsewhere, forms only to here, nothing cached.
fn html(status: StatusCode, markup: Markup) -> Response {
    let mut r = (status, markup).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // Not no-referrer: with it, Chromium sends a form's Origin as "null".
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// The page for a domain error, with the HTTP status of its gRPC status (the one mapping).
fn failure(who: Option<&Who>, status: tonic::Status) -> Response {
    let code = http_status(status.code());
    html(code, pages::error(who, status.message()))
}

fn http_status(code: tonic::Code) -> StatusCode {
    use tonic::Code;
    match code {
        Code::InvalidArgument | Code::OutOfRange => StatusCode::BAD_REQUEST,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::FailedPrecondition | Code::Aborted | Code::AlreadyExists => StatusCode::CONFLICT,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        Code::Unavailable | Code::ResourceExhausted => StatusCode::SERVICE_UNAVAILABLE,
        Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        Code::Ok
        | Code::Cancelled
        | Code::Unknown
        | Code::Unimplemented
        | Code::Internal
        | Code::DataLoss => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The page of the domain error that stopped a handler (boxed: a response is large).
struct Refusal(Box<Response>);

impl From<Response> for Refusal {
    fn from(r: Response) -> Refusal {
        Refusal(Box::new(r))
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        *self.0
    }
}

/// The page a handler answers with, or the page of the error that stopped it.
type Answer = Result<Response, Refusal>;

/// Turns a domain result into the page of its error.
trait OrPage<T> {
    fn or_page(self, who: &Who) -> Result<T, Refusal>;
}

impl<T, E: Into<tonic::Status>> OrPage<T> for Result<T, E> {
    fn or_page(self, who: &Who) -> Result<T, Refusal> {
        self.map_err(|e| failure(Some(who), e.into()).into())
    }
}

/// A redirect that carries what the action did to the page it leads to.
fn with_notice(path: &str, notice: pages::Notice) -> Response {
    Redirect::to(&format!("{path}?done={}", notice.code())).into_response()
}

/// A header's value, when it is text.
fn text(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Whether a request comes from this console's own pages (its `Origin`, when
/// the browser sends one, is this host).
fn from_here(headers: &HeaderMap) -> bool {
    session::same_origin(text(headers, header::ORIGIN), text(headers, header::HOST))
}

/// A form field that is not blank, with a browser's CRLF line ends as the
/// LF the rest of the product writes.
fn field(f: &HashMap<String, String>, name: &str) -> Option<String> {
    f.get(name)
        .filter(|v| !v.trim().is_empty())
        .map(|v| v.replace("\r\n", "\n"))
}

// --- sign-in ---

async fn login_page(State(c): Shared) -> Response {
    html(StatusCode::OK, pages::login(c.sessions.wants_token(), None))
}

async fn login(
    State(c): Shared,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    let secret = f.get("secret").map(String::as_str).unwrap_or_default();
    if !from_here(&headers) {
        // Another site must not sign a visitor in as someone else.
        return html(
            StatusCode::FORBIDDEN,
            pages::login(
                c.sessions.wants_token(),
                Some("Sign in from this console's own page."),
            ),
        );
    }
    match c
        .sessions
        .sign_in(secret, Some(peer), text(&headers, header::HOST))
    {
        Ok(value) => {
            let mut r = Redirect::to("/console").into_response();
            if let Ok(v) =
                HeaderValue::from_str(&c.sessions.cookie(Some(&value), c.secure(&headers)))
            {
                r.headers_mut().insert(header::SET_COOKIE, v);
            }
            r
        }
        Err(e) => html(
            StatusCode::UNAUTHORIZED,
            pages::login(c.sessions.wants_token(), Some(&e.to_string())),
        ),
    }
}

async fn logout(State(c): Shared, headers: HeaderMap) -> Response {
    if !from_here(&headers) {
        return (
            StatusCode::FORBIDDEN,
            "sign out from the console's own page",
        )
            .into_response();
    }
    let mut r = Redirect::to("/console/login").into_response();
    if let Ok(v) = HeaderValue::from_str(&c.sessions.cookie(None, c.secure(&headers))) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

/// Server-sent events: "changed" whenever a draft enters, changes in or
/// leaves the queue or a reply is committed (on any replica); the page then
/// re-reads its live parts. Ends on shutdown.
async fn events(State(c): Shared, _: guard::Signed<guard::rpc::ListPending>) -> Response {
    let mut stop = c.stop.clone();
    let mut store_events = c.app.store.subscribe();
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Event, std::convert::Infallible>>(16);
    tokio::spawn(async move {
        use crate::storage::StoreEvent;
        use tokio::sync::broadcast::error::RecvError;
        loop {
            let event = tokio::select! {
                e = store_events.recv() => e,
                _ = stop.wait_for(|s| *s) => return,
                _ = tx.closed() => return,
            };
            let data = match event {
                Ok(StoreEvent::QueueChanged { draft_id }) => draft_id,
                Ok(StoreEvent::DeliveryCreated { cursor }) => format!("delivery {cursor}"),
                Ok(StoreEvent::Resync) | Err(RecvError::Lagged(_)) => "*".to_string(),
                Err(RecvError::Closed) => return,
                Ok(StoreEvent::DeliveryAcked { .. })
                | Ok(StoreEvent::ArticleChanged { .. })
                | Ok(StoreEvent::MemoryChanged { .. }) => continue,
            };
            if tx
                .send(Ok(Event::default().event("changed").data(data)))
                .await
                .is_err()
            {
                return;
            }
        }
    });
    Sse::new(tokio_stream::wrappers::ReceiverStream::new(rx))
        .keep_alive(KeepAlive::default())
        .into_response()
}

// --- assets and the customer's record ---

async fn script() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        SCRIPT,
    )
        .into_response()
}

async fn style() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE).into_response()
}

/// The read-only page a transcript link opens: one conversation, nothing
/// else; an expired, revoked or altered link shows nothing of it.
async fn customer_record(State(c): Shared, Path(token): Path<String>) -> Response {
    let conversation = match c.app.links.open(&token).await {
        Ok(Some(id)) => id,
        Ok(None) => return html(StatusCode::NOT_FOUND, pages::link_not_valid()),
        Err(e) => {
            tracing::warn!(error = %e, "transcript link not checked");
            return html(StatusCode::SERVICE_UNAVAILABLE, pages::link_not_valid());
        }
    };
    match c.app.store.transcript(&conversation).await {
        Ok(Some(t)) => html(StatusCode::OK, pages::customer_record(&t)),
        Ok(None) | Err(_) => html(StatusCode::NOT_FOUND, pages::link_not_valid()),
    }
}
