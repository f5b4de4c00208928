-- Erasure: a conversation's deliveries lose their texts; unsent ones are withdrawn.
UPDATE deliveries SET body = '', text = '', template_parameters = '[]',
    acked_at = COALESCE(acked_at, $2) WHERE conversation_id = $1
