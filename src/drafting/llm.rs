//! The LLM client: any OpenAI-compatible chat-completions endpoint through
//! async-openai's bring-your-own-types calls (servers differ in what they
//! send, so answers are read as JSON values). Every attempt has a time limit;
//! 429, 5xx, timeouts and refused connections are retried with exponential
//! backoff and jitter, honouring `Retry-After`, in a tower layer under the
//! client; a circuit breaker and a concurrency limit sit on top.
//! The API key is never logged.

mod breaker;
mod retry;

pub use breaker::Breaker;
use retry::{Attempt, RetryPolicy, resilient};
pub use retry::{HttpOutcome, Verdict, backoff, classify, retry_after};

use crate::config::{LlmConfig, LlmOutput};
use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use async_openai::middleware::{HttpRequestFactory, ReqwestService};
use serde_json::{Value, json};
use std::future::Future;
use std::pin::Pin;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU8, AtomicU32, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tokio_stream::{Stream, StreamExt};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LlmError {
    #[error("the LLM did not answer in time")]
    Timeout,
    #[error("the LLM is unavailable: {0}")]
    Unavailable(String),
    #[error("the LLM is rate limiting")]
    RateLimited,
    #[error("the LLM refused the request ({status}): {message}")]
    Rejected { status: u16, message: String },
    #[error("the LLM circuit breaker is open")]
    BreakerOpen,
    #[error("too many LLM requests in flight")]
    Saturated,
    #[error("the LLM answer could not be read: {0}")]
    Unparseable(String),
}

impl LlmError {
    /// Short label for metrics and reasons.
    pub fn kind(&self) -> &'static str {
        match self {
            LlmError::Timeout => "timeout",
            LlmError::Unavailable(_) => "unavailable",
            LlmError::RateLimited => "rate_limited",
            LlmError::Rejected { .. } => "rejected",
            LlmError::BreakerOpen => "breaker_open",
            LlmError::Saturated => "saturated",
            LlmError::Unparseable(_) => "unparseable",
        }
    }

    /// Whether it says the endpoint is unhealthy (counts toward the breaker).
    fn is_outage(&self) -> bool {
        matches!(
            self,
            LlmError::Timeout | LlmError::Unavailable(_) | LlmError::RateLimited
        )
    }
}

static LLM_ATTEMPTS: LazyLock<prometheus::IntCounterVec> = LazyLock::new(|| {
    prometheus::register_int_counter_vec!(
        "replygate_llm_attempts_total",
        "HTTP attempts to the LLM by outcome",
        &["outcome"]
    )
    .unwrap()
});
static LLM_SECONDS: LazyLock<prometheus::Histogram> = LazyLock::new(|| {
    prometheus::register_histogram!(
        "replygate_llm_request_seconds",
        "Time of one LLM call, retries included",
        vec![0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0]
    )
    .unwrap()
});
static LLM_TOKENS: LazyLock<prometheus::IntCounterVec> = LazyLock::new(|| {
    prometheus::register_int_counter_vec!(
        "replygate_llm_tokens_total",
        "Tokens reported by the LLM",
        &["kind"]
    )
    .unwrap()
});
static LLM_ERRORS: LazyLock<prometheus::IntCounterVec> = LazyLock::new(|| {
    prometheus::register_int_counter_vec!(
        "replygate_llm_errors_total",
        "Failed LLM calls by kind",
        &["kind"]
    )
    .unwrap()
});

/// A URL without the user name and password it may carry.
pub fn redacted(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
            let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            if path.is_empty() {
                format!("{scheme}://{host}")
            } else {
                format!("{scheme}://{host}/{path}")
            }
        }
        None => url.to_string(),
    }
}

/// Maps what async-openai returned to a domain error.
pub fn from_openai(e: OpenAIError) -> LlmError {
    match e {
        OpenAIError::ApiError(r) => {
            let message: String = r.api_error.message.chars().take(300).collect();
            match classify(HttpOutcome::Status(r.status_code.as_u16())) {
                Verdict::Fail(LlmError::Rejected { status, .. }) => {
                    LlmError::Rejected { status, message }
                }
                Verdict::Retry(e) | Verdict::Fail(e) => e,
                Verdict::Done => LlmError::Unavailable(message),
            }
        }
        OpenAIError::Reqwest(r) if r.is_timeout() => LlmError::Timeout,
        OpenAIError::Reqwest(r) => {
            // The innermost cause names it ("Connection refused", a DNS failure).
            let mut cause: &dyn std::error::Error = &r;
            while let Some(next) = cause.source() {
                cause = next;
            }
            let status = r
                .status()
                .map(|s| format!("HTTP {}: ", s.as_u16()))
                .unwrap_or_default();
            LlmError::Unavailable(if r.is_connect() {
                format!("connection failed: {cause}")
            } else {
                format!("transport error: {status}{cause}")
            })
        }
        OpenAIError::JSONDeserialize(e, body) => {
            let start: String = body.chars().take(120).collect();
            LlmError::Unparseable(format!(
                "the response is not an OpenAI-compatible answer (is base_url right? it should end in /v1): {e}; it began {start:?}"
            ))
        }
        OpenAIError::StreamError(e) => LlmError::Unavailable(format!("stream: {e}")),
        OpenAIError::InvalidArgument(m) => LlmError::Rejected {
            status: 0,
            message: m,
        },
        OpenAIError::FileSaveError(m) | OpenAIError::FileReadError(m) => LlmError::Unavailable(m),
        OpenAIError::Boxed(b) => match b.downcast::<LlmError>() {
            Ok(e) => *e,
            Err(b) => match b.downcast::<OpenAIError>() {
                Ok(e) => from_openai(*e),
                Err(b) => LlmError::Unavailable(b.to_string()),
            },
        },
    }
}

