-- Conversations whose last message is older than the retention cut, not yet erased.
SELECT id FROM conversations WHERE updated_at < $1 AND erased_at IS NULL ORDER BY updated_at LIMIT $2
