-- Uploaded files and custom emoji. The bytes live in DATA_DIR/files under random stored names
-- (never derived from what the user sent); these rows are the only way to reach them.

CREATE TABLE attachments (
    id           INTEGER PRIMARY KEY,
    uploader_id  INTEGER NOT NULL REFERENCES users(id),
    -- NULL until the upload is sent in a message; unsent uploads are removed after 24 h.
    message_id   INTEGER REFERENCES messages(id),
    -- Sanitised: no path, no control characters, at most 200 characters.
    filename     TEXT NOT NULL,
    -- From the bytes (image/png, image/jpeg, image/gif, image/webp, application/pdf) or
    -- application/octet-stream; never the client's word.
    content_type TEXT NOT NULL,
    size         INTEGER NOT NULL CHECK (size >= 0),
    sha256       TEXT NOT NULL,
    stored_name  TEXT NOT NULL UNIQUE,
    width        INTEGER,
    height       INTEGER,
    thumb_name   TEXT UNIQUE,
    created_at   INTEGER NOT NULL
) STRICT;
CREATE INDEX attachments_message ON attachments(message_id);
CREATE INDEX attachments_uploader ON attachments(uploader_id);

CREATE TABLE custom_emoji (
    id           INTEGER PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE,
    stored_name  TEXT NOT NULL UNIQUE,
    content_type TEXT NOT NULL,
    created_by   INTEGER NOT NULL,
    created_at   INTEGER NOT NULL
) STRICT;
