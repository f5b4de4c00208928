//! Durable state behind one `Store` trait: articles, conversations, drafts,
//! deliveries (the outbox) and the audit trail. SQLite is the default
//! implementation, PostgreSQL the one for several replicas; both run the
//! same statements (`queries/`) through one generic `SqlStore<B>` (`sql/`). Every method that changes several rows does
//! so in one transaction, and the caller is answered only after it commits.

pub mod chain;
mod group;
mod migrate;
pub mod postgres;
mod queries;
mod sql;
pub mod sqlite;

use crate::model::{
    Article, AuditEvent, CuratedAnswer, CuratedQuestion, CustomerMessage, Delivery, Draft, Millis,
    Transcript,
};
use async_trait::async_trait;
use std::sync::Arc;
use tokio::sync::broadcast;

pub use postgres::PgStore;
pub use sql::SqlStore;
pub use sqlite::SqliteStore;

#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// The row changed since it was read (another agent or replica got there first).
    #[error("the record changed concurrently")]
    Conflict,
    #[error("{0} not found")]
    NotFound(String),
    /// A unique key (named) already exists.
    #[error("duplicate {0}")]
    Duplicate(String),
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    #[error("the database failed: {0}")]
    Internal(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The conversation (named) was opened by another platform.
    #[error("conversation {0} belongs to another platform")]
    OtherPlatform(String),
    /// The conversation's state does not allow the act (another agent owns it).
    #[error(transparent)]
    Refused(#[from] crate::conversation::Refusal),
}

impl From<sqlx::migrate::MigrateError> for Error {
    #[expect(
        clippy::wildcard_enum_match_arm,
        reason = "MigrateError is non-exhaustive: anything but a failing statement means the database and this binary disagree"
    )]
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        match e {
            sqlx::migrate::MigrateError::Execute(e) => e.into(),
            other => Error::Internal(format!("migrating the database: {other}")),
        }
    }
}

impl From<sqlx::Error> for Error {
    #[expect(
        clippy::wildcard_enum_match_arm,
        reason = "sqlx::Error is non-exhaustive: anything not named is an internal failure"
    )]
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::RowNotFound => Error::NotFound("row".into()),
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::WorkerCrashed => Error::Unavailable(e.to_string()),
            sqlx::Error::Database(ref db) => {
                if db.is_unique_violation() {
                    return Error::Duplicate(db.constraint().unwrap_or("key").to_string());
                }
                // SQLITE_BUSY / SQLITE_LOCKED (and their extended codes): another
                // process holds the file's lock longer than busy_timeout.
                if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some()
                    && db
                        .code()
                        .and_then(|c| c.parse::<u32>().ok())
                        .is_some_and(|c| matches!(c & 0xff, 5 | 6))
                {
                    return Error::Unavailable(e.to_string());
                }
                match db.code().as_deref().unwrap_or_default() {
                    // connection exceptions; admin or crash shutdown; cannot connect now;
                    // read-only replica (a failover in progress)
                    code if code.starts_with("08")
                        || code.starts_with("57P")
                        || code == "25006" =>
                    {
                        Error::Unavailable(e.to_string())
                    }
                    // serialization failure, deadlock: the caller may retry
                    "40001" | "40P01" => Error::Conflict,
                    _ => Error::Internal(e.to_string()),
                }
            }
            other => Error::Internal(other.to_string()),
        }
    }
}

/// Opens the store the config names: SQLite under the data dir by default,
/// another SQLite file for `sqlite:PATH`, PostgreSQL for `postgres://...`.
pub async fn open(config: &crate::config::Config) -> Result<DynStore> {
    let url = config.database_url.as_str();
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(Arc::new(PgStore::open(url, &config.database).await?));
    }
    let path = match url.strip_prefix("sqlite:") {
        Some(path) if !path.is_empty() => path.trim_start_matches("//").into(),
        _ => config.data_dir.join("replygate.db"),
    };
    Ok(Arc::new(SqliteStore::open(&path).await?))
}

