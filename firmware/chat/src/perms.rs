//! The one place that decides who may do what. Handlers and the gateway ask here; nothing else
//! compares roles.

use crate::error::{Error, Result};
use crate::ids::UserId;
use crate::model::Role;

/// The acting user, as far as permissions care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Actor {
    pub id: UserId,
    pub role: Role,
}

/// Everything that needs a permission decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Read a channel's messages, see its events.
    ViewChannel { archived: bool },
    /// Post into a channel.
    SendMessage { archived: bool },
    /// Edit a message (only its author may).
    EditMessage { author: UserId },
    /// Delete a message (its author or an admin).
    DeleteMessage { author: UserId },
    /// Join a voice room (and signal in it).
    JoinVoice { archived: bool },
    /// Create, rename, reorder, archive channels.
    ManageChannels,
    /// Create and change accounts, invites.
    ManageUsers,
}

pub fn check(actor: Actor, action: Action) -> Result<()> {
    let admin = actor.role == Role::Admin;
    let allowed = match action {
        // Archived channels stay readable (history is kept) but take no new messages.
        Action::ViewChannel { .. } => true,
        Action::SendMessage { archived } => !archived,
        Action::JoinVoice { archived } => !archived,
        Action::EditMessage { author } => author == actor.id,
        Action::DeleteMessage { author } => author == actor.id || admin,
        Action::ManageChannels | Action::ManageUsers => admin,
    };
    if allowed {
        return Ok(());
    }
    Err(match action {
        Action::JoinVoice { archived: true } => {
            Error::forbidden("channel_archived", "This voice channel is archived: nobody can join it.")
        }
        Action::SendMessage { archived: true } => {
            Error::forbidden("channel_archived", "This channel is archived: it is read-only.")
        }
        Action::EditMessage { .. } => Error::forbidden("not_author", "Only the author can edit a message."),
        Action::DeleteMessage { .. } => {
            Error::forbidden("not_author", "Only the author or an admin can delete a message.")
        }
        _ => Error::forbidden("admin_only", "Only an admin can do this."),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADMIN: Actor = Actor { id: UserId(1), role: Role::Admin };
    const BOB: Actor = Actor { id: UserId(2), role: Role::Member };

    #[test]
    fn the_permission_table() {
        let table = [
            (ADMIN, Action::ManageChannels, true),
            (BOB, Action::ManageChannels, false),
            (BOB, Action::ManageUsers, false),
            (BOB, Action::SendMessage { archived: false }, true),
            (ADMIN, Action::SendMessage { archived: true }, false),
            (BOB, Action::EditMessage { author: UserId(2) }, true),
            (ADMIN, Action::EditMessage { author: UserId(2) }, false),
            (BOB, Action::DeleteMessage { author: UserId(1) }, false),
            (ADMIN, Action::DeleteMessage { author: UserId(2) }, true),
            (BOB, Action::ViewChannel { archived: true }, true),
            (BOB, Action::JoinVoice { archived: false }, true),
            (ADMIN, Action::JoinVoice { archived: true }, false),
        ];
        for (actor, action, allowed) in table {
            assert_eq!(check(actor, action).is_ok(), allowed, "{actor:?} {action:?}");
        }
    }
}
