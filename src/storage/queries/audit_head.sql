SELECT pos, hash FROM audit_head WHERE id = 1
