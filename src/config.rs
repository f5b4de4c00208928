//! Typed configuration: defaults, then an optional TOML file, then
//! `REPLYGATE_*` environment variables, then command-line flags. Nested keys
//! are reached from the environment with `__` (`REPLYGATE_LIMITS__MAX_MESSAGE_BYTES=4096`).
//! The loader takes the environment as an argument so it can be tested.

pub use crate::auth::TokenConfig;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config: {0}")]
    Parse(String),
    #[error("config: {key}: {message}")]
    Invalid { key: String, message: String },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// gRPC listen address.
    pub grpc_addr: String,
    /// HTTP listen address for /healthz and /metrics.
    pub http_addr: String,
    /// The help-center folder synced at start-up (`<locale>/<slug>.md`).
    pub knowledge_dir: PathBuf,
    /// Where the SQLite database and the search index live.
    pub data_dir: PathBuf,
    /// Empty: SQLite under data_dir; `sqlite:PATH`; or `postgres://...` for several replicas.
    pub database_url: String,
    /// Connection pool for PostgreSQL.
    pub database: DatabaseConfig,
    /// Language used when a message's language cannot be told and no hint is given.
    pub default_locale: String,
    /// "text" or "json".
    pub log_format: String,
    pub limits: Limits,
    pub review: ReviewConfig,
    pub delivery: DeliveryConfig,
    pub routing: RoutingConfig,
    pub policy: PolicyConfig,
    pub retrieval: RetrievalConfig,
    pub llm: LlmConfig,
    /// "tokens": every call (but health and reflection) needs a bearer token
    /// listed in `tokens`; "none": nobody is checked, for local use only.
    pub auth: AuthMode,
    /// `[[tokens]]` entries: subject, roles, sha256 (`replygate token create`).
    pub tokens: Vec<TokenConfig>,
    pub tls: TlsConfig,
}

/// Whether calls must present a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum AuthMode {
    #[default]
    #[serde(rename = "tokens")]
    Tokens,
    /// `auth = "none"`: for local use; the server warns at start-up.
    #[serde(rename = "none")]
    Disabled,
}

/// TLS for gRPC. Empty `cert`: plaintext.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// PEM certificate chain.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
    /// PEM CA certificates: when set, clients must present a certificate signed by one of them.
    pub client_ca: PathBuf,
}

impl TlsConfig {
    pub fn enabled(&self) -> bool {
        !self.cert.as_os_str().is_empty()
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            grpc_addr: "127.0.0.1:50051".into(),
            http_addr: "127.0.0.1:9090".into(),
            knowledge_dir: "knowledge".into(),
            data_dir: "./data".into(),
            database_url: String::new(),
            database: DatabaseConfig::default(),
            default_locale: "en".into(),
            log_format: "text".into(),
            limits: Limits::default(),
            review: ReviewConfig::default(),
            delivery: DeliveryConfig::default(),
            routing: RoutingConfig::default(),
            policy: PolicyConfig::default(),
            retrieval: RetrievalConfig::default(),
            llm: LlmConfig::default(),
            auth: AuthMode::Tokens,
            tokens: Vec::new(),
            tls: TlsConfig::default(),
        }
    }
}

/// The PostgreSQL pool (SQLite uses one writer and four readers regardless).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// Connections per replica; replicas × this must stay under the server's `max_connections`.
    pub max_connections: u32,
    /// Connections kept open when idle.
    pub min_connections: u32,
    /// How long a request waits for a connection before failing with UNAVAILABLE.
    pub acquire_timeout_ms: u64,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            max_connections: 16,
            min_connections: 1,
            acquire_timeout_ms: 5000,
        }
    }
}

