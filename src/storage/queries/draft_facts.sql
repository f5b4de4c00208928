-- Handoff notices (a fixed text sent when a conversation goes to a person)
-- are not drafts anyone wrote: they are left out of the figures.
SELECT d.conversation_id, d.state, d.confidence_level, d.created_at, d.reviewed_by,
    d.ai_generated, d.human_reviewed, d.final_body <> d.body AS edited, d.reject_reason,
    (SELECT MIN(e.at) FROM audit_events e WHERE e.draft_id = d.id
    AND e.kind IN ('draft_approved', 'draft_rejected')) AS decided_at,
    EXISTS (SELECT 1 FROM audit_events e
    WHERE e.draft_id = d.id AND e.kind = 'draft_rejected') AS rejected
    FROM drafts d
    WHERE d.created_at >= $1 AND d.created_at < $2 AND ($3 IS NULL OR d.channel = $3)
    AND d.generator <> 'handoff_notice'
