//! The database across updates and rollbacks.
//!
//! Before a newer daemon migrates the database from schema N, it leaves a copy of it as
//! `spot.db.schema-N.bak` (VACUUM INTO: one consistent snapshot, mode 0600, synced). If the box
//! later goes back to the older system (a rollback or a failed trial), that daemon meets a
//! schema it does not know: it sets the newer database aside (`spot.db.schema-M.rolled-back`,
//! never deleted) and restores the copy of its own schema, so the old daemon never runs on a
//! schema it does not know. What was written after the update stays in the set-aside file.

use std::path::{Path, PathBuf};

use rusqlite::Connection;

use crate::error::{Error, Result};

fn sibling(db: &Path, suffix: &str) -> PathBuf {
    let mut s = db.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// The copy taken before migrating away from schema `version`.
pub fn backup_path(db: &Path, version: i64) -> PathBuf {
    sibling(db, &format!(".schema-{version}.bak"))
}

fn io(what: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |e| Error::Internal(format!("{}: {e}", what.display()))
}

fn sync_dir(db: &Path) -> Result<()> {
    if let Some(dir) = db.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))?;
    }
    Ok(())
}

/// What [`prepare`] did, for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prepared {
    Nothing,
    /// Copied schema `from` aside before migrating to `to`.
    BackedUp { from: i64, to: i64, path: PathBuf },
    /// Met schema `found`, newer than `known`: set it aside and restored the copy of `known`.
    Restored { found: i64, known: i64, set_aside: PathBuf },
}

/// Called before the database is opened for use, with the number of migrations this build
/// knows. Returns an error only when the database is newer and no copy of this schema exists.
pub fn prepare(db: &Path, known: i64) -> Result<Prepared> {
    if !db.exists() {
        return Ok(Prepared::Nothing);
    }
    let version: i64 = {
        let conn = Connection::open(db)?;
        conn.pragma_query_value(None, "user_version", |r| r.get(0))?
    };
    if version > 0 && version < known {
        let path = backup_path(db, version);
        let tmp = sibling(db, &format!(".schema-{version}.bak.tmp"));
        let _ = std::fs::remove_file(&tmp);
        {
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp).map_err(io(&tmp))?;
        }
        let target = tmp.to_str().ok_or_else(|| Error::Internal("the database path is not UTF-8".into()))?.to_owned();
        let conn = Connection::open(db)?;
        if let Err(e) = conn.execute("VACUUM INTO ?1", [&target]) {
            let _ = std::fs::remove_file(&tmp);
            return Err(e.into());
        }
        drop(conn);
        std::fs::File::open(&tmp).and_then(|f| f.sync_all()).map_err(io(&tmp))?;
        std::fs::rename(&tmp, &path).map_err(io(&path))?;
        sync_dir(db)?;
        return Ok(Prepared::BackedUp { from: version, to: known, path });
    }
    if version > known {
        let bak = backup_path(db, known);
        if !bak.exists() {
            return Err(Error::Internal(format!(
                "the database has schema version {version}, newer than this spot ({known}), and no copy of schema {known} \
                 was kept ({}); refusing to touch it",
                bak.display()
            )));
        }
        // Everything of the newer database into its main file, then the file aside.
        {
            let conn = Connection::open(db)?;
            conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        }
        // Crash-safe order: the copy ready first, the newer file kept under a second name (a
        // hard link), then one rename puts the copy in place. A cut anywhere leaves either the
        // newer database in place (and this runs again) or the restored one.
        let tmp = sibling(db, ".restore.tmp");
        std::fs::copy(&bak, &tmp).map_err(io(&bak))?;
        std::fs::File::open(&tmp).and_then(|f| f.sync_all()).map_err(io(&tmp))?;
        let set_aside = sibling(db, &format!(".schema-{version}.rolled-back"));
        if !set_aside.exists() {
            std::fs::hard_link(db, &set_aside).map_err(io(&set_aside))?;
        }
        sync_dir(db)?;
        for s in ["-wal", "-shm"] {
            let _ = std::fs::remove_file(sibling(db, s));
        }
        std::fs::rename(&tmp, db).map_err(io(db))?;
        sync_dir(db)?;
        return Ok(Prepared::Restored { found: version, known, set_aside });
    }
    Ok(Prepared::Nothing)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Store, MIGRATIONS};

    /// A database at schema `n` with one row written at that point.
    fn at_schema(db: &Path, n: usize, marker: &str) {
        let mut conn = Connection::open(db).expect("open");
        conn.pragma_update(None, "journal_mode", "WAL").expect("wal");
        conn.pragma_update(None, "foreign_keys", "OFF").expect("fk");
        for (i, (_, sql)) in MIGRATIONS.iter().enumerate().take(n) {
            let tx = conn.transaction().expect("tx");
            tx.execute_batch(sql).expect("migration");
            tx.pragma_update(None, "user_version", (i + 1) as i64).expect("version");
            tx.commit().expect("commit");
        }
        conn.execute("INSERT INTO meta (key, value) VALUES ('marker', ?1)", [marker]).expect("marker");
    }

    fn version(db: &Path) -> i64 {
        Connection::open(db).expect("open").pragma_query_value(None, "user_version", |r| r.get(0)).expect("version")
    }

    fn marker(db: &Path) -> String {
        Connection::open(db).expect("open").query_row("SELECT value FROM meta WHERE key = 'marker'", [], |r| r.get(0)).expect("marker")
    }

    #[test]
    fn a_migration_keeps_a_copy_and_going_back_restores_it() {
        let dir = tempfile::tempdir().expect("tmp");
        let db = dir.path().join("spot.db");
        let known = MIGRATIONS.len();
        at_schema(&db, known - 1, "before the update");
        // The newer daemon opens it: a 0600 copy of the old schema first, then the migration.
        let store = Store::open(&db).expect("open");
        store.meta_set("marker", "written by the new version").expect("write");
        drop(store);
        let bak = backup_path(&db, known as i64 - 1);
        assert_eq!(version(&bak), known as i64 - 1);
        assert_eq!(marker(&bak), "before the update");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&bak).expect("bak").permissions().mode() & 0o777, 0o600);
        assert_eq!(version(&db), known as i64);

        // The older daemon (it knows one migration less) after a rollback.
        let done = prepare(&db, known as i64 - 1).expect("prepare");
        let Prepared::Restored { found, set_aside, .. } = done else { panic!("not restored: {done:?}") };
        assert_eq!(found, known as i64);
        assert_eq!(version(&db), known as i64 - 1);
        assert_eq!(marker(&db), "before the update");
        assert_eq!(marker(&set_aside), "written by the new version", "the newer data is kept aside");
        // Running it again changes nothing.
        assert_eq!(prepare(&db, known as i64 - 1).expect("again"), Prepared::Nothing);
    }

    #[test]
    fn a_newer_database_without_a_copy_is_refused_untouched() {
        let dir = tempfile::tempdir().expect("tmp");
        let db = dir.path().join("spot.db");
        at_schema(&db, MIGRATIONS.len(), "new");
        let err = prepare(&db, MIGRATIONS.len() as i64 - 1).expect_err("refused");
        assert!(err.to_string().contains("no copy"), "{err}");
        assert_eq!(marker(&db), "new");
        // A new database and one already current need no copy.
        assert_eq!(prepare(&db, MIGRATIONS.len() as i64).expect("current"), Prepared::Nothing);
        assert_eq!(prepare(&dir.path().join("none.db"), 4).expect("none"), Prepared::Nothing);
    }
}
