-- Reads a conversation's state and locks its row until commit (an update
-- that changes nothing), so that its writers take turns.
UPDATE conversations SET state = state WHERE id = $1
    RETURNING platform, state, owner, state_since, low_streak
