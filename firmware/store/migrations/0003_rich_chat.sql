-- Rich chat: threads and DMs (as channels), roles and overrides, reactions, pins, mentions,
-- per-user channel settings, moderation, the audit log, settings, full-text search.
-- Runs with foreign keys off (the channels table is rebuilt to widen its kind check);
-- `PRAGMA foreign_key_check` must come back empty before the migration commits.

CREATE TABLE channels_new (
    id                INTEGER PRIMARY KEY,
    name              TEXT NOT NULL,
    topic             TEXT NOT NULL DEFAULT '',
    position          INTEGER NOT NULL,
    archived          INTEGER NOT NULL DEFAULT 0,
    created_at        INTEGER NOT NULL,
    kind              TEXT NOT NULL DEFAULT 'text' CHECK (kind IN ('text', 'voice', 'dm', 'thread')),
    user_limit        INTEGER NOT NULL DEFAULT 0 CHECK (user_limit BETWEEN 0 AND 99),
    -- Threads: the channel and the message they were started from.
    parent_id         INTEGER REFERENCES channels(id),
    parent_message_id INTEGER UNIQUE,
    -- DMs: the sorted member ids joined by ',' (one DM per set of people).
    dm_key            TEXT UNIQUE
) STRICT;
INSERT INTO channels_new (id, name, topic, position, archived, created_at, kind, user_limit)
    SELECT id, name, topic, position, archived, created_at, kind, user_limit FROM channels;
DROP TABLE channels;
ALTER TABLE channels_new RENAME TO channels;
CREATE INDEX channels_parent ON channels(parent_id) WHERE parent_id IS NOT NULL;

CREATE TABLE dm_members (
    channel_id INTEGER NOT NULL REFERENCES channels(id),
    user_id    INTEGER NOT NULL REFERENCES users(id),
    PRIMARY KEY (channel_id, user_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX dm_members_user ON dm_members(user_id);

-- Role 1 is @everyone: every user has it implicitly; it cannot be deleted.
CREATE TABLE roles (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    color       TEXT NOT NULL DEFAULT '',
    position    INTEGER NOT NULL,
    permissions INTEGER NOT NULL,
    created_at  INTEGER NOT NULL
) STRICT;
INSERT INTO roles (id, name, position, permissions, created_at) VALUES (1, '@everyone', 0, 3, 0);

CREATE TABLE user_roles (
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role_id INTEGER NOT NULL REFERENCES roles(id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, role_id)
) STRICT, WITHOUT ROWID;

CREATE TABLE channel_overrides (
    channel_id INTEGER NOT NULL REFERENCES channels(id),
    role_id    INTEGER NOT NULL REFERENCES roles(id) ON DELETE CASCADE,
    allow      INTEGER NOT NULL,
    deny       INTEGER NOT NULL,
    PRIMARY KEY (channel_id, role_id)
) STRICT, WITHOUT ROWID;

ALTER TABLE users ADD COLUMN timeout_until INTEGER;
ALTER TABLE users ADD COLUMN banned INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN ban_reason TEXT NOT NULL DEFAULT '';

ALTER TABLE messages ADD COLUMN pinned_at INTEGER;
ALTER TABLE messages ADD COLUMN pinned_by INTEGER;
ALTER TABLE messages ADD COLUMN mention_everyone INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN has_link INTEGER NOT NULL DEFAULT 0;
CREATE INDEX messages_pinned ON messages(channel_id, pinned_at) WHERE pinned_at IS NOT NULL;
CREATE INDEX messages_author ON messages(author_id, channel_id, id);
CREATE INDEX messages_everyone ON messages(channel_id, id) WHERE mention_everyone = 1;

CREATE TABLE reactions (
    message_id INTEGER NOT NULL REFERENCES messages(id),
    emoji      TEXT NOT NULL,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (message_id, emoji, user_id)
) STRICT, WITHOUT ROWID;

CREATE TABLE mentions (
    message_id INTEGER NOT NULL REFERENCES messages(id),
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    channel_id INTEGER NOT NULL,
    PRIMARY KEY (user_id, channel_id, message_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX mentions_message ON mentions(message_id);

-- Per user and channel: muted (no notifications), following (threads).
CREATE TABLE channel_settings (
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    channel_id INTEGER NOT NULL REFERENCES channels(id),
    muted      INTEGER NOT NULL DEFAULT 0,
    following  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, channel_id)
) STRICT, WITHOUT ROWID;

CREATE TABLE audit_log (
    id         INTEGER PRIMARY KEY,
    actor_id   INTEGER NOT NULL,
    action     TEXT NOT NULL,
    target     TEXT NOT NULL,
    detail     TEXT NOT NULL DEFAULT '{}',
    created_at INTEGER NOT NULL
) STRICT;

-- Link previews, fetched once per URL; message_embeds ties them to messages.
CREATE TABLE embeds (
    id          INTEGER PRIMARY KEY,
    url         TEXT NOT NULL UNIQUE,
    title       TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    site_name   TEXT NOT NULL DEFAULT '',
    image_file  TEXT,
    status      TEXT NOT NULL,
    fetched_at  INTEGER NOT NULL
) STRICT;
CREATE TABLE message_embeds (
    message_id INTEGER NOT NULL REFERENCES messages(id),
    embed_id   INTEGER NOT NULL REFERENCES embeds(id),
    position   INTEGER NOT NULL,
    PRIMARY KEY (message_id, embed_id)
) STRICT, WITHOUT ROWID;

-- Full-text search over message content (external content: the text lives once, in messages).
CREATE VIRTUAL TABLE messages_fts USING fts5(
    content, content = 'messages', content_rowid = 'id', tokenize = 'unicode61 remove_diacritics 2',
    -- Search matches words by prefix as people type; indexing 2- and 3-letter prefixes keeps that
    -- fast on a million messages.
    prefix = '2 3'
);
INSERT INTO messages_fts (rowid, content) SELECT id, content FROM messages WHERE deleted_at IS NULL;
CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
    INSERT INTO messages_fts (rowid, content) VALUES (new.id, new.content);
END;
CREATE TRIGGER messages_fts_update AFTER UPDATE OF content ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, content) VALUES ('delete', old.id, old.content);
    INSERT INTO messages_fts (rowid, content) VALUES (new.id, new.content);
END;
