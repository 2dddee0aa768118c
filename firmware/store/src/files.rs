//! Uploaded files and custom emoji: their rows, per-user storage accounting, and the queries
//! behind exports. The bytes live in the data directory under random stored names and are
//! written and removed by the server (`server::files`); the store hands back the stored names
//! of whatever it forgets, so the caller can unlink them after the commit.
//! Rows come back as plain data: an attachment's addresses follow from its ID and name
//! (`chat::model::Attachment::new`), and a full quota is numbers ([`OverQuota`]) that the server
//! puts into words.

use crate::admin::audit;
use crate::messages::{hydrate, message_row, COLS};
use crate::{optional, Result, Store};
use chat::events::{Audience, EventKind};
use chat::ids::{AttachmentId, ChannelId, EmojiId, MessageId, UserId};
use chat::model::{Attachment, CustomEmoji, Message};
use rusqlite::{params, Connection, Row};
use serde::Serialize;
use std::collections::HashMap;

/// Most attachments on one message.
pub const MAX_ATTACHMENTS: usize = 10;
/// Most custom emoji on a box.
pub const MAX_EMOJI: i64 = 500;

const ATT_COLS: &str = "a.id, a.filename, a.content_type, a.size, a.width, a.height, a.thumb_name IS NOT NULL";

fn attachment_row(r: &Row<'_>) -> rusqlite::Result<Attachment> {
    Ok(Attachment::new(AttachmentId(r.get(0)?), r.get(1)?, r.get(2)?, r.get(3)?, (r.get(4)?, r.get(5)?), r.get(6)?))
}

fn unknown_attachment() -> chat::Error {
    chat::Error::invalid("unknown_attachment", "One of the attached files is not your unsent upload.")
}

/// Tie the uploader's unsent uploads to their new message (inside its transaction).
pub(crate) fn attach(c: &Connection, uploader: UserId, message: MessageId, ids: &[AttachmentId]) -> Result<()> {
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    if ids.len() > MAX_ATTACHMENTS {
        return Err(chat::Error::invalid("too_many_attachments", format!("A message holds at most {MAX_ATTACHMENTS} files.")).into());
    }
    let mut st = c.prepare_cached(
        "UPDATE attachments SET message_id = ?3 WHERE id = ?1 AND uploader_id = ?2 AND message_id IS NULL",
    )?;
    for id in ids {
        if st.execute(params![id.0, uploader.0, message.0])? != 1 {
            return Err(unknown_attachment().into());
        }
    }
    Ok(())
}

/// The attachments of these messages, in upload order.
pub(crate) fn for_messages(c: &Connection, ids: &[MessageId]) -> Result<HashMap<MessageId, Vec<Attachment>>> {
    let mut st = c.prepare_cached(&format!("SELECT {ATT_COLS} FROM attachments a WHERE a.message_id = ?1 ORDER BY a.id"))?;
    let mut out = HashMap::new();
    for id in ids {
        let v = st.query_map([id.0], attachment_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
        if !v.is_empty() {
            out.insert(*id, v);
        }
    }
    Ok(out)
}

/// Forget a deleted message's attachments; returns the stored names (files and thumbnails) to
/// remove from disk once the transaction has committed.
pub(crate) fn delete_for_message(c: &Connection, message: MessageId) -> Result<Vec<String>> {
    let names = stored_names(c, "SELECT stored_name, thumb_name FROM attachments WHERE message_id = ?1", message.0)?;
    c.execute("DELETE FROM attachments WHERE message_id = ?1", [message.0])?;
    Ok(names)
}

fn stored_names(c: &Connection, sql: &str, arg: i64) -> Result<Vec<String>> {
    let mut st = c.prepare_cached(sql)?;
    let rows = st.query_map([arg], |r| Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?)))?;
    let mut out = Vec::new();
    for row in rows {
        let (file, thumb) = row?;
        out.push(file);
        out.extend(thumb);
    }
    Ok(out)
}

/// A new upload, already on disk.
#[derive(Debug, Clone)]
pub struct NewAttachment<'a> {
    pub uploader: UserId,
    pub filename: &'a str,
    pub content_type: &'a str,
    pub size: u64,
    /// Hex SHA-256 of the bytes.
    pub sha256: &'a str,
    pub stored_name: &'a str,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub thumb_name: Option<&'a str>,
}

