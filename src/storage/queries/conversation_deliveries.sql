SELECT dl.*, d.caller AS caller FROM deliveries dl JOIN drafts d ON d.id = dl.draft_id
WHERE dl.conversation_id = $1 ORDER BY dl.cursor
