//! The `Store` both SQL backends share, as plain generic code: one
//! `SqlStore<B>` over a [`SqlBackend`] that carries what differs between
//! SQLite and PostgreSQL. The statements are written once, in `queries/`,
//! with `$n` placeholders both accept.
//!
//! What a backend provides:
//! - `write(|tx| ...)`: runs the closure in a write transaction, tells other
//!   replicas about the events it returns (inside the transaction), commits,
//!   then tells this process's subscribers. SQLite commits many callers'
//!   closures together (one fsync for a batch), PostgreSQL one group at a time;
//! - `reader()`: the pool for reads;
//! - `lock_outbox(tx)`: makes delivery cursors become visible in cursor order;
//! - `snapshot_reads(tx)`: makes a read transaction see one snapshot;
//! - `lock_folder_sync()`: the cross-process knowledge-sync lock;
//! - `events()`: this process's store events.
//!
//! The where-clause on the impl blocks lists what the code needs of a
//! database (executors, and the column types it binds and reads); Rust does
//! not carry such bounds along with a trait, so it is written out on each
//! block (here, in `writes.rs`, and its decoding half in `rows.rs`) rather
//! than hidden in a macro. This file is one piece past 500 lines because
//! `impl Store for SqlStore<B>` is one block; its longer bodies live in
//! `writes.rs`.

mod desk;
mod memory;
mod rows;
mod vectors;
mod writes;

use super::group::Written;
use super::{BoxFuture, queries};
use crate::model::{Article, AuditEvent, Delivery, Draft, DraftState, Level, Millis, Transcript};
use crate::storage::{
    ArticleWrite, ConversationChange, ConversationChanged, CreatedDraft, DeliveryLease,
    DraftChange, DraftFacts, ERASED_EVENT, Erased, Erasure, Error, Gauges, NewDraft, PendingFilter,
    RecordKind, RequestKey, Result, Store, StoreEvent, StoreLock, StoredRecord,
};
use sqlx::{Database, Decode, Encode, Row, Type};
use std::future::Future;
use tokio::sync::broadcast;

/// A database connection.
pub type Conn<DB> = <DB as Database>::Connection;
/// A row of a backend's database.
pub type DbRow<B> = <<B as SqlBackend>::Db as Database>::Row;

/// What differs between the SQL backends (see the module comment). Public
/// only so that `SqlStore<B>` may name it; implemented in this crate alone.
pub trait SqlBackend: Send + Sync + 'static {
    type Db: Database;

    /// Runs `f` in a write transaction and answers once it committed.
    fn write<R, F>(&self, f: F) -> impl Future<Output = Result<R>> + Send
    where
        R: Send + 'static,
        F: for<'c> FnOnce(&'c mut Conn<Self::Db>) -> BoxFuture<'c, Written<R>> + Send + 'static;

    /// The pool for reads.
    fn reader(&self) -> &sqlx::Pool<Self::Db>;

    /// Called in a write before a delivery is inserted.
    fn lock_outbox(tx: &mut Conn<Self::Db>) -> BoxFuture<'_, Result<()>>;

    /// Called first in a read transaction that must see one snapshot.
    fn snapshot_reads(tx: &mut Conn<Self::Db>) -> BoxFuture<'_, Result<()>>;

    /// Waits until no other process is applying the knowledge folder.
    fn lock_folder_sync(&self) -> BoxFuture<'_, Result<StoreLock>>;

    /// Store events of this process (other replicas' included, where they travel).
    fn events(&self) -> &broadcast::Sender<StoreEvent>;
}

/// The store on a SQL backend.
pub struct SqlStore<B> {
    backend: B,
}

fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("serializing plain data cannot fail")
}

fn parse_json<T: serde::de::DeserializeOwned>(column: &str, text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| Error::Corrupt(format!("column {column}: {e}")))
}

fn parse_state(state: &str) -> Result<DraftState> {
    DraftState::parse(state).ok_or_else(|| Error::Corrupt(format!("state {state}")))
}

