-- Erasure: the answer memory forgets the questions of a conversation's drafts;
-- returns the answers they were filed under.
DELETE FROM curated_questions
    WHERE draft_id IN (SELECT id FROM drafts WHERE conversation_id = $1)
    RETURNING answer_id