/// Opens the store the config names for reading beside a running server
/// (audit verification): SQLite read-only and unlocked; PostgreSQL as usual.
pub async fn open_for_reading(config: &crate::config::Config) -> Result<DynStore> {
    let url = config.database_url.as_str();
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return open(config).await;
    }
    let path = match url.strip_prefix("sqlite:") {
        Some(path) if !path.is_empty() => path.trim_start_matches("//").into(),
        _ => config.data_dir.join("replygate.db"),
    };
    Ok(Arc::new(SqliteStore::open_read_only(&path).await?))
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A boxed future borrowing its transaction, as the backends' `write` takes it.
pub(crate) type BoxFuture<'a, T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// What a new customer message writes: the message, its draft, the audit
/// events, and the delivery when the draft was auto-approved.
#[derive(Debug, Clone)]
pub struct NewDraft {
    pub message: CustomerMessage,
    pub draft: Draft,
    pub events: Vec<AuditEvent>,
    pub delivery: Option<Delivery>,
    /// The platform's id for the customer, recorded with the conversation (may be empty).
    pub customer_id: String,
    /// What to write instead when the conversation waits for a person
    /// (`earlier.holds` says so of one of its undecided drafts): the draft
    /// held for review. None: write `draft` as is.
    pub if_held: Option<HeldDraft>,
    /// What the new message does to its conversation's earlier drafts.
    pub earlier: EarlierDrafts,
    /// What it does to its conversation's state.
    pub conversation: MessageInConversation,
}

/// What a new message brings to its conversation's state machine
/// ([`crate::conversation::step`], applied to the state as stored).
#[derive(Debug, Clone)]
pub struct MessageInConversation {
    pub act: crate::conversation::Act,
    pub rules: crate::conversation::Rules,
    /// The handoff notice, written and delivered when the message escalates
    /// the conversation.
    pub notice: Option<Notice>,
}

/// A message to the customer that a person will answer, sent through the
/// outbox as a draft of its own (generator "handoff_notice").
#[derive(Debug, Clone)]
pub struct Notice {
    pub draft: Draft,
    pub delivery: Delivery,
    pub events: Vec<AuditEvent>,
}

/// The audit kind of an erasure (its detail lists the digests of what stays).
pub const ERASED_EVENT: &str = "customer_data_erased";

/// The erasure of one conversation's customer data.
#[derive(Debug, Clone)]
pub struct Erasure {
    pub conversation_id: String,
    /// Who asked (the admin), or "retention".
    pub actor: String,
    /// "request" or "retention".
    pub reason: &'static str,
    pub now: Millis,
}

/// What an erasure removed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Erased {
    pub messages: u64,
    pub drafts: u64,
    pub deliveries: u64,
    pub curated_questions: u64,
    /// Old audit events that still hold an edit's or a replacement's text.
    pub texts_kept_in_audit_chain: u64,
}

/// An agent's act on a whole conversation (take over, hand back, resolve).
#[derive(Debug, Clone)]
pub struct ConversationChange {
    pub conversation_id: String,
    pub act: crate::conversation::Act,
    pub now: Millis,
    /// How the conversation's undecided drafts are closed when the step says so.
    pub close: EarlierDrafts,
}

/// What an act on a conversation did.
#[derive(Debug, Clone, PartialEq)]
pub struct ConversationChanged {
    pub ownership: crate::conversation::Ownership,
    /// The state changed (false: it was already so).
    pub changed: bool,
    /// Undecided drafts the act closed (superseded).
    pub closed: Vec<String>,
}