/// An upload that would take its uploader past their quota: what they use, and the quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OverQuota {
    pub used: u64,
    pub quota: u64,
}

/// An attachment with what serving it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAttachment {
    pub attachment: Attachment,
    pub uploader_id: UserId,
    /// `None` while unsent.
    pub message_id: Option<MessageId>,
    /// The channel of its message (`None` while unsent).
    pub channel_id: Option<ChannelId>,
    pub stored_name: String,
    pub thumb_name: Option<String>,
    pub sha256: String,
    pub created_at: i64,
}

/// One of a user's own messages, as their export lists it.
#[derive(Debug, Clone, Serialize)]
pub struct UserExportMessage {
    pub id: MessageId,
    pub channel_id: ChannelId,
    pub channel_name: String,
    pub content: String,
    pub reply_to: Option<MessageId>,
    pub created_at: i64,
    pub edited_at: Option<i64>,
    pub attachments: Vec<Attachment>,
}

/// A page of a channel's export: its messages and the files to include.
#[derive(Debug, Clone, Default)]
pub struct ChannelExportPage {
    pub messages: Vec<Message>,
    /// `(id, filename, stored name)` of every attachment on these messages.
    pub files: Vec<(AttachmentId, String, String)>,
}

fn emoji_row(r: &Row<'_>) -> rusqlite::Result<CustomEmoji> {
    Ok(CustomEmoji::new(EmojiId(r.get(0)?), r.get(1)?))
}

fn get_emoji(c: &Connection, id: EmojiId) -> Result<CustomEmoji> {
    optional(c.query_row("SELECT id, name FROM custom_emoji WHERE id = ?1", [id.0], emoji_row))?
        .ok_or_else(|| chat::Error::not_found("unknown_emoji", "No such emoji.").into())
}

fn used_by(c: &Connection, user: UserId) -> Result<u64> {
    let n: i64 = c.query_row("SELECT coalesce(sum(size), 0) FROM attachments WHERE uploader_id = ?1", [user.0], |r| r.get(0))?;
    Ok(n.max(0) as u64)
}

impl Store {
    /// Record an upload (its file is already on disk), if the uploader's files then still fit
    /// in `quota` bytes. Checked inside the write, so concurrent uploads cannot both squeeze in;
    /// when it does not fit, how much is used (the server says so in words).
    pub fn create_attachment(&self, a: &NewAttachment<'_>, quota: u64, now: i64) -> Result<Result<Attachment, OverQuota>> {
        self.write(|t| {
            let used = used_by(t.conn(), a.uploader)?;
            if used.saturating_add(a.size) > quota {
                return Ok(Err(OverQuota { used, quota }));
            }
            t.conn().execute(
                "INSERT INTO attachments (uploader_id, filename, content_type, size, sha256, stored_name, width, height,
                                          thumb_name, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![
                    a.uploader.0,
                    a.filename,
                    a.content_type,
                    a.size as i64,
                    a.sha256,
                    a.stored_name,
                    a.width,
                    a.height,
                    a.thumb_name,
                    now
                ],
            )?;
            let id = t.conn().last_insert_rowid();
            Ok(Ok(t.conn().query_row(&format!("SELECT {ATT_COLS} FROM attachments a WHERE a.id = ?1"), [id], attachment_row)?))
        })
    }

    /// An attachment with its uploader, message and channel (to decide who may download it).
    pub fn attachment(&self, id: AttachmentId) -> Result<Option<StoredAttachment>> {
        self.read(|c| {
            let sql = format!(
                "SELECT {ATT_COLS}, a.uploader_id, a.message_id, m.channel_id, a.stored_name, a.thumb_name, a.sha256, a.created_at
                 FROM attachments a LEFT JOIN messages m ON m.id = a.message_id WHERE a.id = ?1"
            );
            optional(c.query_row(&sql, [id.0], |r| {
                Ok(StoredAttachment {
                    attachment: attachment_row(r)?,
                    uploader_id: UserId(r.get(7)?),
                    message_id: r.get::<_, Option<i64>>(8)?.map(MessageId),
                    channel_id: r.get::<_, Option<i64>>(9)?.map(ChannelId),
                    stored_name: r.get(10)?,
                    thumb_name: r.get(11)?,
                    sha256: r.get(12)?,
                    created_at: r.get(13)?,
                })
            }))
        })
    }

