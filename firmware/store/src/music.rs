//! The music library's rows and each voice room's saved DJ state. The bytes (tracks, covers)
//! live in the data directory and are written and removed by the server (`server::music`);
//! the store hands back the stored names of what it forgets so the caller unlinks them after
//! the commit, as for uploads.

use crate::admin::audit;
use crate::{optional, Result, Store};
use chat::events::{Audience, EventKind};
use chat::ids::{ChannelId, TrackId, UserId};
use chat::music::{search_match, Track, MAX_TRACKS};
use rusqlite::{params, Connection, Row};

/// A track as the upload produced it (its file is already on disk).
#[derive(Debug, Clone)]
pub struct NewTrack<'a> {
    pub stored_name: &'a str,
    pub filename: &'a str,
    pub title: &'a str,
    pub artist: &'a str,
    pub album: &'a str,
    pub track_no: Option<i64>,
    pub duration_ms: i64,
    pub codec: &'a str,
    pub sample_rate: i64,
    pub channels: i64,
    pub gain_db: Option<f64>,
    pub peak: Option<f64>,
    pub cover_name: Option<&'a str>,
    pub size: i64,
    pub sha256: &'a str,
    pub uploaded_by: UserId,
}

/// What the player needs to open a track.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackFile {
    pub track: Track,
    pub stored_name: String,
    pub gain_db: Option<f64>,
    pub peak: Option<f64>,
}

const COLS: &str = "t.id, t.title, t.artist, t.album, t.track_no, t.duration_ms, t.codec, t.filename, t.size, \
                    t.cover_name IS NOT NULL, t.uploaded_by, t.created_at, t.stored_name, t.gain_db, t.peak";

fn row(r: &Row<'_>) -> rusqlite::Result<TrackFile> {
    let id = TrackId(r.get(0)?);
    let has_cover: bool = r.get(9)?;
    Ok(TrackFile {
        track: Track {
            id,
            title: r.get(1)?,
            artist: r.get(2)?,
            album: r.get(3)?,
            track_no: r.get(4)?,
            duration_ms: r.get(5)?,
            codec: r.get(6)?,
            filename: r.get(7)?,
            size: r.get(8)?,
            cover_url: has_cover.then(|| Track::cover_url(id)),
            uploaded_by: r.get::<_, Option<i64>>(10)?.map(UserId),
            created_at: r.get(11)?,
        },
        stored_name: r.get(12)?,
        gain_db: r.get(13)?,
        peak: r.get(14)?,
    })
}

fn get(c: &Connection, id: TrackId) -> Result<TrackFile> {
    optional(c.query_row(&format!("SELECT {COLS} FROM music_tracks t WHERE t.id = ?1"), [id.0], row))?
        .ok_or_else(|| chat::Error::not_found("unknown_track", "That track is not in the music library.").into())
}

impl Store {
    /// Adds a track to the library. The same file (by content) uploaded again is refused with
    /// `track_exists`, naming the track it already is.
    pub fn create_track(&self, t: &NewTrack<'_>, now: i64) -> Result<Track> {
        self.write(|tx| {
            let c = tx.conn();
            let n: i64 = c.query_row("SELECT count(*) FROM music_tracks", [], |r| r.get(0))?;
            if n >= MAX_TRACKS {
                return Err(chat::Error::invalid("library_full", format!("The music library holds at most {MAX_TRACKS} tracks.")).into());
            }
            let dup: Option<String> =
                optional(c.query_row("SELECT title FROM music_tracks WHERE sha256 = ?1 LIMIT 1", [t.sha256], |r| r.get(0)))?;
            if let Some(title) = dup {
                return Err(chat::Error::conflict("track_exists", format!("This file is already in the library, as “{title}”.")).into());
            }
            c.execute(
                "INSERT INTO music_tracks (stored_name, filename, title, artist, album, track_no, duration_ms, codec, \
                 sample_rate, channels, gain_db, peak, cover_name, size, sha256, uploaded_by, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
                params![
                    t.stored_name, t.filename, t.title, t.artist, t.album, t.track_no, t.duration_ms, t.codec,
                    t.sample_rate, t.channels, t.gain_db, t.peak, t.cover_name, t.size, t.sha256, t.uploaded_by.0, now
                ],
            )?;
            let track = get(c, TrackId(c.last_insert_rowid()))?.track;
            audit(tx, t.uploaded_by, "track.create", &format!("track:{}", track.id), serde_json::json!({"title": track.title}), now)?;
            tx.emit(EventKind::TrackCreate, Audience::Everyone, &track, now)?;
            Ok(track)
        })
    }

    /// A track and what the player needs to open it.
    pub fn track_file(&self, id: TrackId) -> Result<TrackFile> {
        self.read(|c| get(c, id))
    }

    /// A track's cover: its stored name.
    pub fn track_cover(&self, id: TrackId) -> Result<Option<String>> {
        self.read(|c| {
            Ok(optional(c.query_row("SELECT cover_name FROM music_tracks WHERE id = ?1", [id.0], |r| r.get::<_, Option<String>>(0)))?
                .flatten())
        })
    }

