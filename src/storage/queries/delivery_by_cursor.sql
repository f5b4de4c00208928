SELECT dl.*, d.caller AS caller FROM deliveries dl JOIN drafts d ON d.id = dl.draft_id
WHERE dl.cursor = $1
