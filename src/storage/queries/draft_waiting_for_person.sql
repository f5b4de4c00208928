SELECT id FROM drafts WHERE conversation_id = $1 AND needs_person
    AND state IN ('PENDING_REVIEW', 'CLAIMED') LIMIT 1
