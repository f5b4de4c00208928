-- Issue "conversations have an owner": channel rules. A draft's respond_by
-- is when a person should have answered it (its channel's window or
-- first-response target, whichever ends first; NULL: neither); the review
-- queue comes in that order. A delivery sent after the window closed names
-- the template the platform sends instead (template_name, and its
-- parameters as a JSON array); '' for one sent as free text.
ALTER TABLE drafts ADD COLUMN respond_by BIGINT;
CREATE INDEX drafts_by_respond_by ON drafts (state, respond_by);
ALTER TABLE deliveries ADD COLUMN template_name TEXT NOT NULL DEFAULT '';
ALTER TABLE deliveries ADD COLUMN template_parameters TEXT NOT NULL DEFAULT '[]';
