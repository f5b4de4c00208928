SELECT * FROM audit_events WHERE conversation_id = $1 ORDER BY seq
