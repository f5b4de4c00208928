//! The writes that touch several tables: a new message with its draft, the
//! audit chain, the outbox.

use super::{Conn, DbRow, SqlBackend, SqlStore, json, queries, request_key};
use crate::model::{AuditEvent, Delivery, Draft};
use crate::storage::{CreatedDraft, Error, NewDraft, RequestKey, Result, StoreEvent};
use sqlx::{Database, Decode, Encode, Type};

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
    /// Appends the events to the audit chain, in order. Call it last in a
    /// transaction: locking the chain's head row makes concurrent writers
    /// (other connections, other replicas) take turns until they commit.
    pub(super) async fn append_audit(tx: &mut Conn<B::Db>, events: &[AuditEvent]) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let (mut pos, mut hash): (i64, String) = sqlx::query_as(queries::LOCK_AUDIT_HEAD)
            .fetch_one(&mut *tx)
            .await?;
        // One statement for up to 500 of them (well under both backends'
        // limits on bound values).
        for chunk in events.chunks(500) {
            let mut rows = Vec::with_capacity(chunk.len());
            for e in chunk {
                pos += 1;
                let detail = json(&e.detail);
                let next = crate::storage::chain::link_hash(
                    &hash,
                    pos as u64,
                    e.at,
                    &e.kind,
                    &e.actor,
                    &e.conversation_id,
                    &e.draft_id,
                    &detail,
                );
                let prev = std::mem::replace(&mut hash, next.clone());
                rows.push((e, detail, pos, prev, next));
            }
            let mut insert = sqlx::QueryBuilder::<B::Db>::new(
                "INSERT INTO audit_events (at, kind, actor, conversation_id, draft_id, detail,
                    chain_pos, prev_hash, hash) ",
            );
            insert.push_values(rows, |mut row, (e, detail, pos, prev, next)| {
                row.push_bind(e.at)
                    .push_bind(e.kind.clone())
                    .push_bind(e.actor.clone())
                    .push_bind(e.conversation_id.clone())
                    .push_bind(e.draft_id.clone())
                    .push_bind(detail)
                    .push_bind(pos)
                    .push_bind(prev)
                    .push_bind(next);
            });
            insert.build().execute(&mut *tx).await?;
        }
        sqlx::query(queries::SET_AUDIT_HEAD)
            .bind(pos)
            .bind(&hash)
            .execute(&mut *tx)
            .await?;
        Ok(())
    }

    /// Writes the delivery; returns its cursor and the audit event to append.
    pub(super) async fn insert_delivery(
        tx: &mut Conn<B::Db>,
        d: &Delivery,
        draft: &Draft,
    ) -> Result<(u64, AuditEvent)> {
        B::lock_outbox(tx).await?;
        let cursor: i64 = sqlx::query_scalar(queries::INSERT_DELIVERY)
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
            .fetch_one(&mut *tx)
            .await?;
        let event = AuditEvent::new(
            "delivery_created",
            &d.author,
            draft,
            serde_json::json!({ "cursor": cursor }),
            d.created_at,
        );
        Ok((cursor as u64, event))
    }

    pub(super) async fn fetch_draft(tx: &mut Conn<B::Db>, id: &str) -> Result<Option<Draft>> {
        let row = sqlx::query(queries::DRAFT_BY_ID)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        row.as_ref().map(Self::draft_from_row).transpose()
    }

    pub(super) async fn draft_by_request<'e, E>(
        executor: E,
        key: &RequestKey,
    ) -> Result<Option<Draft>>
    where
        E: sqlx::Executor<'e, Database = B::Db>,
    {
        let row = sqlx::query(queries::DRAFT_BY_REQUEST)
            .bind(&key.caller)
            .bind(&key.conversation_id)
            .bind(&key.request_id)
            .fetch_optional(executor)
            .await?;
        row.as_ref().map(Self::draft_from_row).transpose()
    }

    pub(super) async fn insert_new_draft(&self, new: NewDraft) -> Result<CreatedDraft> {
        self.backend
            .write(move |tx| {
                Box::pin(async move {
                    if let Some(key) = request_key(&new.draft)
                        && let Some(draft) = Self::draft_by_request(&mut *tx, &key).await?
                    {
                        return Ok((
                            CreatedDraft {
                                draft,
                                superseded: vec![],
                                created: false,
                            },
                            vec![],
                        ));
                    }
                    let m = &new.message;
                    // The upsert also locks the conversation's row until commit, so
                    // two messages of one conversation are written one after the other.
                    let platform: String = sqlx::query_scalar(queries::UPSERT_CONVERSATION)
                        .bind(&m.conversation_id)
                        .bind(&m.channel)
                        .bind(&new.draft.caller)
                        .bind(m.received_at)
                        .fetch_one(&mut *tx)
                        .await?;
                    // Without a token (empty caller) nobody is told apart.
                    if !platform.is_empty()
                        && !new.draft.caller.is_empty()
                        && platform != new.draft.caller
                    {
                        return Err(Error::OtherPlatform(m.conversation_id.clone()));
                    }
                    sqlx::query(queries::INSERT_MESSAGE)
                        .bind(&m.id)
                        .bind(&m.conversation_id)
                        .bind(&m.text)
                        .bind(&m.locale)
                        .bind(&m.channel)
                        .bind(json(&m.context))
                        .bind(m.received_at)
                        .execute(&mut *tx)
                        .await?;

                    // A newer message makes the conversation's undecided drafts
                    // obsolete, but those a policy sent to a person: they stay in
                    // the queue until an agent decides them.
                    let superseded: Vec<(String,)> = sqlx::query_as(queries::SUPERSEDE_OPEN_DRAFTS)
                        .bind(m.received_at)
                        .bind(&m.conversation_id)
                        .fetch_all(&mut *tx)
                        .await?;
                    let superseded: Vec<String> = superseded.into_iter().map(|(id,)| id).collect();
                    let mut events: Vec<AuditEvent> = superseded
                        .iter()
                        .map(|id| AuditEvent {
                            draft_id: id.clone(),
                            ..new.superseded.clone()
                        })
                        .collect();

                    // While an earlier draft waits for a person, nothing else in
                    // the conversation goes out on its own.
                    let waiting: Option<String> =
                        sqlx::query_scalar(queries::DRAFT_WAITING_FOR_PERSON)
                            .bind(&m.conversation_id)
                            .fetch_optional(&mut *tx)
                            .await?;
                    let NewDraft {
                        message: _,
                        draft,
                        events: new_events,
                        delivery,
                        if_held,
                        superseded: _,
                    } = &new;
                    let (d, new_events, delivery) = match (waiting, if_held) {
                        (Some(_), Some(held)) => (&held.draft, &held.events, &None),
                        _ => (draft, new_events, delivery),
                    };
                    sqlx::query(queries::INSERT_DRAFT)
                        .bind(&d.id)
                        .bind(&d.conversation_id)
                        .bind(&d.message_id)
                        .bind(&d.request_id)
                        .bind(&d.caller)
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
                        .bind(d.needs_person)
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
                    events.extend(new_events.iter().cloned());
                    let mut announced: Vec<StoreEvent> = superseded
                        .iter()
                        .map(|id| StoreEvent::QueueChanged {
                            draft_id: id.clone(),
                        })
                        .collect();
                    announced.push(StoreEvent::QueueChanged {
                        draft_id: d.id.clone(),
                    });
                    let mut delivered = None;
                    if let Some(delivery) = delivery {
                        let (cursor, event) = Self::insert_delivery(&mut *tx, delivery, d).await?;
                        events.push(event);
                        announced.push(StoreEvent::DeliveryCreated { cursor });
                        delivered = Some((cursor, delivery));
                    }
                    // What was inserted, as a read would return it.
                    let draft = Draft {
                        customer_message: m.text.clone(),
                        ..d.clone()
                    };
                    crate::storage::chain::seal(&mut events, d, Some(m), delivered);
                    Self::append_audit(&mut *tx, &events).await?;
                    Ok((
                        CreatedDraft {
                            draft,
                            superseded,
                            created: true,
                        },
                        announced,
                    ))
                })
            })
            .await
    }
    /// Chains the events written before the chain existed (migration 2), in seq order.
    pub(crate) async fn chain_legacy_events(&self) -> Result<()> {
        let chained = self
            .backend
            .write(move |tx| {
                Box::pin(async move {
                    let rows = sqlx::query(queries::UNCHAINED_EVENTS)
                        .fetch_all(&mut *tx)
                        .await?;
                    if rows.is_empty() {
                        return Ok((0, vec![]));
                    }
                    let (mut pos, mut hash): (i64, String) =
                        sqlx::query_as(queries::LOCK_AUDIT_HEAD)
                            .fetch_one(&mut *tx)
                            .await?;
                    for row in &rows {
                        let e = Self::stored_event_from_row(row)?;
                        pos += 1;
                        let next = crate::storage::chain::link_hash(
                            &hash,
                            pos as u64,
                            e.at,
                            &e.kind,
                            &e.actor,
                            &e.conversation_id,
                            &e.draft_id,
                            &e.detail,
                        );
                        sqlx::query(queries::CHAIN_EVENT)
                            .bind(pos)
                            .bind(&hash)
                            .bind(&next)
                            .bind(e.seq as i64)
                            .execute(&mut *tx)
                            .await?;
                        hash = next;
                    }
                    sqlx::query(queries::SET_AUDIT_HEAD)
                        .bind(pos)
                        .bind(&hash)
                        .execute(&mut *tx)
                        .await?;
                    Ok((rows.len(), vec![]))
                })
            })
            .await?;
        if chained > 0 {
            tracing::info!(
                events = chained,
                "chained audit events written before the chain existed"
            );
        }
        Ok(())
    }
}
