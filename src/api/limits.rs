//! Load limits as tower layers around every gRPC call, from `[limits]`:
//! - `Shed`: at most `max_concurrent_requests` calls in progress; one more is
//!   refused at once with UNAVAILABLE and a retry hint (no queue builds up);
//! - `RateLimit`: a token bucket per token (`requests_per_second_per_token`,
//!   `burst_per_token`); over it, RESOURCE_EXHAUSTED with a retry hint;
//! - `StreamLimit`: at most `max_streams_per_token` open server streams per token;
//! - `Timeout`: DEADLINE_EXCEEDED when a call has not answered (or started
//!   its stream) within `request_timeout_ms`;
//! - `MetadataLimit`: RESOURCE_EXHAUSTED, naming the limit, for a call whose
//!   metadata is over `max_header_list_bytes` (HTTP/2 itself refuses only
//!   far larger header lists, [`HTTP2_HEADER_LIST_BYTES`], by closing the
//!   connection, which clients report as they please).
//!
//! Every refusal is counted in `replygate_refused_requests_total{reason}`.
//! Per-token limits apply to authenticated calls; with `auth = "none"` only
//! the global ones do.

use super::guard::{BoxFuture, Guard, Response, count_refusal, is_open, principal, reject};
use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tonic::Status;

/// A refusal the caller may retry after `after`: the message says when, and
/// `grpc-retry-pushback-ms` (honoured by gRPC retry policies) carries it.
fn retry_later(mut status: Status, after: Duration) -> Status {
    let ms = after.as_millis().max(1);
    if let Ok(v) = ms.to_string().parse() {
        status.metadata_mut().insert("grpc-retry-pushback-ms", v);
    }
    status
}

fn retry_message(what: &str, after: Duration) -> String {
    format!("{what}; retry in {} ms", after.as_millis().max(1))
}

/// Server-streaming RPCs: they hold a stream slot while open.
fn is_stream(path: &str) -> bool {
    matches!(
        path,
        "/replygate.v1.Drafts/StreamDeliveries"
            | "/replygate.v1.Drafts/StreamDraft"
            | "/replygate.v1.Review/WatchQueue"
    )
}

// --- metadata size ---

/// The header list HTTP/2 accepts at all for a `max_header_list_bytes`:
/// room for the guard to answer what lies between with a proper status.
pub fn http2_header_list_bytes(max_header_list_bytes: u32) -> u32 {
    max_header_list_bytes
        .saturating_mul(4)
        .max(HTTP2_HEADER_LIST_BYTES)
}

/// The least header-list size the HTTP/2 layer accepts (1 MiB).
pub const HTTP2_HEADER_LIST_BYTES: u32 = 1024 * 1024;

/// At most `max` bytes of metadata per call, counted as HTTP/2 counts a
/// header list (name + value + 32 per entry).
#[derive(Clone)]
pub struct MetadataLimit {
    max: usize,
}

impl MetadataLimit {
    pub fn new(max: u32) -> Self {
        MetadataLimit { max: max as usize }
    }
}

impl Guard for MetadataLimit {
    fn call<S, B>(
        &self,
        inner: &mut S,
        request: http::Request<B>,
    ) -> BoxFuture<Result<Response, S::Error>>
    where
        S: tower::Service<http::Request<B>, Response = Response>,
        S::Future: Send + 'static,
        S::Error: Send + 'static,
    {
        let headers = request.headers();
        let bytes: usize = headers
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len() + 32)
            .sum();
        if bytes > self.max {
            return reject(
                "metadata_too_large",
                Status::resource_exhausted(format!(
                    "metadata is {bytes} bytes in {} entries; at most {} bytes (limits.max_header_list_bytes)",
                    headers.len(),
                    self.max
                )),
            );
        }
        Box::pin(inner.call(request))
    }
}

// --- global concurrency, shed when full ---

/// At most `max` calls in progress; one more is refused at once.
#[derive(Clone)]
pub struct Shed {
    permits: Arc<Semaphore>,
    max: usize,
}

impl Shed {
    pub fn new(max: usize) -> Self {
        Shed {
            permits: Arc::new(Semaphore::new(max)),
            max,
        }
    }
}

