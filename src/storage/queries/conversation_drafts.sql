SELECT d.*, m.text AS customer_message FROM drafts d JOIN messages m ON m.id = d.message_id
WHERE d.conversation_id = $1 ORDER BY d.created_at, d.id
