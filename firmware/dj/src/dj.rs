//! The DJ itself: its state, [`Dj::handle`], the player's events and the timers.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use crate::config::Config;
use crate::format::{self, short};
use crate::model::{
    Chat, Entry, EntryId, Input, LoopMode, Output, Played, Requester, Ticket, TrackInfo, User,
};
use crate::parse::{parse_with, ParseError};
use crate::playlists::Playlist;
use crate::queue::Queue;
use crate::votes::{self, Votes};

/// The shared DJ of one voice room. Feed it with [`Dj::handle`]; it never reads a clock.
#[derive(Debug)]
pub struct Dj {
    pub(crate) config: Config,
    pub(crate) queue: Queue,
    pub(crate) current: Option<Current>,
    pub(crate) history: VecDeque<Played>,
    pub(crate) volume: u32,
    pub(crate) loop_mode: LoopMode,
    pub(crate) playlists: Vec<Playlist>,
    pub(crate) next_id: u64,
    pub(crate) next_ticket: u64,
    pub(crate) pending: BTreeMap<Ticket, Pending>,
    pub(crate) searches: HashMap<i64, Found>,
    pub(crate) listeners: BTreeSet<i64>,
    pub(crate) votes: Votes,
    /// In the voice room (between `Join` and `Leave`).
    pub(crate) joined: bool,
    pub(crate) empty_since: Option<u64>,
    pub(crate) idle_since: Option<u64>,
    /// Restored from a snapshot that was playing: continue once someone is in the room.
    pub(crate) auto_resume: bool,
    /// The time of the input being handled (inputs never move it back).
    pub(crate) now: u64,
    out: Vec<Output>,
    pub(crate) dirty: bool,
}

/// What plays (or played until stopped).
#[derive(Clone, Debug)]
pub(crate) struct Current {
    pub entry: Entry,
    pub phase: Phase,
    /// The position at the moment `phase` began (for `Playing`, at `since`).
    pub base_ms: u64,
    pub icy: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// `Play` sent, `Started` not yet heard: the position waits.
    Loading,
    Playing {
        since: u64,
    },
    Paused,
    /// Out of the room; the entry and its place are kept for `!play`/`!resume`.
    Stopped,
}

impl Current {
    pub fn position(&self, now: u64) -> u64 {
        let p = match self.phase {
            Phase::Playing { since } => self.base_ms.saturating_add(now.saturating_sub(since)),
            _ => self.base_ms,
        };
        match self.entry.track.duration_ms {
            Some(d) if !self.entry.track.live => p.min(d),
            _ => p,
        }
    }

    /// Playing, loading or paused: the player holds it.
    pub fn active(&self) -> bool {
        self.phase != Phase::Stopped
    }
}

/// Who asked, and where the public answer goes.
#[derive(Clone, Debug)]
pub(crate) struct Asker {
    pub user: User,
    pub chat: Chat,
}

#[derive(Clone, Debug)]
pub(crate) struct Pending {
    pub asker: Asker,
    /// The person's words, for the answer.
    pub what: String,
    pub kind: PendingKind,
    /// A search for `!play`: its best hit only.
    pub first_only: bool,
    pub at: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PendingKind {
    Enqueue(Place),
    Search,
}

/// Where new entries go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Place {
    Back,
    Next,
    Now,
}

