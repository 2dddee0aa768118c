//! The records the API speaks. The store reads and writes them; the server serialises them.

use crate::ids::{AttachmentId, ChannelId, EmbedId, EmojiId, MessageId, RoleId, UserId};
use crate::perms::Perms;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Member,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Member => "member",
        }
    }
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
            "member" => Some(Role::Member),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "lowercase")]
pub enum Presence {
    Online,
    Idle,
    Offline,
}

/// A user as everyone may see them (no password hash here, ever).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct User {
    pub id: UserId,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub disabled: bool,
    pub created_at: i64,
    /// Custom roles (not `@everyone`, which everyone has).
    #[serde(default)]
    pub role_ids: Vec<RoleId>,
    /// Timed out until then (Unix ms), if in the future.
    #[serde(default)]
    pub timeout_until: Option<i64>,
    #[serde(default)]
    pub banned: bool,
    /// The stored name of their picture's copies (`/api/avatars/{side}/{name}`); `None`: the
    /// client draws the generated default.
    #[serde(default)]
    pub avatar: Option<String>,
}

/// A role: a name and box-wide permissions. Role `1` is `@everyone`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct RoleDef {
    pub id: RoleId,
    pub name: String,
    pub color: String,
    pub position: i64,
    pub permissions: Perms,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Channel {
    pub id: ChannelId,
    pub name: String,
    pub topic: String,
    pub position: i64,
    pub archived: bool,
    pub created_at: i64,
    pub last_message_id: Option<MessageId>,
    pub kind: ChannelKind,
    /// Voice rooms: most people at once; 0 = no limit.
    pub user_limit: i64,
    /// Threads: the channel they live in.
    #[serde(default)]
    pub parent_id: Option<ChannelId>,
    /// Threads: the message they were started from.
    #[serde(default)]
    pub parent_message_id: Option<MessageId>,
    /// DMs: their members (empty for other kinds).
    #[serde(default)]
    pub member_ids: Vec<UserId>,
}

/// Text channels carry messages; voice channels are also rooms people join to talk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "lowercase")]
pub enum ChannelKind {
    #[default]
    Text,
    Voice,
    /// Direct messages between 2–10 people.
    Dm,
    /// A thread started from a message of a text channel.
    Thread,
}

impl ChannelKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Text => "text",
            ChannelKind::Voice => "voice",
            ChannelKind::Dm => "dm",
            ChannelKind::Thread => "thread",
        }
    }
    pub fn parse(s: &str) -> ChannelKind {
        match s {
            "voice" => ChannelKind::Voice,
            "dm" => ChannelKind::Dm,
            "thread" => ChannelKind::Thread,
            _ => ChannelKind::Text,
        }
    }
}

/// How much a channel may claim one user's attention: badge counts, sounds and desktop
/// notifications. Per user per channel; `All` unless they chose otherwise (DMs too).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "lowercase")]
pub enum NotifyLevel {
    /// Every message counts and a mention or DM rings.
    #[default]
    All,
    /// Only messages that mention the user count and ring.
    Mentions,
    /// Nothing counts or rings; the channel is shown muted.
    Nothing,
}

