//! Channels and per-user read positions.

use crate::{optional, Result, Store};
use chat::events::{Audience, EventKind};
use chat::ids::{ChannelId, MessageId, UserId};
use chat::model::{Channel, ChannelKind, NotifyLevel, ReadState};
use chat::perms::Actor;
use rusqlite::{params, Connection, Row};
use serde::Serialize;

const COLS: &str = "c.id, c.name, c.topic, c.position, c.archived, c.created_at,
    (SELECT max(m.id) FROM messages m WHERE m.channel_id = c.id), c.kind, c.user_limit, c.parent_id,
    c.parent_message_id, (SELECT group_concat(d.user_id) FROM dm_members d WHERE d.channel_id = c.id)";

fn channel_row(r: &Row<'_>) -> rusqlite::Result<Channel> {
    Ok(Channel {
        id: ChannelId(r.get(0)?),
        name: r.get(1)?,
        topic: r.get(2)?,
        position: r.get(3)?,
        archived: r.get::<_, i64>(4)? != 0,
        created_at: r.get(5)?,
        last_message_id: r.get::<_, Option<i64>>(6)?.map(MessageId),
        kind: ChannelKind::parse(&r.get::<_, String>(7)?),
        user_limit: r.get(8)?,
        parent_id: r.get::<_, Option<i64>>(9)?.map(ChannelId),
        parent_message_id: r.get::<_, Option<i64>>(10)?.map(MessageId),
        member_ids: {
            let m: Option<String> = r.get(11)?;
            let mut v: Vec<UserId> = m.unwrap_or_default().split(',').filter_map(|s| s.parse().ok()).map(UserId).collect();
            v.sort_unstable();
            v
        },
    })
}

pub(crate) fn get_channel(c: &Connection, id: ChannelId) -> Result<Channel> {
    optional(c.query_row(&format!("SELECT {COLS} FROM channels c WHERE c.id = ?1"), [id.0], channel_row))?
        .ok_or_else(|| chat::Error::not_found("unknown_channel", "No such channel.").into())
}

/// A channel as one user sees it: with their read position and unread count.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct ChannelView {
    #[serde(flatten)]
    pub channel: Channel,
    pub last_read_id: Option<MessageId>,
    /// Unread messages by others, capped at 100 (shown as "99+").
    pub unread_count: i64,
    /// Unread messages by others that mention this user (or everyone), capped at 100.
    pub mention_count: i64,
    pub muted: bool,
    /// Threads: does the user follow it?
    pub following: bool,
    /// What counts and rings for this user here.
    pub notify: NotifyLevel,
    /// What the user may do here (roles and overrides applied), so the UI offers only that.
    pub permissions: chat::perms::Perms,
}

/// How many columns `COLS` has (the next one is the caller's).
const COLS_LEN: usize = 12;

/// A channel with one user's counts.
pub(crate) fn view(c: &Connection, actor: Actor, channel: Channel, last_read_id: Option<MessageId>, s: &ChannelSettings) -> Result<ChannelView> {
    let (muted, following, notify) = (s.muted, s.following, s.notify);
    let user = actor.id;
    let permissions = crate::access::here(c, actor, &channel)?.perms;
    let after = last_read_id.map_or(0, |m| m.0);
    let mut count = c.prepare_cached(
        "SELECT count(*) FROM (SELECT 1 FROM messages WHERE channel_id = ?1 AND id > ?2
           AND author_id != ?3 AND deleted_at IS NULL LIMIT 100)",
    )?;
    let unread_count = count.query_row(params![channel.id.0, after, user.0], |r| r.get(0))?;
    let mention_count = if unread_count == 0 {
        0
    } else {
        // Both halves walk an index (mentions by user and channel; the partial index of
        // @everyone messages), never the channel's whole history.
        let mut st = c.prepare_cached(
            "SELECT count(*) FROM (
               SELECT x.message_id FROM mentions x JOIN messages m ON m.id = x.message_id
                WHERE x.user_id = ?3 AND x.channel_id = ?1 AND x.message_id > ?2
                  AND m.author_id != ?3 AND m.deleted_at IS NULL
               UNION
               SELECT m.id FROM messages m WHERE m.channel_id = ?1 AND m.mention_everyone = 1 AND m.id > ?2
                  AND m.author_id != ?3 AND m.deleted_at IS NULL
               LIMIT 100)",
        )?;
        st.query_row(params![channel.id.0, after, user.0], |r| r.get(0))?
    };
    Ok(ChannelView { channel, last_read_id, unread_count, mention_count, muted, following, notify, permissions })
}

