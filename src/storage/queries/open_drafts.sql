-- The review queue: the drafts that must be answered soonest first (their
-- respond_by; those without one after them), then the oldest.
SELECT d.*, m.text AS customer_message FROM drafts d JOIN messages m ON m.id = d.message_id
WHERE (d.state = 'PENDING_REVIEW' OR (d.state = 'CLAIMED' AND d.claim_expires_at <= $1))
    AND ($2 IS NULL OR d.channel = $2) AND ($3 IS NULL OR d.locale = $3)
    ORDER BY (d.respond_by IS NULL), d.respond_by, d.created_at, d.id LIMIT $4
