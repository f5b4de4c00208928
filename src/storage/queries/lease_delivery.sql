INSERT INTO delivery_leases (consumer_group, cursor, holder, expires_at)
    VALUES ($1, $2, $3, $4)
    ON CONFLICT (consumer_group, cursor)
    DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
