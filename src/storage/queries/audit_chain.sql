SELECT * FROM audit_events WHERE chain_pos > $1 ORDER BY chain_pos LIMIT $2
