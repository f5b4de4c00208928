SELECT dl.*, d.caller AS caller FROM deliveries dl JOIN drafts d ON d.id = dl.draft_id
WHERE dl.cursor > $1 AND dl.acked_at IS NULL AND ($2 IS NULL OR dl.channel = $2)
    ORDER BY dl.cursor LIMIT $3
