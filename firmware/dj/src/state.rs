//! What the UI shows ([`View`]) and what survives a restart ([`State`]).

use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

use crate::config::Config;
use crate::dj::{Current, Dj, Phase};
use crate::model::{Entry, LoopMode, Played};
use crate::playlists::Playlist;
use crate::queue::Queue;
use crate::votes;

/// Entries of the queue a view carries; `queue_total` says how many there are.
pub const VIEW_QUEUE: usize = 100;

/// The snapshot's format version.
pub const STATE_VERSION: u32 = 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlayState {
    /// Sent to the player, not started yet.
    Loading,
    Playing,
    Paused,
    /// Not in the room; `!play`/`!resume` continues at `position_ms`.
    Stopped,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NowPlaying {
    pub entry: Entry,
    pub state: PlayState,
    /// At the `now` of [`Dj::view`].
    pub position_ms: u64,
    /// While playing: the moment (same clock as `now`) the track would have started had it
    /// played straight through, so `position = client_now - started_at_ms` animates the bar.
    pub started_at_ms: Option<u64>,
    pub live: bool,
    /// A radio stream's own "now playing".
    pub icy_title: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkipVotes {
    pub count: usize,
    pub needed: usize,
}

/// Everything the room's DJ panel shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct View {
    pub now_playing: Option<NowPlaying>,
    /// In play order, the first [`VIEW_QUEUE`].
    pub queue: Vec<Entry>,
    pub queue_total: usize,
    /// Sum of the known lengths in the whole queue.
    pub queue_ms: u64,
    /// Some entry is live or of unknown length (so `queue_ms` is a floor).
    pub queue_open_ended: bool,
    pub volume: u32,
    pub loop_mode: LoopMode,
    pub fairqueue: bool,
    pub skip_votes: SkipVotes,
    pub history_len: usize,
    /// The DJ is in the voice room.
    pub joined: bool,
}

/// The current entry as saved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedCurrent {
    pub entry: Entry,
    pub position_ms: u64,
    pub state: PlayState,
}

/// What persists across a restart. Tickets, search results, votes and listeners do not:
/// they belong to the moment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub version: u32,
    pub current: Option<SavedCurrent>,
    pub queue: Vec<Entry>,
    pub fairqueue: bool,
    pub volume: u32,
    pub loop_mode: LoopMode,
    /// Newest first.
    pub history: Vec<Played>,
    pub playlists: Vec<Playlist>,
    /// The next entry id (ids are never reused).
    pub next_id: u64,
}

fn play_state(phase: Phase) -> PlayState {
    match phase {
        Phase::Loading => PlayState::Loading,
        Phase::Playing { .. } => PlayState::Playing,
        Phase::Paused => PlayState::Paused,
        Phase::Stopped => PlayState::Stopped,
    }
}

impl Dj {
    pub fn view(&self, now: u64) -> View {
        let now = now.max(self.now);
        let now_playing = self.current.as_ref().map(|c| {
            let position_ms = c.position(now);
            NowPlaying {
                entry: c.entry.clone(),
                state: play_state(c.phase),
                position_ms,
                started_at_ms: matches!(c.phase, Phase::Playing { .. })
                    .then(|| now.saturating_sub(position_ms)),
                live: c.entry.track.live,
                icy_title: c.icy.clone(),
            }
        });
        let entries = self.queue.entries();
        let active = self.current.as_ref().is_some_and(|c| c.active());
        View {
            now_playing,
            queue: entries.iter().take(VIEW_QUEUE).cloned().collect(),
            queue_total: entries.len(),
            queue_ms: entries.iter().filter_map(|e| e.track.duration_ms).sum(),
            queue_open_ended: entries
                .iter()
                .any(|e| e.track.live || e.track.duration_ms.is_none()),
            volume: self.volume,
            loop_mode: self.loop_mode,
            fairqueue: self.queue.fair(),
            skip_votes: SkipVotes {
                count: if active {
                    self.votes.count(&self.listeners)
                } else {
                    0
                },
                needed: votes::needed(self.config.vote_ratio, self.listeners.len()),
            },
            history_len: self.history.len(),
            joined: self.joined,
        }
    }

    /// What to persist, with the position at `now`.
    pub fn snapshot(&self, now: u64) -> State {
        let now = now.max(self.now);
        State {
            version: STATE_VERSION,
            current: self.current.as_ref().map(|c| SavedCurrent {
                entry: c.entry.clone(),
                position_ms: c.position(now),
                // Restored from "playing" and waiting for listeners: still "playing", so a
                // second restart before anyone came keeps the promise.
                state: if self.auto_resume && !c.active() {
                    PlayState::Playing
                } else {
                    play_state(c.phase)
                },
            }),
            queue: self.queue.entries().to_vec(),
            fairqueue: self.queue.fair(),
            volume: self.volume,
            loop_mode: self.loop_mode,
            history: self.history.iter().cloned().collect(),
            playlists: self.playlists.clone(),
            next_id: self.next_id,
        }
    }

    /// A DJ from a snapshot. It is out of the room and plays nothing by itself: the current
    /// entry waits, stopped at its position. If it was playing (the restart was nobody's
    /// choice) it continues as soon as someone is in the room; if it was paused or stopped it
    /// waits for `!play`/`!resume`. Values out of range are brought back into it.
    pub fn restore(config: Config, state: State, now: u64) -> Dj {
        let mut dj = Dj::new(config);
        dj.now = now;
        let max_id = state
            .queue
            .iter()
            .map(|e| e.id.0)
            .chain(state.current.iter().map(|c| c.entry.id.0))
            .chain(state.history.iter().map(|p| p.entry.id.0))
            .max()
            .unwrap_or(0);
        dj.next_id = state.next_id.max(max_id.saturating_add(1)).max(1);
        dj.volume = state.volume.min(150);
        dj.loop_mode = state.loop_mode;
        dj.queue = Queue::from_parts(state.queue, state.fairqueue);
        let mut history: VecDeque<Played> = state.history.into();
        history.truncate(dj.config.history_len);
        dj.history = history;
        dj.playlists = state.playlists;
        if let Some(c) = state.current {
            dj.auto_resume = matches!(c.state, PlayState::Playing | PlayState::Loading);
            let position = match c.entry.track.duration_ms {
                Some(len) if !c.entry.track.live => c.position_ms.min(len),
                _ => 0,
            };
            dj.current = Some(Current {
                entry: c.entry,
                phase: Phase::Stopped,
                base_ms: position,
                icy: None,
            });
        }
        dj
    }
}
