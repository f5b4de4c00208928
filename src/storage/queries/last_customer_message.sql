-- When the customer last wrote in a conversation (the channel window runs from it).
SELECT MAX(received_at) FROM messages WHERE conversation_id = $1
