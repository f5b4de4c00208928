SELECT id, locale, title, body, tags, url FROM articles
WHERE id > $1 ORDER BY id LIMIT $2
