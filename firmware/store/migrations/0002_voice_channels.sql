-- Voice channels sit next to text channels in the same list (one order, one set of ids).
-- user_limit: how many people may be in the voice room at once; 0 means no limit.
ALTER TABLE channels ADD COLUMN kind TEXT NOT NULL DEFAULT 'text' CHECK (kind IN ('text', 'voice'));
ALTER TABLE channels ADD COLUMN user_limit INTEGER NOT NULL DEFAULT 0 CHECK (user_limit BETWEEN 0 AND 99);
