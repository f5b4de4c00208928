SELECT dl.*, d.caller AS caller FROM deliveries dl JOIN drafts d ON d.id = dl.draft_id
WHERE dl.cursor > $1 AND dl.acked_at IS NULL AND ($2 IS NULL OR dl.channel = $2)
    AND ($3 IS NULL OR d.caller = $3 OR d.caller = '')
    AND NOT EXISTS (SELECT 1 FROM delivery_leases l
    WHERE l.consumer_group = $4 AND l.cursor = dl.cursor AND l.expires_at > $5)
    AND NOT EXISTS (SELECT 1 FROM deliveries e
    JOIN delivery_leases l ON l.cursor = e.cursor AND l.consumer_group = $4
    WHERE e.conversation_id = dl.conversation_id AND e.cursor < dl.cursor
    AND e.acked_at IS NULL AND l.holder <> $6 AND l.expires_at > $5)
    ORDER BY dl.cursor LIMIT $7