/// One person's last search results.
#[derive(Clone, Debug)]
pub(crate) struct Found {
    pub tracks: Vec<TrackInfo>,
    pub at: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Why {
    Ended,
    Skipped,
    Failed,
}

impl Dj {
    pub fn new(config: Config) -> Dj {
        Dj {
            config,
            queue: Queue::default(),
            current: None,
            history: VecDeque::new(),
            volume: 100,
            loop_mode: LoopMode::Off,
            playlists: Vec::new(),
            next_id: 1,
            next_ticket: 1,
            pending: BTreeMap::new(),
            searches: HashMap::new(),
            listeners: BTreeSet::new(),
            votes: Votes::default(),
            joined: false,
            empty_since: None,
            idle_since: None,
            auto_resume: false,
            now: 0,
            out: Vec::new(),
            dirty: false,
        }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// New settings take effect at once for what comes next; nothing queued is dropped.
    pub fn set_config(&mut self, config: Config) {
        self.config = config;
        self.history.truncate(self.config.history_len);
    }

    /// Whether the DJ is in the voice room.
    pub fn joined(&self) -> bool {
        self.joined
    }

    /// Feeds one input at `now_ms` (milliseconds of any clock that does not go back) and
    /// returns what to do, in order. Due timers fire first, whatever the input.
    pub fn handle(&mut self, now_ms: u64, input: Input) -> Vec<Output> {
        self.now = self.now.max(now_ms);
        self.fire_timers();
        match input {
            Input::Text { chat, user, text } => match parse_with(&self.config, &text) {
                Ok(None) => {}
                Ok(Some(cmd)) => self.command(Asker { user, chat }, cmd),
                Err(ParseError::Unknown { .. }) if chat != Chat::Room => {}
                Err(e) => {
                    let asker = Asker { user, chat };
                    self.tell(&asker, e.to_string());
                }
            },
            Input::Command { chat, user, cmd } => self.command(Asker { user, chat }, cmd),
            Input::Resolved { ticket, result } => self.resolved(ticket, result),
            Input::Started { entry } => {
                let now = self.now;
                if let Some(c) = self.current_mut(entry) {
                    if c.phase == Phase::Loading {
                        c.phase = Phase::Playing { since: now };
                        self.dirty = true;
                    }
                }
            }
            Input::Ended { entry } => {
                if self.current_mut(entry).is_some_and(|c| c.active()) {
                    self.advance(Why::Ended);
                }
            }
            Input::Failed { entry, words } => {
                if let Some(c) = self.current_mut(entry).filter(|c| c.active()) {
                    let what = format::track(&c.entry.track);
                    self.say(
                        Chat::Room,
                        format!(
                            "Could not play {what}: {} — skipping it",
                            short(&words, 200)
                        ),
                    );
                    self.advance(Why::Failed);
                }
            }
            Input::Position { entry, ms } => {
                let now = self.now;
                if let Some(c) = self.current_mut(entry).filter(|c| c.active()) {
                    let before = c.position(now);
                    c.base_ms = ms;
                    if matches!(c.phase, Phase::Playing { .. } | Phase::Loading) {
                        c.phase = Phase::Playing { since: now };
                    }
                    if before.abs_diff(ms) > 1000 {
                        self.dirty = true;
                    }
                }
            }
            Input::Meta { entry, title } => {
                if let Some(c) = self.current_mut(entry) {
                    let title = Some(short(&title, 200)).filter(|t| !t.trim().is_empty());
                    if c.icy != title {
                        c.icy = title;
                        self.dirty = true;
                    }
                }
            }
            Input::Listeners(ids) => self.set_listeners(ids.into_iter().collect()),
            Input::Tick => {}
        }
        self.refresh_timers();
        if std::mem::take(&mut self.dirty) {
            self.out.push(Output::Changed);
        }
        std::mem::take(&mut self.out)
    }

    /// The next moment something happens by itself (leaving, a lookup giving up): calling
    /// `handle(t, Input::Tick)` then is enough; ticking more often is harmless.
    pub fn poll_timeout(&self) -> Option<u64> {
        let after = self.config.leave_empty_after_ms;
        let timeout = self.config.resolve_timeout_ms;
        [
            self.empty_since.map(|t| t.saturating_add(after)),
            self.idle_since.map(|t| t.saturating_add(after)),
        ]
        .into_iter()
        .flatten()
        .chain(self.pending.values().map(|p| p.at.saturating_add(timeout)))
        .min()
    }

    fn current_mut(&mut self, id: EntryId) -> Option<&mut Current> {
        self.current.as_mut().filter(|c| c.entry.id == id)
    }

    fn set_listeners(&mut self, ids: BTreeSet<i64>) {
        if ids == self.listeners {
            return;
        }
        self.listeners = ids;
        self.dirty = true;
        if self.auto_resume
            && !self.listeners.is_empty()
            && self.current.as_ref().is_some_and(|c| !c.active())
        {
            self.resume_stopped();
            return;
        }
        // Someone left: the votes of those who stay may be enough now.
        let Some(c) = self.current.as_ref().filter(|c| c.active()) else {
            return;
        };
        let count = self.votes.count(&self.listeners);
        if count > 0 && count >= votes::needed(self.config.vote_ratio, self.listeners.len()) {
            let what = format::track(&c.entry.track);
            self.advance(Why::Skipped);
            self.say(Chat::Room, format!("Enough votes now: skipped {what}"));
        }
    }

    fn fire_timers(&mut self) {
        let now = self.now;
        let after = self.config.leave_empty_after_ms;
        let due = |since: Option<u64>| since.is_some_and(|t| now >= t.saturating_add(after));
        if self.joined && due(self.empty_since) {
            let p = self.config.prefix;
            let words = match self.current.as_ref() {
                Some(c) => format!(
                    "Nobody is in the voice room, so I stopped. `{p}play` continues {} at {}",
                    format::track(&c.entry.track),
                    format::duration(c.position(now))
                ),
                None => "Nobody is in the voice room, so I left".to_string(),
            };
            self.stop_keep();
            self.say(Chat::Room, words);
        } else if self.joined && due(self.idle_since) {
            self.out.push(Output::Leave);
            self.joined = false;
            self.dirty = true;
        }
        let timeout = self.config.resolve_timeout_ms;
        let late: Vec<Ticket> = self
            .pending
            .iter()
            .filter(|(_, p)| now >= p.at.saturating_add(timeout))
            .map(|(t, _)| *t)
            .collect();
        for t in late {
            if let Some(p) = self.pending.remove(&t) {
                self.tell(
                    &p.asker,
                    format!(
                        "Looking up “{}” took too long — try again",
                        short(&p.what, 80)
                    ),
                );
            }
        }
        // Expired results stay a while, so `!pick` can say they expired.
        let keep = self.config.search_expiry_ms.saturating_mul(2);
        self.searches.retain(|_, f| now < f.at.saturating_add(keep));
    }

    fn refresh_timers(&mut self) {
        let now = self.now;
        self.empty_since =
            (self.joined && self.listeners.is_empty()).then(|| self.empty_since.unwrap_or(now));
        self.idle_since =
            (self.joined && self.current.is_none()).then(|| self.idle_since.unwrap_or(now));
    }

    pub(crate) fn say(&mut self, chat: Chat, text: String) {
        self.out.push(Output::Reply {
            chat,
            to: None,
            text,
        });
    }

    pub(crate) fn tell(&mut self, asker: &Asker, text: String) {
        self.out.push(Output::Reply {
            chat: asker.chat,
            to: Some(asker.user.id),
            text,
        });
    }

    pub(crate) fn emit(&mut self, o: Output) {
        self.out.push(o);
    }

    pub(crate) fn in_room(&self, user: i64) -> bool {
        self.listeners.contains(&user)
    }

    /// A DJ, or the only person in the room.
    pub(crate) fn in_charge(&self, user: &User) -> bool {
        user.dj || (self.listeners.len() == 1 && self.in_room(user.id))
    }

    pub(crate) fn new_entry(&mut self, track: TrackInfo, user: &User) -> Entry {
        let id = EntryId(self.next_id);
        self.next_id += 1;
        Entry {
            id,
            track,
            requester: Requester {
                id: user.id,
                name: user.name.clone(),
            },
            queued_at_ms: self.now,
            resume_ms: 0,
        }
    }

    /// Plays `entry` from `from_ms` (a live stream from its live edge), joining first.
    pub(crate) fn start(&mut self, mut entry: Entry, from_ms: u64) {
        let from = if entry.track.live { 0 } else { from_ms };
        entry.resume_ms = 0;
        if !self.joined {
            self.joined = true;
            self.out.push(Output::Join);
            self.out.push(Output::Volume {
                percent: self.volume,
            });
        }
        self.out.push(Output::Play {
            entry: entry.clone(),
            from_ms: from,
        });
        self.current = Some(Current {
            entry,
            phase: Phase::Loading,
            base_ms: from,
            icy: None,
        });
        self.votes.clear();
        self.auto_resume = false;
        self.dirty = true;
    }

    /// The current entry is done (`why`): history, loops, then the next one.
    pub(crate) fn advance(&mut self, why: Why) {
        let Some(cur) = self.current.take() else {
            return;
        };
        self.votes.clear();
        self.dirty = true;
        let mut entry = cur.entry;
        entry.resume_ms = 0;
        match (why, self.loop_mode) {
            (Why::Ended, LoopMode::Track) => return self.start(entry, 0),
            // A track that fails is never played again by a loop.
            (Why::Failed, _) => {}
            (_, LoopMode::Queue) => {
                self.push_history(entry.clone());
                self.queue.push_back(entry);
            }
            _ => self.push_history(entry),
        }
        match self.queue.pop_front() {
            Some(next) => {
                let from = next.resume_ms;
                self.start(next, from);
            }
            None if why == Why::Skipped => self.out.push(Output::Stop),
            None => {}
        }
    }

    pub(crate) fn push_history(&mut self, entry: Entry) {
        self.history.push_front(Played {
            entry,
            at_ms: self.now,
        });
        self.history.truncate(self.config.history_len);
    }

    /// Stops playing and leaves; the entry and its position stay for `!play`/`!resume`.
    pub(crate) fn stop_keep(&mut self) {
        let now = self.now;
        if let Some(c) = self.current.as_mut().filter(|c| c.active()) {
            c.base_ms = c.position(now);
            c.phase = Phase::Stopped;
            self.out.push(Output::Stop);
        }
        if self.joined {
            self.joined = false;
            self.out.push(Output::Leave);
        }
        self.votes.clear();
        self.auto_resume = false;
        self.dirty = true;
    }

    pub(crate) fn resume_stopped(&mut self) {
        if let Some(c) = self.current.take() {
            let from = c.base_ms;
            self.start(c.entry, from);
        }
    }

    /// After an enqueue: start when nothing plays; continue a stopped DJ only for someone who
    /// could have resumed it (in the room, or a DJ).
    pub(crate) fn kick(&mut self, may_resume: bool) {
        match &self.current {
            None => {
                if let Some(next) = self.queue.pop_front() {
                    let from = next.resume_ms;
                    self.start(next, from);
                }
            }
            Some(c) if !c.active() && may_resume => self.resume_stopped(),
            Some(_) => {}
        }
    }

    /// Plays `entry` now; what played goes back to the front, to continue where it was.
    pub(crate) fn interrupt_with(&mut self, entry: Entry) {
        let now = self.now;
        if let Some(c) = self.current.take() {
            let pos = c.position(now);
            let mut back = c.entry;
            back.resume_ms = if back.track.live { 0 } else { pos };
            self.queue.insert(0, back);
        }
        self.start(entry, 0);
    }
}
