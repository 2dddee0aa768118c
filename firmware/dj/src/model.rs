//! The data the core and its IO layer exchange: people, tracks, queue entries, inputs, outputs.

use serde::{Deserialize, Serialize};

use crate::parse::Command;

/// A queue entry's id. Unique for the life of the DJ (persisted in the snapshot): never reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EntryId(pub u64);

/// Names one [`Output::Resolve`]; the IO layer answers with [`Input::Resolved`] carrying it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Ticket(pub u64);

/// Where a command came from, and so where its public answer goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Chat {
    /// The voice room's own text chat (also where the web UI's buttons count as typed, and where
    /// the DJ's own announcements go: a failed track, leaving an empty room).
    Room,
    /// Another text channel the admin lets the DJ listen to (by its channel id). Unknown
    /// `!words` there are not answered: other bots may live there.
    Channel(i64),
}

/// A person talking to the DJ.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: i64,
    pub name: String,
    /// Has the DJ role, or is a moderator/admin: may do everything, from anywhere.
    #[serde(default)]
    pub dj: bool,
}

impl User {
    pub fn new(id: i64, name: impl Into<String>) -> User {
        User {
            id,
            name: name.into(),
            dj: false,
        }
    }

    /// A user with the DJ role.
    pub fn with_dj(id: i64, name: impl Into<String>) -> User {
        User {
            id,
            name: name.into(),
            dj: true,
        }
    }
}

/// Who queued an entry (kept with it, also after the person renamed or left).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Requester {
    pub id: i64,
    pub name: String,
}

/// What the IO layer found for a query. `source` is opaque to the core (`library:12`,
/// `url:https://…`): only compared for duplicates and handed back in [`Output::Play`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackInfo {
    pub source: String,
    pub title: String,
    #[serde(default)]
    pub artist: Option<String>,
    #[serde(default)]
    pub album: Option<String>,
    /// `None`: unknown or endless (a radio stream).
    #[serde(default)]
    pub duration_ms: Option<u64>,
    /// A URL path of the cover picture.
    #[serde(default)]
    pub cover: Option<String>,
    /// A live stream: no length, no seeking, no length limit.
    #[serde(default)]
    pub live: bool,
}

impl TrackInfo {
    /// A track with a known length (tests and the IO layer's convenience).
    pub fn new(
        source: impl Into<String>,
        title: impl Into<String>,
        duration_ms: Option<u64>,
    ) -> TrackInfo {
        TrackInfo {
            source: source.into(),
            title: title.into(),
            artist: None,
            album: None,
            duration_ms,
            cover: None,
            live: false,
        }
    }
}

/// One queued track.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub id: EntryId,
    pub track: TrackInfo,
    pub requester: Requester,
    pub queued_at_ms: u64,
    /// Where to start when it plays: set when `!playnow`/`!prev` pushed it back out of "now
    /// playing", so it continues where it was interrupted.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub resume_ms: u64,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

/// An entry that was played, newest first in the history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Played {
    pub entry: Entry,
    pub at_ms: u64,
}

/// What happens when a track ends.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoopMode {
    #[default]
    Off,
    /// The same entry again.
    Track,
    /// The ended (or skipped) entry goes to the end of the queue.
    Queue,
}

/// What the IO layer should look up.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Request {
    /// A URL: one track, or several if it is a playlist.
    Url(String),
    /// A source key the UI or a chat line named (`library:12`).
    Track(String),
    /// A library search: at most `limit` hits, best first.
    Search { query: String, limit: usize },
}

/// Everything the core is fed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Input {
    /// A chat line; most are not for the DJ and produce nothing.
    Text {
        chat: Chat,
        user: User,
        text: String,
    },
    /// A typed command (the web UI's buttons).
    Command {
        chat: Chat,
        user: User,
        cmd: Command,
    },
    /// The answer to [`Output::Resolve`]; `Err` holds words for people.
    Resolved {
        ticket: Ticket,
        result: Result<Vec<TrackInfo>, String>,
    },
    /// The player really started the entry (the position counts from here).
    Started { entry: EntryId },
    /// The entry played to its end.
    Ended { entry: EntryId },
    /// The entry cannot be played; `words` say why, for people.
    Failed { entry: EntryId, words: String },
    /// The player's own position, to correct drift.
    Position { entry: EntryId, ms: u64 },
    /// A radio stream's "now playing" (ICY) title.
    Meta { entry: EntryId, title: String },
    /// Who is in the voice room now, by user id, not counting the DJ.
    Listeners(Vec<i64>),
    /// Time passes (every second or so, or at [`crate::Dj::poll_timeout`]).
    Tick,
}

/// Everything the core asks for.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Output {
    /// Words for the chat. `to: None` is public in `chat`; `Some(user)` only for that user.
    Reply {
        chat: Chat,
        to: Option<i64>,
        text: String,
    },
    /// Look something up and answer with [`Input::Resolved`] and this ticket.
    Resolve {
        ticket: Ticket,
        request: Request,
    },
    /// Play this entry from `from_ms`, replacing whatever plays.
    Play {
        entry: Entry,
        from_ms: u64,
    },
    Pause,
    Resume,
    /// Stop playing (the core keeps the position).
    Stop,
    Seek {
        ms: u64,
    },
    /// 0–150; also sent right after [`Output::Join`] so a fresh player has the level.
    Volume {
        percent: u32,
    },
    /// Join the voice room (always before the first `Play`).
    Join,
    /// Leave the voice room.
    Leave,
    /// The view or the snapshot changed: persist [`crate::Dj::snapshot`], broadcast
    /// [`crate::Dj::view`]. At most one per `handle`, last. The position moving with time is
    /// not a change.
    Changed,
}