/// How the answer is asked for; servers without schemas get the next one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputMode {
    JsonSchema = 0,
    JsonObject = 1,
    Text = 2,
}

impl OutputMode {
    fn from_u8(v: u8) -> OutputMode {
        match v {
            0 => OutputMode::JsonSchema,
            1 => OutputMode::JsonObject,
            _ => OutputMode::Text,
        }
    }
}

impl From<LlmOutput> for OutputMode {
    fn from(output: LlmOutput) -> OutputMode {
        match output {
            LlmOutput::JsonSchema => OutputMode::JsonSchema,
            LlmOutput::JsonObject => OutputMode::JsonObject,
            LlmOutput::Text => OutputMode::Text,
        }
    }
}

/// A model's answer as text, with what the server said about it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Completion {
    pub content: String,
    /// Log-probabilities of the answer's tokens, when returned.
    pub logprobs: Vec<f64>,
    pub finish_reason: String,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

/// Reads a chat-completion response, tolerating what servers leave out.
pub fn completion_from(v: &Value) -> Result<Completion, LlmError> {
    let choice = v
        .get("choices")
        .and_then(|c| c.get(0))
        .ok_or_else(|| LlmError::Unparseable("no choices in the response".into()))?;
    let content = choice
        .pointer("/message/content")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if content.trim().is_empty() {
        return Err(LlmError::Unparseable("empty answer".into()));
    }
    let logprobs = choice
        .pointer("/logprobs/content")
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|t| t.get("logprob").and_then(Value::as_f64))
                .filter(|l| l.is_finite())
                .collect()
        })
        .unwrap_or_default();
    Ok(Completion {
        content,
        logprobs,
        finish_reason: choice
            .get("finish_reason")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        prompt_tokens: v
            .pointer("/usage/prompt_tokens")
            .and_then(Value::as_u64)
            .unwrap_or(0),
        completion_tokens: v
            .pointer("/usage/completion_tokens")
            .and_then(Value::as_u64)
            .unwrap_or(0),
    })
}

pub struct LlmClient {
    client: Client<OpenAIConfig>,
    config: LlmConfig,
    permits: Semaphore,
    breaker: Breaker,
    mode: AtomicU8,
    logprobs: AtomicBool,
}

/// Text deltas of a streamed answer.
pub type Deltas = Pin<Box<dyn Stream<Item = Result<String, LlmError>> + Send>>;

fn now_ms() -> i64 {
    crate::model::now_ms()
}

