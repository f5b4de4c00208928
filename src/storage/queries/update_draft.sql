UPDATE drafts SET state = $1, final_body = $2, disclosure = $3, ai_generated = $4,
    human_reviewed = $5, reviewed_by = $6, claimed_by = $7, claim_expires_at = $8,
    reject_reason = $9, updated_at = $10, revision = revision + 1
    WHERE id = $11 AND revision = $12
    RETURNING id
