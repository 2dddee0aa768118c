//! Roles, channel overrides, moderation (kick, ban, timeout), the audit log and box settings.
//! Every moderation and permission change writes an audit entry in the same transaction.

use crate::access::{authorize, overrides};
use crate::channels::get_channel;
use crate::users::get_user;
use crate::{optional, Result, Store, Tx};
use chat::events::{Audience, EventKind};
use chat::ids::{AuditId, ChannelId, RoleId, UserId};
use chat::model::{RoleDef, User};
use chat::perms::{self, Action, Actor, Override, Perms};
use rusqlite::{params, Connection, Row};
use serde::Serialize;

const MAX_ROLES: i64 = 50;

fn role_row(r: &Row<'_>) -> rusqlite::Result<RoleDef> {
    Ok(RoleDef {
        id: RoleId(r.get(0)?),
        name: r.get(1)?,
        color: r.get(2)?,
        position: r.get(3)?,
        permissions: Perms::from_bits(r.get(4)?),
    })
}

fn get_role(c: &Connection, id: RoleId) -> Result<RoleDef> {
    optional(c.query_row("SELECT id, name, color, position, permissions FROM roles WHERE id = ?1", [id.0], role_row))?
        .ok_or_else(|| chat::Error::not_found("unknown_role", "No such role.").into())
}

/// One audit log entry.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct AuditEntry {
    pub id: AuditId,
    pub actor_id: UserId,
    pub action: String,
    pub target: String,
    #[cfg_attr(test, ts(type = "unknown"))]
    pub detail: serde_json::Value,
    pub created_at: i64,
}

/// Append to the audit log (inside the change's transaction).
pub(crate) fn audit(t: &Tx<'_>, actor: UserId, action: &str, target: &str, detail: serde_json::Value, now: i64) -> Result<()> {
    t.conn().execute(
        "INSERT INTO audit_log (actor_id, action, target, detail, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![actor.0, action, target, detail.to_string(), now],
    )?;
    Ok(())
}

/// Box settings the admin changes at run time.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct Settings {
    pub embeds_enabled: bool,
    pub embed_allowlist: Vec<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings { embeds_enabled: true, embed_allowlist: Vec::new() }
    }
}

