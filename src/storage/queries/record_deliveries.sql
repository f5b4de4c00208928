SELECT cursor, conversation_id, body, disclosure, text, author FROM deliveries
WHERE cursor > $1 ORDER BY cursor LIMIT $2
