//! Retries under the LLM client: what an HTTP attempt came to, whether it is
//! worth another try, how long to wait, and the tower stack that runs one
//! request with those rules under async-openai: [`Attempt`] (one try with a
//! time limit) inside `tower::retry::Retry` driven by [`RetryPolicy`].

use super::*;
use tower::retry::{Retry, RetryLayer};
use tower::util::MapErr;
use tower::{BoxError, ServiceBuilder};

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

/// When to try a request again and how long to wait first. tower clones the
/// policy for every request, so `retries` counts that request's retries.
#[derive(Debug, Clone)]
pub(super) struct RetryPolicy {
    max_retries: u32,
    base: Duration,
    max: Duration,
    retries: u32,
}

impl RetryPolicy {
    pub(super) fn new(max_retries: u32, base: Duration, max: Duration) -> RetryPolicy {
        RetryPolicy {
            max_retries,
            base,
            max,
            retries: 0,
        }
    }
}

/// Every attempt is counted in `LLM_ATTEMPTS` by what it came to; a response
/// that is not retried (a refusal, or the last try) is handed on as it is, so
/// async-openai reads its error body.
impl<Req: Clone> tower::retry::Policy<Req, reqwest::Response, HttpOutcome> for RetryPolicy {
    type Future = tokio::time::Sleep;

    fn retry(
        &mut self,
        _: &mut Req,
        result: &mut Result<reqwest::Response, HttpOutcome>,
    ) -> Option<Self::Future> {
        let outcome = match result {
            Ok(r) => HttpOutcome::Status(r.status().as_u16()),
            Err(outcome) => *outcome,
        };
        let verdict = classify(outcome);
        LLM_ATTEMPTS
            .with_label_values(&[match &verdict {
                Verdict::Done => "ok",
                Verdict::Retry(e) | Verdict::Fail(e) => e.kind(),
            }])
            .inc();
        let error = match verdict {
            Verdict::Done | Verdict::Fail(_) => return None,
            Verdict::Retry(e) => e,
        };
        if self.retries >= self.max_retries {
            return None;
        }
        let hint = result.as_ref().ok().and_then(|r| retry_after(r.headers()));
        let wait = backoff(
            self.retries,
            self.base,
            self.max,
            hint,
            rand::random::<f64>(),
        );
        tracing::warn!(
            attempt = self.retries,
            wait_ms = wait.as_millis() as u64,
            error = error.kind(),
            detail = %error,
            "llm attempt failed, retrying"
        );
        self.retries += 1;
        Some(tokio::time::sleep(wait))
    }

    fn clone_request(&mut self, request: &Req) -> Option<Req> {
        // Always: `retry` sees (and counts) only attempts whose request was kept.
        Some(request.clone())
    }
}

/// One HTTP attempt under a time limit; a failure without a response says
/// what it was.
#[derive(Clone)]
pub(super) struct Attempt {
    inner: ReqwestService,
    timeout: Duration,
}

impl Attempt {
    pub(super) fn new(inner: ReqwestService, timeout: Duration) -> Attempt {
        Attempt { inner, timeout }
    }
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

impl tower::Service<HttpRequestFactory> for Attempt {
    type Response = reqwest::Response;
    type Error = HttpOutcome;
    type Future = BoxFuture<Result<reqwest::Response, HttpOutcome>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: HttpRequestFactory) -> Self::Future {
        use tower::ServiceExt;
        let attempt = self.inner.clone().oneshot(request);
        let limit = self.timeout;
        Box::pin(async move {
            match tokio::time::timeout(limit, attempt).await {
                Err(_) => Err(HttpOutcome::Timeout),
                Ok(Err(e)) => Err(outcome_of(&e)),
                Ok(Ok(r)) => Ok(r),
            }
        })
    }
}

/// The stack async-openai sends its requests through: attempts retried by
/// [`RetryPolicy`], a last failure without a response turned into the
/// [`LlmError`] it stands for (which `from_openai` gets back).
pub(super) type Resilient<S = Attempt> = MapErr<Retry<RetryPolicy, S>, fn(HttpOutcome) -> BoxError>;

pub(super) fn resilient<S>(attempt: S, policy: RetryPolicy) -> Resilient<S> {
    ServiceBuilder::new()
        .map_err(failure as fn(HttpOutcome) -> BoxError)
        .layer(RetryLayer::new(policy))
        .service(attempt)
}

fn failure(outcome: HttpOutcome) -> BoxError {
    Box::new(match classify(outcome) {
        Verdict::Retry(e) | Verdict::Fail(e) => e,
        // Only failures without a response get here, never a status.
        Verdict::Done => LlmError::Unavailable("transport error".into()),
    })
}
