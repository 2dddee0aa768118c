//! The SQLite store: the only crate that speaks SQL.
//!
//! One writer connection behind a mutex (SQLite has one writer anyway) and a small pool of
//! read-only connections (WAL lets them read while the writer writes). Every durable change
//! appends to the `events` table in the same transaction, and committed events are handed to the
//! publisher *while the writer lock is still held*, so subscribers see events in sequence order
//! with no gaps. `synchronous = FULL`: a commit that returned is on disk, power cut or not.

mod access;
mod admin;
mod channels;
mod embeds;
mod error;
mod events;
mod faces;
mod files;
mod messages;
mod media_server;
mod music;
pub mod schema;
mod search;
mod threads;
mod setup;
mod users;
#[cfg(test)]
mod ts_types;

pub use admin::{AuditEntry, Settings};
pub use channels::{ChannelPatch, ChannelSettings, ChannelView};
pub use search::SearchHit;
pub use threads::DM_MAX_MEMBERS;
pub use embeds::{CachedEmbed, NewEmbed};
pub use error::{Error, Result};
pub use files::{ChannelExportPage, NewAttachment, OverQuota, StoredAttachment, UserExportMessage, MAX_ATTACHMENTS};
pub use events::EventRow;
pub use messages::{NewMessage, Page};
pub use media_server::MediaServer;
pub use music::{NewTrack, TrackFile};
pub use setup::{Claim, SetupState};
pub use users::{invite_invalid, Invite, SessionInfo};

use chat::events::{Audience, Event, EventKind};
use chat::ids::{MessageId, MessageIdGen, Seq};
use rusqlite::{params, Connection, OpenFlags, Transaction};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

/// The schema, in order. `migrations/` is the only place the schema is defined.
const MIGRATIONS: &[(&str, &str)] = &[
    ("0001_init", include_str!("../migrations/0001_init.sql")),
    ("0002_voice_channels", include_str!("../migrations/0002_voice_channels.sql")),
    ("0003_rich_chat", include_str!("../migrations/0003_rich_chat.sql")),
    ("0004_files", include_str!("../migrations/0004_files.sql")),
    ("0005_faces", include_str!("../migrations/0005_faces.sql")),
    ("0006_notify", include_str!("../migrations/0006_notify.sql")),
    ("0007_music", include_str!("../migrations/0007_music.sql")),
];

/// How many read-only connections to keep around.
const READERS: usize = 4;

type Publisher = Arc<dyn Fn(&[Event]) + Send + Sync>;

pub struct Store {
    path: PathBuf,
    writer: Mutex<Writer>,
    readers: Mutex<Vec<Connection>>,
    publisher: RwLock<Option<Publisher>>,
}

struct Writer {
    conn: Connection,
    ids: MessageIdGen,
}

/// A write transaction that collects the events it emits.
pub(crate) struct Tx<'a> {
    tx: Transaction<'a>,
    ids: &'a mut MessageIdGen,
    events: Vec<Event>,
}

impl Tx<'_> {
    pub(crate) fn conn(&self) -> &Connection {
        &self.tx
    }

    pub(crate) fn next_message_id(&mut self, now_ms: i64) -> MessageId {
        self.ids.next(now_ms)
    }

    /// Append a durable event; it is published after commit.
    pub(crate) fn emit<T: serde::Serialize>(
        &mut self,
        kind: EventKind,
        audience: Audience,
        data: &T,
        now_ms: i64,
    ) -> Result<()> {
        let payload = serde_json::to_string(data).map_err(|e| Error::Internal(e.to_string()))?;
        let (channel_id, user_id) = match audience {
            Audience::Channel(c) => (Some(c.0), None),
            Audience::User(u) => (None, Some(u.0)),
            Audience::Everyone => (None, None),
        };
        self.tx.execute(
            "INSERT INTO events (kind, channel_id, user_id, payload, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![kind.as_str(), channel_id, user_id, payload, now_ms],
        )?;
        let seq = Seq(self.tx.last_insert_rowid());
        self.events.push(Event { seq, kind, audience, data: payload.into() });
        Ok(())
    }
}