    /// Bytes of the user's uploads (sent or not).
    pub fn storage_used(&self, user: UserId) -> Result<u64> {
        self.read(|c| used_by(c, user))
    }

    /// Forget uploads never sent, created before `before` (Unix ms); returns the stored names
    /// to unlink.
    pub fn prune_unattached(&self, before: i64) -> Result<Vec<String>> {
        self.write(|t| {
            let mut names = Vec::new();
            {
                let mut st = t.conn().prepare_cached(
                    "SELECT stored_name, thumb_name FROM attachments WHERE message_id IS NULL AND created_at < ?1",
                )?;
                let rows = st.query_map([before], |r| Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?)))?;
                for row in rows {
                    let (f, th) = row?;
                    names.push(f);
                    names.extend(th);
                }
            }
            t.conn().execute("DELETE FROM attachments WHERE message_id IS NULL AND created_at < ?1", [before])?;
            Ok(names)
        })
    }

    /// Every stored name the database knows (files, thumbnails and emoji), to find files on
    /// disk that no row owns (e.g. written just before a power cut).
    pub fn known_stored_names(&self) -> Result<std::collections::HashSet<String>> {
        self.read(|c| {
            let mut out = std::collections::HashSet::new();
            let mut st = c.prepare_cached(
                "SELECT stored_name FROM attachments UNION ALL SELECT thumb_name FROM attachments WHERE thumb_name IS NOT NULL
                 UNION ALL SELECT stored_name FROM custom_emoji",
            )?;
            for n in st.query_map([], |r| r.get::<_, String>(0))? {
                out.insert(n?);
            }
            Ok(out)
        })
    }

    /// Every custom emoji, by name.
    pub fn custom_emoji(&self) -> Result<Vec<CustomEmoji>> {
        self.read(|c| {
            let mut st = c.prepare_cached("SELECT id, name FROM custom_emoji ORDER BY name")?;
            let v = st.query_map([], emoji_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(v)
        })
    }

    /// An emoji's stored file name and content type.
    pub fn emoji_file(&self, id: EmojiId) -> Result<(String, String)> {
        self.read(|c| {
            optional(c.query_row("SELECT stored_name, content_type FROM custom_emoji WHERE id = ?1", [id.0], |r| {
                Ok((r.get(0)?, r.get(1)?))
            }))?
            .ok_or_else(|| chat::Error::not_found("unknown_emoji", "No such emoji.").into())
        })
    }

    /// Add a custom emoji (its image is already on disk). `name` is validated by the caller
    /// (`chat::text::emoji_name`); the admin check too.
    pub fn create_emoji(&self, name: &str, stored_name: &str, content_type: &str, by: UserId, now: i64) -> Result<CustomEmoji> {
        self.write(|t| {
            let n: i64 = t.conn().query_row("SELECT count(*) FROM custom_emoji", [], |r| r.get(0))?;
            if n >= MAX_EMOJI {
                return Err(chat::Error::invalid("too_many_emoji", format!("The box holds at most {MAX_EMOJI} custom emoji.")).into());
            }
            let taken: bool = t.conn().query_row("SELECT EXISTS (SELECT 1 FROM custom_emoji WHERE name = ?1)", [name], |r| r.get(0))?;
            if taken {
                return Err(chat::Error::conflict("emoji_exists", format!("There is already an emoji called :{name}:.")).into());
            }
            t.conn().execute(
                "INSERT INTO custom_emoji (name, stored_name, content_type, created_by, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![name, stored_name, content_type, by.0, now],
            )?;
            let emoji = get_emoji(t.conn(), EmojiId(t.conn().last_insert_rowid()))?;
            audit(t, by, "emoji.create", &format!("emoji:{}", emoji.id), serde_json::json!({"name": name}), now)?;
            t.emit(EventKind::EmojiCreate, Audience::Everyone, &emoji, now)?;
            Ok(emoji)
        })
    }

    /// Remove a custom emoji; returns its stored file name to unlink.
    pub fn delete_emoji(&self, id: EmojiId, by: UserId, now: i64) -> Result<String> {
        self.write(|t| {
            let emoji = get_emoji(t.conn(), id)?;
            let stored: String = t.conn().query_row("SELECT stored_name FROM custom_emoji WHERE id = ?1", [id.0], |r| r.get(0))?;
            t.conn().execute("DELETE FROM custom_emoji WHERE id = ?1", [id.0])?;
            audit(t, by, "emoji.delete", &format!("emoji:{id}"), serde_json::json!({"name": emoji.name}), now)?;
            t.emit(EventKind::EmojiDelete, Audience::Everyone, &serde_json::json!({"id": id}), now)?;
            Ok(stored)
        })
    }

    /// A page of the user's own messages (not deleted), oldest first, after `after`.
    pub fn export_user_messages(&self, user: UserId, after: Option<MessageId>, limit: usize) -> Result<Vec<UserExportMessage>> {
        self.read(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {COLS} FROM messages WHERE author_id = ?1 AND deleted_at IS NULL AND id > ?2 ORDER BY id LIMIT ?3"
            ))?;
            let msgs = st
                .query_map(params![user.0, after.map_or(0, |a| a.0), limit as i64], message_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let ids: Vec<MessageId> = msgs.iter().map(|m| m.id).collect();
            let mut files = for_messages(c, &ids)?;
            let mut names: HashMap<ChannelId, String> = HashMap::new();
            let mut name_of = c.prepare_cached("SELECT name FROM channels WHERE id = ?1")?;
            let mut out = Vec::with_capacity(msgs.len());
            for m in msgs {
                let channel_name = match names.get(&m.channel_id) {
                    Some(n) => n.clone(),
                    None => {
                        let n: String = optional(name_of.query_row([m.channel_id.0], |r| r.get(0)))?.unwrap_or_default();
                        names.insert(m.channel_id, n.clone());
                        n
                    }
                };
                out.push(UserExportMessage {
                    id: m.id,
                    channel_id: m.channel_id,
                    channel_name,
                    content: m.content,
                    reply_to: m.reply_to,
                    created_at: m.created_at,
                    edited_at: m.edited_at,
                    attachments: files.remove(&m.id).unwrap_or_default(),
                });
            }
            Ok(out)
        })
    }

    /// A page of a channel's messages (not deleted, hydrated), oldest first, after `after`,
    /// with the files of their attachments. The caller checks the permission.
    pub fn export_channel_page(&self, channel: ChannelId, after: Option<MessageId>, limit: usize) -> Result<ChannelExportPage> {
        self.read(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {COLS} FROM messages WHERE channel_id = ?1 AND deleted_at IS NULL AND id > ?2 ORDER BY id LIMIT ?3"
            ))?;
            let mut messages = st
                .query_map(params![channel.0, after.map_or(0, |a| a.0), limit as i64], message_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            hydrate(c, &mut messages)?;
            let mut files = Vec::new();
            let mut stored = c.prepare_cached("SELECT stored_name FROM attachments WHERE id = ?1")?;
            for m in &messages {
                for a in &m.attachments {
                    if let Some(s) = optional(stored.query_row([a.id.0], |r| r.get::<_, String>(0)))? {
                        files.push((a.id, a.filename.clone(), s));
                    }
                }
            }
            Ok(ChannelExportPage { messages, files })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chat::model::Role;

    #[test]
    fn an_upload_past_the_quota_is_plain_data_and_leaves_no_row() {
        let dir = tempfile::tempdir().expect("dir");
        let s = Store::open(dir.path().join("t.db")).expect("open");
        let u = s.create_user("ann", "Ann", "hash", Role::Member, 1).expect("user").id;
        let new = |name: &'static str, size| NewAttachment {
            uploader: u,
            filename: "a.bin",
            content_type: "application/octet-stream",
            size,
            sha256: "00",
            stored_name: name,
            width: None,
            height: None,
            thumb_name: None,
        };
        let a = s.create_attachment(&new("0123456789abcdef0123456789abcdef", 600), 1000, 1).expect("db").expect("fits");
        assert_eq!((a.url.as_str(), a.thumb_url.as_deref()), (format!("/api/attachments/{}/a.bin", a.id).as_str(), None));
        let over = s.create_attachment(&new("fedcba9876543210fedcba9876543210", 500), 1000, 2).expect("db");
        assert_eq!(over, Err(OverQuota { used: 600, quota: 1000 }));
        assert_eq!(s.storage_used(u).expect("used"), 600);
    }
}
