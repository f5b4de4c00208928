SELECT platform, state, owner, state_since, low_streak FROM conversations WHERE id = $1
