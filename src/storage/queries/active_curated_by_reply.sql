SELECT * FROM curated_answers WHERE locale = $1 AND reply_sha256 = $2 AND state = 'ACTIVE'
    ORDER BY created_at, id LIMIT 1
