//! The durable event log's vocabulary. Every durable change is one event with a sequence number;
//! clients resume from a sequence number and receive exactly what they missed.

use crate::ids::{ChannelId, Seq, UserId};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum EventKind {
    #[serde(rename = "message.create")]
    MessageCreate,
    #[serde(rename = "message.update")]
    MessageUpdate,
    #[serde(rename = "message.delete")]
    MessageDelete,
    #[serde(rename = "channel.create")]
    ChannelCreate,
    #[serde(rename = "channel.update")]
    ChannelUpdate,
    #[serde(rename = "user.update")]
    UserUpdate,
    #[serde(rename = "read_state.update")]
    ReadStateUpdate,
    #[serde(rename = "channel_settings.update")]
    ChannelSettingsUpdate,
    #[serde(rename = "role.create")]
    RoleCreate,
    #[serde(rename = "role.update")]
    RoleUpdate,
    #[serde(rename = "role.delete")]
    RoleDelete,
    #[serde(rename = "emoji.create")]
    EmojiCreate,
    #[serde(rename = "emoji.delete")]
    EmojiDelete,
    #[serde(rename = "track.create")]
    TrackCreate,
    #[serde(rename = "track.delete")]
    TrackDelete,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::MessageCreate => "message.create",
            EventKind::MessageUpdate => "message.update",
            EventKind::MessageDelete => "message.delete",
            EventKind::ChannelCreate => "channel.create",
            EventKind::ChannelUpdate => "channel.update",
            EventKind::UserUpdate => "user.update",
            EventKind::ReadStateUpdate => "read_state.update",
            EventKind::ChannelSettingsUpdate => "channel_settings.update",
            EventKind::RoleCreate => "role.create",
            EventKind::RoleUpdate => "role.update",
            EventKind::RoleDelete => "role.delete",
            EventKind::EmojiCreate => "emoji.create",
            EventKind::EmojiDelete => "emoji.delete",
            EventKind::TrackCreate => "track.create",
            EventKind::TrackDelete => "track.delete",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(s.to_owned())).ok()
    }
}

/// Who may receive an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// Everyone who can see this channel.
    Channel(ChannelId),
    /// Only this user (e.g. their own read position, synced across their devices).
    User(UserId),
    /// Every user.
    Everyone,
}

/// One committed durable change.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub seq: Seq,
    pub kind: EventKind,
    pub audience: Audience,
    /// The JSON payload, serialised once at commit time and shared by every recipient.
    pub data: std::sync::Arc<str>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_through_their_wire_names() {
        for k in [
            EventKind::MessageCreate,
            EventKind::MessageUpdate,
            EventKind::MessageDelete,
            EventKind::ChannelCreate,
            EventKind::ChannelUpdate,
            EventKind::UserUpdate,
            EventKind::ReadStateUpdate,
            EventKind::ChannelSettingsUpdate,
            EventKind::RoleCreate,
            EventKind::RoleUpdate,
            EventKind::RoleDelete,
            EventKind::EmojiCreate,
            EventKind::EmojiDelete,
            EventKind::TrackCreate,
            EventKind::TrackDelete,
        ] {
            assert_eq!(EventKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(EventKind::parse("nope"), None);
    }
}