fn parse_level(level: &str) -> Result<Level> {
    Level::parse(level).ok_or_else(|| Error::Corrupt(format!("level {level}")))
}

/// The draft's idempotency key, when it has a request id.
fn request_key(d: &Draft) -> Option<RequestKey> {
    d.request_id.as_ref().map(|request_id| RequestKey {
        caller: d.caller.clone(),
        conversation_id: d.conversation_id.clone(),
        request_id: request_id.clone(),
    })
}

impl<B> SqlStore<B>
where
    B: SqlBackend,
    for<'c> &'c mut Conn<B::Db>: sqlx::Executor<'c, Database = B::Db>,
    for<'c> &'c sqlx::Pool<B::Db>: sqlx::Executor<'c, Database = B::Db>,
    <B::Db as Database>::Arguments: sqlx::IntoArguments<B::Db>,
    for<'q> String: Encode<'q, B::Db> + Decode<'q, B::Db> + Type<B::Db>,
    for<'q> &'q str: Encode<'q, B::Db> + Decode<'q, B::Db> + Type<B::Db>,
    for<'q> Option<String>: Encode<'q, B::Db> + Decode<'q, B::Db> + Type<B::Db>,
    for<'q> Option<&'q str>: Encode<'q, B::Db> + Type<B::Db>,
    for<'q> i64: Encode<'q, B::Db> + Decode<'q, B::Db> + Type<B::Db>,
    for<'q> Option<i64>: Encode<'q, B::Db> + Decode<'q, B::Db> + Type<B::Db>,
    for<'q> f64: Encode<'q, B::Db> + Decode<'q, B::Db> + Type<B::Db>,
    for<'q> bool: Encode<'q, B::Db> + Decode<'q, B::Db> + Type<B::Db>,
    for<'r> &'r str: sqlx::ColumnIndex<DbRow<B>>,
    usize: sqlx::ColumnIndex<DbRow<B>>,
{
    pub(crate) fn new(backend: B) -> Self {
        SqlStore { backend }
    }

    /// Every row `sql` finds for one conversation, decoded.
    async fn of_conversation<T>(
        tx: &mut Conn<B::Db>,
        sql: &'static str,
        conversation_id: &str,
        decode: fn(&DbRow<B>) -> Result<T>,
    ) -> Result<Vec<T>> {
        sqlx::query(sql)
            .bind(conversation_id)
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(decode)
            .collect()
    }
}

