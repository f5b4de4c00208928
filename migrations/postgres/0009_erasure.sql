-- Issue "conversations have an owner": the customer's right to be
-- forgotten. customer_id is the platform's id for the customer (optional,
-- from CreateDraft), so erasure can find every conversation of theirs;
-- erased_at when the conversation's texts were erased (by request or by
-- retention), so retention passes over it.
ALTER TABLE conversations ADD COLUMN customer_id TEXT NOT NULL DEFAULT '';
ALTER TABLE conversations ADD COLUMN erased_at BIGINT;
CREATE INDEX conversations_by_customer ON conversations (customer_id);
CREATE INDEX conversations_by_activity ON conversations (updated_at);
