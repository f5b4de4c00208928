-- A conversation's customer id is kept once given (a later message without one keeps it).
INSERT INTO conversations (id, channel, platform, created_at, updated_at, state_since, customer_id)
    VALUES ($1, $2, $3, $4, $4, $4, $5)
    ON CONFLICT (id) DO UPDATE SET updated_at = excluded.updated_at,
        customer_id = CASE WHEN excluded.customer_id = '' THEN conversations.customer_id
                           ELSE excluded.customer_id END
    RETURNING platform, state, owner, state_since, low_streak
