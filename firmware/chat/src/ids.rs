//! Typed IDs. All IDs travel as decimal strings in JSON: message IDs exceed 2^53, and one rule
//! for every ID keeps clients simple.

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(type = "string"))]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }

        impl FromStr for $name {
            type Err = std::num::ParseIntError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                s.parse::<i64>().map($name)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                deserialize_id(d).map($name)
            }
        }
    };
}

/// Accepts `"123"` and, leniently, `123`; rejects everything else with a clear message.
fn deserialize_id<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    struct V;
    impl de::Visitor<'_> for V {
        type Value = i64;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an ID as a decimal string")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<i64, E> {
            match v.parse::<i64>() {
                Ok(n) if n > 0 => Ok(n),
                _ => Err(E::custom(format!("invalid ID {v:?}"))),
            }
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<i64, E> {
            i64::try_from(v).ok().filter(|n| *n > 0).ok_or_else(|| E::custom("invalid ID"))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<i64, E> {
            if v > 0 { Ok(v) } else { Err(E::custom("invalid ID")) }
        }
    }
    d.deserialize_any(V)
}

id_type!(
    /// A user account.
    UserId
);
id_type!(
    /// A text channel.
    ChannelId
);
id_type!(
    /// A message; time-ordered (see [`MessageIdGen`]).
    MessageId
);
id_type!(
    /// An invite link.
    InviteId
);
id_type!(
    /// A role (`1` is the built-in `@everyone`).
    RoleId
);
id_type!(
    /// An uploaded file.
    AttachmentId
);
id_type!(
    /// A custom emoji.
    EmojiId
);
id_type!(
    /// A fetched link preview.
    EmbedId
);
id_type!(
    /// A track of the box's music library.
    TrackId
);
id_type!(
    /// An audit log entry.
    AuditId
);

impl RoleId {
    /// The role every user has.
    pub const EVERYONE: RoleId = RoleId(1);
}

/// Position in the durable event log. Numbers (not strings): they stay far below 2^53.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Seq(pub i64);

/// Our epoch for message IDs: 2024-01-01T00:00:00Z in Unix milliseconds.
pub const ID_EPOCH_MS: i64 = 1_704_067_200_000;
/// Low bits of a message ID that order messages created in the same millisecond.
const SEQ_BITS: u32 = 16;

/// Generates strictly increasing, time-ordered message IDs: `(ms since epoch) << 16 | n`.
/// If the clock goes backwards (NTP step on a Pi without RTC) IDs keep increasing anyway.
#[derive(Debug, Default, Clone)]
pub struct MessageIdGen {
    last: i64,
}

impl MessageIdGen {
    /// `last` is the largest ID already stored, so IDs stay increasing across restarts.
    pub fn new(last: MessageId) -> Self {
        MessageIdGen { last: last.0 }
    }

    pub fn next(&mut self, now_unix_ms: i64) -> MessageId {
        let candidate = (now_unix_ms - ID_EPOCH_MS).max(0) << SEQ_BITS;
        self.last = candidate.max(self.last + 1);
        MessageId(self.last)
    }
}

impl MessageId {
    /// The creation time encoded in the ID.
    pub fn timestamp_ms(self) -> i64 {
        (self.0 >> SEQ_BITS) + ID_EPOCH_MS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_increase_even_when_the_clock_goes_back() {
        let mut g = MessageIdGen::default();
        let now = ID_EPOCH_MS + 1_000_000;
        let a = g.next(now);
        let b = g.next(now);
        let c = g.next(now - 5_000);
        assert!(a < b && b < c);
        assert_eq!(a.timestamp_ms(), now);
    }

    #[test]
    fn ids_serialize_as_strings_and_parse_back() {
        let id = MessageId(1 << 60);
        let s = serde_json::to_string(&id).unwrap_or_default();
        assert_eq!(s, format!("\"{}\"", 1i64 << 60));
        let back: MessageId = serde_json::from_str(&s).unwrap_or(MessageId(0));
        assert_eq!(back, id);
        assert!(serde_json::from_str::<MessageId>("\"-1\"").is_err());
        assert!(serde_json::from_str::<MessageId>("\"abc\"").is_err());
        assert!(serde_json::from_str::<MessageId>("[]").is_err());
        assert!(serde_json::from_str::<MessageId>("1.5").is_err());
    }
}
