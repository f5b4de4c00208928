-- An answer left with no question (it was learned only from erased conversations).
DELETE FROM curated_answers WHERE id = $1
    AND NOT EXISTS (SELECT 1 FROM curated_questions q WHERE q.answer_id = $1)
