-- The same tables as migrations/sqlite/0005 (see there for why).
CREATE TABLE curated_answers (
    id              TEXT PRIMARY KEY,
    locale          TEXT NOT NULL,
    reply           TEXT NOT NULL,
    reply_sha256    TEXT NOT NULL,
    sources         TEXT NOT NULL,            -- JSON [{"article_id", "version"}]
    approved_by     TEXT NOT NULL,            -- JSON [agent], distinct, in order
    rejections      BIGINT NOT NULL DEFAULT 0,
    state           TEXT NOT NULL,
    created_by      TEXT NOT NULL,
    origin_draft_id TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    revision        BIGINT NOT NULL DEFAULT 1
);
CREATE INDEX curated_answers_by_reply ON curated_answers (locale, reply_sha256, state);

CREATE TABLE curated_questions (
    answer_id   TEXT NOT NULL REFERENCES curated_answers (id) ON DELETE CASCADE,
    position    BIGINT NOT NULL,
    question    TEXT NOT NULL,                -- masked
    draft_id    TEXT NOT NULL,
    agent       TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (answer_id, position)
);

-- The curated answer a draft was made from ('' for other drafts).
ALTER TABLE drafts ADD COLUMN curated_answer_id TEXT NOT NULL DEFAULT '';
