DELETE FROM delivery_leases WHERE cursor = $1
