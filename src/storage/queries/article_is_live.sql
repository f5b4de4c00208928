SELECT NOT deleted FROM articles WHERE id = $1
