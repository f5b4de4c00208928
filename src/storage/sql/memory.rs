//! The answer memory's curated answers and their questions (see
//! `migrations/*/0005_answer_memory.sql`): written with the review decision
//! that teaches them ([`MemoryWrite`], inside that decision's transaction)
//! and changed by editors ([`CuratedChange`]).

use super::{Conn, DbRow, SqlBackend, SqlStore, json, parse_json, queries};
use crate::model::{AuditEvent, CuratedAnswer, CuratedQuestion, CuratedState, Millis, reply_key};
use crate::storage::{Curated, CuratedChange, Error, MemoryWrite, Result, StoreEvent};
use sqlx::{Database, Decode, Encode, Row, Type};

fn parse_curated_state(state: &str) -> Result<CuratedState> {
    CuratedState::parse(state).ok_or_else(|| Error::Corrupt(format!("curated state {state}")))
}

impl<B> SqlStore<B>
where
    B: SqlBackend,
    for<'c> &'c mut Conn<B::Db>: sqlx::Executor<'c, Database = B::Db>,
    for<'c> &'c sqlx::Pool<B::Db>: sqlx::Executor<'c, Database = B::Db>,
    <B::Db as Database>::Arguments: sqlx::IntoArguments<B::Db>,
    for<'q> String: Encode<'q, B::Db> + Decode<'q, B::Db> + Type<B::Db>,
    for<'q> &'q str: Encode<'q, B::Db> + Decode<'q, B::Db> + Type<B::Db>,
    for<'q> Option<&'q str>: Encode<'q, B::Db> + Type<B::Db>,
    for<'q> i64: Encode<'q, B::Db> + Decode<'q, B::Db> + Type<B::Db>,
    for<'r> &'r str: sqlx::ColumnIndex<DbRow<B>>,
    usize: sqlx::ColumnIndex<DbRow<B>>,
{
    /// An answer's row, without its questions.
    fn curated_from_row(row: &DbRow<B>) -> Result<CuratedAnswer> {
        Ok(CuratedAnswer {
            id: row.try_get("id")?,
            locale: row.try_get("locale")?,
            reply: row.try_get("reply")?,
            sources: parse_json("sources", row.try_get("sources")?)?,
            questions: Vec::new(),
            approved_by: parse_json("approved_by", row.try_get("approved_by")?)?,
            rejections: row.try_get::<i64, _>("rejections")?.max(0) as u32,
            state: parse_curated_state(row.try_get("state")?)?,
            created_by: row.try_get("created_by")?,
            origin_draft_id: row.try_get("origin_draft_id")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
            revision: row.try_get("revision")?,
        })
    }

    /// Fills in the questions of `answers`, in their order.
    async fn with_questions<'e, E>(executor: E, answers: &mut [CuratedAnswer]) -> Result<()>
    where
        E: sqlx::Executor<'e, Database = B::Db>,
    {
        if answers.is_empty() {
            return Ok(());
        }
        let mut select = sqlx::QueryBuilder::<B::Db>::new(
            "SELECT answer_id, question, draft_id, agent, created_at FROM curated_questions WHERE answer_id IN (",
        );
        let mut list = select.separated(", ");
        for a in answers.iter() {
            list.push_bind(a.id.clone());
        }
        select.push(") ORDER BY answer_id, position");
        let rows = select.build().fetch_all(executor).await?;
        for row in rows {
            let id: String = row.try_get("answer_id")?;
            if let Some(a) = answers.iter_mut().find(|a| a.id == id) {
                a.questions.push(CuratedQuestion {
                    text: row.try_get("question")?,
                    draft_id: row.try_get("draft_id")?,
                    agent: row.try_get("agent")?,
                    at: row.try_get("created_at")?,
                });
            }
        }
        Ok(())
    }

    async fn fetch_curated(tx: &mut Conn<B::Db>, id: &str) -> Result<Option<CuratedAnswer>> {
        let row = sqlx::query(queries::CURATED_ANSWER_BY_ID)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let mut answers = [Self::curated_from_row(&row)?];
        Self::with_questions(&mut *tx, &mut answers).await?;
        let [a] = answers;
        Ok(Some(a))
    }

    async fn insert_question(
        tx: &mut Conn<B::Db>,
        answer_id: &str,
        q: &CuratedQuestion,
    ) -> Result<()> {
        sqlx::query(queries::INSERT_CURATED_QUESTION)
            .bind(answer_id)
            .bind(&q.text)
            .bind(&q.draft_id)
            .bind(&q.agent)
            .bind(q.at)
            .execute(&mut *tx)
            .await?;
        Ok(())
    }

    /// Writes an answer's changeable fields if it is still at `revision`.
    async fn update_curated(
        tx: &mut Conn<B::Db>,
        a: &CuratedAnswer,
        revision: i64,
        now: Millis,
    ) -> Result<bool> {
        let updated: Option<String> = sqlx::query_scalar(queries::UPDATE_CURATED_ANSWER)
            .bind(json(&a.sources))
            .bind(json(&a.approved_by))
            .bind(i64::from(a.rejections))
            .bind(a.state.as_str())
            .bind(now)
            .bind(&a.id)
            .bind(revision)
            .fetch_optional(&mut *tx)
            .await?;
        Ok(updated.is_some())
    }

    /// Applies a decision's memory writes inside its transaction; returns
    /// the audit events that record them (each like `like`: the decision's
    /// actor, conversation and draft) and the answers they changed.
    pub(super) async fn apply_memory(
        tx: &mut Conn<B::Db>,
        writes: &[MemoryWrite],
        like: &AuditEvent,
    ) -> Result<(Vec<AuditEvent>, Vec<StoreEvent>)> {
        let mut events = Vec::new();
        let mut announced = Vec::new();
        let event = |kind: &str, detail: serde_json::Value| AuditEvent {
            kind: kind.to_string(),
            detail,
            ..like.clone()
        };
        for w in writes {
            match w {
                MemoryWrite::Learn { answer, question } => {
                    let existing = sqlx::query(queries::ACTIVE_CURATED_BY_REPLY)
                        .bind(&answer.locale)
                        .bind(reply_key(&answer.reply))
                        .fetch_optional(&mut *tx)
                        .await?
                        .map(|row| Self::curated_from_row(&row))
                        .transpose()?;
                    let (id, created) = match existing {
                        Some(mut found) => {
                            let revision = found.revision;
                            if !found.approved_by.contains(&question.agent) {
                                found.approved_by.push(question.agent.clone());
                            }
                            // A re-approval: it now rests on the versions this agent saw.
                            found.sources = answer.sources.clone();
                            if !Self::update_curated(&mut *tx, &found, revision, question.at)
                                .await?
                            {
                                return Err(Error::Conflict);
                            }
                            (found.id, false)
                        }
                        None => {
                            sqlx::query(queries::INSERT_CURATED_ANSWER)
                                .bind(&answer.id)
                                .bind(&answer.locale)
                                .bind(&answer.reply)
                                .bind(reply_key(&answer.reply))
                                .bind(json(&answer.sources))
                                .bind(json(&answer.approved_by))
                                .bind(i64::from(answer.rejections))
                                .bind(answer.state.as_str())
                                .bind(&answer.created_by)
                                .bind(&answer.origin_draft_id)
                                .bind(answer.created_at)
                                .bind(answer.updated_at)
                                .execute(&mut *tx)
                                .await?;
                            (answer.id.clone(), true)
                        }
                    };
                    Self::insert_question(&mut *tx, &id, question).await?;
                    events.push(event(
                        "memory_learned",
                        serde_json::json!({ "answer_id": id, "new_answer": created, "sources": answer.sources }),
                    ));
                    announced.push(StoreEvent::MemoryChanged { id });
                }
                MemoryWrite::Reject { answer_id } | MemoryWrite::Supersede { answer_id } => {
                    let Some(mut found) = Self::fetch_curated(&mut *tx, answer_id).await? else {
                        // Deleted by an editor meanwhile: nothing left to mark.
                        continue;
                    };
                    let revision = found.revision;
                    let kind = match w {
                        MemoryWrite::Reject { .. } => {
                            found.rejections += 1;
                            found.state = CuratedState::Rejected;
                            "memory_rejected"
                        }
                        MemoryWrite::Supersede { .. } | MemoryWrite::Learn { .. } => {
                            found.state = CuratedState::Superseded;
                            "memory_superseded"
                        }
                    };
                    if !Self::update_curated(&mut *tx, &found, revision, like.at).await? {
                        return Err(Error::Conflict);
                    }
                    events.push(event(kind, serde_json::json!({ "answer_id": answer_id })));
                    announced.push(StoreEvent::MemoryChanged {
                        id: answer_id.clone(),
                    });
                }
            }
        }
        Ok((events, announced))
    }
}

