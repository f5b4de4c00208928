SELECT id, conversation_id, created_by, created_at, expires_at, revoked_at FROM transcript_links WHERE id = $1