/// The domain's rules for a conversation's earlier undecided drafts (pending
/// or claimed) when a new message arrives. The store applies them inside the
/// write transaction, to the drafts as they are there, so a decision racing
/// the new message is seen: a draft decided meanwhile is read again and the
/// rules asked again.
#[derive(Debug, Clone)]
pub struct EarlierDrafts {
    /// The draft as the new message leaves it (superseded), or None to leave it be.
    pub supersede: fn(&Draft, Millis) -> Option<Draft>,
    /// The event each superseded draft gets (its `draft_id` set to that draft's).
    pub superseded_event: AuditEvent,
    /// Whether the draft makes its conversation wait for a person.
    pub holds: fn(&Draft) -> bool,
}

/// A new draft as written while its conversation waits for a person.
#[derive(Debug, Clone)]
pub struct HeldDraft {
    pub draft: Draft,
    pub events: Vec<AuditEvent>,
}

/// An idempotency key: a request id is unique within one conversation of one caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestKey {
    /// The calling platform's subject (empty without tokens).
    pub caller: String,
    pub conversation_id: String,
    pub request_id: String,
}

#[derive(Debug, Clone)]
pub struct CreatedDraft {
    pub draft: Draft,
    /// Drafts of the same conversation this one superseded.
    pub superseded: Vec<String>,
    /// False when the request id had been seen before and `draft` is the earlier one.
    pub created: bool,
    /// The conversation's state after the write (None: nothing was written).
    pub conversation: Option<crate::conversation::Ownership>,
    /// The handoff notice sent with it.
    pub notice: Option<Draft>,
}

/// A state change of one draft, applied only if the draft is still at `expected_revision`.
#[derive(Debug, Clone)]
pub struct DraftChange {
    pub draft: Draft,
    pub expected_revision: i64,
    pub events: Vec<AuditEvent>,
    pub delivery: Option<Delivery>,
    /// What the decision teaches the answer memory, in the same transaction.
    pub memory: Vec<MemoryWrite>,
    /// What the decision does to the draft's conversation (an agent's claim
    /// or decision makes them its owner; refused when another agent owns it).
    pub conversation: Option<crate::conversation::Act>,
}

/// What an agent's decision does to the answer memory (the domain's rules
/// live in `drafting::memory`; the store writes what it is handed).
#[derive(Debug, Clone, PartialEq)]
pub enum MemoryWrite {
    /// Files `question` under the ACTIVE answer of `answer.locale` whose
    /// reply has the same [`crate::model::reply_key`], adding the agent to
    /// its approvals and taking `answer.sources` as the versions it now rests
    /// on (a re-approval); when there is none, writes `answer` as a new one.
    Learn {
        answer: Box<CuratedAnswer>,
        question: CuratedQuestion,
    },
    /// A draft made from this answer was rejected: REJECTED, one more rejection.
    Reject { answer_id: String },
    /// A draft made from this answer was approved with an edit: SUPERSEDED.
    Supersede { answer_id: String },
}

/// An editor's change of one curated answer, applied only if it is still at
/// `expected_revision`; `to` None deletes it (its questions too).
#[derive(Debug, Clone, PartialEq)]
pub struct CuratedChange {
    pub id: String,
    pub expected_revision: i64,
    pub to: Option<CuratedAnswer>,
    pub event: AuditEvent,
}

/// One stream of a consumer group asking for deliveries. It gets the
/// unacknowledged ones after `after_cursor` (of `channel` and visible to
/// `platform`, when set) that no stream of the group holds, except any whose
/// conversation has an earlier delivery another stream holds (one
/// conversation's replies go out in order), up to `max_in_flight` held at
/// once; each is leased to `holder` until `until`.
#[derive(Debug, Clone)]
pub struct DeliveryLease {
    pub group: String,
    pub holder: String,
    pub after_cursor: u64,
    pub channel: Option<String>,
    /// Only deliveries whose draft's caller is this platform (or empty).
    pub platform: Option<String>,
    pub max_in_flight: u32,
    pub now: Millis,
    pub until: Millis,
}

#[derive(Debug, Clone, Default)]
pub struct PendingFilter {
    pub channel: Option<String>,
    pub locale: Option<String>,
    pub limit: u32,
}

