-- Revoking twice keeps the first time.
UPDATE transcript_links SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL RETURNING id
