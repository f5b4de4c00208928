-- The tamper-evident audit chain (src/audit.rs): each event's position and
-- the hashes linking it to the one before. Events written before this
-- migration are chained at start-up, in seq order.
ALTER TABLE audit_events ADD COLUMN chain_pos INTEGER NOT NULL DEFAULT 0;
ALTER TABLE audit_events ADD COLUMN prev_hash TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_events ADD COLUMN hash TEXT NOT NULL DEFAULT '';
CREATE UNIQUE INDEX audit_by_chain ON audit_events (chain_pos) WHERE chain_pos > 0;

-- The chain's last position and hash, in one row. Writers update it in
-- their transaction, which also makes them take turns at extending it.
CREATE TABLE audit_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    pos  INTEGER NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_head (id, pos, hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
