SELECT id, conversation_id, body, final_body, disclosure, reject_reason, citations
FROM drafts WHERE id > $1 ORDER BY id LIMIT $2
