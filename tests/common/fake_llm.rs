//! A local OpenAI-compatible chat-completions server whose answers a test
//! scripts, recording every request it receives.

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::post;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One scripted answer.
#[derive(Clone, Debug)]
pub struct FakeResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
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

#[derive(Clone)]
struct Shared {
    script: Arc<Script>,
    requests: Arc<Mutex<Vec<(HeaderMap, Value)>>>,
}

pub struct FakeLlm {
    pub addr: SocketAddr,
    requests: Arc<Mutex<Vec<(HeaderMap, Value)>>>,
}

impl FakeLlm {
    /// Starts the server; `script(request, n)` answers the n-th request (from 0).
    pub async fn start(
        script: impl Fn(&Value, usize) -> FakeResponse + Send + Sync + 'static,
    ) -> FakeLlm {
        let shared = Shared {
            script: Arc::new(script),
            requests: Arc::new(Mutex::new(Vec::new())),
        };
        let requests = shared.requests.clone();
        let app = Router::new()
            .route("/v1/chat/completions", post(handle))
            .with_state(shared);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        FakeLlm { addr, requests }
    }

    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    pub fn requests(&self) -> Vec<Value> {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .map(|(_, v)| v.clone())
            .collect()
    }

    pub fn headers(&self) -> Vec<HeaderMap> {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .map(|(h, _)| h.clone())
            .collect()
    }

    pub fn calls(&self) -> usize {
        self.requests.lock().unwrap().len()
    }
}

async fn handle(State(shared): State<Shared>, headers: HeaderMap, body: String) -> Response {
    let request: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let n = {
        let mut r = shared.requests.lock().unwrap();
        r.push((headers, request.clone()));
        r.len() - 1
    };
    let answer = (shared.script)(&request, n);
    if !answer.delay.is_zero() {
        tokio::time::sleep(answer.delay).await;
    }
    let mut builder = Response::builder().status(StatusCode::from_u16(answer.status).unwrap());
    for (k, v) in &answer.headers {
        builder = builder.header(k, v);
    }
    match answer.sse {
        Some(events) => {
            let text: String = events.iter().map(|e| format!("data: {e}\n\n")).collect();
            builder
                .header("content-type", "text/event-stream")
                .body(Body::from(text))
                .unwrap()
        }
        None => builder
            .header("content-type", "application/json")
            .body(Body::from(answer.body))
            .unwrap(),
    }
}

/// The text of passage `n` (1-based) in a request built by replygate's prompt.
pub fn passage(request: &Value, n: usize) -> Option<String> {
    let user = request["messages"][1]["content"].as_str()?;
    let start = user.find(&format!("<passage id=\"{n}\">\n"))?;
    let rest = &user[start..];
    let body = rest.split_once('\n')?.1; // the opening tag
    let body = body.split_once('\n')?.1; // "[n] title — heading"
    let end = body.find("\n</passage>").unwrap_or(body.len());
    Some(body[..end].to_string())
}

/// The customer message inside a request.
pub fn customer_message(request: &Value) -> String {
    let user = request["messages"][1]["content"]
        .as_str()
        .unwrap_or_default();
    user.split("<customer_message>\n")
        .nth(1)
        .and_then(|s| s.split("\n</customer_message>").next())
        .unwrap_or_default()
        .to_string()
}
