SELECT key FROM signing_keys WHERE name = $1