/// The kinds of stored record whose content the audit chain records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordKind {
    Message,
    Draft,
    Delivery,
    Article,
}

impl RecordKind {
    pub const ALL: [RecordKind; 4] = [
        RecordKind::Message,
        RecordKind::Draft,
        RecordKind::Delivery,
        RecordKind::Article,
    ];
}

/// One stored record as audit verification sees it: its id (a delivery's
/// cursor in decimal), its conversation, and the digest of its content as
/// stored now (computed with `audit`'s digest functions).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRecord {
    pub id: String,
    pub conversation_id: String,
    pub sha256: String,
}

/// Point-in-time figures for /metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Gauges {
    /// Drafts waiting for review.
    pub queue_depth: u64,
    /// When the oldest of them was created.
    pub oldest_pending: Option<Millis>,
    pub live_articles: u64,
}

/// What stats need to know about one draft.
#[derive(Debug, Clone, PartialEq)]
pub struct DraftFacts {
    pub conversation_id: String,
    pub state: crate::model::DraftState,
    pub level: crate::model::Level,
    pub created_at: Millis,
    pub reviewed_by: String,
    pub ai_generated: bool,
    pub human_reviewed: bool,
    /// The delivered text differs from the drafter's.
    pub edited: bool,
    /// When an agent approved or rejected it.
    pub decided_at: Option<Millis>,
    /// The decision was a rejection.
    pub rejected: bool,
    /// The agent's reason, when rejected (`review::ReasonCode` leads it when given).
    pub reject_reason: String,
}

/// Announced after a commit, so streams wake up without polling.
#[derive(Debug, Clone, PartialEq)]
pub enum StoreEvent {
    DeliveryCreated {
        cursor: u64,
    },
    DeliveryAcked {
        cursor: u64,
    },
    /// A draft entered, changed in or left the review queue.
    QueueChanged {
        draft_id: String,
    },
    ArticleChanged {
        id: String,
    },
    /// A curated answer of the answer memory was written or deleted.
    MemoryChanged {
        id: String,
    },
    /// Events may have been missed (another replica's notifications were
    /// cut off): subscribers should re-read the state they follow.
    Resync,
}

/// Held while one process applies the knowledge folder; released on drop.
pub struct StoreLock(#[allow(dead_code)] Option<Box<dyn Send>>);

impl StoreLock {
    pub fn none() -> Self {
        StoreLock(None)
    }

    pub fn new(guard: impl Send + 'static) -> Self {
        StoreLock(Some(Box::new(guard)))
    }
}

/// What a knowledge change did.
#[derive(Debug, Clone, PartialEq)]
pub enum ArticleWrite {
    /// The live article already had this content.
    Unchanged(Article),
    /// No live article had this id (new, or back after a delete).
    Created(Article),
    /// A new version of a live article.
    Updated(Article),
}

/// Embedding vectors of passages, by the embedding model's id and the
/// SHA-256 of the text embedded: computed once, shared by restarts and replicas.
#[async_trait]
pub trait Vectors: Send + Sync + 'static {
    /// The stored vectors of `model` among `hashes`, in no particular order.
    async fn vectors(&self, model: &str, hashes: &[String]) -> Result<Vec<(String, Vec<f32>)>>;
    /// Stores vectors of `model` by content hash; one already stored is kept.
    async fn put_vectors(
        &self,
        model: &str,
        vectors: Vec<(String, Vec<f32>)>,
        now: Millis,
    ) -> Result<()>;
}

