INSERT INTO messages (id, conversation_id, text, locale, channel, context, received_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7)
