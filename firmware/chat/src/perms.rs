//! The one place that decides who may do what. Handlers, the store's authorize hooks and the
//! gateway's fan-out ask here; nothing else compares roles or permission bits.
//!
//! A user's permissions in a channel are computed by [`effective`] from their roles and the
//! channel's overrides (Discord's order: roles, then the `@everyone` override, then the user's
//! other roles' overrides, deny before allow). [`check`] then decides one [`Action`].

use crate::error::{Error, Result};
use crate::ids::{RoleId, UserId};
use crate::model::{ChannelKind, Role};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A set of permissions (bits). On the wire: the names, in this order (`store`'s `ts_types` test
/// checks that the TypeScript union below lists the same names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
#[cfg_attr(
    feature = "ts",
    derive(ts_rs::TS),
    ts(type = r#"Array<"view" | "send" | "manage_messages" | "pin" | "manage_channel" | "moderate" | "dj">"#)
)]
pub struct Perms(pub u32);

impl Perms {
    pub const NONE: Perms = Perms(0);
    pub const VIEW: Perms = Perms(1);
    /// Post, react, start threads.
    pub const SEND: Perms = Perms(1 << 1);
    /// Delete other people's messages.
    pub const MANAGE_MESSAGES: Perms = Perms(1 << 2);
    pub const PIN: Perms = Perms(1 << 3);
    /// Rename, set the topic, edit overrides.
    pub const MANAGE_CHANNEL: Perms = Perms(1 << 4);
    /// Kick, ban, time out (box-wide: only taken from roles, never from overrides).
    pub const MODERATE: Perms = Perms(1 << 5);
    /// Drive the room's DJ fully: skip at once, stop, clear, move or remove anyone's tracks
    /// (box-wide, from roles: the "DJ" role of a friend group).
    pub const DJ: Perms = Perms(1 << 6);
    pub const ALL: Perms = Perms((1 << 7) - 1);
    /// What `@everyone` starts with.
    pub const DEFAULT_EVERYONE: Perms = Perms(1 | (1 << 1));

    const NAMES: [(&'static str, Perms); 7] = [
        ("view", Perms::VIEW),
        ("send", Perms::SEND),
        ("manage_messages", Perms::MANAGE_MESSAGES),
        ("pin", Perms::PIN),
        ("manage_channel", Perms::MANAGE_CHANNEL),
        ("moderate", Perms::MODERATE),
        ("dj", Perms::DJ),
    ];

    pub fn contains(self, other: Perms) -> bool {
        self.0 & other.0 == other.0
    }
    pub fn union(self, other: Perms) -> Perms {
        Perms(self.0 | other.0)
    }
    pub fn minus(self, other: Perms) -> Perms {
        Perms(self.0 & !other.0)
    }
    pub fn names(self) -> Vec<&'static str> {
        Self::NAMES.iter().filter(|(_, p)| self.contains(*p)).map(|(n, _)| *n).collect()
    }
    pub fn from_names<S: AsRef<str>>(names: &[S]) -> Result<Perms> {
        let mut p = Perms::NONE;
        for n in names {
            let n = n.as_ref();
            let bit = Self::NAMES.iter().find(|(k, _)| *k == n).map(|(_, b)| *b).ok_or_else(|| {
                Error::invalid(
                    "unknown_permission",
                    format!("Unknown permission {n:?}: use view, send, manage_messages, pin, manage_channel, moderate, dj."),
                )
            })?;
            p = p.union(bit);
        }
        Ok(p)
    }
    /// From the database (unknown bits dropped).
    pub fn from_bits(bits: i64) -> Perms {
        Perms((bits as u32) & Perms::ALL.0)
    }
}

impl Serialize for Perms {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.names().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Perms {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let names = Vec::<String>::deserialize(d)?;
        Perms::from_names(&names).map_err(|e| serde::de::Error::custom(e.message))
    }
}

/// The acting user, as far as permissions care. `perms` are the box-wide permissions from their
/// roles (every permission for admins).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Actor {
    pub id: UserId,
    pub role: Role,
    pub perms: Perms,
    /// Timed out: may read, may not post, react or talk.
    pub timed_out: bool,
}

impl Actor {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}

