INSERT INTO curated_answers (id, locale, reply, reply_sha256, sources, approved_by, rejections,
    state, created_by, origin_draft_id, created_at, updated_at, revision)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 1)
