-- Issue "conversations have an owner": device context. Which devices an
-- article's steps are for (front matter applies_to), as JSON
-- {"os": [...], "app_version": ">=2.20"}; '{}' (every device) for the others.
ALTER TABLE articles ADD COLUMN applies_to TEXT NOT NULL DEFAULT '{}';
