//! Messages: send (idempotent by nonce), edit, delete (tombstone), history pages.

use crate::channels::get_channel;
use crate::{optional, Result, Store};
use chat::events::{Audience, EventKind};
use chat::ids::{ChannelId, MessageId, UserId};
use chat::model::{Channel, Message};
use rusqlite::{params, Connection, Row};

const COLS: &str = "id, channel_id, author_id, content, reply_to, created_at, edited_at, deleted_at, nonce";

fn message_row(r: &Row<'_>) -> rusqlite::Result<Message> {
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
    })
}

fn get_message(c: &Connection, id: MessageId) -> Result<Message> {
    optional(c.query_row(&format!("SELECT {COLS} FROM messages WHERE id = ?1"), [id.0], message_row))?
        .ok_or_else(|| chat::Error::not_found("unknown_message", "No such message.").into())
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
}

impl Store {
    /// Store a message. `authorize` sees the channel inside the transaction. Returns the message
    /// and whether it was created now (`false`: the nonce was seen before; nothing changed).
    pub fn send_message(
        &self,
        m: NewMessage<'_>,
        now: i64,
        authorize: impl FnOnce(&Channel) -> chat::error::Result<()>,
    ) -> Result<(Message, bool)> {
        self.write(|t| {
            if let Some(nonce) = m.nonce {
                let existing = optional(t.conn().query_row(
                    &format!("SELECT {COLS} FROM messages WHERE author_id = ?1 AND nonce = ?2"),
                    params![m.author.0, nonce],
                    message_row,
                ))?;
                if let Some(existing) = existing {
                    return Ok((existing, false));
                }
            }
            let channel = get_channel(t.conn(), m.channel)?;
            authorize(&channel)?;
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
            let id = t.next_message_id(now);
            t.conn().execute(
                "INSERT INTO messages (id, channel_id, author_id, content, reply_to, created_at, nonce)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![id.0, m.channel.0, m.author.0, m.content, m.reply_to.map(|r| r.0), now, m.nonce],
            )?;
            let msg = get_message(t.conn(), id)?;
            t.emit(EventKind::MessageCreate, Audience::Channel(m.channel), &msg, now)?;
            Ok((msg, true))
        })
    }

    pub fn message(&self, id: MessageId) -> Result<Message> {
        self.read(|c| get_message(c, id))
    }

    pub fn edit_message(
        &self,
        id: MessageId,
        content: &str,
        now: i64,
        authorize: impl FnOnce(&Message, &Channel) -> chat::error::Result<()>,
    ) -> Result<Message> {
        self.write(|t| {
            let msg = get_message(t.conn(), id)?;
            let channel = get_channel(t.conn(), msg.channel_id)?;
            authorize(&msg, &channel)?;
            if msg.deleted {
                return Err(chat::Error::conflict("message_deleted", "This message was deleted.").into());
            }
            if msg.content == content {
                return Ok(msg);
            }
            t.conn().execute(
                "UPDATE messages SET content = ?2, edited_at = ?3 WHERE id = ?1",
                params![id.0, content, now],
            )?;
            let msg = get_message(t.conn(), id)?;
            t.emit(EventKind::MessageUpdate, Audience::Channel(msg.channel_id), &msg, now)?;
            Ok(msg)
        })
    }

    /// Delete a message, leaving a tombstone: the row stays (replies and paging keep working),
    /// the content is erased.
    pub fn delete_message(
        &self,
        id: MessageId,
        now: i64,
        authorize: impl FnOnce(&Message) -> chat::error::Result<()>,
    ) -> Result<Message> {
        self.write(|t| {
            let msg = get_message(t.conn(), id)?;
            authorize(&msg)?;
            if msg.deleted {
                return Ok(msg);
            }
            t.conn().execute(
                "UPDATE messages SET content = '', deleted_at = ?2 WHERE id = ?1",
                params![id.0, now],
            )?;
            let msg = get_message(t.conn(), id)?;
            t.emit(EventKind::MessageDelete, Audience::Channel(msg.channel_id), &msg, now)?;
            Ok(msg)
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
            Ok(out)
        })
    }

    /// Number of messages (benchmarks and tests).
    pub fn message_count(&self) -> Result<i64> {
        self.read(|c| Ok(c.query_row("SELECT count(*) FROM messages", [], |r| r.get(0))?))
    }
}
