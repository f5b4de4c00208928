UPDATE audit_head SET pos = $1, hash = $2 WHERE id = 1
