//! Accounts, sessions and invites.

use crate::{optional, Error, Result, Store};
use chat::events::{Audience, EventKind};
use chat::ids::{InviteId, RoleId, UserId};
use chat::model::{Role, User};
use chat::perms::{self, Actor, Perms};
use rusqlite::{params, Connection, Row};
use serde::Serialize;

const USER_COLS: &str = "id, username, display_name, role, disabled, created_at, timeout_until, banned,
    (SELECT group_concat(role_id) FROM user_roles WHERE user_id = users.id), avatar";
/// How many columns `USER_COLS` has.
const USER_COLS_LEN: usize = 10;

pub(crate) fn user_row(r: &Row<'_>) -> rusqlite::Result<User> {
    let role: String = r.get(3)?;
    let roles: Option<String> = r.get(8)?;
    let mut role_ids: Vec<RoleId> =
        roles.unwrap_or_default().split(',').filter_map(|s| s.parse::<i64>().ok()).map(RoleId).collect();
    role_ids.sort_unstable();
    Ok(User {
        id: UserId(r.get(0)?),
        username: r.get(1)?,
        display_name: r.get(2)?,
        role: Role::parse(&role).unwrap_or(Role::Member),
        disabled: r.get::<_, i64>(4)? != 0,
        created_at: r.get(5)?,
        timeout_until: r.get(6)?,
        banned: r.get::<_, i64>(7)? != 0,
        role_ids,
        avatar: r.get(9)?,
    })
}

/// The user as the permission table sees them, at `now`.
pub(crate) fn actor_of(c: &Connection, user: &User, now: i64) -> Result<Actor> {
    let mut st = c.prepare_cached(
        "SELECT permissions FROM roles WHERE id = 1 OR id IN (SELECT role_id FROM user_roles WHERE user_id = ?1)",
    )?;
    let bits = st.query_map([user.id.0], |r| r.get::<_, i64>(0))?.collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(Actor {
        id: user.id,
        role: user.role,
        perms: perms::base(user.role, bits.into_iter().map(Perms::from_bits)),
        timed_out: user.timeout_until.is_some_and(|t| t > now),
    })
}

pub(crate) fn get_user(c: &Connection, id: UserId) -> Result<User> {
    optional(c.query_row(&format!("SELECT {USER_COLS} FROM users WHERE id = ?1"), [id.0], user_row))?
        .ok_or_else(|| chat::Error::not_found("unknown_user", "No such user.").into())
}

/// A live session and its user.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    pub user: User,
    pub actor: Actor,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct Invite {
    pub id: InviteId,
    pub role: Role,
    pub created_by: UserId,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_by: Option<UserId>,
    pub used_at: Option<i64>,
}

fn invite_row(r: &Row<'_>) -> rusqlite::Result<Invite> {
    let role: String = r.get(1)?;
    Ok(Invite {
        id: InviteId(r.get(0)?),
        role: Role::parse(&role).unwrap_or(Role::Member),
        created_by: UserId(r.get(2)?),
        created_at: r.get(3)?,
        expires_at: r.get(4)?,
        used_by: r.get::<_, Option<i64>>(5)?.map(UserId),
        used_at: r.get(6)?,
    })
}

const INVITE_COLS: &str = "id, role, created_by, created_at, expires_at, used_by, used_at";

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE)
}

pub(crate) fn insert_user(
    c: &Connection,
    username: &str,
    display_name: &str,
    password_hash: &str,
    role: Role,
    now: i64,
) -> Result<UserId> {
    let r = c.execute(
        "INSERT INTO users (username, display_name, password_hash, role, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![username, display_name, password_hash, role.as_str(), now],
    );
    match r {
        Ok(_) => Ok(UserId(c.last_insert_rowid())),
        Err(e) if is_unique_violation(&e) => {
            Err(chat::Error::conflict("username_taken", "That user name is already taken.").into())
        }
        Err(e) => Err(e.into()),
    }
}

impl Store {
    /// Create an account. `username` and `display_name` must already be validated.
    pub fn create_user(
        &self,
        username: &str,
        display_name: &str,
        password_hash: &str,
        role: Role,
        now: i64,
    ) -> Result<User> {
        self.write(|t| {
            let id = insert_user(t.conn(), username, display_name, password_hash, role, now)?;
            let user = get_user(t.conn(), id)?;
            t.emit(EventKind::UserUpdate, Audience::Everyone, &user, now)?;
            Ok(user)
        })
    }

    pub fn user(&self, id: UserId) -> Result<User> {
        self.read(|c| get_user(c, id))
    }

