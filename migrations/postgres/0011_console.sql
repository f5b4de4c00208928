-- Issue "the agents' console": keys the console signs with (its session
-- cookies, the customers' transcript links), made once and shared by every
-- replica through the database; and the transcript links handed out, so
-- one can be revoked before it expires.
CREATE TABLE signing_keys (
    name       TEXT PRIMARY KEY,
    key        BYTEA NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE transcript_links (
    id              TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL,
    created_by      TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL,
    revoked_at      BIGINT
);
CREATE INDEX transcript_links_by_conversation ON transcript_links (conversation_id);