/// Sizes checked at the edge; a request over a limit fails with INVALID_ARGUMENT naming it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    pub max_message_bytes: usize,
    pub max_history_turns: usize,
    pub max_context_entries: usize,
    /// For each context key and value.
    pub max_context_value_bytes: usize,
    pub max_id_chars: usize,
    /// Agent edits, replacements and reject reasons.
    pub max_reply_bytes: usize,
    pub max_reason_bytes: usize,
    pub max_article_bytes: usize,
    pub max_title_chars: usize,
    pub max_tags: usize,
    pub max_search_limit: u32,
    pub max_page_size: u32,
    pub max_query_bytes: usize,
    /// Largest gRPC message the server decodes.
    pub max_grpc_message_bytes: usize,
    /// Calls in progress at once; more are refused at once with UNAVAILABLE (and a retry hint).
    pub max_concurrent_requests: usize,
    /// Sustained calls per second per token (0: no limit); over it, RESOURCE_EXHAUSTED.
    pub requests_per_second_per_token: f64,
    /// Calls a token may make at once above its rate.
    pub burst_per_token: u32,
    /// Open server streams (deliveries, queue watches, streamed drafts) per token.
    pub max_streams_per_token: usize,
    /// Time limit of one call until its answer (or a stream's start); over it, DEADLINE_EXCEEDED.
    pub request_timeout_ms: u64,
    /// HTTP/2 streams one connection may have open at once.
    pub max_concurrent_streams_per_connection: u32,
    /// Largest request header block (all metadata of a call), in bytes.
    pub max_header_list_bytes: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_bytes: 8 * 1024,
            max_history_turns: 50,
            max_context_entries: 32,
            max_context_value_bytes: 256,
            max_id_chars: 128,
            max_reply_bytes: 16 * 1024,
            max_reason_bytes: 1024,
            max_article_bytes: 256 * 1024,
            max_title_chars: 300,
            max_tags: 32,
            max_search_limit: 50,
            max_page_size: 500,
            max_query_bytes: 4 * 1024,
            max_grpc_message_bytes: 4 * 1024 * 1024,
            max_concurrent_requests: 1024,
            requests_per_second_per_token: 2000.0,
            burst_per_token: 4000,
            max_streams_per_token: 64,
            request_timeout_ms: 60_000,
            max_concurrent_streams_per_connection: 256,
            max_header_list_bytes: 16 * 1024,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReviewConfig {
    /// Default claim lease.
    pub lease_seconds: u32,
    /// Longest lease an agent may ask for.
    pub max_lease_seconds: u32,
    /// How often expired claims are returned to the queue.
    pub sweep_interval_ms: u64,
}

impl Default for ReviewConfig {
    fn default() -> Self {
        ReviewConfig {
            lease_seconds: 600,
            max_lease_seconds: 3600,
            sweep_interval_ms: 1000,
        }
    }
}

/// Delivery streams in a consumer group (`StreamDeliveries.consumer_group`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeliveryConfig {
    /// How long a delivery stays with the stream it was handed to without an
    /// ack before it goes to the group again (a stream may ask for another).
    pub lease_seconds: u32,
    /// Longest lease a stream may ask for.
    pub max_lease_seconds: u32,
    /// Deliveries one stream of a group holds unacknowledged at most.
    pub max_in_flight: u32,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            lease_seconds: 30,
            max_lease_seconds: 3600,
            max_in_flight: 64,
        }
    }
}

/// Score thresholds for the confidence levels: score >= high -> HIGH, >= medium -> MEDIUM, else LOW.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    pub high: f64,
    pub medium: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RoutingConfig {
    pub default: Thresholds,
    /// Per-channel overrides, e.g. `[routing.channels.email] high = 0.8, medium = 0.5`.
    pub channels: BTreeMap<String, Thresholds>,
}

impl Default for RoutingConfig {
    fn default() -> Self {
        RoutingConfig {
            default: Thresholds {
                high: 0.70,
                medium: 0.40,
            },
            channels: BTreeMap::new(),
        }
    }
}

impl RoutingConfig {
    pub fn for_channel(&self, channel: &str) -> Thresholds {
        self.channels.get(channel).copied().unwrap_or(self.default)
    }
}

