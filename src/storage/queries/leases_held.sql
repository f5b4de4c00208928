SELECT COUNT(*) FROM delivery_leases l JOIN deliveries dl ON dl.cursor = l.cursor
    WHERE l.consumer_group = $1 AND l.holder = $2 AND l.expires_at > $3
    AND dl.acked_at IS NULL