/// The answer memory's curated answers (written with the decisions that
/// teach them, see [`MemoryWrite`], and changed by editors).
#[async_trait]
pub trait Curated: Send + Sync + 'static {
    /// Curated answers ordered by id after `after_id` (empty: from the
    /// start), optionally of one locale, each with its questions.
    async fn curated_answers(
        &self,
        locale: Option<&str>,
        after_id: &str,
        limit: u32,
    ) -> Result<Vec<CuratedAnswer>>;
    async fn curated_answer(&self, id: &str) -> Result<Option<CuratedAnswer>>;
    /// Applies the change with its audit event; `Error::Conflict` when the
    /// answer changed since it was read, `Error::NotFound` when it is gone.
    async fn change_curated_answer(&self, change: CuratedChange) -> Result<Option<CuratedAnswer>>;
}

/// A transcript link handed to a platform for its customer (see `links`).
#[derive(Debug, Clone, PartialEq)]
pub struct TranscriptLink {
    pub id: String,
    pub conversation_id: String,
    pub created_by: String,
    pub created_at: Millis,
    pub expires_at: Millis,
    pub revoked_at: Option<Millis>,
}

/// A conversation as the managers' view lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct ConversationSummary {
    pub id: String,
    pub channel: String,
    pub state: crate::conversation::State,
    pub owner: String,
    pub created_at: Millis,
    pub state_since: Millis,
    pub updated_at: Millis,
}

/// What the console keeps: its signing keys, the transcript links it
/// handed out, and the conversations in progress.
#[async_trait]
pub trait Desk: Send + Sync + 'static {
    /// The signing key named `name`: made from `candidate` the first time
    /// (by whichever replica comes first), the stored one ever after.
    async fn signing_key(&self, name: &str, candidate: Vec<u8>, now: Millis) -> Result<Vec<u8>>;
    async fn insert_transcript_link(&self, link: &TranscriptLink) -> Result<()>;
    async fn transcript_link(&self, id: &str) -> Result<Option<TranscriptLink>>;
    /// Whether the link was live (known and not revoked before).
    async fn revoke_transcript_link(&self, id: &str, now: Millis) -> Result<bool>;
    /// Conversations escalated or owned by a person, and those the AI
    /// answered since `active_since`, the longest-running first.
    async fn conversations_in_progress(
        &self,
        active_since: Millis,
        limit: u32,
    ) -> Result<Vec<ConversationSummary>>;
}

