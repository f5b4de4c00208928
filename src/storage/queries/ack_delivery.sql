UPDATE deliveries SET acked_at = $1 WHERE cursor = $2 AND acked_at IS NULL
    RETURNING cursor
