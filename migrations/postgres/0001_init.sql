-- The PostgreSQL schema: the same tables and columns as migrations/sqlite,
-- with PostgreSQL's types. Times are unix millis (BIGINT); JSON is kept as
-- TEXT so both stores read and write it the same way.

CREATE TABLE articles (
    id           TEXT PRIMARY KEY,
    locale       TEXT NOT NULL,
    title        TEXT NOT NULL,
    body         TEXT NOT NULL,
    tags         TEXT NOT NULL,
    url          TEXT NOT NULL,
    version      BIGINT NOT NULL,
    content_hash TEXT NOT NULL,
    source       TEXT NOT NULL,
    deleted      BOOLEAN NOT NULL DEFAULT FALSE,
    updated_at   BIGINT NOT NULL
);
CREATE INDEX articles_live ON articles (deleted, locale, id);

CREATE TABLE conversations (
    id         TEXT PRIMARY KEY,
    channel    TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE messages (
    id              TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL REFERENCES conversations (id),
    text            TEXT NOT NULL,
    locale          TEXT NOT NULL,
    channel         TEXT NOT NULL,
    context         TEXT NOT NULL,
    received_at     BIGINT NOT NULL
);
CREATE INDEX messages_by_conversation ON messages (conversation_id, received_at);

CREATE TABLE drafts (
    id               TEXT PRIMARY KEY,
    conversation_id  TEXT NOT NULL REFERENCES conversations (id),
    message_id       TEXT NOT NULL REFERENCES messages (id),
    request_id       TEXT UNIQUE,
    channel          TEXT NOT NULL,
    locale           TEXT NOT NULL,
    body             TEXT NOT NULL,
    disclosure       TEXT NOT NULL,
    ai_generated     BOOLEAN NOT NULL,
    human_reviewed   BOOLEAN NOT NULL,
    generator        TEXT NOT NULL,
    confidence_score DOUBLE PRECISION NOT NULL,
    confidence_level TEXT NOT NULL,
    reasons          TEXT NOT NULL,
    citations        TEXT NOT NULL,
    state            TEXT NOT NULL,
    final_body       TEXT NOT NULL,
    reviewed_by      TEXT NOT NULL,
    claimed_by       TEXT NOT NULL,
    claim_expires_at BIGINT,
    reject_reason    TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    revision         BIGINT NOT NULL
);
CREATE INDEX drafts_by_state ON drafts (state, created_at);
CREATE INDEX drafts_by_conversation ON drafts (conversation_id, created_at);

-- The outbox. Cursors are handed out under a transaction-scoped advisory
-- lock, so they become visible in cursor order (see storage/postgres.rs).
CREATE TABLE deliveries (
    cursor          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    draft_id        TEXT NOT NULL UNIQUE REFERENCES drafts (id),
    conversation_id TEXT NOT NULL,
    channel         TEXT NOT NULL,
    locale          TEXT NOT NULL,
    body            TEXT NOT NULL,
    disclosure      TEXT NOT NULL,
    text            TEXT NOT NULL,
    ai_generated    BOOLEAN NOT NULL,
    human_reviewed  BOOLEAN NOT NULL,
    author          TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    acked_at        BIGINT
);
CREATE INDEX deliveries_unacked ON deliveries (acked_at, cursor);

CREATE TABLE audit_events (
    seq             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at              BIGINT NOT NULL,
    kind            TEXT NOT NULL,
    actor           TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    draft_id        TEXT NOT NULL,
    detail          TEXT NOT NULL
);
CREATE INDEX audit_by_conversation ON audit_events (conversation_id, seq);
