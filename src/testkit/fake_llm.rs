//! A local OpenAI-compatible chat-completions endpoint (and embeddings
//! endpoint) whose answers the caller scripts, recording every request it
//! receives and how long it held each one.

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::post;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// One scripted answer.
#[derive(Clone, Debug)]
pub struct FakeResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// How long the endpoint waits before answering.
    pub delay: Duration,
    /// Server-sent events, for `stream: true` requests.
    pub sse: Option<Vec<String>>,
}

impl FakeResponse {
    /// A completion whose message content is `content`, with log-probabilities.
    pub fn content(content: &str) -> FakeResponse {
        let body = json!({
            "id": "fake", "object": "chat.completion", "created": 0, "model": "fake-model",
            "choices": [{ "index": 0, "message": { "role": "assistant", "content": content }, "finish_reason": "stop",
                          "logprobs": { "content": [{ "token": "a", "logprob": -0.05 }, { "token": "b", "logprob": -0.15 }] } }],
            "usage": { "prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120 }
        });
        FakeResponse {
            status: 200,
            headers: vec![],
            body: body.to_string(),
            delay: Duration::ZERO,
            sse: None,
        }
    }

    /// The JSON answer a well-behaved model gives.
    pub fn answer(
        reply: &str,
        citations: &[i64],
        answerable: bool,
        confidence: f64,
    ) -> FakeResponse {
        Self::content(&json!({ "reply": reply, "citations": citations, "answerable": answerable, "confidence": confidence }).to_string())
    }

    /// An embeddings answer: `vectors[i]` with `index` i, in the order given
    /// (a test may shuffle them, or give the wrong number).
    pub fn embeddings(vectors: &[(usize, Vec<f32>)]) -> FakeResponse {
        let data: Vec<Value> = vectors
            .iter()
            .map(|(i, v)| json!({ "object": "embedding", "index": i, "embedding": v }))
            .collect();
        let body = json!({ "object": "list", "data": data, "model": "fake-embedder",
                           "usage": { "prompt_tokens": 1, "total_tokens": 1 } });
        FakeResponse {
            status: 200,
            headers: vec![],
            body: body.to_string(),
            delay: Duration::ZERO,
            sse: None,
        }
    }

    pub fn status(status: u16) -> FakeResponse {
        let body = json!({ "error": { "message": format!("fake error {status}"), "type": "fake", "param": null, "code": null } });
        FakeResponse {
            status,
            headers: vec![],
            body: body.to_string(),
            delay: Duration::ZERO,
            sse: None,
        }
    }

    pub fn with_header(mut self, k: &str, v: &str) -> FakeResponse {
        self.headers.push((k.into(), v.into()));
        self
    }

    pub fn delayed(mut self, d: Duration) -> FakeResponse {
        self.delay = d;
        self
    }

    /// A streamed answer: `content` cut into pieces of `piece` characters.
    pub fn streamed(content: &str, piece: usize) -> FakeResponse {
        let chars: Vec<char> = content.chars().collect();
        let mut events: Vec<String> = chars
            .chunks(piece.max(1))
            .map(|c| {
                json!({ "id": "fake", "object": "chat.completion.chunk", "created": 0, "model": "fake-model",
                        "choices": [{ "index": 0, "delta": { "content": c.iter().collect::<String>() }, "finish_reason": null }] })
                .to_string()
            })
            .collect();
        events.push(json!({ "id": "fake", "object": "chat.completion.chunk", "created": 0, "model": "fake-model", "choices": [], "usage": { "prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2 } }).to_string());
        events.push("[DONE]".into());
        FakeResponse {
            status: 200,
            headers: vec![],
            body: String::new(),
            delay: Duration::ZERO,
            sse: Some(events),
        }
    }
}

type Script = dyn Fn(&Value, usize) -> FakeResponse + Send + Sync;

/// A request as received, and how long it was held before its answer went
/// out (None while it is held).
struct Exchange {
    headers: HeaderMap,
    request: Value,
    held: Option<Duration>,
}

type Log = Arc<Mutex<Vec<Exchange>>>;

#[derive(Clone)]
struct Shared {
    script: Arc<Script>,
    log: Log,
}

/// The endpoints `POST /v1/chat/completions` and `POST /v1/embeddings` on
/// `127.0.0.1:0`; `script(request, n)` answers the n-th request to either
/// (from 0).
pub struct FakeLlm {
    pub addr: SocketAddr,
    log: Log,
    /// For [`FakeLlm::start_on_own_thread`]: dropped with the `FakeLlm`,
    /// which stops that thread's server.
    _stop: Option<oneshot::Sender<()>>,
}

impl FakeLlm {
    /// Starts the endpoint on the caller's runtime; it serves as long as that
    /// runtime runs.
    ///
    /// # Panics
    /// When `127.0.0.1:0` cannot be bound (a test kit's start, like
    /// wiremock's `MockServer::start`).
    pub async fn start(
        script: impl Fn(&Value, usize) -> FakeResponse + Send + Sync + 'static,
    ) -> FakeLlm {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0 for the fake LLM");
        let addr = listener.local_addr().expect("a bound listener's address");
        let (app, log) = router(Arc::new(script));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeLlm {
            addr,
            log,
            _stop: None,
        }
    }

    /// Starts the endpoint on a thread and runtime of its own, so that it
    /// takes no time from the runtime of the server it answers (what a
    /// benchmark of that server needs); it stops when the `FakeLlm` is dropped.
    ///
    /// # Panics
    /// When `127.0.0.1:0` cannot be bound or the thread cannot be spawned.
    pub fn start_on_own_thread(
        script: impl Fn(&Value, usize) -> FakeResponse + Send + Sync + 'static,
    ) -> FakeLlm {
        let listener =
            std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0 for the fake LLM");
        listener
            .set_nonblocking(true)
            .expect("a non-blocking listener");
        let addr = listener.local_addr().expect("a bound listener's address");
        let (app, log) = router(Arc::new(script));
        let (stop, stopped) = oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("fake-llm".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a runtime for the fake LLM");
                runtime.block_on(async move {
                    if let Ok(listener) = tokio::net::TcpListener::from_std(listener) {
                        let _ = axum::serve(listener, app)
                            .with_graceful_shutdown(async move {
                                let _ = stopped.await;
                            })
                            .await;
                    }
                });
            })
            .expect("a thread for the fake LLM");
        FakeLlm {
            addr,
            log,
            _stop: Some(stop),
        }
    }

    /// The base URL to configure as `llm.base_url`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Every request body received so far, in order.
    pub fn requests(&self) -> Vec<Value> {
        self.log().iter().map(|e| e.request.clone()).collect()
    }

    /// Every request's headers, in order.
    pub fn headers(&self) -> Vec<HeaderMap> {
        self.log().iter().map(|e| e.headers.clone()).collect()
    }

    pub fn calls(&self) -> usize {
        self.log().len()
    }

    /// Every answered request with how long the endpoint held it: from
    /// receiving its body to its answer being ready (the delay included).
    pub fn holds(&self) -> Vec<(Value, Duration)> {
        self.log()
            .iter()
            .filter_map(|e| e.held.map(|held| (e.request.clone(), held)))
            .collect()
    }

    fn log(&self) -> MutexGuard<'_, Vec<Exchange>> {
        self.log.lock().expect("the fake LLM's log is not poisoned")
    }
}

fn router(script: Arc<Script>) -> (Router, Log) {
    let log = Log::default();
    let shared = Shared {
        script,
        log: log.clone(),
    };
    let app = Router::new()
        .route("/v1/chat/completions", post(handle))
        .route("/v1/embeddings", post(handle))
        .with_state(shared);
    (app, log)
}

async fn handle(State(shared): State<Shared>, headers: HeaderMap, body: String) -> Response {
    let received = Instant::now();
    let request: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let n = {
        let mut log = shared
            .log
            .lock()
            .expect("the fake LLM's log is not poisoned");
        log.push(Exchange {
            headers,
            request: request.clone(),
            held: None,
        });
        log.len() - 1
    };
    let answer = (shared.script)(&request, n);
    if !answer.delay.is_zero() {
        tokio::time::sleep(answer.delay).await;
    }
    shared
        .log
        .lock()
        .expect("the fake LLM's log is not poisoned")[n]
        .held = Some(received.elapsed());
    let mut builder = Response::builder().status(
        StatusCode::from_u16(answer.status).expect("a scripted status is a valid HTTP status"),
    );
    for (k, v) in &answer.headers {
        builder = builder.header(k, v);
    }
    let response = match answer.sse {
        Some(events) => {
            let text: String = events.iter().map(|e| format!("data: {e}\n\n")).collect();
            builder
                .header("content-type", "text/event-stream")
                .body(Body::from(text))
        }
        None => builder
            .header("content-type", "application/json")
            .body(Body::from(answer.body)),
    };
    response.expect("a scripted response is a valid HTTP response")
}