#[async_trait]
pub trait Store: Vectors + Curated + Desk + Send + Sync + 'static {
    // --- drafts ---
    /// Writes a new message and its draft, superseding the conversation's open
    /// drafts (but those that need a person), and records the draft's caller
    /// as the conversation's platform when it opens it. If the draft's request
    /// key exists already, writes nothing and returns the earlier draft; if
    /// another platform opened the conversation, `Error::OtherPlatform`.
    async fn create_draft(&self, new: NewDraft) -> Result<CreatedDraft>;
    async fn get_draft(&self, id: &str) -> Result<Option<Draft>>;
    async fn find_draft_by_request(&self, key: &RequestKey) -> Result<Option<Draft>>;
    /// Applies the change if the draft is still at `expected_revision`, else `Error::Conflict`.
    async fn apply_draft_change(&self, change: DraftChange) -> Result<Draft>;
    /// Drafts waiting for review at `now` (pending, or claimed with an expired lease), oldest first.
    async fn list_open_drafts(&self, filter: &PendingFilter, now: Millis) -> Result<Vec<Draft>>;
    /// Figures for the gauges on /metrics.
    async fn gauges(&self, now: Millis) -> Result<Gauges>;
    /// Facts about the drafts created in `[from, to)`, optionally of one channel.
    async fn draft_facts(
        &self,
        from: Millis,
        to: Millis,
        channel: Option<&str>,
    ) -> Result<Vec<DraftFacts>>;
    /// Claimed drafts whose lease ended before `now`.
    async fn list_expired_claims(&self, now: Millis, limit: u32) -> Result<Vec<Draft>>;
    async fn transcript(&self, conversation_id: &str) -> Result<Option<Transcript>>;
    /// Applies an agent's act to a conversation, with its events, closing
    /// its undecided drafts when the step says so; `Error::NotFound` for an
    /// unknown conversation, `Error::Refused` when the state does not allow it.
    async fn change_conversation(&self, change: ConversationChange) -> Result<ConversationChanged>;

    // --- deliveries ---
    /// Unacknowledged deliveries after `after_cursor`, in cursor order.
    async fn deliveries_after(
        &self,
        after_cursor: u64,
        channel: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Delivery>>;
    async fn get_delivery(&self, cursor: u64) -> Result<Option<Delivery>>;
    /// Whether the conversation's customer was already given the AI label
    /// (a delivery of AI-written text with its label).
    async fn ai_label_given(&self, conversation_id: &str) -> Result<bool>;
    /// The conversations CreateDraft recorded with this customer id.
    async fn conversations_of_customer(&self, customer_id: &str) -> Result<Vec<String>>;
    /// Conversations not erased yet whose last message came before `before`, oldest first.
    async fn idle_conversations(&self, before: Millis, limit: u32) -> Result<Vec<String>>;
    /// Erases one conversation's texts in one transaction, with its audit
    /// event (which records the digests of what stays, so verification
    /// passes); `Error::NotFound` for an unknown conversation.
    async fn erase_conversation(&self, erasure: Erasure) -> Result<Erased>;
    /// When the customer last wrote in the conversation (None: never).
    async fn last_customer_message_at(&self, conversation_id: &str) -> Result<Option<Millis>>;
    /// Hands deliveries to one stream of a consumer group (see [`DeliveryLease`]),
    /// in cursor order; an ack ends every lease of its delivery.
    async fn lease_deliveries(&self, lease: &DeliveryLease) -> Result<Vec<Delivery>>;
    /// Marks the delivery acknowledged and its draft DELIVERED, in one transaction.
    /// Returns false when it was acknowledged before (nothing changes then).
    async fn ack_delivery(&self, cursor: u64, event: AuditEvent, now: Millis) -> Result<bool>;

    // --- knowledge ---
    /// Writes the article with the next version (versions keep increasing across
    /// deletes), unless the live stored one has the same content hash.
    /// `actor` is recorded in the audit trail.
    async fn put_article(&self, article: Article, actor: &str) -> Result<ArticleWrite>;
    /// Marks the article deleted; returns the deleted version, None when absent.
    async fn delete_article(&self, id: &str, now: Millis, actor: &str) -> Result<Option<u64>>;
    /// The live article, or None when absent or deleted.
    async fn get_article(&self, id: &str) -> Result<Option<Article>>;
    /// (id, version) of every live article, ordered by id.
    async fn article_versions(&self) -> Result<Vec<(String, u64)>>;
    /// Waits until no other process is applying the knowledge folder.
    async fn lock_folder_sync(&self) -> Result<StoreLock>;
    /// Live articles ordered by id, after `after_id`, optionally of one locale.
    async fn list_articles(
        &self,
        locale: Option<&str>,
        after_id: &str,
        limit: u32,
    ) -> Result<Vec<Article>>;

    // --- audit ---
    /// Chained audit events after `after_position`, in chain order, as stored.
    async fn audit_chain(&self, after_position: u64, limit: u32)
    -> Result<Vec<chain::StoredEvent>>;
    /// The chain's last position and hash.
    async fn audit_head(&self) -> Result<(u64, String)>;
    /// Stored records of one kind after `after` (an id; a cursor for
    /// deliveries; empty: from the start), in that order, with the digests of
    /// their contents as stored now.
    async fn stored_records(
        &self,
        kind: RecordKind,
        after: &str,
        limit: u32,
    ) -> Result<Vec<StoredRecord>>;

    /// Store events after commits; receivers that lag should re-read state.
    fn subscribe(&self) -> broadcast::Receiver<StoreEvent>;
    /// A cheap round trip, for readiness.
    async fn ping(&self) -> Result<()>;
}

pub type DynStore = Arc<dyn Store>;
