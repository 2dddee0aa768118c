//! The records the API speaks. The store reads and writes them; the server serialises them.

use crate::ids::{ChannelId, MessageId, UserId};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
#[serde(rename_all = "lowercase")]
pub enum Presence {
    Online,
    Idle,
    Offline,
}

/// A user as everyone may see them (no password hash here, ever).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: UserId,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub disabled: bool,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
}

/// Text channels carry messages; voice channels are also rooms people join to talk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ChannelKind {
    #[default]
    Text,
    Voice,
}

impl ChannelKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Text => "text",
            ChannelKind::Voice => "voice",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
}

/// What a user has read in one channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadState {
    pub channel_id: ChannelId,
    pub last_read_id: Option<MessageId>,
}
