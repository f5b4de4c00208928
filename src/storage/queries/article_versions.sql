SELECT id, version FROM articles WHERE NOT deleted ORDER BY id
