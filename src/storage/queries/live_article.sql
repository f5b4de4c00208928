SELECT * FROM articles WHERE id = $1 AND NOT deleted
