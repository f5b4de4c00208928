SELECT id FROM conversations WHERE customer_id = $1 ORDER BY id
