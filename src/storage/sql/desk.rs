//! The console's records: signing keys, transcript links, the conversations
//! in progress (see `migrations/*/0011_console.sql`).

use super::{Conn, DbRow, SqlBackend, SqlStore, queries};
use crate::model::Millis;
use crate::storage::{ConversationSummary, Desk, Error, Result, TranscriptLink};
use sqlx::{Database, Decode, Encode, Row, Type};

#[async_trait::async_trait]
impl<B> Desk for SqlStore<B>
where
    B: SqlBackend,
    for<'c> &'c mut Conn<B::Db>: sqlx::Executor<'c, Database = B::Db>,
    for<'c> &'c sqlx::Pool<B::Db>: sqlx::Executor<'c, Database = B::Db>,
    <B::Db as Database>::Arguments: sqlx::IntoArguments<B::Db>,
    for<'q> String: Encode<'q, B::Db> + Decode<'q, B::Db> + Type<B::Db>,
    for<'q> &'q str: Encode<'q, B::Db> + Decode<'q, B::Db> + Type<B::Db>,
    for<'q> i64: Encode<'q, B::Db> + Decode<'q, B::Db> + Type<B::Db>,
    for<'q> Vec<u8>: Encode<'q, B::Db> + Decode<'q, B::Db> + Type<B::Db>,
    for<'r> &'r str: sqlx::ColumnIndex<DbRow<B>>,
    usize: sqlx::ColumnIndex<DbRow<B>>,
{
    async fn signing_key(&self, name: &str, candidate: Vec<u8>, now: Millis) -> Result<Vec<u8>> {
        let owned = name.to_string();
        self.backend
            .write(move |tx| {
                Box::pin(async move {
                    sqlx::query(queries::INSERT_SIGNING_KEY)
                        .bind(owned)
                        .bind(candidate)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                    Ok(((), vec![]))
                })
            })
            .await?;
        sqlx::query_scalar(queries::SIGNING_KEY)
            .bind(name)
            .fetch_optional(self.backend.reader())
            .await?
            .ok_or_else(|| Error::Internal(format!("signing key {name} was not stored")))
    }

    async fn insert_transcript_link(&self, link: &TranscriptLink) -> Result<()> {
        let link = link.clone();
        self.backend
            .write(move |tx| {
                Box::pin(async move {
                    sqlx::query(queries::INSERT_TRANSCRIPT_LINK)
                        .bind(link.id)
                        .bind(link.conversation_id)
                        .bind(link.created_by)
                        .bind(link.created_at)
                        .bind(link.expires_at)
                        .execute(&mut *tx)
                        .await?;
                    Ok(((), vec![]))
                })
            })
            .await
    }

    async fn transcript_link(&self, id: &str) -> Result<Option<TranscriptLink>> {
        let row = sqlx::query(queries::TRANSCRIPT_LINK)
            .bind(id)
            .fetch_optional(self.backend.reader())
            .await?;
        row.map(|r| {
            Ok(TranscriptLink {
                id: r.try_get("id")?,
                conversation_id: r.try_get("conversation_id")?,
                created_by: r.try_get("created_by")?,
                created_at: r.try_get("created_at")?,
                expires_at: r.try_get("expires_at")?,
                revoked_at: r.try_get::<Option<i64>, _>("revoked_at")?,
            })
        })
        .transpose()
    }

    async fn revoke_transcript_link(&self, id: &str, now: Millis) -> Result<bool> {
        let id = id.to_string();
        self.backend
            .write(move |tx| {
                Box::pin(async move {
                    let revoked: Option<String> =
                        sqlx::query_scalar(queries::REVOKE_TRANSCRIPT_LINK)
                            .bind(id)
                            .bind(now)
                            .fetch_optional(&mut *tx)
                            .await?;
                    Ok((revoked.is_some(), vec![]))
                })
            })
            .await
    }

    async fn conversations_in_progress(
        &self,
        active_since: Millis,
        limit: u32,
    ) -> Result<Vec<ConversationSummary>> {
        let rows = sqlx::query(queries::CONVERSATIONS_IN_PROGRESS)
            .bind(active_since)
            .bind(i64::from(limit))
            .fetch_all(self.backend.reader())
            .await?;
        rows.iter()
            .map(|r| {
                let state: String = r.try_get("state")?;
                Ok(ConversationSummary {
                    id: r.try_get("id")?,
                    channel: r.try_get("channel")?,
                    state: crate::conversation::State::parse(&state)
                        .ok_or_else(|| Error::Corrupt(format!("conversation state {state:?}")))?,
                    owner: r.try_get("owner")?,
                    created_at: r.try_get("created_at")?,
                    state_since: r.try_get("state_since")?,
                    updated_at: r.try_get("updated_at")?,
                })
            })
            .collect()
    }
}
