UPDATE conversations SET customer_id = '', erased_at = $2 WHERE id = $1
