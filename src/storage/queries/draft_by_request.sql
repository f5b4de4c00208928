SELECT d.*, m.text AS customer_message FROM drafts d JOIN messages m ON m.id = d.message_id
WHERE d.caller = $1 AND d.conversation_id = $2 AND d.request_id = $3
