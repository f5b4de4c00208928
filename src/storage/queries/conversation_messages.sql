SELECT * FROM messages WHERE conversation_id = $1 ORDER BY received_at, id