/// A channel permission override for one role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Override {
    pub role_id: RoleId,
    pub allow: Perms,
    pub deny: Perms,
}

/// What permissions depend on about a channel. Threads pass their parent channel's overrides.
#[derive(Debug, Clone, Copy)]
pub struct Place<'a> {
    pub kind: ChannelKind,
    pub archived: bool,
    /// DMs: is the actor one of its members?
    pub member: bool,
    pub overrides: &'a [Override],
}

/// The actor's permissions in one channel, with why some may be missing (for the error words).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Here {
    pub perms: Perms,
    pub archived: bool,
    pub timed_out: bool,
}

impl Here {
    /// For box-wide actions, which do not look at a channel.
    pub const BOX: Here = Here { perms: Perms::NONE, archived: false, timed_out: false };
}

/// Box-wide permissions from a user's roles (`@everyone` included in `role_perms`).
pub fn base(role: Role, role_perms: impl IntoIterator<Item = Perms>) -> Perms {
    if role == Role::Admin {
        return Perms::ALL;
    }
    role_perms.into_iter().fold(Perms::NONE, Perms::union)
}

/// The actor's permissions in a channel. `roles` are the actor's roles besides `@everyone`.
pub fn effective(actor: Actor, roles: &[RoleId], place: &Place<'_>) -> Here {
    let mut p = match place.kind {
        // DMs belong to their members alone; roles and admin rights do not reach into them.
        ChannelKind::Dm => {
            if place.member {
                Perms::VIEW.union(Perms::SEND)
            } else {
                Perms::NONE
            }
        }
        _ if actor.is_admin() => Perms::ALL,
        _ => {
            let mut p = actor.perms;
            if let Some(o) = place.overrides.iter().find(|o| o.role_id == RoleId::EVERYONE) {
                p = p.minus(o.deny).union(o.allow);
            }
            let (mut allow, mut deny) = (Perms::NONE, Perms::NONE);
            for o in place.overrides.iter().filter(|o| o.role_id != RoleId::EVERYONE && roles.contains(&o.role_id)) {
                allow = allow.union(o.allow);
                deny = deny.union(o.deny);
            }
            p = p.minus(deny).union(allow);
            // Moderation and the DJ are box-wide: an override cannot grant or take them.
            let wide = Perms::MODERATE.union(Perms::DJ);
            p.minus(wide).union(Perms(actor.perms.0 & wide.0))
        }
    };
    if !p.contains(Perms::VIEW) {
        p = Perms::NONE;
    }
    if place.archived {
        p = p.minus(Perms::SEND).minus(Perms::PIN);
    }
    if actor.timed_out {
        p = p.minus(Perms::SEND);
    }
    Here { perms: p, archived: place.archived, timed_out: actor.timed_out }
}

/// Everything that needs a permission decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    // In a channel: decided from `Here`.
    /// Read a channel's messages, see its events.
    ViewChannel,
    /// Post into a channel.
    SendMessage,
    /// Add or remove a reaction.
    React,
    /// Start a thread from a message.
    StartThread,
    /// Edit a message (only its author may).
    EditMessage { author: UserId },
    /// Delete a message (its author, or whoever manages messages there).
    DeleteMessage { author: UserId },
    Pin,
    /// Join a voice room (and signal in it).
    JoinVoice,
    /// Rename, set the topic, archive, edit overrides.
    ManageChannel,
    // Box-wide: decided from the actor's roles.
    /// Create and reorder channels.
    CreateChannels,
    /// Accounts, invites, roles, emoji, settings, the audit log, exports of whole channels.
    ManageUsers,
    /// Kick, ban or time out someone.
    Moderate { target: UserId, target_role: Role },
}

