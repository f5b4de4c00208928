//! Reading stored rows back into the model.

use super::{DbRow, SqlBackend, SqlStore, parse_json, parse_level, parse_state};
use crate::model::{Article, AuditEvent, CustomerMessage, Delivery, Draft, Provenance};
use crate::storage::{Error, RecordKind, Result, StoredRecord};
use sqlx::{Decode, Row, Type};

impl<B> SqlStore<B>
where
    B: SqlBackend,
    for<'r> String: Decode<'r, B::Db> + Type<B::Db>,
    for<'r> &'r str: Decode<'r, B::Db> + Type<B::Db>,
    for<'r> Option<String>: Decode<'r, B::Db> + Type<B::Db>,
    for<'r> i64: Decode<'r, B::Db> + Type<B::Db>,
    for<'r> Option<i64>: Decode<'r, B::Db> + Type<B::Db>,
    for<'r> f64: Decode<'r, B::Db> + Type<B::Db>,
    for<'r> bool: Decode<'r, B::Db> + Type<B::Db>,
    for<'r> &'r str: sqlx::ColumnIndex<DbRow<B>>,
{
    pub(super) fn draft_from_row(row: &DbRow<B>) -> Result<Draft> {
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
            confidence: crate::model::Confidence {
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
            curated_answer_id: row.try_get("curated_answer_id")?,
            respond_by: row.try_get("respond_by")?,
        })
    }

    pub(super) fn delivery_from_row(row: &DbRow<B>) -> Result<Delivery> {
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
            provenance: {
                let p: String = row.try_get("provenance")?;
                Provenance::parse(&p)
                    .ok_or_else(|| Error::Corrupt(format!("delivery provenance {p:?}")))?
            },
            edit_ratio: row.try_get("edit_ratio")?,
            template: {
                let name: String = row.try_get("template_name")?;
                let parameters: Vec<String> =
                    parse_json("template_parameters", row.try_get("template_parameters")?)?;
                (!name.is_empty()).then_some(crate::model::Template { name, parameters })
            },
        })
    }

    pub(super) fn article_from_row(row: &DbRow<B>) -> Result<Article> {
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
            applies_to: parse_json("applies_to", row.try_get("applies_to")?)?,
        })
    }

    pub(super) fn event_from_row(row: &DbRow<B>) -> Result<AuditEvent> {
        Ok(AuditEvent {
            seq: row.try_get::<i64, _>("seq")? as u64,
            at: row.try_get("at")?,
            kind: row.try_get("kind")?,
            actor: row.try_get("actor")?,
            conversation_id: row.try_get("conversation_id")?,
            draft_id: row.try_get("draft_id")?,
            detail: parse_json("detail", row.try_get("detail")?)?,
            chain: crate::model::ChainLink {
                position: row.try_get::<i64, _>("chain_pos")? as u64,
                prev_hash: row.try_get("prev_hash")?,
                hash: row.try_get("hash")?,
            },
        })
    }

    pub(super) fn stored_event_from_row(
        row: &DbRow<B>,
    ) -> Result<crate::storage::chain::StoredEvent> {
        Ok(crate::storage::chain::StoredEvent {
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
    pub(super) fn stored_record_from_row(kind: RecordKind, row: &DbRow<B>) -> Result<StoredRecord> {
        use crate::storage::chain::{delivery_digest, draft_digest, message_digest};
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
                    sha256: crate::model::article_content_hash(
                        &text("locale")?,
                        &text("title")?,
                        &text("body")?,
                        &tags,
                        &text("url")?,
                        &parse_json("applies_to", row.try_get("applies_to")?)?,
                    ),
                }
            }
        })
    }

    pub(super) fn message_from_row(row: &DbRow<B>) -> Result<CustomerMessage> {
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
}
