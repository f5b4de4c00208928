-- Issue "close the safety and privacy holes":
-- 1. A request id is an idempotency key within one conversation of one
--    calling platform, not across the database: the UNIQUE on request_id
--    goes (SQLite cannot drop it, so the table is rebuilt; migrate.rs runs
--    this with foreign keys off and checks them before committing) and
--    (caller, conversation_id, request_id) becomes the key.
-- 2. needs_person: a policy sent this draft to a person. It is never
--    superseded, and while it waits nothing else in its conversation is
--    sent automatically.
-- 3. Conversations remember the platform that opened them.
-- 4. Delivery leases for consumer groups.
CREATE TABLE drafts_v3 (
    id               TEXT PRIMARY KEY,
    conversation_id  TEXT NOT NULL REFERENCES conversations (id),
    message_id       TEXT NOT NULL REFERENCES messages (id),
    request_id       TEXT,                 -- NULL when the platform sent none
    caller           TEXT NOT NULL DEFAULT '', -- the calling platform's subject ('' without tokens)
    channel          TEXT NOT NULL,
    locale           TEXT NOT NULL,
    body             TEXT NOT NULL,
    disclosure       TEXT NOT NULL,
    ai_generated     INTEGER NOT NULL,
    human_reviewed   INTEGER NOT NULL,
    generator        TEXT NOT NULL,
    confidence_score REAL NOT NULL,
    confidence_level TEXT NOT NULL,
    reasons          TEXT NOT NULL,
    citations        TEXT NOT NULL,
    state            TEXT NOT NULL,
    needs_person     INTEGER NOT NULL DEFAULT 0,
    final_body       TEXT NOT NULL,
    reviewed_by      TEXT NOT NULL,
    claimed_by       TEXT NOT NULL,
    claim_expires_at INTEGER,
    reject_reason    TEXT NOT NULL,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    revision         INTEGER NOT NULL
);
INSERT INTO drafts_v3 (id, conversation_id, message_id, request_id, channel, locale, body, disclosure,
    ai_generated, human_reviewed, generator, confidence_score, confidence_level, reasons, citations, state,
    final_body, reviewed_by, claimed_by, claim_expires_at, reject_reason, created_at, updated_at, revision)
SELECT id, conversation_id, message_id, request_id, channel, locale, body, disclosure,
    ai_generated, human_reviewed, generator, confidence_score, confidence_level, reasons, citations, state,
    final_body, reviewed_by, claimed_by, claim_expires_at, reject_reason, created_at, updated_at, revision
FROM drafts;
DROP TABLE drafts;
ALTER TABLE drafts_v3 RENAME TO drafts;
CREATE INDEX drafts_by_state ON drafts (state, created_at);
CREATE INDEX drafts_by_conversation ON drafts (conversation_id, created_at);
CREATE UNIQUE INDEX drafts_by_request ON drafts (caller, conversation_id, request_id)
    WHERE request_id IS NOT NULL;

ALTER TABLE conversations ADD COLUMN platform TEXT NOT NULL DEFAULT '';

-- Which stream of a consumer group holds a delivery, until when. Acked
-- deliveries lose their leases.
CREATE TABLE delivery_leases (
    consumer_group TEXT NOT NULL,
    cursor         INTEGER NOT NULL REFERENCES deliveries (cursor),
    holder         TEXT NOT NULL,
    expires_at     INTEGER NOT NULL,
    PRIMARY KEY (consumer_group, cursor)
);