fn configure(conn: &Connection) -> Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    Ok(())
}

impl Store {
    /// Open (creating if needed) the database at `path` and apply pending migrations.
    pub fn open(path: impl AsRef<Path>) -> Result<Store> {
        let path = path.as_ref().to_path_buf();
        match schema::prepare(&path, MIGRATIONS.len() as i64)? {
            schema::Prepared::Nothing => {}
            schema::Prepared::BackedUp { from, to, path } => {
                tracing::info!(from, to, copy = %path.display(), "kept a copy of the database before migrating it")
            }
            schema::Prepared::Restored { found, known, set_aside } => tracing::warn!(
                found, known, set_aside = %set_aside.display(),
                "the database was newer than this version (the box went back to an older system): restored the copy taken before the update"
            ),
        }
        let mut conn = Connection::open(&path)?;
        let mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(Error::Internal(format!("could not enable WAL (journal_mode={mode})")));
        }
        configure(&conn)?;
        migrate(&mut conn)?;
        let last: i64 = conn.query_row("SELECT coalesce(max(id), 0) FROM messages", [], |r| r.get(0))?;
        Ok(Store {
            path,
            writer: Mutex::new(Writer { conn, ids: MessageIdGen::new(MessageId(last)) }),
            readers: Mutex::new(Vec::new()),
            publisher: RwLock::new(None),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Called with every batch of committed events, in sequence order, under the writer lock:
    /// it must be quick and must not call back into the store.
    pub fn set_publisher(&self, f: impl Fn(&[Event]) + Send + Sync + 'static) {
        *self.publisher.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(f));
    }

    fn lock_writer(&self) -> MutexGuard<'_, Writer> {
        // A panic while holding the lock cannot leave SQLite inconsistent (the transaction
        // rolls back on drop), so a poisoned lock is safe to reuse.
        self.writer.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Run `f` in one write transaction; commit, then publish its events.
    pub(crate) fn write<T>(&self, f: impl FnOnce(&mut Tx<'_>) -> Result<T>) -> Result<T> {
        let mut w = self.lock_writer();
        let Writer { conn, ids } = &mut *w;
        let saved_ids = ids.clone();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let mut t = Tx { tx, ids, events: Vec::new() };
        let out = match f(&mut t) {
            Ok(v) => v,
            Err(e) => {
                *t.ids = saved_ids;
                return Err(e);
            }
        };
        let Tx { tx, events, .. } = t;
        tx.commit()?;
        // Still under the writer lock: publication order is commit order.
        if !events.is_empty() {
            let publisher = self.publisher.read().unwrap_or_else(|e| e.into_inner()).clone();
            if let Some(p) = publisher {
                p(&events);
            }
        }
        Ok(out)
    }

    /// Run `f` on a read-only connection from the pool.
    pub(crate) fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let conn = self.readers.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let conn = match conn {
            Some(c) => c,
            None => {
                let c = Connection::open_with_flags(
                    &self.path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )?;
                configure(&c)?;
                c
            }
        };
        let out = f(&conn);
        let mut pool = self.readers.lock().unwrap_or_else(|e| e.into_inner());
        if pool.len() < READERS {
            pool.push(conn);
        }
        out
    }

    /// An online backup of the whole database into `dest` (a new file, created `0600`: it holds
    /// password hashes and DMs), safe while serving and finished in bounded time however busy
    /// the box is: `VACUUM INTO` copies one consistent snapshot under a single read transaction,
    /// while writers carry on in the write-ahead log. (The page-by-page backup API restarts
    /// whenever a writer commits between its steps, and on a busy box never finishes.)
    pub fn backup_to(&self, dest: impl AsRef<Path>) -> Result<()> {
        let dest = dest.as_ref();
        let io = |e: std::io::Error| Error::Internal(format!("{}: {e}", dest.display()));
        {
            use std::os::unix::fs::OpenOptionsExt;
            // SQLite accepts an existing empty file as the target: ours, with our mode.
            std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(dest).map_err(io)?;
        }
        let target = dest.to_str().ok_or_else(|| Error::Internal("the backup path is not UTF-8".into()))?;
        let done = self.read(|conn| {
            conn.execute("VACUUM INTO ?1", [target])?;
            Ok(())
        });
        if let Err(e) = done {
            let _ = std::fs::remove_file(dest);
            return Err(e);
        }
        std::fs::File::open(dest).and_then(|f| f.sync_all()).map_err(io)?;
        if let Some(dir) = dest.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
        }
        Ok(())
    }

