SELECT platform FROM conversations WHERE id = $1
