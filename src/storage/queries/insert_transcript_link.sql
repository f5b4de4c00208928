INSERT INTO transcript_links (id, conversation_id, created_by, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)
