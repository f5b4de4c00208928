-- Whether a conversation's customer was already given the AI label (the
-- disclosure policy first_ai_message).
SELECT EXISTS (SELECT 1 FROM deliveries
    WHERE conversation_id = $1 AND ai_generated AND disclosure <> '')
