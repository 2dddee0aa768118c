//! Faces: a user's avatar (the stored name of the box's copies; the files are the server's).

use crate::admin::audit;
use crate::users::get_user;
use crate::{Result, Store};
use chat::events::{Audience, EventKind};
use chat::ids::UserId;
use chat::model::User;
use chat::perms::{self, Action, Actor};
use rusqlite::params;

impl Store {
    /// Set (or with `None` remove) `target`'s avatar. People change their own; removing
    /// someone else's is moderation (checked by `chat::perms`, audit-logged). One transaction
    /// writes the change and its `user.update`. Returns the user and the stored name the
    /// change replaced (its files are the caller's to delete, after the commit).
    pub fn set_avatar(&self, target: UserId, avatar: Option<&str>, now: i64, actor: Actor) -> Result<(User, Option<String>)> {
        self.write(|t| {
            let before = get_user(t.conn(), target)?;
            if target != actor.id {
                perms::check(actor, perms::Here::BOX, Action::Moderate { target, target_role: before.role })?;
                if avatar.is_some() {
                    return Err(chat::Error::forbidden("not_yours", "You can only change your own picture.").into());
                }
            }
            if before.avatar.as_deref() == avatar {
                return Ok((before, None));
            }
            t.conn().execute("UPDATE users SET avatar = ?2 WHERE id = ?1", params![target.0, avatar])?;
            if target != actor.id {
                audit(t, actor.id, "user.avatar_remove", &format!("user:{target}"), serde_json::json!({}), now)?;
            }
            let user = get_user(t.conn(), target)?;
            t.emit(EventKind::UserUpdate, Audience::Everyone, &user, now)?;
            Ok((user, before.avatar))
        })
    }
}
