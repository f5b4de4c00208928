-- A console signing key, unless another replica made it first.
INSERT INTO signing_keys (name, key, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING
