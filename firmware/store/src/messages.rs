//! Messages: send (idempotent by nonce), edit, delete (tombstone), history pages, reactions,
//! pins, mentions. Every message that leaves the store is "hydrated": its thread summary,
//! reactions, mentions, attachments and embeds are filled in.

use crate::access::authorize;
use crate::channels::get_channel;
use crate::{optional, Result, Store, Tx};
use chat::events::{Audience, EventKind};
use chat::ids::{AttachmentId, ChannelId, EmbedId, MessageId, UserId};
use chat::model::{ChannelKind, Embed, Message, Reaction, ThreadSummary};
use chat::perms::{Action, Actor};
use rusqlite::{params, Connection, Row};

pub(crate) const COLS: &str = "id, channel_id, author_id, content, reply_to, created_at, edited_at, deleted_at, nonce,
    pinned_at, pinned_by, mention_everyone";

pub(crate) fn message_row(r: &Row<'_>) -> rusqlite::Result<Message> {
    Ok(Message {
        id: MessageId(r.get(0)?),
        channel_id: ChannelId(r.get(1)?),
        author_id: UserId(r.get(2)?),
        content: r.get(3)?,
        reply_to: r.get::<_, Option<i64>>(4)?.map(MessageId),
        created_at: r.get(5)?,
        edited_at: r.get(6)?,
        deleted: r.get::<_, Option<i64>>(7)?.is_some(),
        nonce: r.get(8)?,
        pinned_at: r.get(9)?,
        pinned_by: r.get::<_, Option<i64>>(10)?.map(UserId),
        mention_everyone: r.get::<_, i64>(11)? != 0,
        thread: None,
        reactions: Vec::new(),
        mentions: Vec::new(),
        attachments: Vec::new(),
        embeds: Vec::new(),
    })
}

/// One message, hydrated.
pub(crate) fn get_message(c: &Connection, id: MessageId) -> Result<Message> {
    let m = optional(c.query_row(&format!("SELECT {COLS} FROM messages WHERE id = ?1"), [id.0], message_row))?
        .ok_or_else(|| chat::Error::not_found("unknown_message", "No such message."))?;
    let mut v = [m];
    hydrate(c, &mut v)?;
    let [m] = v;
    Ok(m)
}

