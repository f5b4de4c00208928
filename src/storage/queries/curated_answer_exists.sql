SELECT id FROM curated_answers WHERE id = $1
