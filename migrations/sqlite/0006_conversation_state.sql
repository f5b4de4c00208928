-- Issue "conversations have an owner": who answers a conversation
-- (src/conversation.rs). state is AI_ACTIVE, ESCALATED, HUMAN_OWNED or
-- RESOLVED; owner is the agent exactly when HUMAN_OWNED; state_since when it
-- entered that state; low_streak the LOW drafts in a row while the AI
-- answers. Existing conversations start with the AI.
ALTER TABLE conversations ADD COLUMN state TEXT NOT NULL DEFAULT 'AI_ACTIVE';
ALTER TABLE conversations ADD COLUMN owner TEXT NOT NULL DEFAULT '';
ALTER TABLE conversations ADD COLUMN state_since INTEGER NOT NULL DEFAULT 0;
ALTER TABLE conversations ADD COLUMN low_streak INTEGER NOT NULL DEFAULT 0;
CREATE INDEX conversations_by_state ON conversations (state, state_since);