/// Fill in what lives in other tables.
pub(crate) fn hydrate(c: &Connection, msgs: &mut [Message]) -> Result<()> {
    if msgs.is_empty() {
        return Ok(());
    }
    let ids: Vec<MessageId> = msgs.iter().map(|m| m.id).collect();
    let mut files = crate::files::for_messages(c, &ids)?;
    let mut thread = c.prepare_cached(
        "SELECT t.id, t.name, (SELECT count(*) FROM messages x WHERE x.channel_id = t.id AND x.deleted_at IS NULL),
                (SELECT max(x.created_at) FROM messages x WHERE x.channel_id = t.id)
         FROM channels t WHERE t.parent_message_id = ?1",
    )?;
    let mut reactions = c.prepare_cached(
        "SELECT emoji, group_concat(user_id) FROM (SELECT emoji, user_id, created_at FROM reactions WHERE message_id = ?1 ORDER BY created_at)
         GROUP BY emoji ORDER BY min(created_at)",
    )?;
    let mut mentions = c.prepare_cached("SELECT user_id FROM mentions WHERE message_id = ?1 ORDER BY user_id")?;
    let mut embeds = c.prepare_cached(
        "SELECT e.id, e.url, e.title, e.description, e.site_name, e.image_file IS NOT NULL FROM message_embeds me
         JOIN embeds e ON e.id = me.embed_id WHERE me.message_id = ?1 AND e.status = 'ok' ORDER BY me.position",
    )?;
    for m in msgs.iter_mut() {
        if m.deleted {
            continue;
        }
        m.thread = optional(thread.query_row([m.id.0], |r| {
            Ok(ThreadSummary { id: ChannelId(r.get(0)?), name: r.get(1)?, reply_count: r.get(2)?, last_reply_at: r.get(3)? })
        }))?;
        m.reactions = reactions
            .query_map([m.id.0], |r| {
                let emoji: String = r.get(0)?;
                let users: String = r.get(1)?;
                let user_ids: Vec<UserId> = users.split(',').filter_map(|s| s.parse().ok()).map(UserId).collect();
                Ok(Reaction { emoji, count: user_ids.len() as i64, user_ids })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        m.mentions = mentions.query_map([m.id.0], |r| Ok(UserId(r.get(0)?)))?.collect::<rusqlite::Result<Vec<_>>>()?;
        m.attachments = files.remove(&m.id).unwrap_or_default();
        m.embeds = embeds
            .query_map([m.id.0], |r| {
                let id = EmbedId(r.get(0)?);
                let has_image: bool = r.get(5)?;
                Ok(Embed {
                    id,
                    url: r.get(1)?,
                    title: r.get(2)?,
                    description: r.get(3)?,
                    site_name: r.get(4)?,
                    image_url: has_image.then(|| format!("/api/embeds/{id}/image")),
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
    }
    Ok(())
}

/// Record who a message mentions (users who can see the channel) and whether it has links.
fn index_content(t: &Tx<'_>, msg: MessageId, channel: &chat::model::Channel, content: &str, now: i64) -> Result<()> {
    let c = t.conn();
    let (names, everyone) = chat::text::mentions(content);
    c.execute("DELETE FROM mentions WHERE message_id = ?1", [msg.0])?;
    let mut find = c.prepare_cached("SELECT id FROM users WHERE username = ?1 AND disabled = 0")?;
    for name in names {
        let Some(uid) = optional(find.query_row([&name], |r| r.get::<_, i64>(0)))? else { continue };
        if crate::access::can_view(c, UserId(uid), channel, now)? {
            c.execute(
                "INSERT OR IGNORE INTO mentions (message_id, user_id, channel_id) VALUES (?1, ?2, ?3)",
                params![msg.0, uid, channel.id.0],
            )?;
            if channel.kind == ChannelKind::Thread {
                // Being mentioned in a thread makes you follow it.
                crate::channels::follow(c, UserId(uid), channel.id)?;
            }
        }
    }
    let has_link = !chat::text::links(content, 1).is_empty();
    c.execute(
        "UPDATE messages SET mention_everyone = ?2, has_link = ?3 WHERE id = ?1",
        params![msg.0, everyone as i64, has_link as i64],
    )?;
    Ok(())
}

/// A thread changed (a reply came or went): its parent message's summary changed too.
fn touch_thread_parent(t: &mut Tx<'_>, channel: &chat::model::Channel, now: i64) -> Result<()> {
    if let (ChannelKind::Thread, Some(parent_msg)) = (channel.kind, channel.parent_message_id) {
        let parent = get_message(t.conn(), parent_msg)?;
        t.emit(EventKind::MessageUpdate, Audience::Channel(parent.channel_id), &parent, now)?;
    }
    Ok(())
}

/// Which page of history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    /// The newest messages.
    Latest,
    Before(MessageId),
    After(MessageId),
    /// Half before, the message itself, half after.
    Around(MessageId),
}

/// What `send_message` needs besides the content.
pub struct NewMessage<'a> {
    pub channel: ChannelId,
    pub author: UserId,
    pub content: &'a str,
    pub reply_to: Option<MessageId>,
    pub nonce: Option<&'a str>,
    /// The author's own unsent uploads.
    pub attachments: &'a [AttachmentId],
}

impl Store {
    /// Store a message if `actor` may post in its channel. Returns the message and whether it
    /// was created now (`false`: the nonce was seen before; nothing changed).
    pub fn send_message(&self, m: NewMessage<'_>, now: i64, actor: Actor) -> Result<(Message, bool)> {
        self.write(|t| {
            if let Some(nonce) = m.nonce {
                let existing = optional(t.conn().query_row(
                    "SELECT id FROM messages WHERE author_id = ?1 AND nonce = ?2",
                    params![m.author.0, nonce],
                    |r| r.get::<_, i64>(0),
                ))?;
                if let Some(existing) = existing {
                    return Ok((get_message(t.conn(), MessageId(existing))?, false));
                }
            }
            // Voice channels carry the room's own text chat, under the same rules as text ones.
            let (channel, _) = authorize(t.conn(), actor, m.channel, Action::SendMessage)?;
            if let Some(parent) = m.reply_to {
                let ok: bool = t.conn().query_row(
                    "SELECT EXISTS (SELECT 1 FROM messages WHERE id = ?1 AND channel_id = ?2)",
                    params![parent.0, m.channel.0],
                    |r| r.get(0),
                )?;
                if !ok {
                    return Err(chat::Error::invalid("invalid_reply", "The message you reply to is not in this channel.").into());
                }
            }
            if m.content.trim().is_empty() && m.attachments.is_empty() {
                return Err(chat::Error::invalid("empty_message", "Write something or attach a file.").into());
            }
            let id = t.next_message_id(now);
            t.conn().execute(
                "INSERT INTO messages (id, channel_id, author_id, content, reply_to, created_at, nonce)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![id.0, m.channel.0, m.author.0, m.content, m.reply_to.map(|r| r.0), now, m.nonce],
            )?;
            crate::files::attach(t.conn(), m.author, id, m.attachments)?;
            index_content(t, id, &channel, m.content, now)?;
            if channel.kind == ChannelKind::Thread {
                crate::channels::follow(t.conn(), m.author, channel.id)?;
            }
            let msg = get_message(t.conn(), id)?;
            t.emit(EventKind::MessageCreate, Audience::Channel(m.channel), &msg, now)?;
            touch_thread_parent(t, &channel, now)?;
            Ok((msg, true))
        })
    }

    pub fn message(&self, id: MessageId) -> Result<Message> {
        self.read(|c| get_message(c, id))
    }

    pub fn edit_message(&self, id: MessageId, content: &str, now: i64, actor: Actor) -> Result<Message> {
        self.write(|t| {
            let msg = get_message(t.conn(), id)?;
            let (channel, _) = authorize(t.conn(), actor, msg.channel_id, Action::EditMessage { author: msg.author_id })?;
            if msg.deleted {
                return Err(chat::Error::conflict("message_deleted", "This message was deleted.").into());
            }
            if msg.content == content {
                return Ok(msg);
            }
            if content.trim().is_empty() && msg.attachments.is_empty() {
                return Err(chat::Error::invalid("empty_message", "A message cannot be empty: delete it instead.").into());
            }
            t.conn().execute(
                "UPDATE messages SET content = ?2, edited_at = ?3 WHERE id = ?1",
                params![id.0, content, now],
            )?;
            index_content(t, id, &channel, content, now)?;
            let msg = get_message(t.conn(), id)?;
            t.emit(EventKind::MessageUpdate, Audience::Channel(msg.channel_id), &msg, now)?;
            Ok(msg)
        })
    }

    /// Delete a message, leaving a tombstone: the row stays (replies and paging keep working),
    /// the content is erased.
    /// Returns the tombstone and the stored files of its attachments (to remove from disk).
    pub fn delete_message(&self, id: MessageId, now: i64, actor: Actor) -> Result<(Message, Vec<String>)> {
        self.write(|t| {
            let msg = get_message(t.conn(), id)?;
            let (channel, _) = authorize(t.conn(), actor, msg.channel_id, Action::DeleteMessage { author: msg.author_id })?;
            if msg.deleted {
                return Ok((msg, Vec::new()));
            }
            t.conn().execute(
                "UPDATE messages SET content = '', deleted_at = ?2, pinned_at = NULL, pinned_by = NULL WHERE id = ?1",
                params![id.0, now],
            )?;
            for table in ["reactions", "mentions", "message_embeds"] {
                t.conn().execute(&format!("DELETE FROM {table} WHERE message_id = ?1"), [id.0])?;
            }
            let files = crate::files::delete_for_message(t.conn(), id)?;
            let msg = get_message(t.conn(), id)?;
            t.emit(EventKind::MessageDelete, Audience::Channel(msg.channel_id), &msg, now)?;
            touch_thread_parent(t, &channel, now)?;
            Ok((msg, files))
        })
    }

    /// Add (`on`) or remove a reaction. Adding one that is there, or removing one that is not,
    /// changes nothing.
    pub fn react(&self, id: MessageId, emoji: &str, on: bool, now: i64, actor: Actor) -> Result<Message> {
        self.write(|t| {
            let msg = get_message(t.conn(), id)?;
            authorize(t.conn(), actor, msg.channel_id, if on { Action::React } else { Action::ViewChannel })?;
            if msg.deleted {
                return Err(chat::Error::conflict("message_deleted", "This message was deleted.").into());
            }
            let changed = if on {
                let distinct: i64 = t.conn().query_row(
                    "SELECT count(DISTINCT emoji) FROM reactions WHERE message_id = ?1 AND emoji != ?2",
                    params![id.0, emoji],
                    |r| r.get(0),
                )?;
                if distinct >= 20 {
                    return Err(chat::Error::invalid("too_many_reactions", "A message can have 20 different reactions.").into());
                }
                t.conn().execute(
                    "INSERT OR IGNORE INTO reactions (message_id, emoji, user_id, created_at) VALUES (?1, ?2, ?3, ?4)",
                    params![id.0, emoji, actor.id.0, now],
                )?
            } else {
                t.conn().execute(
                    "DELETE FROM reactions WHERE message_id = ?1 AND emoji = ?2 AND user_id = ?3",
                    params![id.0, emoji, actor.id.0],
                )?
            };
            let msg = get_message(t.conn(), id)?;
            if changed > 0 {
                t.emit(EventKind::MessageUpdate, Audience::Channel(msg.channel_id), &msg, now)?;
            }
            Ok(msg)
        })
    }

    pub fn pin(&self, id: MessageId, on: bool, now: i64, actor: Actor) -> Result<Message> {
        self.write(|t| {
            let msg = get_message(t.conn(), id)?;
            authorize(t.conn(), actor, msg.channel_id, Action::Pin)?;
            if msg.deleted {
                return Err(chat::Error::conflict("message_deleted", "This message was deleted.").into());
            }
            if msg.pinned_at.is_some() == on {
                return Ok(msg);
            }
            if on {
                let pins: i64 = t.conn().query_row(
                    "SELECT count(*) FROM messages WHERE channel_id = ?1 AND pinned_at IS NOT NULL",
                    [msg.channel_id.0],
                    |r| r.get(0),
                )?;
                if pins >= 100 {
                    return Err(chat::Error::invalid("too_many_pins", "A channel holds at most 100 pins: unpin one first.").into());
                }
                t.conn().execute("UPDATE messages SET pinned_at = ?2, pinned_by = ?3 WHERE id = ?1", params![id.0, now, actor.id.0])?;
            } else {
                t.conn().execute("UPDATE messages SET pinned_at = NULL, pinned_by = NULL WHERE id = ?1", [id.0])?;
            }
            let msg = get_message(t.conn(), id)?;
            t.emit(EventKind::MessageUpdate, Audience::Channel(msg.channel_id), &msg, now)?;
            Ok(msg)
        })
    }

    /// A channel's pinned messages, newest pin first.
    pub fn pins(&self, channel: ChannelId) -> Result<Vec<Message>> {
        self.read(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {COLS} FROM messages WHERE channel_id = ?1 AND pinned_at IS NOT NULL ORDER BY pinned_at DESC"
            ))?;
            let mut v = st.query_map([channel.0], message_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
            hydrate(c, &mut v)?;
            Ok(v)
        })
    }

    /// One page of a channel's history, oldest first.
    pub fn history(&self, channel: ChannelId, page: Page, limit: usize) -> Result<Vec<Message>> {
        self.read(|c| {
            get_channel(c, channel)?;
            let limit = limit as i64;
            let q = |sql: &str, anchor: i64, n: i64| -> Result<Vec<Message>> {
                let mut st = c.prepare_cached(sql)?;
                let v = st.query_map(params![channel.0, anchor, n], message_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
                Ok(v)
            };
            let before = format!("SELECT {COLS} FROM messages WHERE channel_id = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3");
            let after = format!("SELECT {COLS} FROM messages WHERE channel_id = ?1 AND id > ?2 ORDER BY id ASC LIMIT ?3");
            let mut out = match page {
                Page::Latest => {
                    let mut v = q(&before, i64::MAX, limit)?;
                    v.reverse();
                    v
                }
                Page::Before(id) => {
                    let mut v = q(&before, id.0, limit)?;
                    v.reverse();
                    v
                }
                Page::After(id) => q(&after, id.0, limit)?,
                Page::Around(id) => {
                    let centre = get_message(c, id)?;
                    if centre.channel_id != channel {
                        return Err(chat::Error::not_found("unknown_message", "No such message in this channel.").into());
                    }
                    let half = (limit - 1) / 2;
                    let mut v = q(&before, id.0, half)?;
                    v.reverse();
                    v.push(centre);
                    v.extend(q(&after, id.0, limit - 1 - half)?);
                    v
                }
            };
            out.truncate(limit as usize);
            hydrate(c, &mut out)?;
            Ok(out)
        })
    }

    /// Number of messages (benchmarks and tests).
    pub fn message_count(&self) -> Result<i64> {
        self.read(|c| Ok(c.query_row("SELECT count(*) FROM messages", [], |r| r.get(0))?))
    }
}
