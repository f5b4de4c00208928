SELECT d.*, m.text AS customer_message FROM drafts d JOIN messages m ON m.id = d.message_id
WHERE d.state = 'CLAIMED' AND d.claim_expires_at <= $1 ORDER BY d.created_at LIMIT $2
