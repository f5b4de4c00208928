SELECT id, locale, title, body, tags, url, applies_to FROM articles
WHERE id > $1 ORDER BY id LIMIT $2
