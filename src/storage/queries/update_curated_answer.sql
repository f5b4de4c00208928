UPDATE curated_answers SET sources = $1, approved_by = $2, rejections = $3, state = $4,
    updated_at = $5, revision = revision + 1
    WHERE id = $6 AND revision = $7
    RETURNING id
