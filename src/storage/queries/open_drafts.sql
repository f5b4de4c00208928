SELECT d.*, m.text AS customer_message FROM drafts d JOIN messages m ON m.id = d.message_id
WHERE (d.state = 'PENDING_REVIEW' OR (d.state = 'CLAIMED' AND d.claim_expires_at <= $1))
    AND ($2 IS NULL OR d.channel = $2) AND ($3 IS NULL OR d.locale = $3)
    ORDER BY d.created_at, d.id LIMIT $4