/// One user's settings for a channel.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct ChannelSettings {
    pub channel_id: ChannelId,
    pub muted: bool,
    pub following: bool,
    pub notify: NotifyLevel,
}

/// The settings columns of `channel_settings s` in a `LEFT JOIN`, read by `settings_row`.
pub(crate) const SETTINGS_COLS: &str = "coalesce(s.muted, 0), coalesce(s.following, 0), coalesce(s.notify, 'all')";

/// One user's settings for `channel` from `SETTINGS_COLS` at column `at`.
pub(crate) fn settings_row(r: &rusqlite::Row<'_>, at: usize, channel: ChannelId) -> rusqlite::Result<ChannelSettings> {
    Ok(ChannelSettings {
        channel_id: channel,
        muted: r.get::<_, i64>(at)? != 0,
        following: r.get::<_, i64>(at + 1)? != 0,
        // The column's CHECK admits only the three names.
        notify: NotifyLevel::parse(&r.get::<_, String>(at + 2)?).unwrap_or_default(),
    })
}

/// Make `user` follow the thread `channel` (on starting it, replying in it, being mentioned).
pub(crate) fn follow(c: &Connection, user: UserId, channel: ChannelId) -> Result<()> {
    c.execute(
        "INSERT INTO channel_settings (user_id, channel_id, following) VALUES (?1, ?2, 1)
         ON CONFLICT(user_id, channel_id) DO UPDATE SET following = 1",
        params![user.0, channel.0],
    )?;
    Ok(())
}

pub(crate) fn settings(c: &Connection, user: UserId, channel: ChannelId) -> Result<ChannelSettings> {
    let s = optional(c.query_row(
        &format!("SELECT {SETTINGS_COLS} FROM channel_settings s WHERE s.user_id = ?1 AND s.channel_id = ?2"),
        params![user.0, channel.0],
        |r| settings_row(r, 0, channel),
    ))?;
    Ok(s.unwrap_or(ChannelSettings { channel_id: channel, muted: false, following: false, notify: NotifyLevel::All }))
}

#[derive(Debug, Clone, Default)]
pub struct ChannelPatch {
    pub name: Option<String>,
    pub topic: Option<String>,
    pub archived: Option<bool>,
    pub user_limit: Option<i64>,
}

impl Store {
    pub fn create_channel(&self, name: &str, topic: &str, now: i64) -> Result<Channel> {
        self.create_channel_of(ChannelKind::Text, name, topic, 0, now)
    }

    pub fn create_channel_of(&self, kind: ChannelKind, name: &str, topic: &str, user_limit: i64, now: i64) -> Result<Channel> {
        self.write(|t| {
            let pos: i64 = t.conn().query_row("SELECT coalesce(max(position), -1) + 1 FROM channels", [], |r| r.get(0))?;
            t.conn().execute(
                "INSERT INTO channels (name, topic, position, created_at, kind, user_limit) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![name, topic, pos, now, kind.as_str(), user_limit],
            )?;
            let ch = get_channel(t.conn(), ChannelId(t.conn().last_insert_rowid()))?;
            t.emit(EventKind::ChannelCreate, Audience::Channel(ch.id), &ch, now)?;
            Ok(ch)
        })
    }

    pub fn channel(&self, id: ChannelId) -> Result<Channel> {
        self.read(|c| get_channel(c, id))
    }

    pub fn update_channel(&self, id: ChannelId, patch: &ChannelPatch, now: i64) -> Result<Channel> {
        self.write(|t| {
            get_channel(t.conn(), id)?;
            if let Some(name) = &patch.name {
                t.conn().execute("UPDATE channels SET name = ?2 WHERE id = ?1", params![id.0, name])?;
            }
            if let Some(topic) = &patch.topic {
                t.conn().execute("UPDATE channels SET topic = ?2 WHERE id = ?1", params![id.0, topic])?;
            }
            if let Some(a) = patch.archived {
                t.conn().execute("UPDATE channels SET archived = ?2 WHERE id = ?1", params![id.0, a as i64])?;
            }
            if let Some(n) = patch.user_limit {
                t.conn().execute("UPDATE channels SET user_limit = ?2 WHERE id = ?1", params![id.0, n])?;
            }
            let ch = get_channel(t.conn(), id)?;
            t.emit(EventKind::ChannelUpdate, Audience::Channel(id), &ch, now)?;
            Ok(ch)
        })
    }

