UPDATE drafts SET state = 'DELIVERED', updated_at = $1, revision = revision + 1
    WHERE id = (SELECT draft_id FROM deliveries WHERE cursor = $2)
