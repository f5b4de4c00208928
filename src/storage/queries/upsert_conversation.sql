INSERT INTO conversations (id, channel, platform, created_at, updated_at)
    VALUES ($1, $2, $3, $4, $4)
    ON CONFLICT (id) DO UPDATE SET updated_at = excluded.updated_at
    RETURNING platform
