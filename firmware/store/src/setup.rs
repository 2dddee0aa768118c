//! First-run setup state: who claimed the box and which wizard steps are done. Kept in the
//! `meta` table; "claimed" means an admin account exists, and the claim that creates it is one
//! transaction that first checks no admin exists (two racing claims: exactly one wins).

use crate::users::{get_user, insert_user};
use crate::{Result, Store};
use chat::events::{Audience, EventKind};
use chat::model::{Role, User};
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct SetupState {
    pub claimed: bool,
    pub box_name: String,
    pub timezone: Option<String>,
    pub complete: bool,
    /// The admin made from Raspberry Pi Imager's settings, if that is how the box was claimed.
    pub preset_admin: Option<String>,
    pub step_network: String,
    pub step_tls: String,
}

/// What a claim writes: the admin and the wizard's first answers.
pub struct Claim<'a> {
    pub username: &'a str,
    pub password_hash: &'a str,
    pub box_name: &'a str,
    pub timezone: Option<&'a str>,
    /// From an Imager preset rather than the wizard.
    pub preset: bool,
}

fn meta(c: &Connection, key: &str) -> Result<Option<String>> {
    Ok(c.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0)).optional()?)
}

fn set_meta(c: &Connection, key: &str, value: &str) -> Result<()> {
    c.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        params![key, value],
    )?;
    Ok(())
}

fn has_admin(c: &Connection) -> Result<bool> {
    Ok(c.query_row("SELECT EXISTS (SELECT 1 FROM users WHERE role = 'admin')", [], |r| r.get(0))?)
}

pub const STEPS: &[&str] = &["network", "tls"];

impl Store {
    pub fn setup_state(&self) -> Result<SetupState> {
        self.read(|c| {
            Ok(SetupState {
                claimed: has_admin(c)?,
                box_name: meta(c, "setup.box_name")?.unwrap_or_else(|| "spot".into()),
                timezone: meta(c, "setup.timezone")?,
                complete: meta(c, "setup.complete")?.as_deref() == Some("1"),
                preset_admin: meta(c, "setup.preset_admin")?,
                step_network: meta(c, "setup.step.network")?.unwrap_or_else(|| "todo".into()),
                step_tls: meta(c, "setup.step.tls")?.unwrap_or_else(|| "todo".into()),
            })
        })
    }

    pub fn channels_count(&self) -> Result<i64> {
        self.read(|c| Ok(c.query_row("SELECT COUNT(*) FROM channels", [], |r| r.get(0))?))
    }

    /// Whether an admin account exists.
    pub fn is_claimed(&self) -> Result<bool> {
        self.read(has_admin)
    }

    /// Create the first admin, atomically with "the box is claimed". Refused with
    /// `already_claimed` when an admin exists (checked inside the same write transaction).
    pub fn claim(&self, claim: &Claim<'_>, now: i64) -> Result<User> {
        self.write(|t| {
            if has_admin(t.conn())? {
                return Err(chat::Error::conflict("already_claimed", "This box already has an admin: setup is closed. Sign in instead.").into());
            }
            let id = insert_user(t.conn(), claim.username, claim.username, claim.password_hash, Role::Admin, now)?;
            set_meta(t.conn(), "setup.box_name", claim.box_name)?;
            if let Some(tz) = claim.timezone {
                set_meta(t.conn(), "setup.timezone", tz)?;
            }
            if claim.preset {
                set_meta(t.conn(), "setup.preset_admin", claim.username)?;
            }
            set_meta(t.conn(), "setup.claimed_at", &now.to_string())?;
            let user = get_user(t.conn(), id)?;
            t.emit(EventKind::UserUpdate, Audience::Everyone, &user, now)?;
            Ok(user)
        })
    }

    /// Record a later wizard step (`network`, `tls`) as `done` or `skipped`.
    pub fn set_setup_step(&self, step: &str, outcome: &str) -> Result<()> {
        if !STEPS.contains(&step) || !matches!(outcome, "done" | "skipped" | "todo") {
            return Err(chat::Error::invalid("invalid_step", "Unknown setup step or outcome.").into());
        }
        self.write(|t| set_meta(t.conn(), &format!("setup.step.{step}"), outcome))
    }

    pub fn set_setup_value(&self, key: &str, value: &str) -> Result<()> {
        if !matches!(key, "box_name" | "timezone" | "complete") {
            return Err(chat::Error::invalid("invalid_key", "Unknown setup value.").into());
        }
        self.write(|t| set_meta(t.conn(), &format!("setup.{key}"), value))
    }
}
