//! The LLM client: any OpenAI-compatible chat-completions endpoint through
//! async-openai's bring-your-own-types calls (servers differ in what they
//! send, so answers are read as JSON values). Every attempt has a time limit;
//! 429, 5xx, timeouts and refused connections are retried with exponential
//! backoff and jitter, honouring `Retry-After`, in a tower layer under the
//! client; a circuit breaker and a concurrency limit sit on top.
//! The API key is never logged.

use crate::config::{LlmConfig, LlmOutput};
use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use async_openai::middleware::{HttpRequestFactory, ReqwestService};
use serde_json::{Value, json};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU8, AtomicU32, Ordering};
use std::sync::{Arc, LazyLock};
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

/// What one HTTP attempt came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpOutcome {
    Status(u16),
    Timeout,
    ConnectFailed,
    TransportFailed,
}

/// What to do after an attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Done,
    Retry(LlmError),
    Fail(LlmError),
}

/// Maps an HTTP outcome to what it means: 429, 408, 5xx, timeouts and
/// connection failures are worth retrying; other 4xx are not.
pub fn classify(outcome: HttpOutcome) -> Verdict {
    match outcome {
        HttpOutcome::Status(s) if (200..300).contains(&s) => Verdict::Done,
        HttpOutcome::Status(429) => Verdict::Retry(LlmError::RateLimited),
        HttpOutcome::Status(408) => Verdict::Retry(LlmError::Timeout),
        HttpOutcome::Status(s) if (500..600).contains(&s) => {
            Verdict::Retry(LlmError::Unavailable(format!("HTTP {s}")))
        }
        HttpOutcome::Status(s) if (400..500).contains(&s) => Verdict::Fail(LlmError::Rejected {
            status: s,
            message: String::new(),
        }),
        HttpOutcome::Status(s) => {
            Verdict::Fail(LlmError::Unavailable(format!("unexpected HTTP {s}")))
        }
        HttpOutcome::Timeout => Verdict::Retry(LlmError::Timeout),
        HttpOutcome::ConnectFailed => {
            Verdict::Retry(LlmError::Unavailable("connection failed".into()))
        }
        HttpOutcome::TransportFailed => {
            Verdict::Retry(LlmError::Unavailable("transport error".into()))
        }
    }
}

/// The wait before retry number `attempt` (0-based): the server's
/// `Retry-After` when given (capped), else exponential backoff with equal
/// jitter (`jitter` in 0..1).
pub fn backoff(
    attempt: u32,
    base: Duration,
    max: Duration,
    retry_after: Option<Duration>,
    jitter: f64,
) -> Duration {
    if let Some(wait) = retry_after {
        return wait.min(max);
    }
    let exp = base
        .saturating_mul(2u32.saturating_pow(attempt.min(20)))
        .min(max);
    exp.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0))
}

/// `Retry-After` in seconds (integer or decimal), or `retry-after-ms`.
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    if let Some(ms) = headers
        .get("retry-after-ms")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
    {
        return (ms.is_finite() && ms >= 0.0).then(|| Duration::from_secs_f64(ms / 1000.0));
    }
    let secs = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<f64>()
        .ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs))
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

/// The retry policy applied to each HTTP request.
#[derive(Debug, Clone)]
struct RetryPolicy {
    attempt_timeout: Duration,
    max_retries: u32,
    base: Duration,
    max: Duration,
}

/// Tower service that runs one request with retries, under async-openai.
#[derive(Clone)]
struct Resilient {
    inner: ReqwestService,
    policy: Arc<RetryPolicy>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

#[expect(
    clippy::wildcard_enum_match_arm,
    reason = "every other async-openai error is a failed transport"
)]
fn outcome_of(e: &OpenAIError) -> HttpOutcome {
    match e {
        OpenAIError::Reqwest(r) if r.is_timeout() => HttpOutcome::Timeout,
        OpenAIError::Reqwest(r) if r.is_connect() => HttpOutcome::ConnectFailed,
        _ => HttpOutcome::TransportFailed,
    }
}