/// Phrases (any language; matched case- and accent-insensitively on word boundaries).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyConfig {
    /// Topics a human must always review.
    pub always_review: Vec<String>,
    /// The customer asks for a person.
    pub human_request: Vec<String>,
    /// Text that tries to steer the assistant.
    pub injection_markers: Vec<String>,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        let v = |xs: &[&str]| xs.iter().map(|s| s.to_string()).collect();
        PolicyConfig {
            always_review: v(&[
                // en
                "refund",
                "chargeback",
                "lawyer",
                "lawsuit",
                "legal action",
                "police",
                "court order",
                "suicide",
                "kill myself",
                "self harm",
                "threat",
                "extortion",
                "child abuse",
                "gdpr",
                "data breach",
                "hacked",
                "stolen",
                "fraud",
                "scam",
                // pt
                "reembolso",
                "estorno",
                "advogado",
                "processo judicial",
                "polícia",
                "policia",
                "suicídio",
                "me matar",
                "ameaça",
                "extorsão",
                "hackeada",
                "hackeado",
                "invadida",
                "roubado",
                "roubada",
                "fraude",
                "golpe",
                "vazamento de dados",
                // it
                "rimborso",
                "avvocato",
                "denuncia",
                "polizia",
                "suicidio",
                "uccidermi",
                "minaccia",
                "estorsione",
                "hackerato",
                "rubato",
                "truffa",
                "frode",
                "violazione dei dati",
            ]),
            human_request: v(&[
                // en
                "talk to a human",
                "speak to a human",
                "talk to a person",
                "speak to a person",
                "real person",
                "human agent",
                "talk to an agent",
                "speak to an agent",
                "talk to someone",
                "speak with someone",
                "customer service representative",
                "not a bot",
                "no bot",
                "stop the bot",
                // pt
                "falar com um humano",
                "falar com uma pessoa",
                "falar com atendente",
                "falar com um atendente",
                "atendente humano",
                "pessoa real",
                "não quero robô",
                "nao quero robo",
                "falar com alguém",
                "falar com alguem",
                // it
                "parlare con un operatore",
                "parlare con una persona",
                "operatore umano",
                "persona reale",
                "parlare con qualcuno",
                "non voglio un bot",
                "parlare con un umano",
            ]),
            injection_markers: v(&[
                "ignore previous instructions",
                "ignore all previous",
                "ignore the above",
                "disregard previous",
                "disregard all previous",
                "system prompt",
                "you are now",
                "developer mode",
                "jailbreak",
                "new instructions",
                "ignora le istruzioni",
                "ignore as instruções",
                "ignore as instrucoes",
            ]),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetrievalConfig {
    /// Articles retrieved per message.
    pub top_articles: usize,
    /// Passages of the best article quoted by the extractive drafter.
    pub max_passages: usize,
    /// Longest extractive reply body, in characters.
    pub max_reply_chars: usize,
    /// BM25 term-frequency saturation.
    pub k1: f32,
    /// BM25 length normalisation (0: none, 1: full).
    pub b: f32,
    /// Weight of matches in an article's title.
    pub title_weight: f32,
    /// Weight of matches in a passage (a section under one heading).
    pub passage_weight: f32,
    /// Weight of matches anywhere in the passage's article.
    pub article_weight: f32,
}

impl Default for RetrievalConfig {
    fn default() -> Self {
        RetrievalConfig {
            top_articles: 5,
            max_passages: 2,
            max_reply_chars: 1200,
            k1: 1.2,
            b: 0.75,
            title_weight: 0.5,
            passage_weight: 1.0,
            article_weight: 1.0,
        }
    }
}

/// A secret read from the environment: never printed, serialized or compared.
#[derive(Clone, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Secret {
        Secret(value)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_empty() {
            "Secret(empty)"
        } else {
            "Secret(***)"
        })
    }
}

impl PartialEq for Secret {
    fn eq(&self, _: &Secret) -> bool {
        true
    }
}

