DELETE FROM delivery_leases WHERE cursor IN (SELECT cursor FROM deliveries WHERE conversation_id = $1)
