//! The writes that touch several tables: a new message with its draft, the
//! audit chain, the outbox.

use super::{Conn, DbRow, SqlBackend, SqlStore, json, queries, request_key};
use crate::model::{AuditEvent, Delivery, Draft, Millis};
use crate::storage::{
    CreatedDraft, EarlierDrafts, Error, NewDraft, RequestKey, Result, StoreEvent,
};
use sqlx::{Database, Decode, Encode, Type};

/// How often one earlier draft may change under a new message's write
/// (each time another transaction decided it first) before the write gives
/// up with a conflict; reached only under a storm of decisions on one draft.
const MAX_RACES: usize = 8;

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

    /// Writes the delivery; returns its cursor.
    pub(super) async fn insert_delivery(tx: &mut Conn<B::Db>, d: &Delivery) -> Result<u64> {
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
            .bind(d.provenance.as_str())
            .bind(d.edit_ratio)
            .bind(
                d.template
                    .as_ref()
                    .map(|t| t.name.clone())
                    .unwrap_or_default(),
            )
            .bind(json(
                &d.template
                    .as_ref()
                    .map(|t| t.parameters.clone())
                    .unwrap_or_default(),
            ))
            .fetch_one(&mut *tx)
            .await?;
        Ok(cursor as u64)
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

    /// Applies the domain's rules to the conversation's undecided drafts:
    /// supersedes those the rules say (compare-and-swap on each one's
    /// revision; one decided meanwhile is read again and asked again) and
    /// tells whether one holds the conversation for a person.
    pub(super) async fn apply_earlier(
        tx: &mut Conn<B::Db>,
        conversation_id: &str,
        now: Millis,
        rules: &EarlierDrafts,
    ) -> Result<(Vec<String>, bool)> {
        let rows = sqlx::query(queries::UNDECIDED_DRAFTS)
            .bind(conversation_id)
            .fetch_all(&mut *tx)
            .await?;
        let mut superseded = Vec::new();
        let mut waiting = false;
        for row in &rows {
            let mut current = Self::draft_from_row(row)?;
            for attempt in 0.. {
                if attempt == MAX_RACES {
                    return Err(Error::Conflict);
                }
                let Some(next) = (rules.supersede)(&current, now) else {
                    waiting |= (rules.holds)(&current);
                    break;
                };
                if Self::update_draft(&mut *tx, &next, current.revision).await? {
                    superseded.push(next.id);
                    break;
                }
                match Self::fetch_draft(&mut *tx, &current.id).await? {
                    Some(d) => current = d,
                    None => break,
                }
            }
        }
        Ok((superseded, waiting))
    }

    /// Writes a draft's decision fields if it is still at `expected_revision`.
    pub(super) async fn update_draft(
        tx: &mut Conn<B::Db>,
        d: &Draft,
        expected_revision: i64,
    ) -> Result<bool> {
        let updated: Option<String> = sqlx::query_scalar(queries::UPDATE_DRAFT)
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
            .bind(expected_revision)
            .fetch_optional(&mut *tx)
            .await?;
        Ok(updated.is_some())
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
                                conversation: None,
                                notice: None,
                            },
                            vec![],
                        ));
                    }
                    let m = &new.message;
                    // The upsert also locks the conversation's row until commit, so
                    // two messages of one conversation are written one after the other.
                    let row = sqlx::query(queries::UPSERT_CONVERSATION)
                        .bind(&m.conversation_id)
                        .bind(&m.channel)
                        .bind(&new.draft.caller)
                        .bind(m.received_at)
                        .bind(&new.customer_id)
                        .fetch_one(&mut *tx)
                        .await?;
                    let (platform, current) = Self::conversation_from_row(&row)?;
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

                    let (superseded, waiting) = Self::apply_earlier(
                        &mut *tx,
                        &m.conversation_id,
                        m.received_at,
                        &new.earlier,
                    )
                    .await?;
                    let mut events: Vec<AuditEvent> = superseded
                        .iter()
                        .map(|id| AuditEvent {
                            draft_id: id.clone(),
                            ..new.earlier.superseded_event.clone()
                        })
                        .collect();
                    let step = crate::conversation::step(
                        &current,
                        &new.conversation.act,
                        new.conversation.rules,
                        m.received_at,
                    )?;
                    let changed = Self::set_conversation(
                        &mut *tx,
                        &m.conversation_id,
                        &current,
                        &step,
                        m.received_at,
                    )
                    .await?;
                    let waiting = waiting || step.holds;

                    let NewDraft {
                        message: _,
                        draft,
                        events: new_events,
                        delivery,
                        if_held,
                        earlier: _,
                        conversation: _,
                        customer_id: _,
                    } = &new;
                    let (d, new_events, delivery) = match (waiting, if_held) {
                        (true, Some(held)) => (&held.draft, &held.events, &None),
                        _ => (draft, new_events, delivery),
                    };
                    Self::insert_draft(&mut *tx, d).await?;
                    events.extend(new_events.iter().cloned());
                    // After the message that caused it.
                    events.extend(changed);
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
                        let cursor = Self::insert_delivery(&mut *tx, delivery).await?;
                        announced.push(StoreEvent::DeliveryCreated { cursor });
                        delivered = Some((cursor, delivery));
                    }
                    // What was inserted, as a read would return it.
                    let draft = Draft {
                        customer_message: m.text.clone(),
                        ..d.clone()
                    };
                    crate::storage::chain::seal(&mut events, d, Some(m), delivered);
                    let mut sent_notice = None;
                    if let Some(notice) = new.conversation.notice.as_ref().filter(|_| step.notice) {
                        Self::insert_draft(&mut *tx, &notice.draft).await?;
                        let cursor = Self::insert_delivery(&mut *tx, &notice.delivery).await?;
                        announced.push(StoreEvent::DeliveryCreated { cursor });
                        let mut notice_events = notice.events.clone();
                        crate::storage::chain::seal(
                            &mut notice_events,
                            &notice.draft,
                            Some(m),
                            Some((cursor, &notice.delivery)),
                        );
                        events.extend(notice_events);
                        sent_notice = Some(Draft {
                            customer_message: m.text.clone(),
                            ..notice.draft.clone()
                        });
                    }
                    Self::append_audit(&mut *tx, &events).await?;
                    Ok((
                        CreatedDraft {
                            draft,
                            superseded,
                            created: true,
                            conversation: Some(step.next),
                            notice: sent_notice,
                        },
                        announced,
                    ))
                })
            })
            .await
    }

    /// Writes a new draft row.
    pub(super) async fn insert_draft(tx: &mut Conn<B::Db>, d: &Draft) -> Result<()> {
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
            .bind(&d.curated_answer_id)
            .bind(d.respond_by)
            .execute(&mut *tx)
            .await?;
        Ok(())
    }

    /// Writes the conversation's next state when `step` changes it; returns
    /// the event that records a change of state.
    pub(super) async fn set_conversation(
        tx: &mut Conn<B::Db>,
        conversation_id: &str,
        current: &crate::conversation::Ownership,
        step: &crate::conversation::Step,
        now: Millis,
    ) -> Result<Vec<AuditEvent>> {
        let next = &step.next;
        if next != current {
            sqlx::query(queries::SET_CONVERSATION_STATE)
                .bind(conversation_id)
                .bind(next.state.as_str())
                .bind(&next.owner)
                .bind(next.since)
                .bind(i64::from(next.low_streak))
                .bind(now)
                .execute(&mut *tx)
                .await?;
        }
        Ok(step
            .change
            .iter()
            .map(|c| AuditEvent::state_changed(conversation_id, c, &next.owner, now))
            .collect())
    }

    /// A conversation row's platform and state.
    pub(super) fn conversation_from_row(
        row: &DbRow<B>,
    ) -> Result<(String, crate::conversation::Ownership)> {
        use sqlx::Row;
        let ownership = crate::conversation::Ownership::from_stored(
            &row.try_get::<String, _>("state")?,
            row.try_get("owner")?,
            row.try_get("state_since")?,
            row.try_get("low_streak")?,
        )
        .map_err(Error::Corrupt)?;
        Ok((row.try_get("platform")?, ownership))
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
