-- Issue "understand what the customer means": sentence-embedding vectors of
-- passages, by the embedding model's id and the SHA-256 of the exact text
-- embedded, so a restart, another replica or an unchanged article never
-- computes one twice. `vector`: little-endian f32s, unit length.
CREATE TABLE passage_vectors (
    model           TEXT NOT NULL,
    content_sha256  TEXT NOT NULL,
    vector          BLOB NOT NULL,
    created_at      INTEGER NOT NULL,
    PRIMARY KEY (model, content_sha256)
) WITHOUT ROWID;
