DELETE FROM curated_questions WHERE answer_id = $1