    /// A value from the `meta` table.
    pub fn meta_get(&self, key: &str) -> Result<Option<String>> {
        self.read(|c| {
            let v = c
                .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
                .map(Some)
                .or_else(|e| if e == rusqlite::Error::QueryReturnedNoRows { Ok(None) } else { Err(e) })?;
            Ok(v)
        })
    }

    pub fn meta_set(&self, key: &str, value: &str) -> Result<()> {
        self.write(|t| {
            t.conn().execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )?;
            Ok(())
        })
    }

    /// The value of `key`, setting it to `value` first if there is none (one writer wins a race;
    /// everyone gets the stored value).
    pub fn meta_get_or_insert(&self, key: &str, value: &str) -> Result<String> {
        self.write(|t| {
            t.conn().execute("INSERT OR IGNORE INTO meta (key, value) VALUES (?1, ?2)", params![key, value])?;
            Ok(t.conn().query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))?)
        })
    }

    /// Move everything in the write-ahead log into the database file and truncate the log
    /// (SQLite syncs the file), e.g. before other files are written that rely on it.
    pub fn checkpoint(&self) -> Result<()> {
        let w = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let busy: i64 = w.conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))?;
        if busy != 0 {
            return Err(Error::Internal("the checkpoint could not finish: a reader holds the log".into()));
        }
        Ok(())
    }

    /// The connection settings that durability rests on (for `spot doctor` and tests):
    /// `(journal_mode, synchronous, foreign_keys)`, as SQLite reports them on the writer.
    pub fn pragmas(&self) -> Result<(String, i64, i64)> {
        let w = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let q = |p: &str| w.conn.query_row(&format!("PRAGMA {p}"), [], |r| r.get::<_, rusqlite::types::Value>(0));
        let mode = match q("journal_mode")? {
            rusqlite::types::Value::Text(t) => t,
            other => format!("{other:?}"),
        };
        let int = |v: rusqlite::types::Value| if let rusqlite::types::Value::Integer(i) = v { i } else { -1 };
        Ok((mode, int(q("synchronous")?), int(q("foreign_keys")?)))
    }

    /// `PRAGMA integrity_check` (used by `spot doctor` and tests after crashes).
    pub fn integrity_check(&self) -> Result<String> {
        self.read(|c| Ok(c.query_row("PRAGMA integrity_check", [], |r| r.get(0))?))
    }
}

fn migrate(conn: &mut Connection) -> Result<()> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let known = MIGRATIONS.len() as i64;
    if version > known {
        return Err(Error::Internal(format!(
            "the database has schema version {version}, newer than this spot ({known}); refusing to touch it"
        )));
    }
    // Foreign keys are off while migrating (a table rebuild would trip them; SQLite ignores the
    // pragma inside a transaction), and checked before each migration commits.
    conn.pragma_update(None, "foreign_keys", "OFF")?;
    for (i, (name, sql)) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        let broken: i64 = tx.query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| r.get(0))?;
        if broken > 0 {
            return Err(Error::Internal(format!("migration {name} would break {broken} foreign keys")));
        }
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
        tracing::info!(migration = name, "applied migration");
    }
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(())
}

/// Map "no rows" to `None`.
pub(crate) fn optional<T>(r: rusqlite::Result<T>) -> Result<Option<T>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(rusqlite::Error::QueryReturnedNoRows) => Ok(None),
        Err(e) => Err(e.into()),
    }
}
