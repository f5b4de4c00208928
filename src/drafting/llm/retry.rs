//! Retries under the LLM client: what an HTTP attempt came to, whether it is
//! worth another try, how long to wait, and the tower service that runs one
//! request with those rules under async-openai.

use super::*;

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

/// The retry policy applied to each HTTP request.
#[derive(Debug, Clone)]
pub(super) struct RetryPolicy {
    pub(super) attempt_timeout: Duration,
    pub(super) max_retries: u32,
    pub(super) base: Duration,
    pub(super) max: Duration,
}

/// Tower service that runs one request with retries, under async-openai.
#[derive(Clone)]
pub(super) struct Resilient {
    pub(super) inner: ReqwestService,
    pub(super) policy: Arc<RetryPolicy>,
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