impl Guard for Shed {
    fn call<S, B>(
        &self,
        inner: &mut S,
        request: http::Request<B>,
    ) -> BoxFuture<Result<Response, S::Error>>
    where
        S: tower::Service<http::Request<B>, Response = Response>,
        S::Future: Send + 'static,
        S::Error: Send + 'static,
    {
        // Health checks answer under any load, so an overloaded replica is not killed for it.
        if is_open(request.uri().path()) {
            return Box::pin(inner.call(request));
        }
        match self.permits.clone().try_acquire_owned() {
            Ok(permit) => {
                let call = inner.call(request);
                Box::pin(async move {
                    let response = call.await;
                    drop(permit);
                    response
                })
            }
            Err(_) => {
                let after = Duration::from_millis(100);
                reject(
                    "overloaded",
                    retry_later(
                        Status::unavailable(retry_message(
                            &format!(
                                "the server is at its limit of {} calls in progress (limits.max_concurrent_requests)",
                                self.max
                            ),
                            after,
                        )),
                        after,
                    ),
                )
            }
        }
    }
}

// --- requests per second per token ---

struct Bucket {
    tokens: f64,
    last: Instant,
}

/// Token buckets by token id; keys come only from configured tokens, so the map stays small.
pub struct Buckets {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl Buckets {
    pub fn new(rate: f64, burst: u32) -> Buckets {
        Buckets {
            rate,
            burst: f64::from(burst.max(1)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one call from `key`'s bucket, or says how long until one is there.
    pub fn take(&self, key: &str, now: Instant) -> Result<(), Duration> {
        if self.rate <= 0.0 {
            return Ok(());
        }
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let b = buckets.entry(key.to_string()).or_insert(Bucket {
            tokens: self.burst,
            last: now,
        });
        let elapsed = now.saturating_duration_since(b.last).as_secs_f64();
        b.tokens = (b.tokens + elapsed * self.rate).min(self.burst);
        b.last = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - b.tokens) / self.rate))
        }
    }
}

/// A token bucket per token.
#[derive(Clone)]
pub struct RateLimit {
    buckets: Arc<Buckets>,
}

impl RateLimit {
    pub fn new(rate: f64, burst: u32) -> Self {
        RateLimit {
            buckets: Arc::new(Buckets::new(rate, burst)),
        }
    }
}

impl Guard for RateLimit {
    fn call<S, B>(
        &self,
        inner: &mut S,
        request: http::Request<B>,
    ) -> BoxFuture<Result<Response, S::Error>>
    where
        S: tower::Service<http::Request<B>, Response = Response>,
        S::Future: Send + 'static,
        S::Error: Send + 'static,
    {
        if let Some(p) = principal(&request)
            && let Err(after) = self.buckets.take(&p.token_id, Instant::now())
        {
            return reject(
                "rate_limited",
                retry_later(
                    Status::resource_exhausted(retry_message(
                        &format!(
                            "token {} is over its rate of {} calls per second (limits.requests_per_second_per_token)",
                            p.token_id, self.buckets.rate
                        ),
                        after,
                    )),
                    after,
                ),
            );
        }
        Box::pin(inner.call(request))
    }
}

// --- open streams per token ---

pub struct OpenStreams {
    max: usize,
    open: Mutex<HashMap<String, usize>>,
}

impl OpenStreams {
    pub fn new(max: usize) -> Arc<OpenStreams> {
        Arc::new(OpenStreams {
            max,
            open: Mutex::new(HashMap::new()),
        })
    }

    /// A slot for one more stream of `key`, released when the guard drops.
    pub fn open(self: &Arc<Self>, key: &str) -> Option<StreamSlot> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let n = open.entry(key.to_string()).or_insert(0);
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(StreamSlot {
            streams: self.clone(),
            key: key.to_string(),
        })
    }

    pub fn count(&self, key: &str) -> usize {
        let open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.get(key).copied().unwrap_or(0)
    }
}

pub struct StreamSlot {
    streams: Arc<OpenStreams>,
    key: String,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self.streams.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.key);
            }
        }
    }
}

