-- Per-user, per-channel notification level (chat::model::NotifyLevel): what counts in badges and
-- rings (sound, desktop notification). A missing row or the default means 'all', DMs included.

ALTER TABLE channel_settings ADD COLUMN notify TEXT NOT NULL DEFAULT 'all'
    CHECK (notify IN ('all', 'mentions', 'nothing'));
