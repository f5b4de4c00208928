SELECT * FROM audit_events WHERE chain_pos = 0 ORDER BY seq
