//! What a user may do where: loads roles, overrides and DM membership and asks
//! `chat::perms` (the one place that decides). Used inside transactions (so a decision and the
//! change it allows see the same data) and by the gateway to filter fan-out.

use crate::channels::get_channel;
use crate::{Result, Store};
use chat::ids::{ChannelId, RoleId, UserId};
use chat::model::{Channel, ChannelKind};
use chat::perms::{self, Action, Actor, Here, Override, Perms, Place};
use rusqlite::Connection;
use std::collections::{HashMap, HashSet};

pub(crate) fn user_roles(c: &Connection, user: UserId) -> Result<Vec<RoleId>> {
    let mut st = c.prepare_cached("SELECT role_id FROM user_roles WHERE user_id = ?1")?;
    let v = st.query_map([user.0], |r| Ok(RoleId(r.get(0)?)))?.collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(v)
}

pub(crate) fn overrides(c: &Connection, channel: ChannelId) -> Result<Vec<Override>> {
    let mut st = c.prepare_cached("SELECT role_id, allow, deny FROM channel_overrides WHERE channel_id = ?1 ORDER BY role_id")?;
    let v = st
        .query_map([channel.0], |r| {
            Ok(Override { role_id: RoleId(r.get(0)?), allow: Perms::from_bits(r.get(1)?), deny: Perms::from_bits(r.get(2)?) })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(v)
}

/// The actor's permissions in `ch` (a thread answers for its parent channel, and is read-only
/// when either is archived).
pub(crate) fn here(c: &Connection, actor: Actor, ch: &Channel) -> Result<Here> {
    let (place_ch, archived) = match (ch.kind, ch.parent_id) {
        (ChannelKind::Thread, Some(p)) => {
            let parent = get_channel(c, p)?;
            let archived = parent.archived || ch.archived;
            (parent, archived)
        }
        _ => (ch.clone(), ch.archived),
    };
    let member = place_ch.kind == ChannelKind::Dm && place_ch.member_ids.contains(&actor.id);
    let ov = if place_ch.kind == ChannelKind::Dm { Vec::new() } else { overrides(c, place_ch.id)? };
    let roles = user_roles(c, actor.id)?;
    Ok(perms::effective(actor, &roles, &Place { kind: place_ch.kind, archived, member, overrides: &ov }))
}

/// Load the channel and decide `action` on it for `actor`.
pub(crate) fn authorize(c: &Connection, actor: Actor, channel: ChannelId, action: Action) -> Result<(Channel, Here)> {
    let ch = get_channel(c, channel)?;
    let h = here(c, actor, &ch)?;
    perms::check(actor, h, action)?;
    Ok((ch, h))
}

/// The channels a user can see (for fan-out filtering and listings).
pub(crate) fn visible(c: &Connection, actor: Actor) -> Result<HashSet<ChannelId>> {
    let roles = user_roles(c, actor.id)?;
    let mut ov: HashMap<i64, Vec<Override>> = HashMap::new();
    {
        let mut st = c.prepare_cached("SELECT channel_id, role_id, allow, deny FROM channel_overrides")?;
        let rows = st.query_map([], |r| {
            Ok((r.get::<_, i64>(0)?, Override { role_id: RoleId(r.get(1)?), allow: Perms::from_bits(r.get(2)?), deny: Perms::from_bits(r.get(3)?) }))
        })?;
        for row in rows {
            let (ch, o) = row?;
            ov.entry(ch).or_default().push(o);
        }
    }
    let dms: HashSet<i64> = {
        let mut st = c.prepare_cached("SELECT channel_id FROM dm_members WHERE user_id = ?1")?;
        let v = st.query_map([actor.id.0], |r| r.get::<_, i64>(0))?.collect::<rusqlite::Result<HashSet<_>>>()?;
        v
    };
    let mut st = c.prepare_cached("SELECT id, kind, archived, parent_id FROM channels")?;
    let rows = st
        .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)? != 0, r.get::<_, Option<i64>>(3)?)))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let kinds: HashMap<i64, ChannelKind> = rows.iter().map(|(id, k, _, _)| (*id, ChannelKind::parse(k))).collect();
    let none = Vec::new();
    let sees = |id: i64| -> bool {
        let kind = kinds.get(&id).copied().unwrap_or_default();
        let place = Place {
            kind,
            archived: false,
            member: dms.contains(&id),
            overrides: if kind == ChannelKind::Dm { &none } else { ov.get(&id).unwrap_or(&none) },
        };
        perms::effective(actor, &roles, &place).perms.contains(Perms::VIEW)
    };
    let mut out = HashSet::new();
    for (id, kind, _, parent) in &rows {
        let target = if ChannelKind::parse(kind) == ChannelKind::Thread { parent.unwrap_or(*id) } else { *id };
        if sees(target) {
            out.insert(ChannelId(*id));
        }
    }
    Ok(out)
}

impl Store {
    /// The actor for a user at `now` (roles, timeout), e.g. for the gateway.
    pub fn actor(&self, user: UserId, now: i64) -> Result<Actor> {
        self.read(|c| {
            let u = crate::users::get_user(c, user)?;
            crate::users::actor_of(c, &u, now)
        })
    }

    /// The channel, if `actor` may do `action` in it.
    pub fn authorize(&self, actor: Actor, channel: ChannelId, action: Action) -> Result<(Channel, Here)> {
        self.read(|c| authorize(c, actor, channel, action))
    }

    /// Every channel `actor` can see.
    pub fn visible_channels(&self, actor: Actor) -> Result<HashSet<ChannelId>> {
        self.read(|c| visible(c, actor))
    }
}

/// Is `user` allowed to see `channel`? (Inside a transaction.)
pub(crate) fn can_view(c: &Connection, user: UserId, ch: &Channel, now: i64) -> Result<bool> {
    let u = crate::users::get_user(c, user)?;
    let a = crate::users::actor_of(c, &u, now)?;
    Ok(here(c, a, ch)?.perms.contains(Perms::VIEW))
}

