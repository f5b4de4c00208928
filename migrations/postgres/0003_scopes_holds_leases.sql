-- The same changes as migrations/sqlite/0003 (see there for why).
ALTER TABLE drafts ADD COLUMN caller TEXT NOT NULL DEFAULT '';
ALTER TABLE drafts ADD COLUMN needs_person BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE drafts DROP CONSTRAINT IF EXISTS drafts_request_id_key;
CREATE UNIQUE INDEX drafts_by_request ON drafts (caller, conversation_id, request_id)
    WHERE request_id IS NOT NULL;

ALTER TABLE conversations ADD COLUMN platform TEXT NOT NULL DEFAULT '';

CREATE TABLE delivery_leases (
    consumer_group TEXT NOT NULL,
    cursor         BIGINT NOT NULL REFERENCES deliveries (cursor),
    holder         TEXT NOT NULL,
    expires_at     BIGINT NOT NULL,
    PRIMARY KEY (consumer_group, cursor)
);
