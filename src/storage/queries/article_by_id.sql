SELECT * FROM articles WHERE id = $1
