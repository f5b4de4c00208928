-- The drafts a new message's rules are asked about (drafting::record):
-- the conversation's undecided ones: a decided draft is neither superseded nor
-- holds its conversation.
SELECT d.*, m.text AS customer_message FROM drafts d JOIN messages m ON m.id = d.message_id
WHERE d.conversation_id = $1 AND d.state IN ('PENDING_REVIEW', 'CLAIMED')
ORDER BY d.created_at, d.id
