//! The admin's media server (Jellyfin): its address and API key, one `meta` row. The key is a
//! secret: it is never written to the audit log or a `Debug` line.

use crate::admin::audit;
use crate::{Result, Store};
use chat::ids::UserId;
use rusqlite::params;
use serde::{Deserialize, Serialize};

const KEY: &str = "media_server.jellyfin";

/// A Jellyfin server the box may play from.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaServer {
    /// The base address, as the admin entered it (`http://192.168.1.20:8096`).
    pub url: String,
    pub api_key: String,
}

impl std::fmt::Debug for MediaServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaServer").field("url", &self.url).field("api_key", &"…").finish()
    }
}

impl Store {
    /// The configured Jellyfin server, if any (an unreadable row counts as none).
    pub fn jellyfin(&self) -> Result<Option<MediaServer>> {
        Ok(self.meta_get(KEY)?.and_then(|s| serde_json::from_str(&s).ok()))
    }

    /// Set (or, with `None`, forget) the Jellyfin server; audited without the key.
    pub fn set_jellyfin(&self, server: Option<&MediaServer>, now: i64, by: UserId) -> Result<()> {
        let json = server
            .map(|s| serde_json::to_string(s).map_err(|e| crate::Error::Internal(e.to_string())))
            .transpose()?;
        self.write(|t| {
            match &json {
                Some(j) => t.conn().execute(
                    "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    params![KEY, j],
                )?,
                None => t.conn().execute("DELETE FROM meta WHERE key = ?1", [KEY])?,
            };
            let detail = serde_json::json!({"url": server.map(|s| s.url.as_str())});
            audit(t, by, "jellyfin.update", "box", detail, now)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chat::model::Role;

    #[test]
    fn the_server_is_kept_forgotten_and_its_key_never_audited() {
        let dir = tempfile::tempdir().expect("dir");
        let s = Store::open(dir.path().join("t.db")).expect("open");
        let u = s.create_user("ann", "Ann", "hash", Role::Admin, 1).expect("user").id;
        assert_eq!(s.jellyfin().expect("read"), None);
        let jf = MediaServer { url: "http://192.168.1.20:8096".into(), api_key: "sekrit-key-123".into() };
        s.set_jellyfin(Some(&jf), 10, u).expect("set");
        assert_eq!(s.jellyfin().expect("read"), Some(jf.clone()));
        assert!(!format!("{jf:?}").contains("sekrit"));
        s.set_jellyfin(None, 11, u).expect("forget");
        assert_eq!(s.jellyfin().expect("read"), None);
        let log = s.audit_log(None, 10).expect("audit");
        assert_eq!(log.iter().filter(|e| e.action == "jellyfin.update").count(), 2);
        assert!(log.iter().all(|e| !e.detail.to_string().contains("sekrit")), "{log:?}");
        assert!(log.iter().any(|e| e.detail["url"] == "http://192.168.1.20:8096"));
    }
}
