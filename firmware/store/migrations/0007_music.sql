-- The music library and each voice room's DJ. A track's bytes live in DATA_DIR/music under a
-- random stored name (never derived from what the user sent); cover art, re-encoded by the box,
-- in DATA_DIR/music/covers.

CREATE TABLE music_tracks (
    id           INTEGER PRIMARY KEY,
    stored_name  TEXT NOT NULL UNIQUE,
    -- Sanitised like an attachment's: no path, no control characters, at most 200 characters.
    filename     TEXT NOT NULL,
    title        TEXT NOT NULL,
    artist       TEXT NOT NULL DEFAULT '',
    album        TEXT NOT NULL DEFAULT '',
    track_no     INTEGER,
    duration_ms  INTEGER NOT NULL CHECK (duration_ms >= 0),
    codec        TEXT NOT NULL,
    sample_rate  INTEGER NOT NULL,
    channels     INTEGER NOT NULL,
    -- Loudness normalisation: the track's gain in dB (ReplayGain/R128 tags, else measured at
    -- upload) and its peak (linear); NULL gain = not known, the player measures as it plays.
    gain_db      REAL,
    peak         REAL,
    cover_name   TEXT UNIQUE,
    size         INTEGER NOT NULL CHECK (size >= 0),
    sha256       TEXT NOT NULL,
    uploaded_by  INTEGER REFERENCES users(id) ON DELETE SET NULL,
    created_at   INTEGER NOT NULL
) STRICT;
CREATE INDEX music_tracks_sha ON music_tracks(sha256);

CREATE VIRTUAL TABLE music_fts USING fts5(
    title, artist, album, filename,
    content = 'music_tracks', content_rowid = 'id', tokenize = 'unicode61 remove_diacritics 2',
    prefix = '2 3'
);
CREATE TRIGGER music_fts_insert AFTER INSERT ON music_tracks BEGIN
    INSERT INTO music_fts (rowid, title, artist, album, filename) VALUES (new.id, new.title, new.artist, new.album, new.filename);
END;
CREATE TRIGGER music_fts_delete AFTER DELETE ON music_tracks BEGIN
    INSERT INTO music_fts (music_fts, rowid, title, artist, album, filename) VALUES ('delete', old.id, old.title, old.artist, old.album, old.filename);
END;

-- A voice room's DJ (dj::State as JSON: queue, position, volume, loop, playlists): written when
-- it changes, read when the daemon starts, so the music survives a restart.
CREATE TABLE dj_rooms (
    channel_id  INTEGER PRIMARY KEY REFERENCES channels(id) ON DELETE CASCADE,
    state       TEXT NOT NULL,
    updated_at  INTEGER NOT NULL
) STRICT;
