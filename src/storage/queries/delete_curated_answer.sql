DELETE FROM curated_answers WHERE id = $1 AND revision = $2 RETURNING id