/// An OpenAI-compatible chat-completions endpoint (OpenAI, vLLM, Ollama,
/// llama.cpp's llama-server). Without `base_url` and `model` the built-in
/// extractive drafter writes every draft.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LlmConfig {
    /// e.g. "https://api.openai.com/v1", "http://127.0.0.1:8080/v1" (llama-server), "http://127.0.0.1:11434/v1" (Ollama).
    pub base_url: String,
    pub model: String,
    /// The environment variable that holds the API key; the key itself never goes in a file.
    pub api_key_env: String,
    /// The key, read from `api_key_env` when the config is loaded.
    #[serde(skip)]
    pub api_key: Secret,
    /// Time limit of one HTTP attempt.
    pub timeout_ms: u64,
    /// Time limit of a whole draft's LLM work, retries included.
    pub deadline_ms: u64,
    pub max_concurrency: usize,
    /// Retries after the first attempt on 429, 5xx, timeouts and refused connections.
    pub max_retries: u32,
    pub backoff_base_ms: u64,
    pub backoff_max_ms: u64,
    /// Consecutive failed calls that open the circuit breaker.
    pub breaker_failures: u32,
    /// How long the breaker stays open before one call may try again.
    pub breaker_open_ms: u64,
    pub temperature: f32,
    pub max_tokens: u32,
    /// "json_schema" (falls back to json_object, then text, when the server refuses), "json_object" or "text".
    pub output: String,
    /// Ask for token log-probabilities (a confidence signal where the server returns them).
    pub logprobs: bool,
    /// Passages given to the model.
    pub max_passages: usize,
}

impl Default for LlmConfig {
    fn default() -> Self {
        LlmConfig {
            base_url: String::new(),
            model: String::new(),
            api_key_env: "REPLYGATE_LLM_API_KEY".into(),
            api_key: Secret::default(),
            timeout_ms: 20_000,
            deadline_ms: 45_000,
            max_concurrency: 8,
            max_retries: 2,
            backoff_base_ms: 250,
            backoff_max_ms: 8_000,
            breaker_failures: 5,
            breaker_open_ms: 30_000,
            temperature: 0.2,
            max_tokens: 600,
            output: "json_schema".into(),
            logprobs: true,
            max_passages: 5,
        }
    }
}

impl LlmConfig {
    pub fn enabled(&self) -> bool {
        !self.base_url.is_empty() && !self.model.is_empty()
    }
}

/// Values given on the command line; they win over everything else.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub knowledge_dir: Option<PathBuf>,
    pub data_dir: Option<PathBuf>,
    pub grpc_addr: Option<String>,
    pub http_addr: Option<String>,
    pub auth: Option<AuthMode>,
}

const ENV_PREFIX: &str = "REPLYGATE_";
/// Reserved for test settings (e.g. REPLYGATE_TEST_LLM_URL); never read as config.
const TEST_PREFIX: &str = "REPLYGATE_TEST_";

/// Reads a scalar from the environment as TOML when it parses as one, else as a string.
fn env_value(raw: &str) -> toml::Value {
    let doc = format!("v = {raw}");
    match toml::from_str::<toml::Table>(&doc) {
        Ok(mut t) => t
            .remove("v")
            .unwrap_or_else(|| toml::Value::String(raw.into())),
        Err(_) => toml::Value::String(raw.into()),
    }
}

