INSERT INTO curated_questions (answer_id, position, question, draft_id, agent, created_at)
    VALUES ($1, (SELECT COALESCE(MAX(position), 0) + 1 FROM curated_questions WHERE answer_id = $1),
    $2, $3, $4, $5)
