-- Help-center articles. Deleted articles stay (deleted = 1) so versions keep
-- increasing and old citations still resolve.
CREATE TABLE articles (
    id           TEXT PRIMARY KEY,
    locale       TEXT NOT NULL,
    title        TEXT NOT NULL,
    body         TEXT NOT NULL,
    tags         TEXT NOT NULL,            -- JSON array of strings
    url          TEXT NOT NULL,
    version      INTEGER NOT NULL,
    content_hash TEXT NOT NULL,
    source       TEXT NOT NULL,            -- 'folder' | 'api'
    deleted      INTEGER NOT NULL DEFAULT 0,
    updated_at   INTEGER NOT NULL          -- unix millis
);
CREATE INDEX articles_live ON articles (deleted, locale, id);

CREATE TABLE conversations (
    id         TEXT PRIMARY KEY,
    channel    TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

-- Customer messages as received.
CREATE TABLE messages (
    id              TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL REFERENCES conversations (id),
    text            TEXT NOT NULL,
    locale          TEXT NOT NULL,
    channel         TEXT NOT NULL,
    context         TEXT NOT NULL,         -- JSON object
    received_at     INTEGER NOT NULL
);
CREATE INDEX messages_by_conversation ON messages (conversation_id, received_at);

CREATE TABLE drafts (
    id               TEXT PRIMARY KEY,
    conversation_id  TEXT NOT NULL REFERENCES conversations (id),
    message_id       TEXT NOT NULL REFERENCES messages (id),
    request_id       TEXT UNIQUE,          -- NULL when the platform sent none
    channel          TEXT NOT NULL,
    locale           TEXT NOT NULL,
    body             TEXT NOT NULL,
    disclosure       TEXT NOT NULL,
    ai_generated     INTEGER NOT NULL,
    human_reviewed   INTEGER NOT NULL,
    generator        TEXT NOT NULL,
    confidence_score REAL NOT NULL,
    confidence_level TEXT NOT NULL,
    reasons          TEXT NOT NULL,        -- JSON array of {signal, value, detail}
    citations        TEXT NOT NULL,        -- JSON array
    state            TEXT NOT NULL,
    final_body       TEXT NOT NULL,
    reviewed_by      TEXT NOT NULL,
    claimed_by       TEXT NOT NULL,
    claim_expires_at INTEGER,
    reject_reason    TEXT NOT NULL,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    revision         INTEGER NOT NULL
);
CREATE INDEX drafts_by_state ON drafts (state, created_at);
CREATE INDEX drafts_by_conversation ON drafts (conversation_id, created_at);

-- The outbox: one row per reply ready to send, written in the same
-- transaction as the decision that causes it.
CREATE TABLE deliveries (
    cursor          INTEGER PRIMARY KEY AUTOINCREMENT,
    draft_id        TEXT NOT NULL UNIQUE REFERENCES drafts (id),
    conversation_id TEXT NOT NULL,
    channel         TEXT NOT NULL,
    locale          TEXT NOT NULL,
    body            TEXT NOT NULL,
    disclosure      TEXT NOT NULL,
    text            TEXT NOT NULL,
    ai_generated    INTEGER NOT NULL,
    human_reviewed  INTEGER NOT NULL,
    author          TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    acked_at        INTEGER
);
CREATE INDEX deliveries_unacked ON deliveries (acked_at, cursor);

CREATE TABLE audit_events (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    at              INTEGER NOT NULL,
    kind            TEXT NOT NULL,
    actor           TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    draft_id        TEXT NOT NULL,
    detail          TEXT NOT NULL          -- JSON
);
CREATE INDEX audit_by_conversation ON audit_events (conversation_id, seq);