#[async_trait::async_trait]
impl<B> Curated for SqlStore<B>
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
    async fn curated_answers(
        &self,
        locale: Option<&str>,
        after_id: &str,
        limit: u32,
    ) -> Result<Vec<CuratedAnswer>> {
        let rows = sqlx::query(queries::CURATED_ANSWERS)
            .bind(after_id)
            .bind(locale)
            .bind(i64::from(limit))
            .fetch_all(self.backend.reader())
            .await?;
        let mut answers: Vec<CuratedAnswer> = rows
            .iter()
            .map(Self::curated_from_row)
            .collect::<Result<_>>()?;
        Self::with_questions(self.backend.reader(), &mut answers).await?;
        Ok(answers)
    }

    async fn curated_answer(&self, id: &str) -> Result<Option<CuratedAnswer>> {
        let row = sqlx::query(queries::CURATED_ANSWER_BY_ID)
            .bind(id)
            .fetch_optional(self.backend.reader())
            .await?;
        let Some(row) = row else { return Ok(None) };
        let mut answers = [Self::curated_from_row(&row)?];
        Self::with_questions(self.backend.reader(), &mut answers).await?;
        let [a] = answers;
        Ok(Some(a))
    }

    async fn change_curated_answer(&self, change: CuratedChange) -> Result<Option<CuratedAnswer>> {
        self.backend
            .write(move |tx| {
                Box::pin(async move {
                    let announced = vec![StoreEvent::MemoryChanged {
                        id: change.id.clone(),
                    }];
                    let after = match &change.to {
                        Some(a) => {
                            if !Self::update_curated(
                                &mut *tx,
                                a,
                                change.expected_revision,
                                change.event.at,
                            )
                            .await?
                            {
                                return Err(Self::missing_or_changed(&mut *tx, &change.id).await?);
                            }
                            Self::fetch_curated(&mut *tx, &change.id).await?
                        }
                        None => {
                            sqlx::query(queries::DELETE_CURATED_QUESTIONS)
                                .bind(&change.id)
                                .execute(&mut *tx)
                                .await?;
                            let deleted: Option<String> =
                                sqlx::query_scalar(queries::DELETE_CURATED_ANSWER)
                                    .bind(&change.id)
                                    .bind(change.expected_revision)
                                    .fetch_optional(&mut *tx)
                                    .await?;
                            if deleted.is_none() {
                                return Err(Self::missing_or_changed(&mut *tx, &change.id).await?);
                            }
                            None
                        }
                    };
                    Self::append_audit(&mut *tx, std::slice::from_ref(&change.event)).await?;
                    Ok((after, announced))
                })
            })
            .await
    }
}

impl<B> SqlStore<B>
where
    B: SqlBackend,
    for<'c> &'c mut Conn<B::Db>: sqlx::Executor<'c, Database = B::Db>,
    <B::Db as Database>::Arguments: sqlx::IntoArguments<B::Db>,
    for<'q> &'q str: Encode<'q, B::Db> + Type<B::Db>,
    for<'q> String: Decode<'q, B::Db> + Type<B::Db>,
    usize: sqlx::ColumnIndex<DbRow<B>>,
{
    /// Why a guarded write of an answer changed nothing: it is gone, or it changed.
    async fn missing_or_changed(tx: &mut Conn<B::Db>, id: &str) -> Result<Error> {
        let exists: Option<String> = sqlx::query_scalar(queries::CURATED_ANSWER_EXISTS)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        Ok(match exists {
            Some(_) => Error::Conflict,
            None => Error::NotFound(format!("curated answer {id}")),
        })
    }
}
