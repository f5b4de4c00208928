-- Audit events of a conversation written before edits and replacements were
-- recorded by digest: they still hold the texts (the chain cannot change them).
SELECT COUNT(*) FROM audit_events WHERE conversation_id = $1
    AND ((kind = 'draft_edited' AND detail LIKE '%"after":%')
      OR (kind = 'draft_replaced' AND detail LIKE '%"replacement":%'))
