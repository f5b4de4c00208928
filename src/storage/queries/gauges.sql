SELECT COUNT(*), MIN(created_at), (SELECT COUNT(*) FROM articles WHERE NOT deleted)
    FROM drafts WHERE state = 'PENDING_REVIEW' OR (state = 'CLAIMED' AND claim_expires_at <= $1)