    pub fn users(&self) -> Result<Vec<User>> {
        self.read(|c| {
            let mut st = c.prepare(&format!("SELECT {USER_COLS} FROM users ORDER BY username"))?;
            let rows = st.query_map([], user_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
    }

    /// The user and their password hash, for logging in.
    pub fn user_credentials(&self, username: &str) -> Result<Option<(User, String)>> {
        self.read(|c| {
            optional(c.query_row(
                &format!("SELECT {USER_COLS}, password_hash FROM users WHERE username = ?1"),
                [username],
                |r| Ok((user_row(r)?, r.get::<_, String>(USER_COLS_LEN)?)),
            ))
        })
    }

    pub fn password_hash(&self, id: UserId) -> Result<String> {
        self.read(|c| {
            optional(c.query_row("SELECT password_hash FROM users WHERE id = ?1", [id.0], |r| r.get(0)))?
                .ok_or_else(|| chat::Error::not_found("unknown_user", "No such user.").into())
        })
    }

    /// Change a password. Every session of the user ends, except `keep` (the one that asked).
    pub fn set_password_hash(&self, id: UserId, hash: &str, keep: Option<&[u8]>) -> Result<()> {
        self.write(|t| {
            let n = t.conn().execute("UPDATE users SET password_hash = ?2 WHERE id = ?1", params![id.0, hash])?;
            if n == 0 {
                return Err(chat::Error::not_found("unknown_user", "No such user.").into());
            }
            t.conn().execute(
                "DELETE FROM sessions WHERE user_id = ?1 AND token_hash IS NOT ?2",
                params![id.0, keep],
            )?;
            Ok(())
        })
    }

    pub fn set_display_name(&self, id: UserId, name: &str, now: i64) -> Result<User> {
        self.update_user(id, now, |c| {
            c.execute("UPDATE users SET display_name = ?2 WHERE id = ?1", params![id.0, name])?;
            Ok(())
        })
    }

    /// Change a role. Refuses to demote the last enabled admin (the box would be unmanageable).
    pub fn set_role(&self, id: UserId, role: Role, now: i64) -> Result<User> {
        self.update_user(id, now, |c| {
            c.execute("UPDATE users SET role = ?2 WHERE id = ?1", params![id.0, role.as_str()])?;
            Ok(())
        })
    }

    /// Disable (or re-enable) an account. Disabling ends all its sessions at once.
    pub fn set_disabled(&self, id: UserId, disabled: bool, now: i64) -> Result<User> {
        self.update_user(id, now, |c| {
            c.execute("UPDATE users SET disabled = ?2 WHERE id = ?1", params![id.0, disabled as i64])?;
            if disabled {
                c.execute("DELETE FROM sessions WHERE user_id = ?1", [id.0])?;
            }
            Ok(())
        })
    }

    fn update_user(&self, id: UserId, now: i64, f: impl FnOnce(&Connection) -> Result<()>) -> Result<User> {
        self.write(|t| {
            get_user(t.conn(), id)?;
            f(t.conn())?;
            let admins: i64 = t.conn().query_row(
                "SELECT count(*) FROM users WHERE role = 'admin' AND disabled = 0",
                [],
                |r| r.get(0),
            )?;
            if admins == 0 {
                return Err(chat::Error::conflict("last_admin", "The box needs at least one enabled admin.").into());
            }
            let user = get_user(t.conn(), id)?;
            t.emit(EventKind::UserUpdate, Audience::Everyone, &user, now)?;
            Ok(user)
        })
    }

    // --- sessions ---------------------------------------------------------------------------

    pub fn create_session(
        &self,
        token_hash: &[u8],
        user: UserId,
        now: i64,
        expires_at: i64,
        user_agent: &str,
        ip: &str,
    ) -> Result<()> {
        self.write(|t| {
            t.conn().execute(
                "INSERT INTO sessions (token_hash, user_id, created_at, last_seen_at, expires_at, user_agent, ip)
                 VALUES (?1, ?2, ?3, ?3, ?4, ?5, ?6)",
                params![token_hash, user.0, now, expires_at, user_agent, ip],
            )?;
            // Housekeeping: expired sessions go.
            t.conn().execute("DELETE FROM sessions WHERE expires_at <= ?1", [now])?;
            Ok(())
        })
    }

    /// The session for this token hash, if it is live and its user is enabled and not banned.
    pub fn session(&self, token_hash: &[u8], now: i64) -> Result<Option<SessionInfo>> {
        self.read(|c| {
            let found = optional(c.query_row(
                "SELECT user_id, created_at, last_seen_at, expires_at FROM sessions WHERE token_hash = ?1 AND expires_at > ?2",
                params![token_hash, now],
                |r| Ok((UserId(r.get(0)?), r.get::<_, i64>(1)?, r.get::<_, i64>(2)?, r.get::<_, i64>(3)?)),
            ))?;
            let Some((uid, created_at, last_seen_at, expires_at)) = found else { return Ok(None) };
            let user = get_user(c, uid)?;
            if user.disabled || user.banned {
                return Ok(None);
            }
            let actor = actor_of(c, &user, now)?;
            Ok(Some(SessionInfo { user, actor, created_at, last_seen_at, expires_at }))
        })
    }

    /// Slide a session's expiry forward (called at most every few minutes per session).
    pub fn touch_session(&self, token_hash: &[u8], now: i64, expires_at: i64) -> Result<()> {
        self.write(|t| {
            t.conn().execute(
                "UPDATE sessions SET last_seen_at = ?2, expires_at = ?3 WHERE token_hash = ?1",
                params![token_hash, now, expires_at],
            )?;
            Ok(())
        })
    }

    pub fn delete_session(&self, token_hash: &[u8]) -> Result<()> {
        self.write(|t| {
            t.conn().execute("DELETE FROM sessions WHERE token_hash = ?1", [token_hash])?;
            Ok(())
        })
    }

    pub fn delete_user_sessions(&self, user: UserId) -> Result<()> {
        self.write(|t| {
            t.conn().execute("DELETE FROM sessions WHERE user_id = ?1", [user.0])?;
            Ok(())
        })
    }

    pub fn session_count(&self, user: UserId) -> Result<i64> {
        self.read(|c| Ok(c.query_row("SELECT count(*) FROM sessions WHERE user_id = ?1", [user.0], |r| r.get(0))?))
    }

    // --- invites ----------------------------------------------------------------------------

    pub fn create_invite(&self, token_hash: &[u8], by: UserId, role: Role, now: i64, expires_at: i64) -> Result<Invite> {
        self.write(|t| {
            t.conn().execute(
                "INSERT INTO invites (token_hash, created_by, role, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![token_hash, by.0, role.as_str(), now, expires_at],
            )?;
            let id = t.conn().last_insert_rowid();
            Ok(t.conn().query_row(&format!("SELECT {INVITE_COLS} FROM invites WHERE id = ?1"), [id], invite_row)?)
        })
    }

    pub fn invites(&self) -> Result<Vec<Invite>> {
        self.read(|c| {
            let mut st = c.prepare(&format!("SELECT {INVITE_COLS} FROM invites ORDER BY id DESC"))?;
            let rows = st.query_map([], invite_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
    }

    /// A usable (unused, unexpired) invite.
    pub fn usable_invite(&self, token_hash: &[u8], now: i64) -> Result<Option<Invite>> {
        self.read(|c| {
            optional(c.query_row(
                &format!("SELECT {INVITE_COLS} FROM invites WHERE token_hash = ?1 AND used_by IS NULL AND expires_at > ?2"),
                params![token_hash, now],
                invite_row,
            ))
        })
    }

    pub fn delete_invite(&self, id: InviteId) -> Result<()> {
        self.write(|t| {
            if t.conn().execute("DELETE FROM invites WHERE id = ?1 AND used_by IS NULL", [id.0])? == 0 {
                return Err(chat::Error::not_found("unknown_invite", "No such unused invite.").into());
            }
            Ok(())
        })
    }

    /// Use an invite: creates the account and marks the invite used, atomically, so two people
    /// racing for the same link cannot both get in.
    pub fn accept_invite(
        &self,
        token_hash: &[u8],
        username: &str,
        display_name: &str,
        password_hash: &str,
        now: i64,
    ) -> Result<User> {
        self.write(|t| {
            let invite = optional(t.conn().query_row(
                &format!("SELECT {INVITE_COLS} FROM invites WHERE token_hash = ?1 AND used_by IS NULL AND expires_at > ?2"),
                params![token_hash, now],
                invite_row,
            ))?
            .ok_or_else(|| Error::from(invite_invalid()))?;
            let id = insert_user(t.conn(), username, display_name, password_hash, invite.role, now)?;
            t.conn().execute(
                "UPDATE invites SET used_by = ?2, used_at = ?3 WHERE id = ?1",
                params![invite.id.0, id.0, now],
            )?;
            let user = get_user(t.conn(), id)?;
            t.emit(EventKind::UserUpdate, Audience::Everyone, &user, now)?;
            Ok(user)
        })
    }
}

pub fn invite_invalid() -> chat::Error {
    chat::Error::not_found("invite_invalid", "This invite link is not valid: it was used, revoked or has expired.")
}
