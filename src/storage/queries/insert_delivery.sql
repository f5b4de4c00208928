INSERT INTO deliveries (draft_id, conversation_id, channel, locale, body, disclosure, text,
    ai_generated, human_reviewed, author, created_at, provenance, edit_ratio, template_name,
    template_parameters)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING cursor