impl tower::Service<HttpRequestFactory> for Resilient {
    type Response = reqwest::Response;
    type Error = tower::BoxError;
    type Future = BoxFuture<Result<reqwest::Response, tower::BoxError>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: HttpRequestFactory) -> Self::Future {
        use tower::ServiceExt;
        let inner = self.inner.clone();
        let policy = self.policy.clone();
        Box::pin(async move {
            let mut attempt = 0;
            loop {
                let svc = inner.clone();
                let result =
                    tokio::time::timeout(policy.attempt_timeout, svc.oneshot(request.clone()))
                        .await;
                let (outcome, response) = match result {
                    Err(_) => (HttpOutcome::Timeout, None),
                    Ok(Err(e)) => (outcome_of(&e), None),
                    Ok(Ok(r)) => (HttpOutcome::Status(r.status().as_u16()), Some(r)),
                };
                let verdict = classify(outcome);
                LLM_ATTEMPTS
                    .with_label_values(&[match &verdict {
                        Verdict::Done => "ok",
                        Verdict::Retry(e) | Verdict::Fail(e) => e.kind(),
                    }])
                    .inc();
                match verdict {
                    Verdict::Done => return Ok(response.expect("a status outcome has a response")),
                    Verdict::Fail(e) => {
                        // async-openai reads the error body of a response.
                        return response.ok_or_else(|| Box::new(e) as tower::BoxError);
                    }
                    Verdict::Retry(e) => {
                        if attempt >= policy.max_retries {
                            return response.ok_or_else(|| Box::new(e) as tower::BoxError);
                        }
                        let hint = response.as_ref().and_then(|r| retry_after(r.headers()));
                        let wait = backoff(
                            attempt,
                            policy.base,
                            policy.max,
                            hint,
                            rand::random::<f64>(),
                        );
                        tracing::warn!(
                            attempt,
                            wait_ms = wait.as_millis() as u64,
                            error = e.kind(),
                            "llm attempt failed, retrying"
                        );
                        tokio::time::sleep(wait).await;
                        attempt += 1;
                    }
                }
            }
        })
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
        OpenAIError::Reqwest(r) => LlmError::Unavailable(if r.is_connect() {
            "connection failed".into()
        } else {
            "transport error".into()
        }),
        OpenAIError::JSONDeserialize(e, _) => LlmError::Unparseable(format!("response body: {e}")),
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

/// Opens after `threshold` consecutive failed calls; after `open_for` one call may try again.
pub struct Breaker {
    failures: AtomicU32,
    open_until_ms: AtomicI64,
    threshold: u32,
    open_for_ms: i64,
}

impl Breaker {
    pub fn new(threshold: u32, open_for: Duration) -> Breaker {
        Breaker {
            failures: AtomicU32::new(0),
            open_until_ms: AtomicI64::new(0),
            threshold: threshold.max(1),
            open_for_ms: open_for.as_millis() as i64,
        }
    }

    /// Err while open. Past the open period, the first caller gets through (half-open).
    pub fn check(&self, now_ms: i64) -> Result<(), LlmError> {
        if self.failures.load(Ordering::Acquire) < self.threshold {
            return Ok(());
        }
        let until = self.open_until_ms.load(Ordering::Acquire);
        if now_ms < until {
            return Err(LlmError::BreakerOpen);
        }
        // Half-open: let one call through, keep the others out for another period.
        match self.open_until_ms.compare_exchange(
            until,
            now_ms + self.open_for_ms,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => Ok(()),
            Err(_) => Err(LlmError::BreakerOpen),
        }
    }

    pub fn record(&self, success: bool, now_ms: i64) {
        if success {
            self.failures.store(0, Ordering::Release);
            return;
        }
        let n = self.failures.fetch_add(1, Ordering::AcqRel) + 1;
        if n >= self.threshold {
            self.open_until_ms
                .store(now_ms + self.open_for_ms, Ordering::Release);
        }
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
        let policy = RetryPolicy {
            attempt_timeout: Duration::from_millis(config.timeout_ms),
            max_retries: config.max_retries,
            base: Duration::from_millis(config.backoff_base_ms),
            max: Duration::from_millis(config.backoff_max_ms),
        };
        let service = Resilient {
            inner: ReqwestService::new(http),
            policy: Arc::new(policy),
        };
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
mod tests {
    use super::*;

    #[test]
    fn rate_limits_server_errors_and_timeouts_are_retried_other_client_errors_are_not() {
        assert_eq!(classify(HttpOutcome::Status(200)), Verdict::Done);
        assert_eq!(
            classify(HttpOutcome::Status(429)),
            Verdict::Retry(LlmError::RateLimited)
        );
        assert!(matches!(
            classify(HttpOutcome::Status(503)),
            Verdict::Retry(LlmError::Unavailable(_))
        ));
        assert!(matches!(
            classify(HttpOutcome::Status(500)),
            Verdict::Retry(_)
        ));
        assert_eq!(
            classify(HttpOutcome::Timeout),
            Verdict::Retry(LlmError::Timeout)
        );
        assert!(matches!(
            classify(HttpOutcome::ConnectFailed),
            Verdict::Retry(LlmError::Unavailable(_))
        ));
        assert!(matches!(
            classify(HttpOutcome::Status(400)),
            Verdict::Fail(LlmError::Rejected { status: 400, .. })
        ));
        assert!(matches!(
            classify(HttpOutcome::Status(401)),
            Verdict::Fail(LlmError::Rejected { status: 401, .. })
        ));
        assert!(matches!(
            classify(HttpOutcome::Status(404)),
            Verdict::Fail(_)
        ));
    }

    #[test]
    fn backoff_grows_is_capped_and_honours_retry_after() {
        let base = Duration::from_millis(100);
        let max = Duration::from_secs(2);
        assert_eq!(backoff(0, base, max, None, 1.0), Duration::from_millis(100));
        assert_eq!(backoff(2, base, max, None, 1.0), Duration::from_millis(400));
        assert_eq!(backoff(2, base, max, None, 0.0), Duration::from_millis(200));
        assert_eq!(backoff(10, base, max, None, 1.0), max);
        assert_eq!(
            backoff(0, base, max, Some(Duration::from_secs(1)), 0.3),
            Duration::from_secs(1)
        );
        assert_eq!(
            backoff(0, base, max, Some(Duration::from_secs(60)), 0.3),
            max
        );
    }

    #[test]
    fn retry_after_is_read_in_seconds_or_milliseconds() {
        let mut h = reqwest::header::HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert("retry-after", "2".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
        h.insert("retry-after-ms", "150".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_millis(150)));
        let mut bad = reqwest::header::HeaderMap::new();
        bad.insert(
            "retry-after",
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&bad), None);
    }

    #[test]
    fn the_breaker_opens_after_consecutive_failures_and_half_opens_later() {
        let b = Breaker::new(3, Duration::from_millis(1000));
        b.record(false, 0);
        b.record(false, 0);
        assert!(b.check(0).is_ok());
        b.record(false, 10);
        assert_eq!(b.check(20), Err(LlmError::BreakerOpen));
        assert!(
            b.check(1011).is_ok(),
            "one trial call after the open period"
        );
        assert_eq!(
            b.check(1012),
            Err(LlmError::BreakerOpen),
            "only one at a time"
        );
        b.record(true, 1100);
        assert!(b.check(1101).is_ok());
    }

    #[test]
    fn a_response_without_optional_fields_is_read() {
        let v = json!({ "choices": [{ "message": { "content": "hi" }, "finish_reason": "" }] });
        let c = completion_from(&v).unwrap();
        assert_eq!(c.content, "hi");
        assert!(c.logprobs.is_empty());
        let with = json!({ "choices": [{ "message": { "content": "hi", "reasoning_content": "x" }, "logprobs": { "content": [{ "token": "hi", "logprob": -0.1 }] } }], "usage": { "prompt_tokens": 7, "completion_tokens": 1 }, "service_tier": "odd" });
        let c = completion_from(&with).unwrap();
        assert_eq!(c.logprobs, vec![-0.1]);
        assert_eq!((c.prompt_tokens, c.completion_tokens), (7, 1));
        assert!(completion_from(&json!({ "choices": [] })).is_err());
        assert!(
            completion_from(&json!({ "choices": [{ "message": { "content": null } }] })).is_err()
        );
    }
}
