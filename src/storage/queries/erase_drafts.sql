-- Erasure: a conversation's drafts lose their texts; undecided ones close.
UPDATE drafts SET body = '', final_body = '', reject_reason = '', reasons = '[]',
    state = CASE WHEN state IN ('PENDING_REVIEW', 'CLAIMED') THEN 'SUPERSEDED' ELSE state END,
    claimed_by = '', claim_expires_at = NULL, updated_at = $2, revision = revision + 1
    WHERE conversation_id = $1
