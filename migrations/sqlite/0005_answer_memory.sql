-- Issue "understand what the customer means": the answer memory. Every
-- agent decision that leaves a reply (approve, approve with an edit, reject
-- with a replacement) files the reply as a curated answer, with the
-- customer's question (personal data masked) and the article versions the
-- reply rests on. One answer collects every question it was approved for
-- and every agent who approved it.
--
-- state: ACTIVE (used for drafting while its articles are unchanged),
-- DISABLED (by an editor), REJECTED (an agent rejected a draft made from
-- it), SUPERSEDED (an agent's edit of a draft made from it replaced it).
CREATE TABLE curated_answers (
    id              TEXT PRIMARY KEY,
    locale          TEXT NOT NULL,
    reply           TEXT NOT NULL,
    reply_sha256    TEXT NOT NULL,
    sources         TEXT NOT NULL,            -- JSON [{"article_id", "version"}]
    approved_by     TEXT NOT NULL,            -- JSON [agent], distinct, in order
    rejections      INTEGER NOT NULL DEFAULT 0,
    state           TEXT NOT NULL,
    created_by      TEXT NOT NULL,
    origin_draft_id TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    revision        INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX curated_answers_by_reply ON curated_answers (locale, reply_sha256, state);

CREATE TABLE curated_questions (
    answer_id   TEXT NOT NULL REFERENCES curated_answers (id) ON DELETE CASCADE,
    position    INTEGER NOT NULL,
    question    TEXT NOT NULL,                -- masked
    draft_id    TEXT NOT NULL,
    agent       TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (answer_id, position)
);

-- The curated answer a draft was made from ('' for other drafts).
ALTER TABLE drafts ADD COLUMN curated_answer_id TEXT NOT NULL DEFAULT '';
