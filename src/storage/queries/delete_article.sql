UPDATE articles SET deleted = TRUE, updated_at = $1 WHERE id = $2 AND NOT deleted
    RETURNING version
