-- Issue "conversations have an owner": who wrote each delivery, machine-
-- readable (model::Provenance): ai_auto, ai_reviewed, ai_edited (with how
-- much the agent changed, edit_ratio 0..1), human, system (the handoff
-- notice). Deliveries written before this migration get it from what they
-- recorded; an edit's ratio is unknown for them (0).
ALTER TABLE deliveries ADD COLUMN provenance TEXT NOT NULL DEFAULT '';
ALTER TABLE deliveries ADD COLUMN edit_ratio REAL NOT NULL DEFAULT 0;
UPDATE deliveries SET provenance = CASE
    WHEN author = 'system' THEN 'system'
    WHEN ai_generated = 0 THEN 'human'
    WHEN human_reviewed = 0 THEN 'ai_auto'
    WHEN body <> (SELECT d.body FROM drafts d WHERE d.id = deliveries.draft_id) THEN 'ai_edited'
    ELSE 'ai_reviewed'
END;
