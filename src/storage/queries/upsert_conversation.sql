INSERT INTO conversations (id, channel, platform, created_at, updated_at, state_since)
    VALUES ($1, $2, $3, $4, $4, $4)
    ON CONFLICT (id) DO UPDATE SET updated_at = excluded.updated_at
    RETURNING platform, state, owner, state_since, low_streak
