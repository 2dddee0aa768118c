//! The chat domain: typed IDs, the models the API speaks, validation rules, the one place that
//! decides permissions, and small sans-IO state machines (rate limits, presence, message IDs).
//!
//! Nothing here touches a socket, a file or the clock: callers pass `now` in.

pub mod error;
pub mod events;
pub mod ids;
pub mod model;
pub mod music;
pub mod perms;
pub mod presence;
pub mod ratelimit;
pub mod rules;
pub mod search;
pub mod text;

pub use error::{Error, ErrorKind};
pub use ids::{AttachmentId, AuditId, ChannelId, EmbedId, EmojiId, InviteId, MessageId, RoleId, Seq, TrackId, UserId};
