UPDATE conversations SET state = $2, owner = $3, state_since = $4, low_streak = $5, updated_at = $6
WHERE id = $1
