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
    assert!(completion_from(&json!({ "choices": [{ "message": { "content": null } }] })).is_err());
}

/// The retry stack over a scripted attempt: the `n`th try gets `script(n)`.
/// Returns what the caller got and how many tries were made.
async fn retried(
    script: fn(usize) -> Result<reqwest::Response, HttpOutcome>,
    policy: RetryPolicy,
) -> (Result<reqwest::Response, tower::BoxError>, usize) {
    use std::sync::Arc;
    use std::sync::atomic::AtomicUsize;
    use tower::ServiceExt;
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let attempt = tower::service_fn(move |()| {
        std::future::ready(script(counter.fetch_add(1, Ordering::SeqCst)))
    });
    let result = resilient(attempt, policy).oneshot(()).await;
    (result, calls.load(Ordering::SeqCst))
}

fn answer(status: u16) -> reqwest::Response {
    http::Response::builder()
        .status(status)
        .body("")
        .unwrap()
        .into()
}

fn quick(max_retries: u32) -> RetryPolicy {
    RetryPolicy::new(
        max_retries,
        Duration::from_millis(1),
        Duration::from_millis(5),
    )
}

fn llm_error(e: tower::BoxError) -> LlmError {
    *e.downcast::<LlmError>()
        .expect("the stack fails with an LlmError")
}

#[tokio::test]
async fn a_server_error_is_tried_max_retries_more_times_then_its_answer_is_handed_on() {
    let (result, calls) = retried(|_| Ok(answer(503)), quick(2)).await;
    assert_eq!(calls, 3);
    assert_eq!(result.unwrap().status(), 503, "async-openai reads its body");
}

#[tokio::test]
async fn rate_limits_and_server_errors_are_retried_until_an_answer() {
    let (result, calls) = retried(
        |n| match n {
            0 => Ok(answer(429)),
            1 => Ok(answer(500)),
            _ => Ok(answer(200)),
        },
        quick(5),
    )
    .await;
    assert_eq!(calls, 3);
    assert_eq!(result.unwrap().status(), 200);
}

#[tokio::test]
async fn a_client_error_is_handed_on_without_retrying() {
    let (result, calls) = retried(|_| Ok(answer(401)), quick(3)).await;
    assert_eq!(calls, 1);
    assert_eq!(result.unwrap().status(), 401);
}

#[tokio::test]
async fn a_refused_connection_is_retried_then_fails_as_unavailable() {
    let (result, calls) = retried(|_| Err(HttpOutcome::ConnectFailed), quick(1)).await;
    assert_eq!(calls, 2);
    assert_eq!(
        llm_error(result.unwrap_err()),
        LlmError::Unavailable("connection failed".into())
    );
}

#[tokio::test]
async fn every_timed_out_attempt_is_counted_and_the_last_one_fails_as_timeout() {
    let timeouts = || LLM_ATTEMPTS.with_label_values(&["timeout"]).get();
    let before = timeouts();
    let (result, calls) = retried(|_| Err(HttpOutcome::Timeout), quick(2)).await;
    assert_eq!(calls, 3);
    assert_eq!(llm_error(result.unwrap_err()), LlmError::Timeout);
    assert_eq!(timeouts() - before, 3);
}

#[tokio::test]
async fn the_servers_retry_after_replaces_the_backoff() {
    // Backoff alone would wait at least 30 s before the second try.
    let slow = RetryPolicy::new(1, Duration::from_secs(60), Duration::from_secs(60));
    let script = |n| match n {
        0 => Ok(http::Response::builder()
            .status(429)
            .header("retry-after-ms", "1")
            .body("")
            .unwrap()
            .into()),
        _ => Ok(answer(200)),
    };
    let (result, calls) = tokio::time::timeout(Duration::from_secs(10), retried(script, slow))
        .await
        .expect("retried after the server's 1 ms");
    assert_eq!(calls, 2);
    assert_eq!(result.unwrap().status(), 200);
}

#[test]
fn an_endpoint_is_logged_without_its_credentials() {
    use super::redacted;
    assert_eq!(
        redacted("https://user:secret@llm.example/v1"),
        "https://llm.example/v1"
    );
    assert_eq!(
        redacted("http://127.0.0.1:8080/v1"),
        "http://127.0.0.1:8080/v1"
    );
    assert_eq!(redacted("http://key@host"), "http://host");
}
