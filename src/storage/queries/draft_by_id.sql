SELECT d.*, m.text AS customer_message FROM drafts d JOIN messages m ON m.id = d.message_id
WHERE d.id = $1
