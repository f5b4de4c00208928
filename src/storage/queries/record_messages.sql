SELECT id, conversation_id, text, context FROM messages
WHERE id > $1 ORDER BY id LIMIT $2
