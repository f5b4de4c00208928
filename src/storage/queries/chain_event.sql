UPDATE audit_events SET chain_pos = $1, prev_hash = $2, hash = $3 WHERE seq = $4
