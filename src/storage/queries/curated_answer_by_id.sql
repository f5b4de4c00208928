SELECT * FROM curated_answers WHERE id = $1
