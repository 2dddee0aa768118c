//! Threads, direct messages and per-user channel settings. Both threads and DMs are channels
//! (so history, unread state, typing and the gateway work the same for them).

use crate::access::authorize;
use crate::channels::{get_channel, settings, settings_row, view, ChannelSettings, ChannelView, SETTINGS_COLS};
use crate::messages::get_message;
use crate::{optional, Result, Store};
use chat::events::{Audience, EventKind};
use chat::ids::{ChannelId, MessageId, UserId};
use chat::model::{Channel, ChannelKind, NotifyLevel};
use chat::perms::{Action, Actor};
use rusqlite::params;

/// Most people in a DM, the sender included.
pub const DM_MAX_MEMBERS: usize = 10;

impl Store {
    /// Start a thread from `message` (or return the one it already has: `false`).
    pub fn create_thread(&self, message: MessageId, name: Option<&str>, now: i64, actor: Actor) -> Result<(Channel, bool)> {
        self.write(|t| {
            let msg = get_message(t.conn(), message)?;
            let (parent, _) = authorize(t.conn(), actor, msg.channel_id, Action::StartThread)?;
            let existing = optional(t.conn().query_row(
                "SELECT id FROM channels WHERE parent_message_id = ?1",
                [message.0],
                |r| r.get::<_, i64>(0),
            ))?;
            if let Some(id) = existing {
                return Ok((get_channel(t.conn(), ChannelId(id))?, false));
            }
            if parent.kind != ChannelKind::Text {
                return Err(chat::Error::invalid("no_threads_here", "Threads start from messages in text channels.").into());
            }
            if msg.deleted {
                return Err(chat::Error::conflict("message_deleted", "This message was deleted.").into());
            }
            let name = match name {
                Some(n) => n.to_owned(),
                None => default_thread_name(&msg.content),
            };
            t.conn().execute(
                "INSERT INTO channels (name, topic, position, created_at, kind, parent_id, parent_message_id)
                 VALUES (?1, '', 0, ?2, 'thread', ?3, ?4)",
                params![name, now, parent.id.0, message.0],
            )?;
            let id = ChannelId(t.conn().last_insert_rowid());
            for user in [actor.id, msg.author_id] {
                crate::channels::follow(t.conn(), user, id)?;
            }
            let thread = get_channel(t.conn(), id)?;
            t.emit(EventKind::ChannelCreate, Audience::Channel(id), &thread, now)?;
            for user in [actor.id, msg.author_id] {
                let s = settings(t.conn(), user, id)?;
                t.emit(EventKind::ChannelSettingsUpdate, Audience::User(user), &s, now)?;
                if actor.id == msg.author_id {
                    break;
                }
            }
            let parent_msg = get_message(t.conn(), message)?;
            t.emit(EventKind::MessageUpdate, Audience::Channel(parent.id), &parent_msg, now)?;
            Ok((thread, true))
        })
    }