impl Store {
    pub fn roles(&self) -> Result<Vec<RoleDef>> {
        self.read(|c| {
            let mut st = c.prepare_cached("SELECT id, name, color, position, permissions FROM roles ORDER BY position, id")?;
            let v = st.query_map([], role_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(v)
        })
    }

    pub fn create_role(&self, name: &str, color: &str, permissions: Perms, now: i64, by: UserId) -> Result<RoleDef> {
        self.write(|t| {
            let n: i64 = t.conn().query_row("SELECT count(*) FROM roles", [], |r| r.get(0))?;
            if n >= MAX_ROLES {
                return Err(chat::Error::invalid("too_many_roles", "The box holds at most 50 roles.").into());
            }
            t.conn().execute(
                "INSERT INTO roles (name, color, position, permissions, created_at)
                 VALUES (?1, ?2, (SELECT max(position) + 1 FROM roles), ?3, ?4)",
                params![name, color, permissions.0, now],
            )?;
            let role = get_role(t.conn(), RoleId(t.conn().last_insert_rowid()))?;
            audit(t, by, "role.create", &format!("role:{}", role.id), serde_json::json!({"name": name, "permissions": permissions}), now)?;
            t.emit(EventKind::RoleCreate, Audience::Everyone, &role, now)?;
            Ok(role)
        })
    }

    pub fn update_role(&self, id: RoleId, name: Option<&str>, color: Option<&str>, permissions: Option<Perms>, now: i64, by: UserId) -> Result<RoleDef> {
        self.write(|t| {
            let old = get_role(t.conn(), id)?;
            if id == RoleId::EVERYONE && name.is_some_and(|n| n != old.name) {
                return Err(chat::Error::invalid("everyone_role", "@everyone cannot be renamed.").into());
            }
            if let Some(n) = name {
                t.conn().execute("UPDATE roles SET name = ?2 WHERE id = ?1", params![id.0, n])?;
            }
            if let Some(c) = color {
                t.conn().execute("UPDATE roles SET color = ?2 WHERE id = ?1", params![id.0, c])?;
            }
            if let Some(p) = permissions {
                t.conn().execute("UPDATE roles SET permissions = ?2 WHERE id = ?1", params![id.0, p.0])?;
            }
            let role = get_role(t.conn(), id)?;
            audit(t, by, "role.update", &format!("role:{id}"), serde_json::json!({"name": role.name, "permissions": role.permissions}), now)?;
            t.emit(EventKind::RoleUpdate, Audience::Everyone, &role, now)?;
            Ok(role)
        })
    }

    pub fn delete_role(&self, id: RoleId, now: i64, by: UserId) -> Result<()> {
        self.write(|t| {
            if id == RoleId::EVERYONE {
                return Err(chat::Error::invalid("everyone_role", "@everyone cannot be deleted.").into());
            }
            let role = get_role(t.conn(), id)?;
            t.conn().execute("DELETE FROM channel_overrides WHERE role_id = ?1", [id.0])?;
            t.conn().execute("DELETE FROM user_roles WHERE role_id = ?1", [id.0])?;
            t.conn().execute("DELETE FROM roles WHERE id = ?1", [id.0])?;
            audit(t, by, "role.delete", &format!("role:{id}"), serde_json::json!({"name": role.name}), now)?;
            t.emit(EventKind::RoleDelete, Audience::Everyone, &serde_json::json!({"id": id}), now)?;
            Ok(())
        })
    }

    pub fn set_user_roles(&self, user: UserId, roles: &[RoleId], now: i64, by: UserId) -> Result<User> {
        self.write(|t| {
            get_user(t.conn(), user)?;
            let mut roles = roles.to_vec();
            roles.sort_unstable();
            roles.dedup();
            roles.retain(|r| *r != RoleId::EVERYONE);
            for r in &roles {
                get_role(t.conn(), *r)?;
            }
            t.conn().execute("DELETE FROM user_roles WHERE user_id = ?1", [user.0])?;
            for r in &roles {
                t.conn().execute("INSERT INTO user_roles (user_id, role_id) VALUES (?1, ?2)", params![user.0, r.0])?;
            }
            let u = get_user(t.conn(), user)?;
            audit(t, by, "user.roles", &format!("user:{user}"), serde_json::json!({"role_ids": roles}), now)?;
            t.emit(EventKind::UserUpdate, Audience::Everyone, &u, now)?;
            Ok(u)
        })
    }

    pub fn channel_overrides(&self, channel: ChannelId, actor: Actor) -> Result<Vec<Override>> {
        self.read(|c| {
            authorize(c, actor, channel, Action::ManageChannel)?;
            overrides(c, channel)
        })
    }

    /// Set (or, with empty lists, remove) a role's override on a channel.
    /// Set (or, with nothing allowed or denied, remove) a role's override on a channel. One
    /// transaction decides, changes, audits and writes the `channel.update` event; a request
    /// that changes nothing writes nothing. Returns the override and the users whose view of
    /// the channel changed (their gateway sockets must reconnect; nobody else's).
    pub fn set_override(&self, channel: ChannelId, role: RoleId, allow: Perms, deny: Perms, now: i64, actor: Actor) -> Result<(Override, Vec<UserId>)> {
        self.write(|t| {
            let (ch, _) = authorize(t.conn(), actor, channel, Action::ManageChannel)?;
            if !matches!(ch.kind, chat::model::ChannelKind::Text | chat::model::ChannelKind::Voice) {
                return Err(chat::Error::invalid("no_overrides_here", "Overrides are set on text and voice channels.").into());
            }
            get_role(t.conn(), role)?;
            if allow.0 & deny.0 != 0 {
                return Err(chat::Error::invalid("invalid_override", "A permission cannot be both allowed and denied.").into());
            }
            let out = Override { role_id: role, allow, deny };
            let current = optional(t.conn().query_row(
                "SELECT allow, deny FROM channel_overrides WHERE channel_id = ?1 AND role_id = ?2",
                params![channel.0, role.0],
                |r| Ok((Perms::from_bits(r.get(0)?), Perms::from_bits(r.get(1)?))),
            ))?;
            if current.unwrap_or((Perms::NONE, Perms::NONE)) == (allow, deny) {
                return Ok((out, Vec::new()));
            }
            let users: Vec<UserId> = {
                let mut st = t.conn().prepare_cached("SELECT id FROM users")?;
                let v = st.query_map([], |r| Ok(UserId(r.get(0)?)))?.collect::<rusqlite::Result<Vec<_>>>()?;
                v
            };
            let mut before = Vec::with_capacity(users.len());
            for u in &users {
                before.push(crate::access::can_view(t.conn(), *u, &ch, now)?);
            }
            if allow == Perms::NONE && deny == Perms::NONE {
                t.conn().execute("DELETE FROM channel_overrides WHERE channel_id = ?1 AND role_id = ?2", params![channel.0, role.0])?;
            } else {
                t.conn().execute(
                    "INSERT INTO channel_overrides (channel_id, role_id, allow, deny) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT(channel_id, role_id) DO UPDATE SET allow = excluded.allow, deny = excluded.deny",
                    params![channel.0, role.0, allow.0, deny.0],
                )?;
            }
            let mut changed = Vec::new();
            for (u, was) in users.iter().zip(before) {
                if crate::access::can_view(t.conn(), *u, &ch, now)? != was {
                    changed.push(*u);
                }
            }
            audit(t, actor.id, "channel.override", &format!("channel:{channel}"), serde_json::json!({"role_id": role, "allow": allow, "deny": deny}), now)?;
            t.emit(EventKind::ChannelUpdate, Audience::Channel(channel), &get_channel(t.conn(), channel)?, now)?;
            Ok((out, changed))
        })
    }

    fn moderate(&self, target: UserId, actor: Actor, now: i64, action: &str, detail: serde_json::Value, f: impl FnOnce(&Connection) -> Result<()>) -> Result<User> {
        self.write(|t| {
            let u = get_user(t.conn(), target)?;
            perms::check(actor, perms::Here::BOX, Action::Moderate { target, target_role: u.role })?;
            f(t.conn())?;
            let u = get_user(t.conn(), target)?;
            audit(t, actor.id, action, &format!("user:{target}"), detail, now)?;
            t.emit(EventKind::UserUpdate, Audience::Everyone, &u, now)?;
            Ok(u)
        })
    }

    /// End every session of `target` (they can log in again).
    pub fn kick(&self, target: UserId, reason: &str, now: i64, actor: Actor) -> Result<User> {
        self.moderate(target, actor, now, "user.kick", serde_json::json!({"reason": reason}), |c| {
            c.execute("DELETE FROM sessions WHERE user_id = ?1", [target.0])?;
            Ok(())
        })
    }

    pub fn ban(&self, target: UserId, on: bool, reason: &str, now: i64, actor: Actor) -> Result<User> {
        let action = if on { "user.ban" } else { "user.unban" };
        self.moderate(target, actor, now, action, serde_json::json!({"reason": reason}), |c| {
            c.execute("UPDATE users SET banned = ?2, ban_reason = ?3 WHERE id = ?1", params![target.0, on as i64, reason])?;
            if on {
                c.execute("DELETE FROM sessions WHERE user_id = ?1", [target.0])?;
            }
            Ok(())
        })
    }

    /// Time out `target` for `minutes` (0 ends a timeout).
    pub fn timeout(&self, target: UserId, minutes: i64, reason: &str, now: i64, actor: Actor) -> Result<User> {
        let until = (minutes > 0).then(|| now + minutes * 60_000);
        self.moderate(target, actor, now, "user.timeout", serde_json::json!({"minutes": minutes, "reason": reason}), |c| {
            c.execute("UPDATE users SET timeout_until = ?2 WHERE id = ?1", params![target.0, until])?;
            Ok(())
        })
    }

    /// Record an admin action that has no other home (e.g. user disabled, channel archived).
    pub fn audit(&self, actor: UserId, action: &str, target: &str, detail: serde_json::Value, now: i64) -> Result<()> {
        self.write(|t| audit(t, actor, action, target, detail, now))
    }

    pub fn audit_log(&self, before: Option<AuditId>, limit: usize) -> Result<Vec<AuditEntry>> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT id, actor_id, action, target, detail, created_at FROM audit_log WHERE id < ?1 ORDER BY id DESC LIMIT ?2",
            )?;
            let v = st
                .query_map(params![before.map_or(i64::MAX, |b| b.0), limit as i64], |r| {
                    let detail: String = r.get(4)?;
                    Ok(AuditEntry {
                        id: AuditId(r.get(0)?),
                        actor_id: UserId(r.get(1)?),
                        action: r.get(2)?,
                        target: r.get(3)?,
                        detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::Null),
                        created_at: r.get(5)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(v)
        })
    }

    pub fn settings(&self) -> Result<Settings> {
        Ok(self.meta_get("settings")?.and_then(|s| serde_json::from_str(&s).ok()).unwrap_or_default())
    }

    pub fn set_settings(&self, s: &Settings, now: i64, by: UserId) -> Result<()> {
        let json = serde_json::to_string(s).map_err(|e| crate::Error::Internal(e.to_string()))?;
        self.write(|t| {
            t.conn().execute(
                "INSERT INTO meta (key, value) VALUES ('settings', ?1) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                [&json],
            )?;
            // Remembered refusals were decided under the old settings: forget them.
            t.conn().execute("DELETE FROM embeds WHERE status != 'ok' AND id NOT IN (SELECT embed_id FROM message_embeds)", [])?;
            audit(t, by, "settings.update", "box", serde_json::to_value(s).unwrap_or_default(), now)
        })
    }

    /// Is `user` (still) allowed in? Used by login: banned users are refused with a reason.
    pub fn ban_reason(&self, user: UserId) -> Result<Option<String>> {
        self.read(|c| {
            optional(c.query_row("SELECT ban_reason FROM users WHERE id = ?1 AND banned = 1", [user.0], |r| r.get::<_, String>(0)))
        })
    }
}