impl NotifyLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            NotifyLevel::All => "all",
            NotifyLevel::Mentions => "mentions",
            NotifyLevel::Nothing => "nothing",
        }
    }
    /// A level as given by a client; anything else is refused with `invalid_level`.
    pub fn parse(s: &str) -> Result<NotifyLevel, crate::Error> {
        match s {
            "all" => Ok(NotifyLevel::All),
            "mentions" => Ok(NotifyLevel::Mentions),
            "nothing" => Ok(NotifyLevel::Nothing),
            _ => Err(crate::Error::invalid("invalid_level", "The notification level is one of all, mentions or nothing.")),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Message {
    pub id: MessageId,
    pub channel_id: ChannelId,
    pub author_id: UserId,
    /// Markdown source. Empty for a deleted message (a tombstone).
    pub content: String,
    pub reply_to: Option<MessageId>,
    pub created_at: i64,
    pub edited_at: Option<i64>,
    pub deleted: bool,
    /// The client's idempotency key, echoed so it can match its pending copy.
    pub nonce: Option<String>,
    /// Set on a message a thread was started from.
    #[serde(default)]
    pub thread: Option<ThreadSummary>,
    #[serde(default)]
    pub reactions: Vec<Reaction>,
    #[serde(default)]
    pub pinned_at: Option<i64>,
    #[serde(default)]
    pub pinned_by: Option<UserId>,
    /// Users mentioned with `@username`.
    #[serde(default)]
    pub mentions: Vec<UserId>,
    /// `@everyone` or `@here`.
    #[serde(default)]
    pub mention_everyone: bool,
    #[serde(default)]
    pub attachments: Vec<Attachment>,
    #[serde(default)]
    pub embeds: Vec<Embed>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ThreadSummary {
    pub id: ChannelId,
    pub name: String,
    pub reply_count: i64,
    pub last_reply_at: Option<i64>,
}

/// One emoji's reactions on a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Reaction {
    /// A Unicode emoji, or `:name:` for a custom one.
    pub emoji: String,
    pub count: i64,
    pub user_ids: Vec<UserId>,
}

/// An uploaded file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Attachment {
    pub id: AttachmentId,
    pub filename: String,
    pub content_type: String,
    pub size: i64,
    pub width: Option<i64>,
    pub height: Option<i64>,
    pub url: String,
    pub thumb_url: Option<String>,
}

impl Attachment {
    /// An attachment as the API shows it: the store hands over plain data (the ID, the name,
    /// whether the box made a thumbnail) and the addresses follow from it, always the same
    /// way. They are the server's routes (`server::files`): the file at
    /// `/api/attachments/ID/NAME`, its thumbnail at `/api/attachments/ID/thumb`.
    pub fn new(
        id: AttachmentId,
        filename: String,
        content_type: String,
        size: i64,
        (width, height): (Option<i64>, Option<i64>),
        has_thumb: bool,
    ) -> Attachment {
        let mut name = url_component(&filename);
        if name == "thumb" {
            // The same name, encoded, still reaches the file rather than the thumbnail route.
            name = "%74humb".into();
        }
        Attachment {
            url: format!("/api/attachments/{id}/{name}"),
            thumb_url: has_thumb.then(|| format!("/api/attachments/{id}/thumb")),
            id,
            filename,
            content_type,
            size,
            width,
            height,
        }
    }
}

/// Percent-encode everything but RFC 3986's unreserved characters: safe in a URL path segment
/// and in RFC 5987's `filename*=UTF-8''…`.
pub fn url_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A link preview, fetched and re-encoded by the box.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Embed {
    pub id: EmbedId,
    pub url: String,
    pub title: String,
    pub description: String,
    pub site_name: String,
    pub image_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct CustomEmoji {
    pub id: EmojiId,
    pub name: String,
    pub url: String,
}

impl CustomEmoji {
    /// An emoji as the API shows it; its image is at `/api/emoji/ID` (`server::files`).
    pub fn new(id: EmojiId, name: String) -> CustomEmoji {
        CustomEmoji { url: format!("/api/emoji/{id}"), id, name }
    }
}

/// What a user has read in one channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ReadState {
    pub channel_id: ChannelId,
    pub last_read_id: Option<MessageId>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attachment_urls_encode_names_and_never_collide_with_the_thumbnail_route() {
        let url = |name: &str| Attachment::new(AttachmentId(7), name.into(), String::new(), 1, (None, None), false).url;
        assert_eq!(url("a b/c?.png"), "/api/attachments/7/a%20b%2Fc%3F.png");
        assert_eq!(url("café.txt"), "/api/attachments/7/caf%C3%A9.txt");
        assert_eq!(url("thumb"), "/api/attachments/7/%74humb");
        assert_eq!(url("thumb.png"), "/api/attachments/7/thumb.png");
        let a = Attachment::new(AttachmentId(7), "x.png".into(), "image/png".into(), 1, (Some(2), Some(3)), true);
        assert_eq!(a.thumb_url.as_deref(), Some("/api/attachments/7/thumb"));
        assert_eq!(CustomEmoji::new(EmojiId(4), "party".into()).url, "/api/emoji/4");
    }
}