impl LlmClient {
    pub fn new(config: &LlmConfig) -> Result<LlmClient, String> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(config.timeout_ms))
            .connect_timeout(Duration::from_millis(config.timeout_ms.min(5_000)))
            .build()
            .map_err(|e| format!("llm http client: {e}"))?;
        let service = resilient(
            Attempt::new(
                ReqwestService::new(http),
                Duration::from_millis(config.timeout_ms),
            ),
            RetryPolicy::new(
                config.max_retries,
                Duration::from_millis(config.backoff_base_ms),
                Duration::from_millis(config.backoff_max_ms),
            ),
        );
        let openai = OpenAIConfig::new()
            .with_api_base(config.base_url.trim_end_matches('/'))
            .with_api_key(config.api_key.expose());
        Ok(LlmClient {
            client: Client::with_config(openai).with_http_service(service),
            permits: Semaphore::new(config.max_concurrency),
            breaker: Breaker::new(
                config.breaker_failures,
                Duration::from_millis(config.breaker_open_ms),
            ),
            mode: AtomicU8::new(OutputMode::from(config.output) as u8),
            logprobs: AtomicBool::new(config.logprobs),
            config: config.clone(),
        })
    }

    pub fn model(&self) -> &str {
        &self.config.model
    }

    /// The endpoint, for logs: without any user name or password in it.
    pub fn endpoint(&self) -> String {
        redacted(&self.config.base_url)
    }

    pub fn mode(&self) -> OutputMode {
        OutputMode::from_u8(self.mode.load(Ordering::Relaxed))
    }

    fn request(&self, messages: &[Value], schema: &Value, stream: bool) -> Value {
        let mut body = json!({
            "model": self.config.model,
            "messages": messages,
            "temperature": self.config.temperature,
            "max_tokens": self.config.max_tokens,
            "stream": stream,
        });
        match self.mode() {
            OutputMode::JsonSchema => {
                body["response_format"] = json!({ "type": "json_schema", "json_schema": { "name": "support_reply", "strict": true, "schema": schema } });
            }
            OutputMode::JsonObject => body["response_format"] = json!({ "type": "json_object" }),
            OutputMode::Text => {}
        }
        if self.logprobs.load(Ordering::Relaxed) && !stream {
            body["logprobs"] = json!(true);
        }
        if stream {
            body["stream_options"] = json!({ "include_usage": true });
        }
        body
    }

    /// After a 400, asks less of the server: first no log-probabilities, then
    /// a plainer output mode. Returns false when there is nothing left to drop.
    fn degrade(&self, stream: bool) -> bool {
        if !stream && self.logprobs.swap(false, Ordering::Relaxed) {
            tracing::warn!("llm refused the request; no longer asking for logprobs");
            return true;
        }
        let mode = self.mode.load(Ordering::Relaxed);
        if mode < OutputMode::Text as u8 {
            self.mode.store(mode + 1, Ordering::Relaxed);
            tracing::warn!(mode = ?OutputMode::from_u8(mode + 1), "llm refused the request; using a plainer output mode");
            return true;
        }
        false
    }

    async fn guarded<T, F, Fut>(&self, call: F) -> Result<T, LlmError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, LlmError>>,
    {
        self.breaker.check(now_ms())?;
        let deadline = Duration::from_millis(self.config.deadline_ms);
        let started = Instant::now();
        let permit = tokio::time::timeout(deadline, self.permits.acquire())
            .await
            .map_err(|_| LlmError::Saturated)?;
        let _permit = permit.map_err(|_| LlmError::Saturated)?;
        let remaining = deadline.saturating_sub(started.elapsed());
        let result = match tokio::time::timeout(remaining, call()).await {
            Ok(r) => r,
            Err(_) => Err(LlmError::Timeout),
        };
        LLM_SECONDS.observe(started.elapsed().as_secs_f64());
        match &result {
            Ok(_) => self.breaker.record(true, now_ms()),
            Err(e) => {
                LLM_ERRORS.with_label_values(&[e.kind()]).inc();
                if e.is_outage() {
                    self.breaker.record(false, now_ms());
                }
            }
        }
        result
    }

    /// One chat completion.
    pub async fn complete(
        &self,
        messages: &[Value],
        schema: &Value,
    ) -> Result<Completion, LlmError> {
        self.guarded(|| async {
            loop {
                let body = self.request(messages, schema, false);
                match self.client.chat().create_byot::<Value, Value>(body).await {
                    Ok(v) => {
                        let c = completion_from(&v)?;
                        LLM_TOKENS
                            .with_label_values(&["prompt"])
                            .inc_by(c.prompt_tokens);
                        LLM_TOKENS
                            .with_label_values(&["completion"])
                            .inc_by(c.completion_tokens);
                        return Ok(c);
                    }
                    Err(e) => {
                        let e = from_openai(e);
                        if matches!(e, LlmError::Rejected { status: 400, .. })
                            && self.degrade(false)
                        {
                            continue;
                        }
                        return Err(e);
                    }
                }
            }
        })
        .await
    }

    /// A streamed chat completion: text deltas as the model writes them.
    pub async fn stream(&self, messages: &[Value], schema: &Value) -> Result<Deltas, LlmError> {
        self.guarded(|| async {
            loop {
                let body = self.request(messages, schema, true);
                match self
                    .client
                    .chat()
                    .create_stream_byot::<Value, Value>(body)
                    .await
                {
                    Ok(stream) => {
                        let deltas = stream.filter_map(|item| match item {
                            Ok(chunk) => chunk
                                .pointer("/choices/0/delta/content")
                                .and_then(Value::as_str)
                                .filter(|s| !s.is_empty())
                                .map(|s| Ok(s.to_string())),
                            Err(e) => Some(Err(from_openai(e))),
                        });
                        return Ok(Box::pin(deltas) as Deltas);
                    }
                    Err(e) => {
                        let e = from_openai(e);
                        if matches!(e, LlmError::Rejected { status: 400, .. }) && self.degrade(true)
                        {
                            continue;
                        }
                        return Err(e);
                    }
                }
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests;