    /// A channel's threads, newest activity first, with the user's counts.
    pub fn threads(&self, channel: ChannelId, actor: Actor) -> Result<Vec<ChannelView>> {
        self.read(|c| {
            authorize(c, actor, channel, Action::ViewChannel)?;
            let mut st = c.prepare_cached(&format!(
                "SELECT t.id, r.last_read_id, {SETTINGS_COLS} FROM channels t
                 LEFT JOIN read_states r ON r.channel_id = t.id AND r.user_id = ?2
                 LEFT JOIN channel_settings s ON s.channel_id = t.id AND s.user_id = ?2
                 WHERE t.parent_id = ?1 AND t.kind = 'thread'
                 ORDER BY coalesce((SELECT max(id) FROM messages m WHERE m.channel_id = t.id), t.parent_message_id) DESC
                 LIMIT 200"
            ))?;
            let rows = st
                .query_map(params![channel.0, actor.id.0], |r| {
                    let id = ChannelId(r.get(0)?);
                    Ok((id, r.get::<_, Option<i64>>(1)?.map(MessageId), settings_row(r, 2, id)?))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let mut out = Vec::with_capacity(rows.len());
            for (id, last_read, s) in rows {
                out.push(view(c, actor, get_channel(c, id)?, last_read, &s)?);
            }
            Ok(out)
        })
    }

    /// Change this user's settings for a channel they can see.
    pub fn set_channel_settings(
        &self,
        channel: ChannelId,
        muted: Option<bool>,
        following: Option<bool>,
        now: i64,
        actor: Actor,
    ) -> Result<ChannelSettings> {
        self.write(|t| {
            let (ch, _) = authorize(t.conn(), actor, channel, Action::ViewChannel)?;
            if following.is_some() && ch.kind != ChannelKind::Thread {
                return Err(chat::Error::invalid("not_a_thread", "Only threads can be followed.").into());
            }
            let old = settings(t.conn(), actor.id, channel)?;
            let (m, f) = (muted.unwrap_or(old.muted), following.unwrap_or(old.following));
            if (m, f) == (old.muted, old.following) {
                return Ok(old);
            }
            t.conn().execute(
                "INSERT INTO channel_settings (user_id, channel_id, muted, following) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(user_id, channel_id) DO UPDATE SET muted = excluded.muted, following = excluded.following",
                params![actor.id.0, channel.0, m as i64, f as i64],
            )?;
            let s = settings(t.conn(), actor.id, channel)?;
            t.emit(EventKind::ChannelSettingsUpdate, Audience::User(actor.id), &s, now)?;
            Ok(s)
        })
    }

    /// Set this user's notification level for a channel they can see (404 `unknown_channel`
    /// otherwise). Their other sessions hear of it by `channel_settings.update`.
    pub fn set_notify_level(&self, channel: ChannelId, level: NotifyLevel, now: i64, actor: Actor) -> Result<ChannelSettings> {
        self.write(|t| {
            authorize(t.conn(), actor, channel, Action::ViewChannel)?;
            let old = settings(t.conn(), actor.id, channel)?;
            if old.notify == level {
                return Ok(old);
            }
            t.conn().execute(
                "INSERT INTO channel_settings (user_id, channel_id, notify) VALUES (?1, ?2, ?3)
                 ON CONFLICT(user_id, channel_id) DO UPDATE SET notify = excluded.notify",
                params![actor.id.0, channel.0, level.as_str()],
            )?;
            let s = settings(t.conn(), actor.id, channel)?;
            t.emit(EventKind::ChannelSettingsUpdate, Audience::User(actor.id), &s, now)?;
            Ok(s)
        })
    }

    /// The DM between `actor` and `others` (created if new: `true`).
    pub fn open_dm(&self, others: &[UserId], now: i64, actor: Actor) -> Result<(Channel, bool)> {
        self.write(|t| {
            let mut members: Vec<UserId> = others.to_vec();
            members.push(actor.id);
            members.sort_unstable();
            members.dedup();
            if members.len() < 2 || members.len() > DM_MAX_MEMBERS {
                return Err(chat::Error::invalid("invalid_dm", "A DM is between 2 and 10 people, you included.").into());
            }
            if actor.timed_out {
                return Err(chat::Error::forbidden("timed_out", "You are timed out: you can read, but not post, react or talk.").into());
            }
            let mut names = Vec::new();
            for m in &members {
                let u = optional(t.conn().query_row(
                    "SELECT display_name FROM users WHERE id = ?1 AND disabled = 0 AND banned = 0",
                    [m.0],
                    |r| r.get::<_, String>(0),
                ))?
                .ok_or_else(|| chat::Error::not_found("unknown_user", "No such user."))?;
                names.push(u);
            }
            let key = members.iter().map(|m| m.0.to_string()).collect::<Vec<_>>().join(",");
            if let Some(id) = optional(t.conn().query_row("SELECT id FROM channels WHERE dm_key = ?1", [&key], |r| r.get::<_, i64>(0)))? {
                return Ok((get_channel(t.conn(), ChannelId(id))?, false));
            }
            let name: String = names.join(", ").chars().take(100).collect();
            t.conn().execute(
                "INSERT INTO channels (name, topic, position, created_at, kind, dm_key) VALUES (?1, '', 0, ?2, 'dm', ?3)",
                params![name, now, key],
            )?;
            let id = ChannelId(t.conn().last_insert_rowid());
            for m in &members {
                t.conn().execute("INSERT INTO dm_members (channel_id, user_id) VALUES (?1, ?2)", params![id.0, m.0])?;
            }
            let ch = get_channel(t.conn(), id)?;
            t.emit(EventKind::ChannelCreate, Audience::Channel(id), &ch, now)?;
            Ok((ch, true))
        })
    }
}

/// A thread's name from its first message: the first line, shortened.
fn default_thread_name(content: &str) -> String {
    let line = content.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("Thread");
    let mut name: String = line.chars().take(60).collect();
    if line.chars().count() > 60 {
        name.push('…');
    }
    name
}
