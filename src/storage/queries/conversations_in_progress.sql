-- Conversations a person is or should be on, and those the AI answered
-- since $1; the longest-running first.
SELECT id, channel, state, owner, created_at, state_since, updated_at FROM conversations
WHERE erased_at IS NULL AND (state IN ('ESCALATED', 'HUMAN_OWNED') OR (state = 'AI_ACTIVE' AND updated_at >= $1))
ORDER BY created_at LIMIT $2