/// Decide `action` for `actor`; `here` is their permissions in the channel concerned (ignored for
/// box-wide actions).
pub fn check(actor: Actor, here: Here, action: Action) -> Result<()> {
    let has = |p: Perms| here.perms.contains(p);
    let need_send = || -> Result<()> {
        if has(Perms::SEND) {
            Ok(())
        } else if !has(Perms::VIEW) {
            Err(unknown_channel())
        } else if here.archived {
            Err(Error::forbidden("channel_archived", "This channel is archived: it is read-only."))
        } else if here.timed_out {
            Err(Error::forbidden("timed_out", "You are timed out: you can read, but not post, react or talk."))
        } else {
            Err(Error::forbidden("missing_permission", "You cannot post in this channel."))
        }
    };
    let box_wide = matches!(action, Action::CreateChannels | Action::ManageUsers | Action::Moderate { .. });
    // A channel you cannot see does not exist for you, whatever you wanted to do in it.
    if !box_wide && !has(Perms::VIEW) {
        return Err(unknown_channel());
    }
    match action {
        Action::ViewChannel => Ok(()),
        Action::SendMessage | Action::React | Action::StartThread => need_send(),
        Action::JoinVoice => {
            if here.archived && has(Perms::VIEW) {
                return Err(Error::forbidden("channel_archived", "This voice channel is archived: nobody can join it."));
            }
            need_send()
        }
        Action::EditMessage { author } => {
            if author != actor.id {
                return Err(Error::forbidden("not_author", "Only the author can edit a message."));
            }
            need_send()
        }
        Action::DeleteMessage { author } => {
            if !has(Perms::VIEW) {
                Err(unknown_channel())
            } else if author == actor.id || has(Perms::MANAGE_MESSAGES) {
                Ok(())
            } else {
                Err(Error::forbidden("not_author", "Only the author or a moderator can delete a message."))
            }
        }
        Action::Pin => {
            if has(Perms::PIN) {
                Ok(())
            } else if !has(Perms::VIEW) {
                Err(unknown_channel())
            } else if here.archived {
                Err(Error::forbidden("channel_archived", "This channel is archived: it is read-only."))
            } else {
                Err(Error::forbidden("missing_permission", "You cannot pin messages here."))
            }
        }
        Action::ManageChannel => {
            if has(Perms::MANAGE_CHANNEL) {
                Ok(())
            } else if !has(Perms::VIEW) {
                Err(unknown_channel())
            } else {
                Err(Error::forbidden("missing_permission", "You cannot manage this channel."))
            }
        }
        Action::CreateChannels | Action::ManageUsers => {
            actor.is_admin().then_some(()).ok_or_else(|| Error::forbidden("admin_only", "Only an admin can do this."))
        }
        Action::Moderate { target, target_role } => {
            if !actor.perms.contains(Perms::MODERATE) {
                Err(Error::forbidden("missing_permission", "Only moderators can do this."))
            } else if target == actor.id {
                Err(Error::invalid("cannot_moderate_self", "You cannot do this to yourself."))
            } else if target_role == Role::Admin {
                Err(Error::forbidden("cannot_moderate_admin", "Admins cannot be kicked, banned or timed out."))
            } else {
                Ok(())
            }
        }
    }
}

fn unknown_channel() -> Error {
    // Not "forbidden": a channel you cannot see does not exist for you.
    Error::not_found("unknown_channel", "No such channel.")
}

#[cfg(test)]
mod tests {
    use super::*;

    const MODS: RoleId = RoleId(2);
    const ADMIN: Actor = Actor { id: UserId(1), role: Role::Admin, perms: Perms::ALL, timed_out: false };
    const BOB: Actor = Actor { id: UserId(2), role: Role::Member, perms: Perms::DEFAULT_EVERYONE, timed_out: false };
    const MOD: Actor = Actor {
        id: UserId(3),
        role: Role::Member,
        perms: Perms(Perms::DEFAULT_EVERYONE.0 | Perms::MODERATE.0 | Perms::MANAGE_MESSAGES.0),
        timed_out: false,
    };
    const MUTED: Actor = Actor { timed_out: true, ..BOB };

