UPDATE audit_head SET pos = pos WHERE id = 1 RETURNING pos, hash
