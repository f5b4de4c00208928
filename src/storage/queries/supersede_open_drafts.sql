UPDATE drafts SET state = 'SUPERSEDED', claimed_by = '', claim_expires_at = NULL,
    updated_at = $1, revision = revision + 1
    WHERE conversation_id = $2 AND state IN ('PENDING_REVIEW', 'CLAIMED')
    AND NOT needs_person
    RETURNING id
