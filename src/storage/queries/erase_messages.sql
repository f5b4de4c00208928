-- Erasure: a conversation's customer messages lose their text and context.
UPDATE messages SET text = '', context = '{}' WHERE conversation_id = $1
