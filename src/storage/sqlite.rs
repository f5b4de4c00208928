//! The default store: one SQLite file under the data dir, WAL journal,
//! `synchronous = FULL` so an acknowledged write survives a crash or power
//! loss. All writes go through a single connection (SQLite allows one writer
//! anyway), reads through a small pool.

use super::{
    ArticleWrite, CreatedDraft, DraftChange, Error, NewDraft, PendingFilter, Result, Store,
    StoreEvent, migrate,
};
use crate::model::{
    Article, AuditEvent, CustomerMessage, Delivery, Draft, DraftState, Level, Millis, Transcript,
};
use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Row, Sqlite, Transaction};
use std::path::Path;
use std::time::Duration;
use tokio::sync::broadcast;

pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    events: broadcast::Sender<StoreEvent>,
}

/// The columns of a draft with its customer message, as a literal for `concat!`.
macro_rules! draft_select {
    () => {
        "SELECT d.*, m.text AS customer_message FROM drafts d JOIN messages m ON m.id = d.message_id "
    };
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and applies migrations.
    pub async fn open(path: &Path) -> Result<Self> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options.clone())
            .await
            .map_err(|e| Error::Unavailable(format!("cannot open {}: {e}", path.display())))?;
        {
            let mut conn = writer.acquire().await?;
            migrate::apply_sqlite(&mut conn, migrate::SQLITE).await?;
        }
        let reader = SqlitePoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options.read_only(true))
            .await?;
        let (events, _) = broadcast::channel(1024);
        Ok(SqliteStore {
            writer,
            reader,
            events,
        })
    }

    fn announce(&self, event: StoreEvent) {
        // No receiver is fine: nobody is streaming right now.
        let _ = self.events.send(event);
    }
}

fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("serializing plain data cannot fail")
}

fn parse_json<T: serde::de::DeserializeOwned>(column: &str, text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| Error::Corrupt(format!("column {column}: {e}")))
}

fn draft_from_row(row: &SqliteRow) -> Result<Draft> {
    let state: String = row.try_get("state")?;
    let level: String = row.try_get("confidence_level")?;
    Ok(Draft {
        id: row.try_get("id")?,
        conversation_id: row.try_get("conversation_id")?,
        message_id: row.try_get("message_id")?,
        request_id: row.try_get("request_id")?,
        channel: row.try_get("channel")?,
        locale: row.try_get("locale")?,
        body: row.try_get("body")?,
        disclosure: row.try_get("disclosure")?,
        ai_generated: row.try_get("ai_generated")?,
        human_reviewed: row.try_get("human_reviewed")?,
        generator: row.try_get("generator")?,
        confidence: crate::model::Confidence {
            score: row.try_get("confidence_score")?,
            level: Level::parse(&level).ok_or_else(|| Error::Corrupt(format!("level {level}")))?,
            reasons: parse_json("reasons", row.try_get("reasons")?)?,
        },
        citations: parse_json("citations", row.try_get("citations")?)?,
        state: DraftState::parse(&state).ok_or_else(|| Error::Corrupt(format!("state {state}")))?,
        final_body: row.try_get("final_body")?,
        reviewed_by: row.try_get("reviewed_by")?,
        claimed_by: row.try_get("claimed_by")?,
        claim_expires_at: row.try_get("claim_expires_at")?,
        reject_reason: row.try_get("reject_reason")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        revision: row.try_get("revision")?,
        customer_message: row.try_get("customer_message")?,
    })
}

fn delivery_from_row(row: &SqliteRow) -> Result<Delivery> {
    Ok(Delivery {
        cursor: row.try_get::<i64, _>("cursor")? as u64,
        draft_id: row.try_get("draft_id")?,
        conversation_id: row.try_get("conversation_id")?,
        channel: row.try_get("channel")?,
        locale: row.try_get("locale")?,
        body: row.try_get("body")?,
        disclosure: row.try_get("disclosure")?,
        text: row.try_get("text")?,
        ai_generated: row.try_get("ai_generated")?,
        human_reviewed: row.try_get("human_reviewed")?,
        author: row.try_get("author")?,
        created_at: row.try_get("created_at")?,
        acked_at: row.try_get("acked_at")?,
    })
}

