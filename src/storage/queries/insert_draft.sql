INSERT INTO drafts (id, conversation_id, message_id, request_id, caller, channel, locale,
    body, disclosure, ai_generated, human_reviewed, generator, confidence_score,
    confidence_level, reasons, citations, state, needs_person, final_body, reviewed_by,
    claimed_by, claim_expires_at, reject_reason, created_at, updated_at, revision,
    curated_answer_id, respond_by)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,
    $19, $20, $21, $22, $23, $24, $25, $26, $27, $28)