/// A response body that holds its stream slot until the stream ends or the client goes.
struct SlotBody {
    inner: tonic::body::Body,
    _slot: StreamSlot,
}

impl http_body::Body for SlotBody {
    type Data = bytes::Bytes;
    type Error = Status;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<bytes::Bytes>, Status>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// At most `max` open server streams per token.
#[derive(Clone)]
pub struct StreamLimit {
    streams: Arc<OpenStreams>,
}

impl StreamLimit {
    pub fn new(max: usize) -> Self {
        StreamLimit {
            streams: OpenStreams::new(max),
        }
    }
}

impl Guard for StreamLimit {
    fn call<S, B>(
        &self,
        inner: &mut S,
        request: http::Request<B>,
    ) -> BoxFuture<Result<Response, S::Error>>
    where
        S: tower::Service<http::Request<B>, Response = Response>,
        S::Future: Send + 'static,
        S::Error: Send + 'static,
    {
        let key = match principal(&request) {
            Some(p) if is_stream(request.uri().path()) => p.token_id.clone(),
            _ => return Box::pin(inner.call(request)),
        };
        let Some(slot) = self.streams.open(&key) else {
            return reject(
                "streams",
                Status::resource_exhausted(format!(
                    "token {key} already has {} open streams (limits.max_streams_per_token); close one first",
                    self.streams.max
                )),
            );
        };
        let call = inner.call(request);
        Box::pin(async move {
            let response = call.await?;
            Ok(response.map(|body| {
                tonic::body::Body::new(SlotBody {
                    inner: body,
                    _slot: slot,
                })
            }))
        })
    }
}

// --- time limit per call ---

/// DEADLINE_EXCEEDED when a call has not answered within `limit`.
#[derive(Clone)]
pub struct Timeout {
    limit: Duration,
}

impl Timeout {
    pub fn new(limit: Duration) -> Self {
        Timeout { limit }
    }
}

impl Guard for Timeout {
    fn call<S, B>(
        &self,
        inner: &mut S,
        request: http::Request<B>,
    ) -> BoxFuture<Result<Response, S::Error>>
    where
        S: tower::Service<http::Request<B>, Response = Response>,
        S::Future: Send + 'static,
        S::Error: Send + 'static,
    {
        let limit = self.limit;
        let call = inner.call(request);
        Box::pin(async move {
            match tokio::time::timeout(limit, call).await {
                Ok(response) => response,
                Err(_) => {
                    count_refusal("timeout");
                    Ok(Status::deadline_exceeded(format!(
                        "the call took longer than {} ms (limits.request_timeout_ms)",
                        limit.as_millis()
                    ))
                    .into_http())
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_refills_at_its_rate() {
        let b = Buckets::new(10.0, 3);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(b.take("a", t0).is_ok());
        }
        let wait = b.take("a", t0).unwrap_err();
        assert!((wait.as_secs_f64() - 0.1).abs() < 1e-6, "{wait:?}");
        assert!(b.take("other", t0).is_ok(), "buckets are per token");
        assert!(b.take("a", t0 + Duration::from_millis(100)).is_ok());
        assert!(b.take("a", t0 + Duration::from_millis(100)).is_err());
        // Idle time refills up to the burst, not beyond.
        let later = t0 + Duration::from_secs(60);
        for _ in 0..3 {
            assert!(b.take("a", later).is_ok());
        }
        assert!(b.take("a", later).is_err());
    }

    #[test]
    fn a_zero_rate_means_no_limit() {
        let b = Buckets::new(0.0, 1);
        let t = Instant::now();
        for _ in 0..10_000 {
            assert!(b.take("a", t).is_ok());
        }
    }

    #[test]
    fn stream_slots_are_counted_per_token_and_freed_on_drop() {
        let s = OpenStreams::new(2);
        let a1 = s.open("a").unwrap();
        let _a2 = s.open("a").unwrap();
        assert!(s.open("a").is_none());
        assert!(s.open("b").is_some());
        drop(a1);
        assert_eq!(s.count("a"), 1);
        assert!(s.open("a").is_some());
    }
}
