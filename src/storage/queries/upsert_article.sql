INSERT INTO articles (id, locale, title, body, tags, url, version, content_hash, source,
    deleted, updated_at, applies_to)
    VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $8, FALSE, $9, $10)
    ON CONFLICT (id) DO UPDATE SET locale = excluded.locale, title = excluded.title,
    body = excluded.body, tags = excluded.tags, url = excluded.url,
    version = articles.version + 1, content_hash = excluded.content_hash,
    source = excluded.source, deleted = FALSE, updated_at = excluded.updated_at,
    applies_to = excluded.applies_to
    WHERE articles.deleted OR articles.content_hash <> excluded.content_hash
    RETURNING version