#[async_trait::async_trait]
impl<B> Store for SqlStore<B>
where
    B: SqlBackend,
    for<'c> &'c mut Conn<B::Db>: sqlx::Executor<'c, Database = B::Db>,
    for<'c> &'c sqlx::Pool<B::Db>: sqlx::Executor<'c, Database = B::Db>,
    <B::Db as Database>::Arguments: sqlx::IntoArguments<B::Db>,
    for<'q> String: Encode<'q, B::Db> + Decode<'q, B::Db> + Type<B::Db>,
    for<'q> &'q str: Encode<'q, B::Db> + Decode<'q, B::Db> + Type<B::Db>,
    for<'q> Option<String>: Encode<'q, B::Db> + Decode<'q, B::Db> + Type<B::Db>,
    for<'q> Option<&'q str>: Encode<'q, B::Db> + Type<B::Db>,
    for<'q> i64: Encode<'q, B::Db> + Decode<'q, B::Db> + Type<B::Db>,
    for<'q> Option<i64>: Encode<'q, B::Db> + Decode<'q, B::Db> + Type<B::Db>,
    for<'q> f64: Encode<'q, B::Db> + Decode<'q, B::Db> + Type<B::Db>,
    for<'q> bool: Encode<'q, B::Db> + Decode<'q, B::Db> + Type<B::Db>,
    for<'q> Vec<u8>: Encode<'q, B::Db> + Decode<'q, B::Db> + Type<B::Db>,
    for<'r> &'r str: sqlx::ColumnIndex<DbRow<B>>,
    usize: sqlx::ColumnIndex<DbRow<B>>,
{
    async fn create_draft(&self, new: NewDraft) -> Result<CreatedDraft> {
        let key = request_key(&new.draft);
        match self.insert_new_draft(new).await {
            // Another process wrote the same request key between our check and our insert.
            Err(Error::Duplicate(_)) if key.is_some() => {
                let key = key.expect("checked above");
                let draft = Self::draft_by_request(self.backend.reader(), &key)
                    .await?
                    .ok_or_else(|| Error::Internal("duplicate request id vanished".into()))?;
                Ok(CreatedDraft {
                    draft,
                    superseded: vec![],
                    created: false,
                    conversation: None,
                    notice: None,
                })
            }
            other => other,
        }
    }

    async fn get_draft(&self, id: &str) -> Result<Option<Draft>> {
        let row = sqlx::query(queries::DRAFT_BY_ID)
            .bind(id)
            .fetch_optional(self.backend.reader())
            .await?;
        row.as_ref().map(Self::draft_from_row).transpose()
    }

    async fn find_draft_by_request(&self, key: &RequestKey) -> Result<Option<Draft>> {
        Self::draft_by_request(self.backend.reader(), key).await
    }

    async fn apply_draft_change(&self, change: DraftChange) -> Result<Draft> {
        self.backend
            .write(move |tx| {
                Box::pin(async move {
                    let d = &change.draft;
                    // The conversation first: its row is locked until commit,
                    // so two agents claiming drafts of one conversation take
                    // turns and the second sees the first one's ownership.
                    let mut events = Vec::new();
                    if let Some(act) = &change.conversation {
                        let row = sqlx::query(queries::LOCK_CONVERSATION)
                            .bind(&d.conversation_id)
                            .fetch_one(&mut *tx)
                            .await?;
                        let (_, current) = Self::conversation_from_row(&row)?;
                        let step = crate::conversation::step(
                            &current,
                            act,
                            crate::conversation::Rules::default(),
                            d.updated_at,
                        )?;
                        events.extend(
                            Self::set_conversation(
                                &mut *tx,
                                &d.conversation_id,
                                &current,
                                &step,
                                d.updated_at,
                            )
                            .await?,
                        );
                    }
                    // Compare-and-swap on the revision: of two agents (or replicas)
                    // acting on one draft, the database lets exactly one through.
                    let updated = Self::update_draft(&mut *tx, d, change.expected_revision).await?;
                    if !updated {
                        return Err(Error::Conflict);
                    }
                    events.extend(change.events.iter().cloned());
                    let mut announced = vec![StoreEvent::QueueChanged {
                        draft_id: d.id.clone(),
                    }];
                    let mut delivered = None;
                    if let Some(delivery) = &change.delivery {
                        let cursor = Self::insert_delivery(&mut *tx, delivery).await?;
                        announced.push(StoreEvent::DeliveryCreated { cursor });
                        delivered = Some((cursor, delivery));
                    }
                    if let Some(like) = change.events.first().cloned() {
                        let (learned, changed) =
                            Self::apply_memory(&mut *tx, &change.memory, &like).await?;
                        events.extend(learned);
                        announced.extend(changed);
                    }
                    let draft = Self::fetch_draft(&mut *tx, &d.id)
                        .await?
                        .ok_or_else(|| Error::NotFound(format!("draft {}", d.id)))?;
                    // Sealed with the texts as stored (the update does not write
                    // the body or the citations: the read draft's are kept).
                    crate::storage::chain::seal(&mut events, &draft, None, delivered);
                    Self::append_audit(&mut *tx, &events).await?;
                    Ok((draft, announced))
                })
            })
            .await
    }

    async fn change_conversation(&self, change: ConversationChange) -> Result<ConversationChanged> {
        self.backend
            .write(move |tx| {
                Box::pin(async move {
                    let id = &change.conversation_id;
                    let row = sqlx::query(queries::LOCK_CONVERSATION)
                        .bind(id)
                        .fetch_optional(&mut *tx)
                        .await?
                        .ok_or_else(|| Error::NotFound(format!("conversation {id}")))?;
                    let (_, current) = Self::conversation_from_row(&row)?;
                    let step = crate::conversation::step(
                        &current,
                        &change.act,
                        crate::conversation::Rules::default(),
                        change.now,
                    )?;
                    let mut events =
                        Self::set_conversation(&mut *tx, id, &current, &step, change.now).await?;
                    let mut closed = Vec::new();
                    if step.close_open_drafts {
                        (closed, _) =
                            Self::apply_earlier(&mut *tx, id, change.now, &change.close).await?;
                        events.extend(closed.iter().map(|draft_id| AuditEvent {
                            draft_id: draft_id.clone(),
                            ..change.close.superseded_event.clone()
                        }));
                    }
                    Self::append_audit(&mut *tx, &events).await?;
                    let announced = closed
                        .iter()
                        .map(|id| StoreEvent::QueueChanged {
                            draft_id: id.clone(),
                        })
                        .collect();
                    Ok((
                        ConversationChanged {
                            changed: step.change.is_some(),
                            ownership: step.next,
                            closed,
                        },
                        announced,
                    ))
                })
            })
            .await
    }

    async fn list_open_drafts(&self, filter: &PendingFilter, now: Millis) -> Result<Vec<Draft>> {
        let rows = sqlx::query(queries::OPEN_DRAFTS)
            .bind(now)
            .bind(&filter.channel)
            .bind(&filter.locale)
            .bind(filter.limit as i64)
            .fetch_all(self.backend.reader())
            .await?;
        rows.iter().map(Self::draft_from_row).collect()
    }

    async fn gauges(&self, now: Millis) -> Result<Gauges> {
        let (count, oldest, articles): (i64, Option<i64>, i64) = sqlx::query_as(queries::GAUGES)
            .bind(now)
            .fetch_one(self.backend.reader())
            .await?;
        Ok(Gauges {
            queue_depth: count as u64,
            oldest_pending: oldest,
            live_articles: articles as u64,
        })
    }

    async fn draft_facts(
        &self,
        from: Millis,
        to: Millis,
        channel: Option<&str>,
    ) -> Result<Vec<DraftFacts>> {
        let rows = sqlx::query(queries::DRAFT_FACTS)
            .bind(from)
            .bind(to)
            .bind(channel)
            .fetch_all(self.backend.reader())
            .await?;
        rows.iter()
            .map(|row| {
                Ok(DraftFacts {
                    conversation_id: row.try_get("conversation_id")?,
                    state: parse_state(row.try_get("state")?)?,
                    level: parse_level(row.try_get("confidence_level")?)?,
                    created_at: row.try_get("created_at")?,
                    reviewed_by: row.try_get("reviewed_by")?,
                    ai_generated: row.try_get("ai_generated")?,
                    human_reviewed: row.try_get("human_reviewed")?,
                    edited: row.try_get("edited")?,
                    decided_at: row.try_get("decided_at")?,
                    rejected: row.try_get("rejected")?,
                    reject_reason: row.try_get("reject_reason")?,
                })
            })
            .collect()
    }

    async fn list_expired_claims(&self, now: Millis, limit: u32) -> Result<Vec<Draft>> {
        let rows = sqlx::query(queries::EXPIRED_CLAIMS)
            .bind(now)
            .bind(limit as i64)
            .fetch_all(self.backend.reader())
            .await?;
        rows.iter().map(Self::draft_from_row).collect()
    }

    async fn transcript(&self, conversation_id: &str) -> Result<Option<Transcript>> {
        // One read transaction, so the parts agree with each other.
        let mut tx = self.backend.reader().begin().await?;
        B::snapshot_reads(&mut tx).await?;
        let row = sqlx::query(queries::CONVERSATION_PLATFORM)
            .bind(conversation_id)
            .fetch_optional(&mut *tx)
            .await?;
        let Some((platform, ownership)) =
            row.as_ref().map(Self::conversation_from_row).transpose()?
        else {
            return Ok(None);
        };
        let messages = Self::of_conversation(
            &mut tx,
            queries::CONVERSATION_MESSAGES,
            conversation_id,
            Self::message_from_row,
        )
        .await?;
        let drafts = Self::of_conversation(
            &mut tx,
            queries::CONVERSATION_DRAFTS,
            conversation_id,
            Self::draft_from_row,
        )
        .await?;
        let events = Self::of_conversation(
            &mut tx,
            queries::CONVERSATION_EVENTS,
            conversation_id,
            Self::event_from_row,
        )
        .await?;
        let deliveries = Self::of_conversation(
            &mut tx,
            queries::CONVERSATION_DELIVERIES,
            conversation_id,
            Self::delivery_from_row,
        )
        .await?;
        tx.commit().await?;
        Ok(Some(Transcript {
            conversation_id: conversation_id.to_string(),
            platform,
            ownership,
            messages,
            drafts,
            events,
            deliveries,
        }))
    }

    async fn deliveries_after(
        &self,
        after_cursor: u64,
        channel: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Delivery>> {
        let rows = sqlx::query(queries::DELIVERIES_AFTER)
            .bind(after_cursor as i64)
            .bind(channel)
            .bind(limit as i64)
            .fetch_all(self.backend.reader())
            .await?;
        rows.iter().map(Self::delivery_from_row).collect()
    }

    async fn conversations_of_customer(&self, customer_id: &str) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(queries::CONVERSATIONS_OF_CUSTOMER)
            .bind(customer_id)
            .fetch_all(self.backend.reader())
            .await?)
    }

    async fn idle_conversations(&self, before: Millis, limit: u32) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(queries::IDLE_CONVERSATIONS)
            .bind(before)
            .bind(i64::from(limit))
            .fetch_all(self.backend.reader())
            .await?)
    }

    async fn erase_conversation(&self, erasure: Erasure) -> Result<Erased> {
        self.backend
            .write(move |tx| {
                Box::pin(async move {
                    let id = erasure.conversation_id.as_str();
                    let now = erasure.now;
                    sqlx::query(queries::LOCK_CONVERSATION)
                        .bind(id)
                        .fetch_optional(&mut *tx)
                        .await?
                        .ok_or_else(|| Error::NotFound(format!("conversation {id}")))?;
                    let run = |sql: &'static str| sqlx::query(sql).bind(id).bind(now);
                    run(queries::ERASE_MESSAGES).execute(&mut *tx).await?;
                    run(queries::ERASE_DRAFTS).execute(&mut *tx).await?;
                    sqlx::query(queries::ERASE_LEASES).bind(id).execute(&mut *tx).await?;
                    run(queries::ERASE_DELIVERIES).execute(&mut *tx).await?;
                    let answers: Vec<String> = sqlx::query_scalar(queries::ERASE_CURATED_QUESTIONS)
                        .bind(id)
                        .fetch_all(&mut *tx)
                        .await?;
                    let mut announced = Vec::new();
                    let mut touched: Vec<&String> = answers.iter().collect();
                    touched.sort();
                    touched.dedup();
                    for answer in touched {
                        sqlx::query(queries::DELETE_UNASKED_CURATED_ANSWER)
                            .bind(answer)
                            .execute(&mut *tx)
                            .await?;
                        announced.push(StoreEvent::MemoryChanged { id: answer.clone() });
                    }
                    run(queries::ERASE_MARK_CONVERSATION).execute(&mut *tx).await?;
                    let kept: i64 = sqlx::query_scalar(queries::TEXTS_IN_AUDIT)
                        .bind(id)
                        .fetch_one(&mut *tx)
                        .await?;
                    // What stays, sealed: verification compares the records with these.
                    let mut records = Vec::new();
                    let mut erased = Erased::default();
                    for m in Self::of_conversation(&mut *tx, queries::CONVERSATION_MESSAGES, id, Self::message_from_row).await? {
                        records.push(serde_json::json!({"kind": "message", "id": m.id,
                            "sha256": crate::storage::chain::message_digest(&m.text, &json(&m.context))}));
                        erased.messages += 1;
                    }
                    for d in Self::of_conversation(&mut *tx, queries::CONVERSATION_DRAFTS, id, Self::draft_from_row).await? {
                        records.push(serde_json::json!({"kind": "draft", "id": d.id,
                            "sha256": crate::storage::chain::draft_digest(&d.body, &d.final_body, &d.disclosure, &d.reject_reason, &json(&d.citations))}));
                        announced.push(StoreEvent::QueueChanged { draft_id: d.id });
                        erased.drafts += 1;
                    }
                    for d in Self::of_conversation(&mut *tx, queries::CONVERSATION_DELIVERIES, id, Self::delivery_from_row).await? {
                        records.push(serde_json::json!({"kind": "delivery", "id": d.cursor.to_string(),
                            "sha256": crate::storage::chain::delivery_digest(&d.body, &d.disclosure, &d.text, &d.author)}));
                        announced.push(StoreEvent::DeliveryAcked { cursor: d.cursor });
                        erased.deliveries += 1;
                    }
                    erased.curated_questions = answers.len() as u64;
                    erased.texts_kept_in_audit_chain = kept.max(0) as u64;
                    let event = AuditEvent {
                        seq: 0,
                        at: now,
                        kind: ERASED_EVENT.into(),
                        actor: erasure.actor.clone(),
                        conversation_id: id.to_string(),
                        draft_id: String::new(),
                        detail: serde_json::json!({
                            "reason": erasure.reason,
                            "messages": erased.messages,
                            "drafts": erased.drafts,
                            "deliveries": erased.deliveries,
                            "curated_questions": erased.curated_questions,
                            "texts_kept_in_audit_chain": erased.texts_kept_in_audit_chain,
                            "records": records,
                        }),
                        chain: Default::default(),
                    };
                    Self::append_audit(&mut *tx, &[event]).await?;
                    Ok((erased, announced))
                })
            })
            .await
    }

    async fn last_customer_message_at(&self, conversation_id: &str) -> Result<Option<Millis>> {
        Ok(sqlx::query_scalar(queries::LAST_CUSTOMER_MESSAGE)
            .bind(conversation_id)
            .fetch_one(self.backend.reader())
            .await?)
    }

    async fn ai_label_given(&self, conversation_id: &str) -> Result<bool> {
        Ok(sqlx::query_scalar(queries::AI_LABEL_GIVEN)
            .bind(conversation_id)
            .fetch_one(self.backend.reader())
            .await?)
    }

    async fn get_delivery(&self, cursor: u64) -> Result<Option<Delivery>> {
        let row = sqlx::query(queries::DELIVERY_BY_CURSOR)
            .bind(cursor as i64)
            .fetch_optional(self.backend.reader())
            .await?;
        row.as_ref().map(Self::delivery_from_row).transpose()
    }

    async fn ack_delivery(&self, cursor: u64, event: AuditEvent, now: Millis) -> Result<bool> {
        self.backend
            .write(move |tx| {
                Box::pin(async move {
                    let acked: Option<i64> = sqlx::query_scalar(queries::ACK_DELIVERY)
                        .bind(now)
                        .bind(cursor as i64)
                        .fetch_optional(&mut *tx)
                        .await?;
                    if acked.is_none() {
                        return Ok((false, vec![]));
                    }
                    sqlx::query(queries::DROP_DELIVERY_LEASES)
                        .bind(cursor as i64)
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query(queries::MARK_DRAFT_DELIVERED)
                        .bind(now)
                        .bind(cursor as i64)
                        .execute(&mut *tx)
                        .await?;
                    Self::append_audit(&mut *tx, std::slice::from_ref(&event)).await?;
                    Ok((true, vec![StoreEvent::DeliveryAcked { cursor }]))
                })
            })
            .await
    }

    async fn lease_deliveries(&self, lease: &DeliveryLease) -> Result<Vec<Delivery>> {
        let lease = lease.clone();
        self.backend
            .write(move |tx| {
                Box::pin(async move {
                    let held: i64 = sqlx::query_scalar(queries::LEASES_HELD)
                        .bind(&lease.group)
                        .bind(&lease.holder)
                        .bind(lease.now)
                        .fetch_one(&mut *tx)
                        .await?;
                    let room = i64::from(lease.max_in_flight) - held;
                    if room <= 0 {
                        return Ok((vec![], vec![]));
                    }
                    let rows = sqlx::query(queries::LEASABLE_DELIVERIES)
                        .bind(lease.after_cursor as i64)
                        .bind(&lease.channel)
                        .bind(&lease.platform)
                        .bind(&lease.group)
                        .bind(lease.now)
                        .bind(&lease.holder)
                        .bind(room)
                        .fetch_all(&mut *tx)
                        .await?;
                    let deliveries = rows
                        .iter()
                        .map(Self::delivery_from_row)
                        .collect::<Result<Vec<_>>>()?;
                    for d in &deliveries {
                        sqlx::query(queries::LEASE_DELIVERY)
                            .bind(&lease.group)
                            .bind(d.cursor as i64)
                            .bind(&lease.holder)
                            .bind(lease.until)
                            .execute(&mut *tx)
                            .await?;
                    }
                    Ok((deliveries, vec![]))
                })
            })
            .await
    }

    async fn put_article(&self, mut article: Article, actor: &str) -> Result<ArticleWrite> {
        let actor = actor.to_string();
        self.backend
            .write(move |tx| {
                Box::pin(async move {
                    let was_live: Option<bool> = sqlx::query_scalar(queries::ARTICLE_IS_LIVE)
                        .bind(&article.id)
                        .fetch_optional(&mut *tx)
                        .await?;
                    // The version is computed by the statement itself, so two
                    // replicas writing one article at once still get two versions.
                    let version: Option<i64> = sqlx::query_scalar(queries::UPSERT_ARTICLE)
                        .bind(&article.id)
                        .bind(&article.locale)
                        .bind(&article.title)
                        .bind(&article.body)
                        .bind(json(&article.tags))
                        .bind(&article.url)
                        .bind(&article.content_hash)
                        .bind(&article.source)
                        .bind(article.updated_at)
                        .bind(json(&article.applies_to))
                        .fetch_optional(&mut *tx)
                        .await?;
                    let Some(version) = version else {
                        // The live article already has this content.
                        let row = sqlx::query(queries::ARTICLE_BY_ID)
                            .bind(&article.id)
                            .fetch_one(&mut *tx)
                            .await?;
                        return Ok((
                            ArticleWrite::Unchanged(Self::article_from_row(&row)?),
                            vec![],
                        ));
                    };
                    article.version = version as u64;
                    let kind = if was_live == Some(true) {
                        "article_updated"
                    } else {
                        "article_created"
                    };
                    let event = AuditEvent::about_article(
                        kind,
                        &actor,
                        serde_json::json!({
                            "article_id": article.id,
                            "version": article.version,
                            "content_hash": article.content_hash,
                            "source": article.source,
                        }),
                        article.updated_at,
                    );
                    Self::append_audit(&mut *tx, &[event]).await?;
                    let announced = vec![StoreEvent::ArticleChanged {
                        id: article.id.clone(),
                    }];
                    let written = if was_live == Some(true) {
                        ArticleWrite::Updated(article)
                    } else {
                        ArticleWrite::Created(article)
                    };
                    Ok((written, announced))
                })
            })
            .await
    }

    async fn delete_article(&self, id: &str, now: Millis, actor: &str) -> Result<Option<u64>> {
        let (id, actor) = (id.to_string(), actor.to_string());
        self.backend
            .write(move |tx| {
                Box::pin(async move {
                    let deleted: Option<i64> = sqlx::query_scalar(queries::DELETE_ARTICLE)
                        .bind(now)
                        .bind(&id)
                        .fetch_optional(&mut *tx)
                        .await?;
                    let Some(version) = deleted else {
                        return Ok((None, vec![]));
                    };
                    let event = AuditEvent::about_article(
                        "article_deleted",
                        &actor,
                        serde_json::json!({ "article_id": id, "version": version }),
                        now,
                    );
                    Self::append_audit(&mut *tx, &[event]).await?;
                    Ok((
                        Some(version as u64),
                        vec![StoreEvent::ArticleChanged { id }],
                    ))
                })
            })
            .await
    }

    async fn get_article(&self, id: &str) -> Result<Option<Article>> {
        let row = sqlx::query(queries::LIVE_ARTICLE)
            .bind(id)
            .fetch_optional(self.backend.reader())
            .await?;
        row.as_ref().map(Self::article_from_row).transpose()
    }

    async fn list_articles(
        &self,
        locale: Option<&str>,
        after_id: &str,
        limit: u32,
    ) -> Result<Vec<Article>> {
        let rows = sqlx::query(queries::LIST_ARTICLES)
            .bind(after_id)
            .bind(locale)
            .bind(limit as i64)
            .fetch_all(self.backend.reader())
            .await?;
        rows.iter().map(Self::article_from_row).collect()
    }

    async fn article_versions(&self) -> Result<Vec<(String, u64)>> {
        let rows: Vec<(String, i64)> = sqlx::query_as(queries::ARTICLE_VERSIONS)
            .fetch_all(self.backend.reader())
            .await?;
        Ok(rows.into_iter().map(|(id, v)| (id, v as u64)).collect())
    }

    async fn audit_chain(
        &self,
        after_position: u64,
        limit: u32,
    ) -> Result<Vec<crate::storage::chain::StoredEvent>> {
        let rows = sqlx::query(queries::AUDIT_CHAIN)
            .bind(after_position as i64)
            .bind(limit as i64)
            .fetch_all(self.backend.reader())
            .await?;
        rows.iter().map(Self::stored_event_from_row).collect()
    }

    async fn audit_head(&self) -> Result<(u64, String)> {
        let (pos, hash): (i64, String) = sqlx::query_as(queries::AUDIT_HEAD)
            .fetch_one(self.backend.reader())
            .await?;
        Ok((pos as u64, hash))
    }

    async fn stored_records(
        &self,
        kind: RecordKind,
        after: &str,
        limit: u32,
    ) -> Result<Vec<StoredRecord>> {
        let sql = match kind {
            RecordKind::Message => queries::RECORD_MESSAGES,
            RecordKind::Draft => queries::RECORD_DRAFTS,
            RecordKind::Delivery => queries::RECORD_DELIVERIES,
            RecordKind::Article => queries::RECORD_ARTICLES,
        };
        let query = match kind {
            // Deliveries page by cursor, the rest by id.
            RecordKind::Delivery => sqlx::query(sql).bind(if after.is_empty() {
                0
            } else {
                after
                    .parse::<i64>()
                    .map_err(|_| Error::Internal(format!("delivery cursor {after:?}")))?
            }),
            RecordKind::Message | RecordKind::Draft | RecordKind::Article => {
                sqlx::query(sql).bind(after)
            }
        };
        let rows = query
            .bind(limit as i64)
            .fetch_all(self.backend.reader())
            .await?;
        rows.iter()
            .map(|row| Self::stored_record_from_row(kind, row))
            .collect()
    }

    async fn lock_folder_sync(&self) -> Result<StoreLock> {
        self.backend.lock_folder_sync().await
    }

    fn subscribe(&self) -> tokio::sync::broadcast::Receiver<StoreEvent> {
        self.backend.events().subscribe()
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query(queries::PING)
            .execute(self.backend.reader())
            .await?;
        Ok(())
    }
}
