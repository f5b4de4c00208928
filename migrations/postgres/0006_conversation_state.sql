-- The same columns as migrations/sqlite/0006 (see there for what they mean).
ALTER TABLE conversations ADD COLUMN state TEXT NOT NULL DEFAULT 'AI_ACTIVE';
ALTER TABLE conversations ADD COLUMN owner TEXT NOT NULL DEFAULT '';
ALTER TABLE conversations ADD COLUMN state_since BIGINT NOT NULL DEFAULT 0;
ALTER TABLE conversations ADD COLUMN low_streak BIGINT NOT NULL DEFAULT 0;
CREATE INDEX conversations_by_state ON conversations (state, state_since);