    /// Put channels in the given order. `ids` must name every channel exactly once.
    pub fn reorder_channels(&self, ids: &[ChannelId], now: i64) -> Result<Vec<Channel>> {
        self.write(|t| {
            let mut all: Vec<i64> = {
                let mut st = t.conn().prepare("SELECT id FROM channels WHERE kind IN ('text', 'voice')")?;
                let v = st.query_map([], |r| r.get(0))?.collect::<rusqlite::Result<Vec<i64>>>()?;
                v
            };
            let mut given: Vec<i64> = ids.iter().map(|c| c.0).collect();
            all.sort_unstable();
            given.sort_unstable();
            if all != given {
                return Err(chat::Error::invalid("invalid_order", "The new order must list every channel exactly once.").into());
            }
            let mut out = Vec::new();
            for (pos, id) in ids.iter().enumerate() {
                let old: i64 = t.conn().query_row("SELECT position FROM channels WHERE id = ?1", [id.0], |r| r.get(0))?;
                if old != pos as i64 {
                    t.conn().execute("UPDATE channels SET position = ?2 WHERE id = ?1", params![id.0, pos as i64])?;
                    let ch = get_channel(t.conn(), *id)?;
                    t.emit(EventKind::ChannelUpdate, Audience::Channel(*id), &ch, now)?;
                }
                out.push(get_channel(t.conn(), *id)?);
            }
            Ok(out)
        })
    }

    /// The channels `actor` can see, in sidebar order, with their read state: server channels,
    /// their DMs, and the threads they follow.
    pub fn channels_for(&self, actor: Actor) -> Result<Vec<ChannelView>> {
        self.read(|c| {
            let visible = crate::access::visible(c, actor)?;
            let mut st = c.prepare(&format!(
                "SELECT {COLS}, r.last_read_id, {SETTINGS_COLS} FROM channels c
                 LEFT JOIN read_states r ON r.channel_id = c.id AND r.user_id = ?1
                 LEFT JOIN channel_settings s ON s.channel_id = c.id AND s.user_id = ?1
                 ORDER BY c.position, c.id"
            ))?;
            let rows = st
                .query_map([actor.id.0], |r| {
                    let channel = channel_row(r)?;
                    let s = settings_row(r, COLS_LEN + 1, channel.id)?;
                    Ok((channel, r.get::<_, Option<i64>>(COLS_LEN)?.map(MessageId), s))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let mut out = Vec::with_capacity(rows.len());
            for (channel, last_read_id, s) in rows {
                if !visible.contains(&channel.id) || (channel.kind == ChannelKind::Thread && !s.following) {
                    continue;
                }
                out.push(view(c, actor, channel, last_read_id, &s)?);
            }
            Ok(out)
        })
    }

    /// Move the user's read position forward to `message` (never backwards).
    pub fn mark_read(&self, user: UserId, channel: ChannelId, message: MessageId, now: i64) -> Result<ReadState> {
        self.write(|t| {
            get_channel(t.conn(), channel)?;
            let exists: bool = t.conn().query_row(
                "SELECT EXISTS (SELECT 1 FROM messages WHERE id = ?1 AND channel_id = ?2)",
                params![message.0, channel.0],
                |r| r.get(0),
            )?;
            if !exists {
                return Err(chat::Error::not_found("unknown_message", "No such message in this channel.").into());
            }
            let changed = t.conn().execute(
                "INSERT INTO read_states (user_id, channel_id, last_read_id) VALUES (?1, ?2, ?3)
                 ON CONFLICT(user_id, channel_id) DO UPDATE SET last_read_id = excluded.last_read_id
                 WHERE excluded.last_read_id > read_states.last_read_id",
                params![user.0, channel.0, message.0],
            )?;
            let last: i64 = t.conn().query_row(
                "SELECT last_read_id FROM read_states WHERE user_id = ?1 AND channel_id = ?2",
                params![user.0, channel.0],
                |r| r.get(0),
            )?;
            let state = ReadState { channel_id: channel, last_read_id: Some(MessageId(last)) };
            if changed > 0 {
                t.emit(EventKind::ReadStateUpdate, Audience::User(user), &state, now)?;
            }
            Ok(state)
        })
    }
}