    fn text(overrides: &[Override]) -> Place<'_> {
        Place { kind: ChannelKind::Text, archived: false, member: false, overrides }
    }

    #[test]
    fn the_permission_table() {
        let deny_view = [Override { role_id: RoleId::EVERYONE, allow: Perms::NONE, deny: Perms::VIEW }];
        let mods_see = [deny_view[0], Override { role_id: MODS, allow: Perms::VIEW.union(Perms::PIN), deny: Perms::NONE }];
        let archived = Place { archived: true, ..text(&[]) };
        let dm_in = Place { kind: ChannelKind::Dm, archived: false, member: true, overrides: &[] };
        let dm_out = Place { member: false, ..dm_in };
        let cases: &[(Actor, &[RoleId], Place<'_>, Action, bool)] = &[
            (BOB, &[], text(&[]), Action::SendMessage, true),
            (BOB, &[], text(&[]), Action::Pin, false),
            (BOB, &[], text(&deny_view), Action::ViewChannel, false),
            (ADMIN, &[], text(&deny_view), Action::ViewChannel, true),
            (MOD, &[MODS], text(&mods_see), Action::ViewChannel, true),
            (MOD, &[MODS], text(&mods_see), Action::Pin, true),
            (MOD, &[MODS], text(&mods_see), Action::SendMessage, true),
            (BOB, &[], text(&mods_see), Action::SendMessage, false),
            (BOB, &[], archived, Action::SendMessage, false),
            (ADMIN, &[], archived, Action::SendMessage, false),
            (BOB, &[], archived, Action::ViewChannel, true),
            (MUTED, &[], text(&[]), Action::SendMessage, false),
            (MUTED, &[], text(&[]), Action::React, false),
            (MUTED, &[], text(&[]), Action::JoinVoice, false),
            (MUTED, &[], text(&[]), Action::ViewChannel, true),
            (BOB, &[], text(&[]), Action::EditMessage { author: UserId(2) }, true),
            (ADMIN, &[], text(&[]), Action::EditMessage { author: UserId(2) }, false),
            (BOB, &[], text(&[]), Action::DeleteMessage { author: UserId(1) }, false),
            (MOD, &[MODS], text(&[]), Action::DeleteMessage { author: UserId(1) }, true),
            (ADMIN, &[], text(&[]), Action::DeleteMessage { author: UserId(2) }, true),
            (BOB, &[], dm_in, Action::SendMessage, true),
            (ADMIN, &[], dm_out, Action::ViewChannel, false),
            (BOB, &[], text(&[]), Action::ManageChannel, false),
            (ADMIN, &[], text(&[]), Action::ManageChannel, true),
            (BOB, &[], text(&[]), Action::CreateChannels, false),
            (ADMIN, &[], text(&[]), Action::CreateChannels, true),
            (BOB, &[], text(&[]), Action::Moderate { target: UserId(9), target_role: Role::Member }, false),
            (MOD, &[MODS], text(&[]), Action::Moderate { target: UserId(9), target_role: Role::Member }, true),
            (MOD, &[MODS], text(&[]), Action::Moderate { target: UserId(1), target_role: Role::Admin }, false),
            (MOD, &[MODS], text(&[]), Action::Moderate { target: UserId(3), target_role: Role::Member }, false),
        ];
        for (actor, roles, place, action, allowed) in cases {
            let here = effective(*actor, roles, place);
            assert_eq!(check(*actor, here, *action).is_ok(), *allowed, "{actor:?} {place:?} {action:?}");
        }
    }

    #[test]
    fn overrides_apply_everyone_first_then_roles_deny_before_allow() {
        let o = [
            Override { role_id: RoleId::EVERYONE, allow: Perms::PIN, deny: Perms::SEND },
            Override { role_id: MODS, allow: Perms::SEND, deny: Perms::PIN },
        ];
        let bob = effective(BOB, &[], &text(&o)).perms;
        assert!(bob.contains(Perms::PIN) && !bob.contains(Perms::SEND));
        let m = effective(MOD, &[MODS], &text(&o)).perms;
        assert!(m.contains(Perms::SEND) && !m.contains(Perms::PIN));
        // An override cannot hand out moderation.
        let grant = [Override { role_id: RoleId::EVERYONE, allow: Perms::MODERATE, deny: Perms::NONE }];
        assert!(!effective(BOB, &[], &text(&grant)).perms.contains(Perms::MODERATE));
    }

    #[test]
    fn names_round_trip_and_unknown_names_are_refused() {
        let p = Perms::from_names(&["view", "pin"]).unwrap_or_default();
        assert_eq!(p.names(), vec!["view", "pin"]);
        assert_eq!(Perms::from_names(&["fly"]).map_err(|e| e.code).err(), Some("unknown_permission"));
        assert_eq!(Perms::from_bits(-1), Perms::ALL);
    }
}