    /// The library, newest first, or the tracks matching `query` (title, artist, album, file
    /// name; every word, as prefixes), best first. Returns the page and the total.
    pub fn tracks(&self, query: Option<&str>, offset: usize, limit: usize) -> Result<(Vec<Track>, i64)> {
        let limit = limit.clamp(1, 200) as i64;
        let offset = offset.min(1_000_000) as i64;
        self.read(|c| match query.map(str::trim).filter(|q| !q.is_empty()) {
            None => {
                let total: i64 = c.query_row("SELECT count(*) FROM music_tracks", [], |r| r.get(0))?;
                let mut st = c.prepare_cached(&format!("SELECT {COLS} FROM music_tracks t ORDER BY t.id DESC LIMIT ?1 OFFSET ?2"))?;
                let v = st.query_map(params![limit, offset], row)?.map(|r| r.map(|f| f.track)).collect::<rusqlite::Result<Vec<_>>>()?;
                Ok((v, total))
            }
            Some(q) => {
                let Some(m) = search_match(q) else { return Ok((Vec::new(), 0)) };
                let total: i64 = c.query_row("SELECT count(*) FROM music_fts WHERE music_fts MATCH ?1", [&m], |r| r.get(0))?;
                // Title matches weigh most, then artist, album, file name.
                let mut st = c.prepare_cached(&format!(
                    "SELECT {COLS} FROM music_fts f JOIN music_tracks t ON t.id = f.rowid \
                     WHERE music_fts MATCH ?1 ORDER BY bm25(music_fts, 10.0, 5.0, 2.0, 1.0), t.id DESC LIMIT ?2 OFFSET ?3"
                ))?;
                let v = st.query_map(params![m, limit, offset], row)?.map(|r| r.map(|f| f.track)).collect::<rusqlite::Result<Vec<_>>>()?;
                Ok((v, total))
            }
        })
    }

    /// Removes a track; returns its stored file and cover names to unlink. Queues that still
    /// name it answer `unknown_track` when its turn comes (the DJ skips it).
    pub fn delete_track(&self, id: TrackId, by: UserId, now: i64) -> Result<(String, Option<String>)> {
        self.write(|tx| {
            let f = get(tx.conn(), id)?;
            let cover: Option<String> =
                tx.conn().query_row("SELECT cover_name FROM music_tracks WHERE id = ?1", [id.0], |r| r.get(0))?;
            tx.conn().execute("DELETE FROM music_tracks WHERE id = ?1", [id.0])?;
            audit(tx, by, "track.delete", &format!("track:{id}"), serde_json::json!({"title": f.track.title}), now)?;
            tx.emit(EventKind::TrackDelete, Audience::Everyone, &serde_json::json!({"id": id}), now)?;
            Ok((f.stored_name, cover))
        })
    }

    /// Every stored name the library knows (files and covers), for the orphan sweep.
    pub fn known_music_names(&self) -> Result<std::collections::HashSet<String>> {
        self.read(|c| {
            let mut st = c.prepare_cached("SELECT stored_name, cover_name FROM music_tracks")?;
            let mut out = std::collections::HashSet::new();
            let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?)))?;
            for r in rows {
                let (a, b) = r?;
                out.insert(a);
                out.extend(b);
            }
            Ok(out)
        })
    }

    /// The saved DJ state of every room that has one.
    pub fn dj_states(&self) -> Result<Vec<(ChannelId, String)>> {
        self.read(|c| {
            let mut st = c.prepare_cached("SELECT channel_id, state FROM dj_rooms ORDER BY channel_id")?;
            let v = st.query_map([], |r| Ok((ChannelId(r.get(0)?), r.get(1)?)))?.collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(v)
        })
    }

    /// Saves a room's DJ state (ephemeral to the clients, who get it whole with `dj.state`; kept
    /// only so the music survives a restart, so no event).
    pub fn save_dj_state(&self, channel: ChannelId, state: &str, now: i64) -> Result<()> {
        self.write(|tx| {
            tx.conn().execute(
                "INSERT INTO dj_rooms (channel_id, state, updated_at) VALUES (?1, ?2, ?3) \
                 ON CONFLICT(channel_id) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at",
                params![channel.0, state, now],
            )?;
            Ok(())
        })
    }
}

impl Store {
    /// The box's speaker settings (Admin → Audio) as JSON, if ever saved.
    pub fn audio_settings(&self) -> Result<Option<String>> {
        self.meta_get("audio")
    }

    /// The DJs' settings (Admin → Music) as JSON, if ever saved.
    pub fn dj_settings(&self) -> Result<Option<String>> {
        self.meta_get("dj")
    }

    /// Saves the speaker settings and their audit entry in one transaction.
    pub fn set_audio_settings(&self, json: &str, by: UserId, now: i64) -> Result<()> {
        self.set_setting("audio", json, "audio.update", by, now)
    }

    /// Saves the DJs' settings and their audit entry in one transaction.
    pub fn set_dj_settings(&self, json: &str, by: UserId, now: i64) -> Result<()> {
        self.set_setting("dj", json, "dj.update", by, now)
    }

    fn set_setting(&self, key: &str, json: &str, action: &str, by: UserId, now: i64) -> Result<()> {
        let detail: serde_json::Value = serde_json::from_str(json).unwrap_or_default();
        self.write(|tx| {
            tx.conn().execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                [key, json],
            )?;
            audit(tx, by, action, "box", detail, now)
        })
    }
}