fn article_from_row(row: &SqliteRow) -> Result<Article> {
    Ok(Article {
        id: row.try_get("id")?,
        locale: row.try_get("locale")?,
        title: row.try_get("title")?,
        body: row.try_get("body")?,
        tags: parse_json("tags", row.try_get("tags")?)?,
        url: row.try_get("url")?,
        version: row.try_get::<i64, _>("version")? as u64,
        content_hash: row.try_get("content_hash")?,
        source: row.try_get("source")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn event_from_row(row: &SqliteRow) -> Result<AuditEvent> {
    Ok(AuditEvent {
        seq: row.try_get::<i64, _>("seq")? as u64,
        at: row.try_get("at")?,
        kind: row.try_get("kind")?,
        actor: row.try_get("actor")?,
        conversation_id: row.try_get("conversation_id")?,
        draft_id: row.try_get("draft_id")?,
        detail: parse_json("detail", row.try_get("detail")?)?,
    })
}

async fn insert_event(tx: &mut Transaction<'_, Sqlite>, e: &AuditEvent) -> Result<()> {
    sqlx::query(
        "INSERT INTO audit_events (at, kind, actor, conversation_id, draft_id, detail) VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(e.at)
    .bind(&e.kind)
    .bind(&e.actor)
    .bind(&e.conversation_id)
    .bind(&e.draft_id)
    .bind(json(&e.detail))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn insert_delivery(tx: &mut Transaction<'_, Sqlite>, d: &Delivery) -> Result<u64> {
    let cursor: i64 = sqlx::query_scalar(
        "INSERT INTO deliveries (draft_id, conversation_id, channel, locale, body, disclosure, text,
            ai_generated, human_reviewed, author, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING cursor",
    )
    .bind(&d.draft_id)
    .bind(&d.conversation_id)
    .bind(&d.channel)
    .bind(&d.locale)
    .bind(&d.body)
    .bind(&d.disclosure)
    .bind(&d.text)
    .bind(d.ai_generated)
    .bind(d.human_reviewed)
    .bind(&d.author)
    .bind(d.created_at)
    .fetch_one(&mut **tx)
    .await?;
    Ok(cursor as u64)
}

async fn fetch_draft(executor: impl sqlx::SqliteExecutor<'_>, id: &str) -> Result<Option<Draft>> {
    let row = sqlx::query(concat!(draft_select!(), "WHERE d.id = ?"))
        .bind(id)
        .fetch_optional(executor)
        .await?;
    row.as_ref().map(draft_from_row).transpose()
}

#[async_trait]
impl Store for SqliteStore {
    async fn create_draft(&self, new: NewDraft) -> Result<CreatedDraft> {
        let mut tx = self.writer.begin().await?;
        if let Some(request_id) = &new.draft.request_id {
            let existing = sqlx::query(concat!(draft_select!(), "WHERE d.request_id = ?"))
                .bind(request_id)
                .fetch_optional(&mut *tx)
                .await?;
            if let Some(row) = existing {
                return Ok(CreatedDraft {
                    draft: draft_from_row(&row)?,
                    superseded: vec![],
                    created: false,
                });
            }
        }
        let m = &new.message;
        sqlx::query(
            "INSERT INTO conversations (id, channel, created_at, updated_at) VALUES (?, ?, ?, ?)
             ON CONFLICT (id) DO UPDATE SET updated_at = excluded.updated_at",
        )
        .bind(&m.conversation_id)
        .bind(&m.channel)
        .bind(m.received_at)
        .bind(m.received_at)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO messages (id, conversation_id, text, locale, channel, context, received_at)
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&m.id)
        .bind(&m.conversation_id)
        .bind(&m.text)
        .bind(&m.locale)
        .bind(&m.channel)
        .bind(json(&m.context))
        .bind(m.received_at)
        .execute(&mut *tx)
        .await?;

        // A newer message makes the conversation's undecided drafts obsolete.
        let superseded: Vec<(String,)> = sqlx::query_as(
            "UPDATE drafts SET state = 'SUPERSEDED', claimed_by = '', claim_expires_at = NULL,
                 updated_at = ?, revision = revision + 1
             WHERE conversation_id = ? AND state IN ('PENDING_REVIEW', 'CLAIMED') RETURNING id",
        )
        .bind(m.received_at)
        .bind(&m.conversation_id)
        .fetch_all(&mut *tx)
        .await?;
        let superseded: Vec<String> = superseded.into_iter().map(|(id,)| id).collect();
        for id in &superseded {
            let event = AuditEvent {
                seq: 0,
                at: m.received_at,
                kind: "draft_superseded".into(),
                actor: "system".into(),
                conversation_id: m.conversation_id.clone(),
                draft_id: id.clone(),
                detail: serde_json::json!({ "by_message": m.id, "by_draft": new.draft.id }),
            };
            insert_event(&mut tx, &event).await?;
        }

        let d = &new.draft;
        sqlx::query(
            "INSERT INTO drafts (id, conversation_id, message_id, request_id, channel, locale, body, disclosure,
                ai_generated, human_reviewed, generator, confidence_score, confidence_level, reasons, citations,
                state, final_body, reviewed_by, claimed_by, claim_expires_at, reject_reason, created_at,
                updated_at, revision)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&d.id)
        .bind(&d.conversation_id)
        .bind(&d.message_id)
        .bind(&d.request_id)
        .bind(&d.channel)
        .bind(&d.locale)
        .bind(&d.body)
        .bind(&d.disclosure)
        .bind(d.ai_generated)
        .bind(d.human_reviewed)
        .bind(&d.generator)
        .bind(d.confidence.score)
        .bind(d.confidence.level.as_str())
        .bind(json(&d.confidence.reasons))
        .bind(json(&d.citations))
        .bind(d.state.as_str())
        .bind(&d.final_body)
        .bind(&d.reviewed_by)
        .bind(&d.claimed_by)
        .bind(d.claim_expires_at)
        .bind(&d.reject_reason)
        .bind(d.created_at)
        .bind(d.updated_at)
        .bind(d.revision)
        .execute(&mut *tx)
        .await?;
        for event in &new.events {
            insert_event(&mut tx, event).await?;
        }
        let mut delivered = None;
        if let Some(delivery) = &new.delivery {
            let cursor = insert_delivery(&mut tx, delivery).await?;
            let mut event = AuditEvent::new(
                "delivery_created",
                &delivery.author,
                d,
                serde_json::json!({ "cursor": cursor }),
                delivery.created_at,
            );
            event.actor = delivery.author.clone();
            insert_event(&mut tx, &event).await?;
            delivered = Some(cursor);
        }
        let draft = fetch_draft(&mut *tx, &d.id)
            .await?
            .ok_or_else(|| Error::Internal("inserted draft vanished".into()))?;
        tx.commit().await?;

        for id in &superseded {
            self.announce(StoreEvent::QueueChanged {
                draft_id: id.clone(),
            });
        }
        self.announce(StoreEvent::QueueChanged {
            draft_id: draft.id.clone(),
        });
        if let Some(cursor) = delivered {
            self.announce(StoreEvent::DeliveryCreated { cursor });
        }
        Ok(CreatedDraft {
            draft,
            superseded,
            created: true,
        })
    }

    async fn get_draft(&self, id: &str) -> Result<Option<Draft>> {
        fetch_draft(&self.reader, id).await
    }

    async fn find_draft_by_request_id(&self, request_id: &str) -> Result<Option<Draft>> {
        let row = sqlx::query(concat!(draft_select!(), "WHERE d.request_id = ?"))
            .bind(request_id)
            .fetch_optional(&self.reader)
            .await?;
        row.as_ref().map(draft_from_row).transpose()
    }

    async fn apply_draft_change(&self, change: DraftChange) -> Result<Draft> {
        let d = &change.draft;
        let mut tx = self.writer.begin().await?;
        let updated = sqlx::query(
            "UPDATE drafts SET state = ?, final_body = ?, disclosure = ?, ai_generated = ?, human_reviewed = ?,
                reviewed_by = ?, claimed_by = ?, claim_expires_at = ?, reject_reason = ?, updated_at = ?,
                revision = revision + 1
             WHERE id = ? AND revision = ?",
        )
        .bind(d.state.as_str())
        .bind(&d.final_body)
        .bind(&d.disclosure)
        .bind(d.ai_generated)
        .bind(d.human_reviewed)
        .bind(&d.reviewed_by)
        .bind(&d.claimed_by)
        .bind(d.claim_expires_at)
        .bind(&d.reject_reason)
        .bind(d.updated_at)
        .bind(&d.id)
        .bind(change.expected_revision)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            return Err(Error::Conflict);
        }
        for event in &change.events {
            insert_event(&mut tx, event).await?;
        }
        let mut delivered = None;
        if let Some(delivery) = &change.delivery {
            let cursor = insert_delivery(&mut tx, delivery).await?;
            let event = AuditEvent::new(
                "delivery_created",
                &delivery.author,
                d,
                serde_json::json!({ "cursor": cursor }),
                delivery.created_at,
            );
            insert_event(&mut tx, &event).await?;
            delivered = Some(cursor);
        }
        let draft = fetch_draft(&mut *tx, &d.id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("draft {}", d.id)))?;
        tx.commit().await?;
        self.announce(StoreEvent::QueueChanged {
            draft_id: draft.id.clone(),
        });
        if let Some(cursor) = delivered {
            self.announce(StoreEvent::DeliveryCreated { cursor });
        }
        Ok(draft)
    }

    async fn list_open_drafts(&self, filter: &PendingFilter, now: Millis) -> Result<Vec<Draft>> {
        let rows = sqlx::query(concat!(draft_select!(), "WHERE (d.state = 'PENDING_REVIEW' OR (d.state = 'CLAIMED' AND d.claim_expires_at <= ?))
               AND (? IS NULL OR d.channel = ?) AND (? IS NULL OR d.locale = ?)
             ORDER BY d.created_at, d.id LIMIT ?"))
        .bind(now)
        .bind(&filter.channel)
        .bind(&filter.channel)
        .bind(&filter.locale)
        .bind(&filter.locale)
        .bind(filter.limit as i64)
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(draft_from_row).collect()
    }

    async fn gauges(&self, now: Millis) -> Result<super::Gauges> {
        let (count, oldest, articles): (i64, Option<i64>, i64) = sqlx::query_as(
            "SELECT COUNT(*), MIN(created_at), (SELECT COUNT(*) FROM articles WHERE deleted = 0) FROM drafts
             WHERE state = 'PENDING_REVIEW' OR (state = 'CLAIMED' AND claim_expires_at <= ?)",
        )
        .bind(now)
        .fetch_one(&self.reader)
        .await?;
        Ok(super::Gauges {
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
    ) -> Result<Vec<super::DraftFacts>> {
        let rows = sqlx::query(
            "SELECT d.conversation_id, d.state, d.confidence_level, d.created_at, d.reviewed_by, d.ai_generated,
                    d.human_reviewed, d.final_body <> d.body AS edited,
                    (SELECT MIN(e.at) FROM audit_events e WHERE e.draft_id = d.id
                        AND e.kind IN ('draft_approved', 'draft_rejected')) AS decided_at,
                    EXISTS (SELECT 1 FROM audit_events e WHERE e.draft_id = d.id AND e.kind = 'draft_rejected') AS rejected
             FROM drafts d
             WHERE d.created_at >= ? AND d.created_at < ? AND (? IS NULL OR d.channel = ?)",
        )
        .bind(from)
        .bind(to)
        .bind(channel)
        .bind(channel)
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|row| {
                let state: String = row.try_get("state")?;
                let level: String = row.try_get("confidence_level")?;
                Ok(super::DraftFacts {
                    conversation_id: row.try_get("conversation_id")?,
                    state: DraftState::parse(&state)
                        .ok_or_else(|| Error::Corrupt(format!("state {state}")))?,
                    level: Level::parse(&level)
                        .ok_or_else(|| Error::Corrupt(format!("level {level}")))?,
                    created_at: row.try_get("created_at")?,
                    reviewed_by: row.try_get("reviewed_by")?,
                    ai_generated: row.try_get("ai_generated")?,
                    human_reviewed: row.try_get("human_reviewed")?,
                    edited: row.try_get("edited")?,
                    decided_at: row.try_get("decided_at")?,
                    rejected: row.try_get("rejected")?,
                })
            })
            .collect()
    }

    async fn list_expired_claims(&self, now: Millis, limit: u32) -> Result<Vec<Draft>> {
        let rows = sqlx::query(concat!(
            draft_select!(),
            "WHERE d.state = 'CLAIMED' AND d.claim_expires_at <= ? ORDER BY d.created_at LIMIT ?"
        ))
        .bind(now)
        .bind(limit as i64)
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(draft_from_row).collect()
    }

    async fn transcript(&self, conversation_id: &str) -> Result<Option<Transcript>> {
        // One read transaction, so the parts agree with each other.
        let mut tx = self.reader.begin().await?;
        let exists: Option<(String,)> = sqlx::query_as("SELECT id FROM conversations WHERE id = ?")
            .bind(conversation_id)
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            return Ok(None);
        }
        let messages = sqlx::query(
            "SELECT * FROM messages WHERE conversation_id = ? ORDER BY received_at, id",
        )
        .bind(conversation_id)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|row| -> Result<CustomerMessage> {
            Ok(CustomerMessage {
                id: row.try_get("id")?,
                conversation_id: row.try_get("conversation_id")?,
                text: row.try_get("text")?,
                locale: row.try_get("locale")?,
                channel: row.try_get("channel")?,
                context: parse_json("context", row.try_get("context")?)?,
                received_at: row.try_get("received_at")?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
        let drafts = sqlx::query(concat!(
            draft_select!(),
            "WHERE d.conversation_id = ? ORDER BY d.created_at, d.id"
        ))
        .bind(conversation_id)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(draft_from_row)
        .collect::<Result<Vec<_>>>()?;
        let events =
            sqlx::query("SELECT * FROM audit_events WHERE conversation_id = ? ORDER BY seq")
                .bind(conversation_id)
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(event_from_row)
                .collect::<Result<Vec<_>>>()?;
        let deliveries =
            sqlx::query("SELECT * FROM deliveries WHERE conversation_id = ? ORDER BY cursor")
                .bind(conversation_id)
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(delivery_from_row)
                .collect::<Result<Vec<_>>>()?;
        tx.commit().await?;
        Ok(Some(Transcript {
            conversation_id: conversation_id.to_string(),
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
        let rows = sqlx::query(
            "SELECT * FROM deliveries WHERE cursor > ? AND acked_at IS NULL AND (? IS NULL OR channel = ?)
             ORDER BY cursor LIMIT ?",
        )
        .bind(after_cursor as i64)
        .bind(channel)
        .bind(channel)
        .bind(limit as i64)
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(delivery_from_row).collect()
    }

    async fn get_delivery(&self, cursor: u64) -> Result<Option<Delivery>> {
        let row = sqlx::query("SELECT * FROM deliveries WHERE cursor = ?")
            .bind(cursor as i64)
            .fetch_optional(&self.reader)
            .await?;
        row.as_ref().map(delivery_from_row).transpose()
    }

    async fn ack_delivery(&self, cursor: u64, event: AuditEvent, now: Millis) -> Result<bool> {
        let mut tx = self.writer.begin().await?;
        let acked =
            sqlx::query("UPDATE deliveries SET acked_at = ? WHERE cursor = ? AND acked_at IS NULL")
                .bind(now)
                .bind(cursor as i64)
                .execute(&mut *tx)
                .await?;
        if acked.rows_affected() == 0 {
            return Ok(false);
        }
        sqlx::query(
            "UPDATE drafts SET state = 'DELIVERED', updated_at = ?, revision = revision + 1
             WHERE id = (SELECT draft_id FROM deliveries WHERE cursor = ?)",
        )
        .bind(now)
        .bind(cursor as i64)
        .execute(&mut *tx)
        .await?;
        insert_event(&mut tx, &event).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn put_article(&self, mut article: Article) -> Result<ArticleWrite> {
        let mut tx = self.writer.begin().await?;
        let existing = sqlx::query("SELECT * FROM articles WHERE id = ?")
            .bind(&article.id)
            .fetch_optional(&mut *tx)
            .await?;
        article.version = 1;
        let mut replaces_live = false;
        if let Some(row) = existing {
            let deleted: bool = row.try_get("deleted")?;
            let stored = article_from_row(&row)?;
            if !deleted && stored.content_hash == article.content_hash {
                return Ok(ArticleWrite::Unchanged(stored));
            }
            article.version = stored.version + 1;
            replaces_live = !deleted;
        }
        sqlx::query(
            "INSERT INTO articles (id, locale, title, body, tags, url, version, content_hash, source, deleted, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?)
             ON CONFLICT (id) DO UPDATE SET locale = excluded.locale, title = excluded.title, body = excluded.body,
                tags = excluded.tags, url = excluded.url, version = excluded.version,
                content_hash = excluded.content_hash, source = excluded.source, deleted = 0,
                updated_at = excluded.updated_at",
        )
        .bind(&article.id)
        .bind(&article.locale)
        .bind(&article.title)
        .bind(&article.body)
        .bind(json(&article.tags))
        .bind(&article.url)
        .bind(article.version as i64)
        .bind(&article.content_hash)
        .bind(&article.source)
        .bind(article.updated_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.announce(StoreEvent::ArticleChanged {
            id: article.id.clone(),
        });
        Ok(if replaces_live {
            ArticleWrite::Updated(article)
        } else {
            ArticleWrite::Created(article)
        })
    }

    async fn delete_article(&self, id: &str, now: Millis) -> Result<Option<u64>> {
        let deleted: Option<(i64,)> = sqlx::query_as(
            "UPDATE articles SET deleted = 1, updated_at = ? WHERE id = ? AND deleted = 0 RETURNING version",
        )
        .bind(now)
        .bind(id)
        .fetch_optional(&self.writer)
        .await?;
        if deleted.is_some() {
            self.announce(StoreEvent::ArticleChanged { id: id.to_string() });
        }
        Ok(deleted.map(|(v,)| v as u64))
    }

    async fn get_article(&self, id: &str) -> Result<Option<Article>> {
        let row = sqlx::query("SELECT * FROM articles WHERE id = ? AND deleted = 0")
            .bind(id)
            .fetch_optional(&self.reader)
            .await?;
        row.as_ref().map(article_from_row).transpose()
    }

    async fn list_articles(
        &self,
        locale: Option<&str>,
        after_id: &str,
        limit: u32,
    ) -> Result<Vec<Article>> {
        let rows = sqlx::query(
            "SELECT * FROM articles WHERE deleted = 0 AND id > ? AND (? IS NULL OR locale = ?) ORDER BY id LIMIT ?",
        )
        .bind(after_id)
        .bind(locale)
        .bind(locale)
        .bind(limit as i64)
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(article_from_row).collect()
    }

    fn subscribe(&self) -> broadcast::Receiver<StoreEvent> {
        self.events.subscribe()
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.reader).await?;
        Ok(())
    }
}