/// Builds the config from an optional file, the environment and flags.
pub fn load(
    file: Option<&Path>,
    env: impl IntoIterator<Item = (String, String)>,
    overrides: &Overrides,
) -> Result<Config, Error> {
    let mut table = match file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
                path: path.into(),
                source,
            })?;
            toml::from_str::<toml::Table>(&text)
                .map_err(|e| Error::Parse(format!("{}: {e}", path.display())))?
        }
        None => toml::Table::new(),
    };
    let env: Vec<(String, String)> = env.into_iter().collect();
    // The variable holding the LLM key is a secret, not a config key.
    let key_var = env
        .iter()
        .find(|(k, _)| k == "REPLYGATE_LLM__API_KEY_ENV")
        .map(|(_, v)| v.clone())
        .or_else(|| {
            table
                .get("llm")
                .and_then(|l| l.get("api_key_env"))
                .and_then(|v| v.as_str())
                .map(String::from)
        })
        .unwrap_or_else(|| LlmConfig::default().api_key_env);
    for (key, raw) in env.iter().cloned() {
        // The key holder is a secret; REPLYGATE_TEST_* belongs to test harnesses.
        if key == key_var || key.starts_with(TEST_PREFIX) {
            continue;
        }
        let Some(rest) = key.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        let path: Vec<String> = rest.split("__").map(|p| p.to_ascii_lowercase()).collect();
        if path.iter().any(|p| p.is_empty()) {
            continue;
        }
        let mut node = &mut table;
        for part in &path[..path.len() - 1] {
            let entry = node
                .entry(part.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            let toml::Value::Table(t) = entry else {
                return Err(Error::Invalid {
                    key: key.clone(),
                    message: format!("{part} is not a section"),
                });
            };
            node = t;
        }
        let leaf = path.last().expect("split yields at least one part").clone();
        // Paths are strings even when they look like numbers.
        let value = if matches!(
            leaf.as_str(),
            "grpc_addr"
                | "http_addr"
                | "database_url"
                | "default_locale"
                | "knowledge_dir"
                | "data_dir"
                | "cert"
                | "key"
                | "client_ca"
        ) {
            toml::Value::String(raw)
        } else {
            env_value(&raw)
        };
        node.insert(leaf, value);
    }
    let mut config: Config = toml::Value::Table(table)
        .try_into()
        .map_err(|e: toml::de::Error| Error::Parse(e.to_string()))?;
    if let Some((_, key)) = env.iter().find(|(k, _)| *k == key_var) {
        config.llm.api_key = Secret::new(key.clone());
    }
    if let Some(v) = &overrides.knowledge_dir {
        config.knowledge_dir = v.clone();
    }
    if let Some(v) = &overrides.data_dir {
        config.data_dir = v.clone();
    }
    if let Some(v) = &overrides.grpc_addr {
        config.grpc_addr = v.clone();
    }
    if let Some(v) = &overrides.http_addr {
        config.http_addr = v.clone();
    }
    if let Some(v) = overrides.auth {
        config.auth = v;
    }
    config.validate()?;
    Ok(config)
}

