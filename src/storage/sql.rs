//! The `Store` implementation both SQL backends share. The statements are
//! written once, with `$n` placeholders that SQLite and PostgreSQL both
//! accept, and `sql_store!` expands them for one backend's types. What really
//! differs lives in each backend's module as a few inherent methods:
//!
//! - `write(|tx| ...)`: runs the closure in a write transaction, tells other
//!   replicas about the events it returns (inside the transaction), commits,
//!   then tells this process's subscribers. SQLite commits many callers'
//!   closures together (one fsync for a batch), PostgreSQL one by one;
//! - `reader()`: the pool for reads;
//! - `lock_outbox(tx)`: makes delivery cursors become visible in cursor order;
//! - `lock_folder_sync_impl()`: the cross-process knowledge-sync lock.

/// Expands `impl Store for $store` over the database `$db` and its row type `$row`.
macro_rules! sql_store {
    ($store:ty, $db:ty, $row:ty) => {
        use $crate::model::{
            Article, AuditEvent, CustomerMessage, Delivery, Draft, DraftState, Level, Millis,
            Transcript,
        };
        use $crate::storage::{
            ArticleWrite, CreatedDraft, DeliveryLease, DraftChange, DraftFacts, Error, Gauges,
            NewDraft, PendingFilter, RecordKind, RequestKey, Result, Store, StoreEvent, StoreLock,
            StoredRecord,
        };
        use sqlx::Row;
        type Conn = <$db as sqlx::Database>::Connection;

        /// The columns of a delivery with its draft's caller, as a literal for `concat!`.
        macro_rules! delivery_select {
            () => {
                "SELECT dl.*, d.caller AS caller FROM deliveries dl JOIN drafts d ON d.id = dl.draft_id "
            };
        }

        /// The columns of a draft with its customer message, as a literal for `concat!`.
        macro_rules! draft_select {
            () => {
                "SELECT d.*, m.text AS customer_message FROM drafts d JOIN messages m ON m.id = d.message_id "
            };
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

        fn draft_from_row(row: &$row) -> Result<Draft> {
            Ok(Draft {
                id: row.try_get("id")?,
                conversation_id: row.try_get("conversation_id")?,
                message_id: row.try_get("message_id")?,
                request_id: row.try_get("request_id")?,
                caller: row.try_get("caller")?,
                channel: row.try_get("channel")?,
                locale: row.try_get("locale")?,
                body: row.try_get("body")?,
                disclosure: row.try_get("disclosure")?,
                ai_generated: row.try_get("ai_generated")?,
                human_reviewed: row.try_get("human_reviewed")?,
                generator: row.try_get("generator")?,
                confidence: $crate::model::Confidence {
                    score: row.try_get("confidence_score")?,
                    level: parse_level(row.try_get("confidence_level")?)?,
                    reasons: parse_json("reasons", row.try_get("reasons")?)?,
                },
                citations: parse_json("citations", row.try_get("citations")?)?,
                state: parse_state(row.try_get("state")?)?,
                needs_person: row.try_get("needs_person")?,
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

        fn delivery_from_row(row: &$row) -> Result<Delivery> {
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
                caller: row.try_get("caller")?,
            })
        }

        fn article_from_row(row: &$row) -> Result<Article> {
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

        fn event_from_row(row: &$row) -> Result<AuditEvent> {
            Ok(AuditEvent {
                seq: row.try_get::<i64, _>("seq")? as u64,
                at: row.try_get("at")?,
                kind: row.try_get("kind")?,
                actor: row.try_get("actor")?,
                conversation_id: row.try_get("conversation_id")?,
                draft_id: row.try_get("draft_id")?,
                detail: parse_json("detail", row.try_get("detail")?)?,
                chain: $crate::model::ChainLink {
                    position: row.try_get::<i64, _>("chain_pos")? as u64,
                    prev_hash: row.try_get("prev_hash")?,
                    hash: row.try_get("hash")?,
                },
            })
        }

        fn stored_event_from_row(row: &$row) -> Result<$crate::audit::StoredEvent> {
            Ok($crate::audit::StoredEvent {
                position: row.try_get::<i64, _>("chain_pos")? as u64,
                seq: row.try_get::<i64, _>("seq")? as u64,
                at: row.try_get("at")?,
                kind: row.try_get("kind")?,
                actor: row.try_get("actor")?,
                conversation_id: row.try_get("conversation_id")?,
                draft_id: row.try_get("draft_id")?,
                detail: row.try_get("detail")?,
                prev_hash: row.try_get("prev_hash")?,
                hash: row.try_get("hash")?,
            })
        }

        /// A record as audit verification reads it: id, conversation, digest of its content.
        fn stored_record_from_row(kind: RecordKind, row: &$row) -> Result<StoredRecord> {
            use $crate::audit::{delivery_digest, draft_digest, message_digest};
            let text = |column: &str| -> Result<String> { Ok(row.try_get(column)?) };
            Ok(match kind {
                RecordKind::Message => StoredRecord {
                    id: text("id")?,
                    conversation_id: text("conversation_id")?,
                    sha256: message_digest(&text("text")?, &text("context")?),
                },
                RecordKind::Draft => StoredRecord {
                    id: text("id")?,
                    conversation_id: text("conversation_id")?,
                    sha256: draft_digest(
                        &text("body")?,
                        &text("final_body")?,
                        &text("disclosure")?,
                        &text("reject_reason")?,
                        &text("citations")?,
                    ),
                },
                RecordKind::Delivery => StoredRecord {
                    id: row.try_get::<i64, _>("cursor")?.to_string(),
                    conversation_id: text("conversation_id")?,
                    sha256: delivery_digest(
                        &text("body")?,
                        &text("disclosure")?,
                        &text("text")?,
                        &text("author")?,
                    ),
                },
                RecordKind::Article => {
                    let tags: Vec<String> = parse_json("tags", row.try_get("tags")?)?;
                    StoredRecord {
                        id: text("id")?,
                        conversation_id: String::new(),
                        sha256: $crate::model::article_content_hash(
                            &text("locale")?,
                            &text("title")?,
                            &text("body")?,
                            &tags,
                            &text("url")?,
                        ),
                    }
                }
            })
        }

        fn message_from_row(row: &$row) -> Result<CustomerMessage> {
            Ok(CustomerMessage {
                id: row.try_get("id")?,
                conversation_id: row.try_get("conversation_id")?,
                text: row.try_get("text")?,
                locale: row.try_get("locale")?,
                channel: row.try_get("channel")?,
                context: parse_json("context", row.try_get("context")?)?,
                received_at: row.try_get("received_at")?,
            })
        }

        /// Appends the events to the audit chain, in order. Call it last in a
        /// transaction: locking the chain's head row makes concurrent writers
        /// (other connections, other replicas) take turns until they commit.
        async fn append_audit(tx: &mut Conn, events: &[AuditEvent]) -> Result<()> {
            if events.is_empty() {
                return Ok(());
            }
            let (mut pos, mut hash): (i64, String) =
                sqlx::query_as("UPDATE audit_head SET pos = pos WHERE id = 1 RETURNING pos, hash")
                    .fetch_one(&mut *tx)
                    .await?;
            // One statement for up to 500 of them (well under both backends'
            // limits on bound values).
            for chunk in events.chunks(500) {
                let mut rows = Vec::with_capacity(chunk.len());
                for e in chunk {
                    pos += 1;
                    let detail = json(&e.detail);
                    let next = $crate::audit::link_hash(
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
                let mut insert = sqlx::QueryBuilder::<$db>::new(
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
            sqlx::query("UPDATE audit_head SET pos = $1, hash = $2 WHERE id = 1")
                .bind(pos)
                .bind(&hash)
                .execute(&mut *tx)
                .await?;
            Ok(())
        }

        /// Writes the delivery; returns its cursor and the audit event to append.
        async fn insert_delivery(
            tx: &mut Conn,
            d: &Delivery,
            draft: &Draft,
        ) -> Result<(u64, AuditEvent)> {
            <$store>::lock_outbox(tx).await?;
            let cursor: i64 = sqlx::query_scalar(
                "INSERT INTO deliveries (draft_id, conversation_id, channel, locale, body, disclosure, text,
                    ai_generated, human_reviewed, author, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING cursor",
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

        async fn fetch_draft(tx: &mut Conn, id: &str) -> Result<Option<Draft>> {
            let row = sqlx::query(concat!(draft_select!(), "WHERE d.id = $1"))
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
            row.as_ref().map(draft_from_row).transpose()
        }

        async fn draft_by_request(
            executor: impl sqlx::Executor<'_, Database = $db>,
            key: &RequestKey,
        ) -> Result<Option<Draft>> {
            let row = sqlx::query(concat!(
                draft_select!(),
                "WHERE d.caller = $1 AND d.conversation_id = $2 AND d.request_id = $3"
            ))
            .bind(&key.caller)
            .bind(&key.conversation_id)
            .bind(&key.request_id)
            .fetch_optional(executor)
            .await?;
            row.as_ref().map(draft_from_row).transpose()
        }

        /// The draft's idempotency key, when it has a request id.
        fn request_key(d: &Draft) -> Option<RequestKey> {
            d.request_id.as_ref().map(|request_id| RequestKey {
                caller: d.caller.clone(),
                conversation_id: d.conversation_id.clone(),
                request_id: request_id.clone(),
            })
        }

        impl $store {
            async fn insert_new_draft(&self, new: NewDraft) -> Result<CreatedDraft> {
                self.write(move |tx| Box::pin(async move {
                if let Some(key) = request_key(&new.draft)
                    && let Some(draft) = draft_by_request(&mut *tx, &key).await?
                {
                    return Ok((CreatedDraft { draft, superseded: vec![], created: false }, vec![]));
                }
                let m = &new.message;
                // The upsert also locks the conversation's row until commit, so
                // two messages of one conversation are written one after the other.
                let platform: String = sqlx::query_scalar(
                    "INSERT INTO conversations (id, channel, platform, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $4)
                     ON CONFLICT (id) DO UPDATE SET updated_at = excluded.updated_at
                     RETURNING platform",
                )
                .bind(&m.conversation_id)
                .bind(&m.channel)
                .bind(&new.draft.caller)
                .bind(m.received_at)
                .fetch_one(&mut *tx)
                .await?;
                // Without a token (empty caller) nobody is told apart.
                if !platform.is_empty() && !new.draft.caller.is_empty() && platform != new.draft.caller {
                    return Err(Error::OtherPlatform(m.conversation_id.clone()));
                }
                sqlx::query(
                    "INSERT INTO messages (id, conversation_id, text, locale, channel, context, received_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
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

                // A newer message makes the conversation's undecided drafts
                // obsolete, but those a policy sent to a person: they stay in
                // the queue until an agent decides them.
                let superseded: Vec<(String,)> = sqlx::query_as(
                    "UPDATE drafts SET state = 'SUPERSEDED', claimed_by = '', claim_expires_at = NULL,
                         updated_at = $1, revision = revision + 1
                     WHERE conversation_id = $2 AND state IN ('PENDING_REVIEW', 'CLAIMED')
                       AND NOT needs_person
                     RETURNING id",
                )
                .bind(m.received_at)
                .bind(&m.conversation_id)
                .fetch_all(&mut *tx)
                .await?;
                let superseded: Vec<String> = superseded.into_iter().map(|(id,)| id).collect();
                let mut events = Vec::new();
                for id in &superseded {
                    events.push(AuditEvent {
                        seq: 0,
                        at: m.received_at,
                        kind: "draft_superseded".into(),
                        actor: "system".into(),
                        conversation_id: m.conversation_id.clone(),
                        draft_id: id.clone(),
                        detail: serde_json::json!({ "by_message": m.id, "by_draft": new.draft.id }),
                        chain: Default::default(),
                    });
                }

                // While an earlier draft waits for a person, nothing else in
                // the conversation goes out on its own.
                let waiting: Option<String> = sqlx::query_scalar(
                    "SELECT id FROM drafts WHERE conversation_id = $1 AND needs_person
                       AND state IN ('PENDING_REVIEW', 'CLAIMED') LIMIT 1",
                )
                .bind(&m.conversation_id)
                .fetch_optional(&mut *tx)
                .await?;
                let NewDraft { message: _, draft, events: new_events, delivery, if_held } = &new;
                let (d, new_events, delivery) = match (waiting, if_held) {
                    (Some(_), Some(held)) => (&held.draft, &held.events, &None),
                    _ => (draft, new_events, delivery),
                };
                sqlx::query(
                    "INSERT INTO drafts (id, conversation_id, message_id, request_id, caller, channel, locale,
                        body, disclosure, ai_generated, human_reviewed, generator, confidence_score,
                        confidence_level, reasons, citations, state, needs_person, final_body, reviewed_by,
                        claimed_by, claim_expires_at, reject_reason, created_at, updated_at, revision)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,
                        $19, $20, $21, $22, $23, $24, $25, $26)",
                )
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
                    .map(|id| StoreEvent::QueueChanged { draft_id: id.clone() })
                    .collect();
                announced.push(StoreEvent::QueueChanged { draft_id: d.id.clone() });
                let mut delivered = None;
                if let Some(delivery) = delivery {
                    let (cursor, event) = insert_delivery(&mut *tx, delivery, d).await?;
                    events.push(event);
                    announced.push(StoreEvent::DeliveryCreated { cursor });
                    delivered = Some((cursor, delivery));
                }
                // What was inserted, as a read would return it.
                let draft = Draft { customer_message: m.text.clone(), ..d.clone() };
                $crate::audit::seal(&mut events, d, Some(m), delivered);
                append_audit(&mut *tx, &events).await?;
                Ok((CreatedDraft { draft, superseded, created: true }, announced))
                })).await
            }
        }

        #[async_trait::async_trait]
        impl Store for $store {
            async fn create_draft(&self, new: NewDraft) -> Result<CreatedDraft> {
                let key = request_key(&new.draft);
                match self.insert_new_draft(new).await {
                    // Another process wrote the same request key between our check and our insert.
                    Err(Error::Duplicate(_)) if key.is_some() => {
                        let key = key.expect("checked above");
                        let draft = draft_by_request(self.reader(), &key)
                            .await?
                            .ok_or_else(|| Error::Internal("duplicate request id vanished".into()))?;
                        Ok(CreatedDraft { draft, superseded: vec![], created: false })
                    }
                    other => other,
                }
            }

            async fn get_draft(&self, id: &str) -> Result<Option<Draft>> {
                let row = sqlx::query(concat!(draft_select!(), "WHERE d.id = $1"))
                    .bind(id)
                    .fetch_optional(self.reader())
                    .await?;
                row.as_ref().map(draft_from_row).transpose()
            }

            async fn find_draft_by_request(&self, key: &RequestKey) -> Result<Option<Draft>> {
                draft_by_request(self.reader(), key).await
            }

            async fn apply_draft_change(&self, change: DraftChange) -> Result<Draft> {
                self.write(move |tx| Box::pin(async move {
                let d = &change.draft;
                // Compare-and-swap on the revision: of two agents (or replicas)
                // acting on one draft, the database lets exactly one through.
                let updated = sqlx::query(
                    "UPDATE drafts SET state = $1, final_body = $2, disclosure = $3, ai_generated = $4,
                        human_reviewed = $5, reviewed_by = $6, claimed_by = $7, claim_expires_at = $8,
                        reject_reason = $9, updated_at = $10, revision = revision + 1
                     WHERE id = $11 AND revision = $12",
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
                let mut events = change.events.clone();
                let mut announced = vec![StoreEvent::QueueChanged { draft_id: d.id.clone() }];
                let mut delivered = None;
                if let Some(delivery) = &change.delivery {
                    let (cursor, event) = insert_delivery(&mut *tx, delivery, d).await?;
                    events.push(event);
                    announced.push(StoreEvent::DeliveryCreated { cursor });
                    delivered = Some((cursor, delivery));
                }
                let draft = fetch_draft(&mut *tx, &d.id)
                    .await?
                    .ok_or_else(|| Error::NotFound(format!("draft {}", d.id)))?;
                // Sealed with the texts as stored (the update does not write
                // the body or the citations: the read draft's are kept).
                $crate::audit::seal(&mut events, &draft, None, delivered);
                append_audit(&mut *tx, &events).await?;
                Ok((draft, announced))
                })).await
            }

            async fn list_open_drafts(&self, filter: &PendingFilter, now: Millis) -> Result<Vec<Draft>> {
                let rows = sqlx::query(concat!(
                    draft_select!(),
                    "WHERE (d.state = 'PENDING_REVIEW' OR (d.state = 'CLAIMED' AND d.claim_expires_at <= $1))
                       AND ($2 IS NULL OR d.channel = $2) AND ($3 IS NULL OR d.locale = $3)
                     ORDER BY d.created_at, d.id LIMIT $4"
                ))
                .bind(now)
                .bind(&filter.channel)
                .bind(&filter.locale)
                .bind(filter.limit as i64)
                .fetch_all(self.reader())
                .await?;
                rows.iter().map(draft_from_row).collect()
            }

            async fn gauges(&self, now: Millis) -> Result<Gauges> {
                let (count, oldest, articles): (i64, Option<i64>, i64) = sqlx::query_as(
                    "SELECT COUNT(*), MIN(created_at), (SELECT COUNT(*) FROM articles WHERE NOT deleted)
                     FROM drafts WHERE state = 'PENDING_REVIEW' OR (state = 'CLAIMED' AND claim_expires_at <= $1)",
                )
                .bind(now)
                .fetch_one(self.reader())
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
                let rows = sqlx::query(
                    "SELECT d.conversation_id, d.state, d.confidence_level, d.created_at, d.reviewed_by,
                            d.ai_generated, d.human_reviewed, d.final_body <> d.body AS edited,
                            (SELECT MIN(e.at) FROM audit_events e WHERE e.draft_id = d.id
                                AND e.kind IN ('draft_approved', 'draft_rejected')) AS decided_at,
                            EXISTS (SELECT 1 FROM audit_events e
                                    WHERE e.draft_id = d.id AND e.kind = 'draft_rejected') AS rejected
                     FROM drafts d
                     WHERE d.created_at >= $1 AND d.created_at < $2 AND ($3 IS NULL OR d.channel = $3)",
                )
                .bind(from)
                .bind(to)
                .bind(channel)
                .fetch_all(self.reader())
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
                        })
                    })
                    .collect()
            }

            async fn list_expired_claims(&self, now: Millis, limit: u32) -> Result<Vec<Draft>> {
                let rows = sqlx::query(concat!(
                    draft_select!(),
                    "WHERE d.state = 'CLAIMED' AND d.claim_expires_at <= $1 ORDER BY d.created_at LIMIT $2"
                ))
                .bind(now)
                .bind(limit as i64)
                .fetch_all(self.reader())
                .await?;
                rows.iter().map(draft_from_row).collect()
            }

            async fn transcript(&self, conversation_id: &str) -> Result<Option<Transcript>> {
                // One read transaction, so the parts agree with each other.
                let mut tx = self.reader().begin().await?;
                <$store>::snapshot_reads(&mut tx).await?;
                let platform: Option<String> =
                    sqlx::query_scalar("SELECT platform FROM conversations WHERE id = $1")
                        .bind(conversation_id)
                        .fetch_optional(&mut *tx)
                        .await?;
                let Some(platform) = platform else {
                    return Ok(None);
                };
                let messages = sqlx::query(
                    "SELECT * FROM messages WHERE conversation_id = $1 ORDER BY received_at, id",
                )
                .bind(conversation_id)
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(message_from_row)
                .collect::<Result<Vec<_>>>()?;
                let drafts = sqlx::query(concat!(
                    draft_select!(),
                    "WHERE d.conversation_id = $1 ORDER BY d.created_at, d.id"
                ))
                .bind(conversation_id)
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(draft_from_row)
                .collect::<Result<Vec<_>>>()?;
                let events =
                    sqlx::query("SELECT * FROM audit_events WHERE conversation_id = $1 ORDER BY seq")
                        .bind(conversation_id)
                        .fetch_all(&mut *tx)
                        .await?
                        .iter()
                        .map(event_from_row)
                        .collect::<Result<Vec<_>>>()?;
                let deliveries =
                    sqlx::query(concat!(delivery_select!(), "WHERE dl.conversation_id = $1 ORDER BY dl.cursor"))
                        .bind(conversation_id)
                        .fetch_all(&mut *tx)
                        .await?
                        .iter()
                        .map(delivery_from_row)
                        .collect::<Result<Vec<_>>>()?;
                tx.commit().await?;
                Ok(Some(Transcript {
                    conversation_id: conversation_id.to_string(),
                    platform,
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
                let rows = sqlx::query(concat!(
                    delivery_select!(),
                    "WHERE dl.cursor > $1 AND dl.acked_at IS NULL AND ($2 IS NULL OR dl.channel = $2)
                     ORDER BY dl.cursor LIMIT $3"
                ))
                .bind(after_cursor as i64)
                .bind(channel)
                .bind(limit as i64)
                .fetch_all(self.reader())
                .await?;
                rows.iter().map(delivery_from_row).collect()
            }

            async fn get_delivery(&self, cursor: u64) -> Result<Option<Delivery>> {
                let row = sqlx::query(concat!(delivery_select!(), "WHERE dl.cursor = $1"))
                    .bind(cursor as i64)
                    .fetch_optional(self.reader())
                    .await?;
                row.as_ref().map(delivery_from_row).transpose()
            }

            async fn ack_delivery(&self, cursor: u64, event: AuditEvent, now: Millis) -> Result<bool> {
                self.write(move |tx| Box::pin(async move {
                let acked = sqlx::query(
                    "UPDATE deliveries SET acked_at = $1 WHERE cursor = $2 AND acked_at IS NULL",
                )
                .bind(now)
                .bind(cursor as i64)
                .execute(&mut *tx)
                .await?;
                if acked.rows_affected() == 0 {
                    return Ok((false, vec![]));
                }
                sqlx::query("DELETE FROM delivery_leases WHERE cursor = $1")
                    .bind(cursor as i64)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "UPDATE drafts SET state = 'DELIVERED', updated_at = $1, revision = revision + 1
                     WHERE id = (SELECT draft_id FROM deliveries WHERE cursor = $2)",
                )
                .bind(now)
                .bind(cursor as i64)
                .execute(&mut *tx)
                .await?;
                append_audit(&mut *tx, std::slice::from_ref(&event)).await?;
                Ok((true, vec![StoreEvent::DeliveryAcked { cursor }]))
                })).await
            }

            async fn lease_deliveries(&self, lease: &DeliveryLease) -> Result<Vec<Delivery>> {
                let lease = lease.clone();
                self.write(move |tx| Box::pin(async move {
                let held: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM delivery_leases l JOIN deliveries dl ON dl.cursor = l.cursor
                     WHERE l.consumer_group = $1 AND l.holder = $2 AND l.expires_at > $3
                       AND dl.acked_at IS NULL",
                )
                .bind(&lease.group)
                .bind(&lease.holder)
                .bind(lease.now)
                .fetch_one(&mut *tx)
                .await?;
                let room = i64::from(lease.max_in_flight) - held;
                if room <= 0 {
                    return Ok((vec![], vec![]));
                }
                let rows = sqlx::query(concat!(
                    delivery_select!(),
                    "WHERE dl.cursor > $1 AND dl.acked_at IS NULL AND ($2 IS NULL OR dl.channel = $2)
                       AND ($3 IS NULL OR d.caller = $3 OR d.caller = '')
                       AND NOT EXISTS (SELECT 1 FROM delivery_leases l
                           WHERE l.consumer_group = $4 AND l.cursor = dl.cursor AND l.expires_at > $5)
                       AND NOT EXISTS (SELECT 1 FROM deliveries e
                           JOIN delivery_leases l ON l.cursor = e.cursor AND l.consumer_group = $4
                           WHERE e.conversation_id = dl.conversation_id AND e.cursor < dl.cursor
                             AND e.acked_at IS NULL AND l.holder <> $6 AND l.expires_at > $5)
                     ORDER BY dl.cursor LIMIT $7"
                ))
                .bind(lease.after_cursor as i64)
                .bind(&lease.channel)
                .bind(&lease.platform)
                .bind(&lease.group)
                .bind(lease.now)
                .bind(&lease.holder)
                .bind(room)
                .fetch_all(&mut *tx)
                .await?;
                let deliveries = rows.iter().map(delivery_from_row).collect::<Result<Vec<_>>>()?;
                for d in &deliveries {
                    sqlx::query(
                        "INSERT INTO delivery_leases (consumer_group, cursor, holder, expires_at)
                         VALUES ($1, $2, $3, $4)
                         ON CONFLICT (consumer_group, cursor)
                         DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at",
                    )
                    .bind(&lease.group)
                    .bind(d.cursor as i64)
                    .bind(&lease.holder)
                    .bind(lease.until)
                    .execute(&mut *tx)
                    .await?;
                }
                Ok((deliveries, vec![]))
                })).await
            }

            async fn put_article(&self, mut article: Article, actor: &str) -> Result<ArticleWrite> {
                let actor = actor.to_string();
                self.write(move |tx| Box::pin(async move {
                let was_live: Option<bool> =
                    sqlx::query_scalar("SELECT NOT deleted FROM articles WHERE id = $1")
                        .bind(&article.id)
                        .fetch_optional(&mut *tx)
                        .await?;
                // The version is computed by the statement itself, so two
                // replicas writing one article at once still get two versions.
                let version: Option<i64> = sqlx::query_scalar(
                    "INSERT INTO articles (id, locale, title, body, tags, url, version, content_hash, source,
                        deleted, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $8, FALSE, $9)
                     ON CONFLICT (id) DO UPDATE SET locale = excluded.locale, title = excluded.title,
                        body = excluded.body, tags = excluded.tags, url = excluded.url,
                        version = articles.version + 1, content_hash = excluded.content_hash,
                        source = excluded.source, deleted = FALSE, updated_at = excluded.updated_at
                     WHERE articles.deleted OR articles.content_hash <> excluded.content_hash
                     RETURNING version",
                )
                .bind(&article.id)
                .bind(&article.locale)
                .bind(&article.title)
                .bind(&article.body)
                .bind(json(&article.tags))
                .bind(&article.url)
                .bind(&article.content_hash)
                .bind(&article.source)
                .bind(article.updated_at)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(version) = version else {
                    // The live article already has this content.
                    let row = sqlx::query("SELECT * FROM articles WHERE id = $1")
                        .bind(&article.id)
                        .fetch_one(&mut *tx)
                        .await?;
                    return Ok((ArticleWrite::Unchanged(article_from_row(&row)?), vec![]));
                };
                article.version = version as u64;
                let kind = if was_live == Some(true) { "article_updated" } else { "article_created" };
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
                append_audit(&mut *tx, &[event]).await?;
                let announced = vec![StoreEvent::ArticleChanged { id: article.id.clone() }];
                let written = if was_live == Some(true) {
                    ArticleWrite::Updated(article)
                } else {
                    ArticleWrite::Created(article)
                };
                Ok((written, announced))
                })).await
            }

            async fn delete_article(&self, id: &str, now: Millis, actor: &str) -> Result<Option<u64>> {
                let (id, actor) = (id.to_string(), actor.to_string());
                self.write(move |tx| Box::pin(async move {
                let deleted: Option<i64> = sqlx::query_scalar(
                    "UPDATE articles SET deleted = TRUE, updated_at = $1 WHERE id = $2 AND NOT deleted
                     RETURNING version",
                )
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
                append_audit(&mut *tx, &[event]).await?;
                Ok((Some(version as u64), vec![StoreEvent::ArticleChanged { id }]))
                })).await
            }

            async fn get_article(&self, id: &str) -> Result<Option<Article>> {
                let row = sqlx::query("SELECT * FROM articles WHERE id = $1 AND NOT deleted")
                    .bind(id)
                    .fetch_optional(self.reader())
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
                    "SELECT * FROM articles WHERE NOT deleted AND id > $1 AND ($2 IS NULL OR locale = $2)
                     ORDER BY id LIMIT $3",
                )
                .bind(after_id)
                .bind(locale)
                .bind(limit as i64)
                .fetch_all(self.reader())
                .await?;
                rows.iter().map(article_from_row).collect()
            }

            async fn article_versions(&self) -> Result<Vec<(String, u64)>> {
                let rows: Vec<(String, i64)> =
                    sqlx::query_as("SELECT id, version FROM articles WHERE NOT deleted ORDER BY id")
                        .fetch_all(self.reader())
                        .await?;
                Ok(rows.into_iter().map(|(id, v)| (id, v as u64)).collect())
            }

            async fn audit_chain(
                &self,
                after_position: u64,
                limit: u32,
            ) -> Result<Vec<$crate::audit::StoredEvent>> {
                let rows = sqlx::query(
                    "SELECT * FROM audit_events WHERE chain_pos > $1 ORDER BY chain_pos LIMIT $2",
                )
                .bind(after_position as i64)
                .bind(limit as i64)
                .fetch_all(self.reader())
                .await?;
                rows.iter().map(stored_event_from_row).collect()
            }

            async fn audit_head(&self) -> Result<(u64, String)> {
                let (pos, hash): (i64, String) =
                    sqlx::query_as("SELECT pos, hash FROM audit_head WHERE id = 1")
                        .fetch_one(self.reader())
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
                    RecordKind::Message => {
                        "SELECT id, conversation_id, text, context FROM messages
                         WHERE id > $1 ORDER BY id LIMIT $2"
                    }
                    RecordKind::Draft => {
                        "SELECT id, conversation_id, body, final_body, disclosure, reject_reason, citations
                         FROM drafts WHERE id > $1 ORDER BY id LIMIT $2"
                    }
                    RecordKind::Delivery => {
                        "SELECT cursor, conversation_id, body, disclosure, text, author FROM deliveries
                         WHERE cursor > $1 ORDER BY cursor LIMIT $2"
                    }
                    RecordKind::Article => {
                        "SELECT id, locale, title, body, tags, url FROM articles
                         WHERE id > $1 ORDER BY id LIMIT $2"
                    }
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
                let rows = query.bind(limit as i64).fetch_all(self.reader()).await?;
                rows.iter().map(|row| stored_record_from_row(kind, row)).collect()
            }

            async fn lock_folder_sync(&self) -> Result<StoreLock> {
                self.lock_folder_sync_impl().await
            }

            fn subscribe(&self) -> tokio::sync::broadcast::Receiver<StoreEvent> {
                self.events.subscribe()
            }

            async fn ping(&self) -> Result<()> {
                sqlx::query("SELECT 1").execute(self.reader()).await?;
                Ok(())
            }
        }

        impl $store {
            /// Chains the events written before the chain existed (migration 2), in seq order.
            async fn chain_legacy_events(&self) -> Result<()> {
                let chained = self.write(move |tx| Box::pin(async move {
                let rows = sqlx::query("SELECT * FROM audit_events WHERE chain_pos = 0 ORDER BY seq")
                    .fetch_all(&mut *tx)
                    .await?;
                if rows.is_empty() {
                    return Ok((0, vec![]));
                }
                let (mut pos, mut hash): (i64, String) =
                    sqlx::query_as("UPDATE audit_head SET pos = pos WHERE id = 1 RETURNING pos, hash")
                        .fetch_one(&mut *tx)
                        .await?;
                for row in &rows {
                    let e = stored_event_from_row(row)?;
                    pos += 1;
                    let next = $crate::audit::link_hash(
                        &hash,
                        pos as u64,
                        e.at,
                        &e.kind,
                        &e.actor,
                        &e.conversation_id,
                        &e.draft_id,
                        &e.detail,
                    );
                    sqlx::query("UPDATE audit_events SET chain_pos = $1, prev_hash = $2, hash = $3 WHERE seq = $4")
                        .bind(pos)
                        .bind(&hash)
                        .bind(&next)
                        .bind(e.seq as i64)
                        .execute(&mut *tx)
                        .await?;
                    hash = next;
                }
                sqlx::query("UPDATE audit_head SET pos = $1, hash = $2 WHERE id = 1")
                    .bind(pos)
                    .bind(&hash)
                    .execute(&mut *tx)
                    .await?;
                Ok((rows.len(), vec![]))
                })).await?;
                if chained > 0 {
                    tracing::info!(events = chained, "chained audit events written before the chain existed");
                }
                Ok(())
            }

            /// Tells this process's subscribers, after the commit.
            fn announce(&self, events: impl IntoIterator<Item = StoreEvent>) {
                for event in events {
                    // No receiver is fine: nobody is streaming right now.
                    let _ = self.events.send(event);
                }
            }
        }
    };
}

pub(crate) use sql_store;
