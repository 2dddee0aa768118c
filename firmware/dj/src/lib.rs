//! The shared DJ's core, **without IO**: the queue, chat commands and their answers, skip
//! votes, the fair queue, limits, loop modes, playlists and the persistence snapshot.
//!
//! It reads no clock, does no IO and spawns nothing (str0m's sans-IO style). The IO layer
//! (`server`) feeds [`Input`]s with a `now_ms` to [`Dj::handle`], which returns the
//! [`Output`]s to carry out, in order: replies for the chat, lookups to resolve (a URL, a
//! library search or track), player orders, joining/leaving the voice room, and
//! [`Output::Changed`] when [`Dj::view`] / [`Dj::snapshot`] changed. [`Dj::poll_timeout`]
//! says when to call again with [`Input::Tick`] if nothing else happens (ticking every second
//! is fine too).
//!
//! # Decisions
//!
//! **Who may do what** (one table: [`commands::need`]):
//! - anyone, from the room's chat or an allowed channel: queue (`play`, `search`, `pick`,
//!   `playlist load/save/list`), look (`queue`, `np`, `history`, `volume`, `loop`, `help`),
//!   vote to skip (only counted from people in the voice room), remove or clear **their own**
//!   tracks, delete their own playlists;
//! - people **in the voice room**: `pause`, `resume`/`play` alone, `seek`, `ff`, `rw`,
//!   `replay`, setting `volume` and `loop`;
//! - a DJ (role, moderator, admin), or **the only person in the room**: `stop`, `playnext`,
//!   `playnow`, `skipto`, `prev`, `shuffle`, `move`, `removedupes`, setting `fairqueue`;
//! - a DJ only: `forceskip`, `clear` of everyone's tracks, removing or deleting others'
//!   tracks and playlists. A DJ may do anything from anywhere and is not held to
//!   `per_user_limit` (but is to `max_queue` and `max_track_ms`).
//!
//! **Skip:** the track's requester and DJs skip at once; others vote, and
//! `ceil(vote_ratio × listeners)` votes (at least one) skip. A vote from outside the room is
//! refused, a second vote does not count, and when people leave the need is taken again
//! (the votes of those who stay may now be enough). Votes end with the track.
//!
//! **Stop and leaving:** `!stop`, and a room empty for `leave_empty_after_ms`, stop playback
//! and leave the room, but keep the queue and the stopped track with its position; `!play`
//! alone or `!resume` continues it there. An enqueue starts playback when nothing is current,
//! and continues a stopped DJ only for someone who could `!resume` (in the room, or a DJ).
//! When the queue runs out the DJ stays in the room for `leave_empty_after_ms`, then leaves.
//! Listeners coming back do not restart a DJ that left an empty room.
//!
//! **playnow / prev:** the new track plays at once; the interrupted one goes back to the
//! front of the queue and later continues where it was (`Entry::resume_ms`). `prev` takes the
//! newest history entry out of the history (so `prev` twice goes two back) and plays it as a
//! new entry requested by whoever asked.
//!
//! **Loops:** `track` plays the same entry again when it *ends* (a skip moves on); `queue`
//! puts each ended or skipped entry at the end. A `Failed` entry is dropped whatever the loop.
//!
//! **Fair queue:** see [`queue`]: requesters take turns; the queue is kept in play order, so
//! positions in commands and in the view are the order things will play.
//!
//! **Unknown commands** are answered (to the person) only in the room's own chat: other
//! channels may have other bots. `!`, `!!!`, `! wow` and `!1` are not commands.
//!
//! **Restart:** [`Dj::restore`] never plays by itself into an empty room: a DJ that was
//! playing continues at its kept position once [`Input::Listeners`] is non-empty; one that was
//! paused or stopped waits for `!play`/`!resume`.
//!
//! **Answers:** successes are public in the chat the command came from; errors, search
//! results and help go to the person alone (`to: Some(id)`). The DJ's own news (a failed track,
//! leaving an empty room, a vote passed because someone left) goes to [`Chat::Room`].
//! Titles are markdown-escaped.

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod commands;
mod config;
mod dj;
mod enqueue;
pub mod format;
pub mod listing;
mod model;
pub mod parse;
pub mod playlists;
pub mod queue;
mod state;
mod votes;

pub use config::{Config, ConfigError};
pub use dj::Dj;
pub use model::{
    Chat, Entry, EntryId, Input, LoopMode, Output, Played, Request, Requester, Ticket, TrackInfo,
    User,
};
pub use parse::{parse, parse_with, Command, ParseError, PlaylistAction, Query, MAX_INPUT};
pub use playlists::Playlist;
pub use state::{
    NowPlaying, PlayState, SavedCurrent, SkipVotes, State, View, STATE_VERSION, VIEW_QUEUE,
};