impl Config {
    /// Checks what serde cannot: ranges and relations between values.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |key: &str, message: &str| {
            Err(Error::Invalid {
                key: key.into(),
                message: message.into(),
            })
        };
        let check = |name: &str, t: &Thresholds| {
            if !(0.0..=1.0).contains(&t.medium)
                || !(0.0..=1.0).contains(&t.high)
                || t.medium > t.high
            {
                return Err(Error::Invalid {
                    key: name.into(),
                    message: "need 0 <= medium <= high <= 1".into(),
                });
            }
            Ok(())
        };
        check("routing.default", &self.routing.default)?;
        for (channel, t) in &self.routing.channels {
            check(&format!("routing.channels.{channel}"), t)?;
        }
        if crate::knowledge::lang::primary_tag(&self.default_locale).as_deref()
            != Some(self.default_locale.as_str())
        {
            return bad(
                "default_locale",
                "must be a lowercase primary language tag such as \"en\"",
            );
        }
        if self.review.lease_seconds == 0
            || self.review.lease_seconds > self.review.max_lease_seconds
        {
            return bad(
                "review.lease_seconds",
                "must be between 1 and review.max_lease_seconds",
            );
        }
        if self.delivery.lease_seconds == 0
            || self.delivery.lease_seconds > self.delivery.max_lease_seconds
        {
            return bad(
                "delivery.lease_seconds",
                "must be between 1 and delivery.max_lease_seconds",
            );
        }
        if self.delivery.max_in_flight == 0 {
            return bad("delivery.max_in_flight", "must be at least 1");
        }
        if self.limits.max_message_bytes == 0 || self.limits.max_id_chars == 0 {
            return bad("limits", "limits must be positive");
        }
        if self.limits.max_grpc_message_bytes < self.limits.max_article_bytes + 64 * 1024 {
            return bad(
                "limits.max_grpc_message_bytes",
                "must exceed limits.max_article_bytes by at least 64 KiB",
            );
        }
        if !matches!(self.log_format.as_str(), "text" | "json") {
            return bad("log_format", "must be \"text\" or \"json\"");
        }
        let url = self.database_url.as_str();
        if !(url.is_empty()
            || url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            return bad(
                "database_url",
                "must be empty (SQLite under data_dir), sqlite:PATH or postgres://...",
            );
        }
        if self.database.max_connections == 0 {
            return bad("database.max_connections", "must be at least 1");
        }
        if self.database.acquire_timeout_ms == 0 {
            return bad("database.acquire_timeout_ms", "must be at least 1");
        }
        let l = &self.llm;
        if l.enabled() && !(l.base_url.starts_with("http://") || l.base_url.starts_with("https://"))
        {
            return bad("llm.base_url", "must start with http:// or https://");
        }
        if !matches!(l.output.as_str(), "json_schema" | "json_object" | "text") {
            return bad(
                "llm.output",
                "must be \"json_schema\", \"json_object\" or \"text\"",
            );
        }
        if l.timeout_ms == 0 || l.max_concurrency == 0 || l.max_passages == 0 || l.max_tokens == 0 {
            return bad(
                "llm",
                "timeout_ms, max_concurrency, max_passages and max_tokens must be positive",
            );
        }
        let lim = &self.limits;
        if lim.max_concurrent_requests == 0
            || lim.max_streams_per_token == 0
            || lim.request_timeout_ms == 0
            || lim.max_concurrent_streams_per_connection == 0
            || lim.max_header_list_bytes < 1024
        {
            return bad(
                "limits",
                "max_concurrent_requests, max_streams_per_token, request_timeout_ms and max_concurrent_streams_per_connection must be positive, max_header_list_bytes at least 1024",
            );
        }
        if !lim.requests_per_second_per_token.is_finite() || lim.requests_per_second_per_token < 0.0
        {
            return bad(
                "limits.requests_per_second_per_token",
                "must be 0 (no limit) or positive",
            );
        }
        if lim.requests_per_second_per_token > 0.0 && lim.burst_per_token == 0 {
            return bad("limits.burst_per_token", "must be at least 1");
        }
        if l.enabled() && lim.request_timeout_ms <= l.deadline_ms {
            return bad(
                "limits.request_timeout_ms",
                "must exceed llm.deadline_ms, so a slow LLM falls back to the extractive drafter before the call times out",
            );
        }
        if let Err(crate::auth::Error::Invalid {
            index,
            field,
            message,
        }) = crate::auth::Tokens::from_config(&self.tokens)
        {
            return bad(&format!("tokens[{index}].{field}"), &message);
        }
        if self.tls.enabled() == self.tls.key.as_os_str().is_empty() {
            return bad("tls", "cert and key must be set together");
        }
        if !self.tls.enabled() && !self.tls.client_ca.as_os_str().is_empty() {
            return bad("tls.client_ca", "needs tls.cert and tls.key");
        }
        let r = &self.retrieval;
        if r.top_articles == 0 || r.max_passages == 0 {
            return bad(
                "retrieval",
                "top_articles and max_passages must be positive",
            );
        }
        if !(r.k1 > 0.0 && r.k1 <= 10.0) {
            return bad("retrieval.k1", "must be above 0 and at most 10");
        }
        if !(0.0..=1.0).contains(&r.b) {
            return bad("retrieval.b", "must be between 0 and 1");
        }
        let weights = [r.title_weight, r.passage_weight, r.article_weight];
        if weights.iter().any(|w| !(0.0..=100.0).contains(w)) || weights.iter().all(|w| *w == 0.0) {
            return bad(
                "retrieval",
                "title_weight, passage_weight and article_weight must be between 0 and 100, not all 0",
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_match_the_design() {
        let c = load(None, env(&[]), &Overrides::default()).unwrap();
        assert_eq!(c.grpc_addr, "127.0.0.1:50051");
        assert_eq!(c.http_addr, "127.0.0.1:9090");
        assert_eq!(c.knowledge_dir, PathBuf::from("knowledge"));
        assert_eq!(c.data_dir, PathBuf::from("./data"));
        assert_eq!(c.limits.max_message_bytes, 8192);
        assert_eq!(c.review.lease_seconds, 600);
    }

    #[test]
    fn environment_overrides_file_and_flags_override_environment() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "grpc_addr = \"0.0.0.0:1\"\n[limits]\nmax_message_bytes = 100\n[routing.channels.email]\nhigh = 0.9\nmedium = 0.5\n").unwrap();
        let c = load(
            Some(&path),
            env(&[
                ("REPLYGATE_LIMITS__MAX_MESSAGE_BYTES", "200"),
                ("REPLYGATE_HTTP_ADDR", "127.0.0.1:1"),
                ("OTHER", "x"),
            ]),
            &Overrides {
                grpc_addr: Some("127.0.0.1:2".into()),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(c.limits.max_message_bytes, 200);
        assert_eq!(c.http_addr, "127.0.0.1:1");
        assert_eq!(c.grpc_addr, "127.0.0.1:2");
        assert_eq!(c.routing.for_channel("email").high, 0.9);
        assert_eq!(c.routing.for_channel("chat"), c.routing.default);
    }

    #[test]
    fn the_llm_key_comes_from_the_named_environment_variable_and_is_never_printed() {
        let c = load(
            None,
            env(&[
                ("REPLYGATE_LLM__BASE_URL", "http://127.0.0.1:8080/v1"),
                ("REPLYGATE_LLM__MODEL", "m"),
                ("REPLYGATE_LLM_API_KEY", "sk-secret"),
            ]),
            &Overrides::default(),
        )
        .unwrap();
        assert!(c.llm.enabled());
        assert_eq!(c.llm.api_key.expose(), "sk-secret");
        assert!(!format!("{c:?}").contains("sk-secret"));
        assert!(!toml::to_string(&c).unwrap().contains("sk-secret"));
    }

    #[test]
    fn test_harness_variables_are_not_config() {
        let c = load(
            None,
            env(&[
                ("REPLYGATE_TEST_LLM_URL", "http://x"),
                ("REPLYGATE_TEST_DATABASE_URL", "postgres://"),
            ]),
            &Overrides::default(),
        );
        assert_eq!(c.unwrap(), Config::default());
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = load(
            None,
            env(&[("REPLYGATE_LIMITS__NO_SUCH_LIMIT", "1")]),
            &Overrides::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("no_such_limit"), "{err}");
    }

    #[test]
    fn inverted_thresholds_are_refused() {
        let err = load(
            None,
            env(&[
                ("REPLYGATE_ROUTING__DEFAULT__MEDIUM", "0.9"),
                ("REPLYGATE_ROUTING__DEFAULT__HIGH", "0.5"),
            ]),
            &Overrides::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("routing.default"), "{err}");
    }

    #[test]
    fn bm25_settings_out_of_range_are_refused_by_name() {
        for (key, value, named) in [
            ("REPLYGATE_RETRIEVAL__K1", "0", "retrieval.k1"),
            ("REPLYGATE_RETRIEVAL__K1", "NaN", "retrieval.k1"),
            ("REPLYGATE_RETRIEVAL__B", "1.5", "retrieval.b"),
            ("REPLYGATE_RETRIEVAL__TITLE_WEIGHT", "-1", "title_weight"),
        ] {
            let err = load(None, env(&[(key, value)]), &Overrides::default()).unwrap_err();
            assert!(err.to_string().contains(named), "{key}={value}: {err}");
        }
        let all_zero = env(&[
            ("REPLYGATE_RETRIEVAL__TITLE_WEIGHT", "0"),
            ("REPLYGATE_RETRIEVAL__PASSAGE_WEIGHT", "0"),
            ("REPLYGATE_RETRIEVAL__ARTICLE_WEIGHT", "0"),
        ]);
        assert!(load(None, all_zero, &Overrides::default()).is_err());
        let tuned = env(&[
            ("REPLYGATE_RETRIEVAL__K1", "0.9"),
            ("REPLYGATE_RETRIEVAL__B", "0.4"),
        ]);
        let c = load(None, tuned, &Overrides::default()).unwrap();
        assert_eq!((c.retrieval.k1, c.retrieval.b), (0.9, 0.4));
    }
}

#[cfg(test)]
mod example_file {
    #[test]
    fn the_example_config_file_loads_and_equals_the_defaults() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("replygate.example.toml");
        let loaded = super::load(Some(&path), Vec::new(), &super::Overrides::default()).unwrap();
        assert_eq!(loaded, super::Config::default());
    }
}
