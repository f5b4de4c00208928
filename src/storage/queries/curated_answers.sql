SELECT * FROM curated_answers WHERE id > $1 AND ($2 IS NULL OR locale = $2)
    ORDER BY id LIMIT $3
