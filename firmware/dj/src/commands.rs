//! Running a command: **the** permission rule for each, then the playback controls.
//! (Queueing is in `enqueue.rs`, listings in `listing.rs`, playlists in `playlists.rs`.)

use crate::dj::{Asker, Dj, Phase, Place, Why};
use crate::format::{self, duration};
use crate::model::{LoopMode, Output};
use crate::parse::Command;
use crate::votes;

/// Who may run a command. Commands whose rule depends on the target (removing a track, a
/// playlist, clearing, skipping the track you queued) say `Anyone` here and decide inside.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    Anyone,
    /// People in the voice room (and DJs, from anywhere).
    InRoom,
    /// A DJ, or the only person in the voice room.
    InCharge,
    Dj,
}

/// The one table of who may do what.
pub fn need(cmd: &Command) -> Need {
    use Command as C;
    match cmd {
        C::Play { query: None }
        | C::Resume
        | C::Pause
        | C::Seek { .. }
        | C::Forward { .. }
        | C::Rewind { .. }
        | C::Replay
        | C::Volume { percent: Some(_) }
        | C::Loop { mode: Some(_) } => Need::InRoom,
        C::PlayNext { .. }
        | C::PlayNow { .. }
        | C::SkipTo { .. }
        | C::Stop
        | C::Shuffle
        | C::Move { .. }
        | C::RemoveDupes
        | C::Prev
        | C::FairQueue { on: Some(_) } => Need::InCharge,
        C::ForceSkip => Need::Dj,
        _ => Need::Anyone,
    }
}

impl Dj {
    pub(crate) fn command(&mut self, asker: Asker, cmd: Command) {
        if let Err(words) = self
            .allowed(&asker, &cmd)
            .and_then(|()| self.run(&asker, cmd))
        {
            self.tell(&asker, words);
        }
    }

    fn allowed(&self, asker: &Asker, cmd: &Command) -> Result<(), String> {
        let u = &asker.user;
        match need(cmd) {
            Need::Anyone => Ok(()),
            Need::InRoom if u.dj || self.in_room(u.id) => Ok(()),
            Need::InRoom => Err("Join the voice room to control playback".into()),
            Need::InCharge if self.in_charge(u) => Ok(()),
            Need::InCharge => {
                Err("Only a DJ, or the only person in the voice room, can do that".into())
            }
            Need::Dj if u.dj => Ok(()),
            Need::Dj => Err("Only a DJ can do that".into()),
        }
    }

    fn run(&mut self, asker: &Asker, cmd: Command) -> Result<(), String> {
        use Command as C;
        match cmd {
            C::Play { query: None } | C::Resume => self.resume(asker),
            C::Play { query: Some(q) } => self.request(asker, q, Place::Back),
            C::PlayNext { query } => self.request(asker, query, Place::Next),
            C::PlayNow { query } => self.request(asker, query, Place::Now),
            C::Search { query } => self.search(asker, query),
            C::Pick { n } => self.pick(asker, n, Place::Back),
            C::Skip => self.skip(asker, false),
            C::ForceSkip => self.skip(asker, true),
            C::SkipTo { n } => self.skip_to(asker, n),
            C::Pause => self.pause(asker),
            C::Stop => self.stop(asker),
            C::Queue { page } => self.show_queue(asker, page),
            C::NowPlaying => self.now_playing(asker),
            C::Volume { percent } => self.set_volume(asker, percent),
            C::Seek { ms } => self.seek(asker, |_| Some(ms)),
            C::Forward { ms } => self.seek(asker, |pos| pos.checked_add(ms)),
            C::Rewind { ms } => self.seek(asker, |pos| Some(pos.saturating_sub(ms))),
            C::Replay => self.seek(asker, |_| Some(0)),
            C::Shuffle => self.shuffle(asker),
            C::Loop { mode } => self.set_loop(asker, mode),
            C::Remove { n } => self.remove(asker, n),
            C::Move { from, to } => self.move_entry(asker, from, to),
            C::Clear => self.clear(asker),
            C::RemoveDupes => self.remove_dupes(asker),
            C::History { page } => self.show_history(asker, page),
            C::Prev => self.prev(asker),
            C::Playlist { action } => self.playlist(asker, action),
            C::FairQueue { on } => self.set_fair(asker, on),
            C::Help { topic } => self.help(asker, topic),
        }
    }

    /// Words for a position that is not in the queue.
    pub(crate) fn no_such(&self, n: usize) -> String {
        match self.queue.len() {
            0 => "The queue is empty".into(),
            len => format!("There is no #{n}: the queue has {}", format::tracks(len)),
        }
    }

    fn index(&self, n: usize) -> Result<usize, String> {
        if n >= 1 && n <= self.queue.len() {
            Ok(n - 1)
        } else {
            Err(self.no_such(n))
        }
    }

    fn playing_title(&self) -> Result<String, String> {
        match self.current.as_ref().filter(|c| c.active()) {
            Some(c) => Ok(format::track(&c.entry.track)),
            None => Err("Nothing is playing".into()),
        }
    }

    fn resume(&mut self, asker: &Asker) -> Result<(), String> {
        let p = self.config.prefix;
        let now = self.now;
        let Some(c) = self.current.as_mut() else {
            if self.queue.is_empty() {
                return Err(format!(
                    "The queue is empty: `{p}play song or URL` queues something"
                ));
            }
            self.kick(true);
            let what = self.playing_title()?;
            self.say(asker.chat, format!("Playing {what}"));
            return Ok(());
        };
        let what = format::track(&c.entry.track);
        match c.phase {
            Phase::Paused => {
                c.phase = Phase::Playing { since: now };
                self.emit(Output::Resume);
                self.dirty = true;
                self.say(asker.chat, format!("Continuing {what}"));
            }
            Phase::Stopped => {
                let at = duration(c.base_ms);
                self.resume_stopped();
                self.say(asker.chat, format!("Continuing {what} from {at}"));
            }
            Phase::Loading | Phase::Playing { .. } => {
                return Err(format!(
                    "Already playing {what} — `{p}play song` queues another"
                ));
            }
        }
        Ok(())
    }

    fn pause(&mut self, asker: &Asker) -> Result<(), String> {
        let p = self.config.prefix;
        let now = self.now;
        let c = self
            .current
            .as_mut()
            .filter(|c| c.active())
            .ok_or("Nothing is playing")?;
        if c.phase == Phase::Paused {
            return Err(format!("Already paused — `{p}resume` continues"));
        }
        c.base_ms = c.position(now);
        c.phase = Phase::Paused;
        let what = format::track(&c.entry.track);
        self.emit(Output::Pause);
        self.dirty = true;
        self.say(asker.chat, format!("Paused {what} — `{p}resume` continues"));
        Ok(())
    }

    fn stop(&mut self, asker: &Asker) -> Result<(), String> {
        let p = self.config.prefix;
        let playing = self
            .current
            .as_ref()
            .filter(|c| c.active())
            .map(|c| format::track(&c.entry.track));
        if playing.is_none() && !self.joined {
            return Err("Already stopped".into());
        }
        self.stop_keep();
        let words = match (playing, self.current.as_ref()) {
            (Some(what), Some(c)) => {
                format!(
                    "Stopped. `{p}play` continues {what} from {}",
                    duration(c.base_ms)
                )
            }
            _ => "Stopped".into(),
        };
        self.say(asker.chat, words);
        Ok(())
    }

    fn skip(&mut self, asker: &Asker, force: bool) -> Result<(), String> {
        let what = self.playing_title()?;
        let u = &asker.user;
        let own = self
            .current
            .as_ref()
            .is_some_and(|c| c.entry.requester.id == u.id);
        if force || u.dj || own {
            self.advance(Why::Skipped);
            self.say(
                asker.chat,
                format!("{} skipped {what}", format::md(&u.name)),
            );
            return Ok(());
        }
        if !self.in_room(u.id) {
            return Err("Only people in the voice room can vote to skip".into());
        }
        let fresh = self.votes.add(u.id);
        let count = self.votes.count(&self.listeners);
        let needed = votes::needed(self.config.vote_ratio, self.listeners.len());
        if !fresh {
            return Err(format!("You already voted to skip ({count}/{needed})"));
        }
        self.dirty = true;
        if count >= needed {
            self.advance(Why::Skipped);
            self.say(
                asker.chat,
                format!("Skipped {what} ({count}/{needed} votes)"),
            );
        } else {
            self.say(
                asker.chat,
                format!(
                    "{} voted to skip {what} ({count}/{needed}, {} more needed)",
                    format::md(&u.name),
                    needed - count
                ),
            );
        }
        Ok(())
    }

    fn skip_to(&mut self, asker: &Asker, n: usize) -> Result<(), String> {
        let i = self.index(n)?;
        let dropped = self.queue.drain_front(i);
        let target = self
            .queue
            .get(0)
            .map(|e| format::track(&e.track))
            .unwrap_or_default();
        if self.current.is_some() {
            self.advance(Why::Skipped);
        } else {
            self.kick(true);
        }
        if self.loop_mode == LoopMode::Queue {
            // The loop keeps everything: what was skipped comes round again.
            for e in dropped {
                self.queue.push_back(e);
            }
        }
        self.dirty = true;
        self.say(asker.chat, format!("Skipped to {target}"));
        Ok(())
    }

    /// Seeks to `target(position)`; refused for live streams and past the end.
    fn seek(&mut self, asker: &Asker, target: impl Fn(u64) -> Option<u64>) -> Result<(), String> {
        let now = self.now;
        let c = self
            .current
            .as_mut()
            .filter(|c| c.active())
            .ok_or("Nothing is playing")?;
        let what = format::track(&c.entry.track);
        if c.entry.track.live {
            return Err(format!(
                "{what} is a live stream: there is nowhere to seek to"
            ));
        }
        let pos = c.position(now);
        let to = target(pos);
        match (to, c.entry.track.duration_ms) {
            (Some(to), Some(len)) if to < len => {}
            (Some(_), None) => {}
            (_, Some(len)) => {
                return Err(format!(
                    "{what} is only {} long (it is at {})",
                    duration(len),
                    duration(pos)
                ))
            }
            (None, None) => return Err("That is too far".into()),
        }
        let to = to.unwrap_or(0);
        c.base_ms = to;
        if let Phase::Playing { .. } = c.phase {
            c.phase = Phase::Playing { since: now };
        }
        self.emit(Output::Seek { ms: to });
        self.dirty = true;
        self.say(asker.chat, format!("{what} at {}", duration(to)));
        Ok(())
    }

    fn set_volume(&mut self, asker: &Asker, percent: Option<u32>) -> Result<(), String> {
        match percent {
            None => self.say(asker.chat, format!("The volume is {}%", self.volume)),
            Some(v) if v > 150 => {
                return Err(format!("The volume goes from 0 to 150: {v} is too loud"))
            }
            Some(v) => {
                self.volume = v;
                self.emit(Output::Volume { percent: v });
                self.dirty = true;
                self.say(asker.chat, format!("Volume {v}%"));
            }
        }
        Ok(())
    }

    fn set_loop(&mut self, asker: &Asker, mode: Option<LoopMode>) -> Result<(), String> {
        let p = self.config.prefix;
        let words = |m: LoopMode| match m {
            LoopMode::Off => "Loop is off",
            LoopMode::Track => "Looping the track",
            LoopMode::Queue => "Looping the queue",
        };
        match mode {
            None => {
                let text = format!(
                    "{} — `{p}loop off`, `{p}loop track` or `{p}loop queue`",
                    words(self.loop_mode)
                );
                self.say(asker.chat, text);
            }
            Some(m) => {
                self.loop_mode = m;
                self.dirty = true;
                self.say(asker.chat, words(m).to_string());
            }
        }
        Ok(())
    }

    fn set_fair(&mut self, asker: &Asker, on: Option<bool>) -> Result<(), String> {
        let words = |on: bool| {
            if on {
                "The fair queue is on: requesters take turns"
            } else {
                "The fair queue is off: tracks play in the order they were queued"
            }
        };
        match on {
            None => self.say(asker.chat, words(self.queue.fair()).to_string()),
            Some(on) => {
                self.queue.set_fair(on);
                self.dirty = true;
                self.say(asker.chat, words(on).to_string());
            }
        }
        Ok(())
    }

    fn shuffle(&mut self, asker: &Asker) -> Result<(), String> {
        if self.queue.len() < 2 {
            return Err(format!(
                "There is nothing to shuffle: the queue has {}",
                format::tracks(self.queue.len())
            ));
        }
        // Seeded by the inputs (time, ids), so a run is reproducible.
        let seed =
            self.now ^ self.next_id.rotate_left(32) ^ (self.queue.len() as u64).rotate_left(16);
        self.queue.shuffle(seed);
        self.dirty = true;
        self.say(
            asker.chat,
            format!("Shuffled {}", format::tracks(self.queue.len())),
        );
        Ok(())
    }

    fn remove(&mut self, asker: &Asker, n: usize) -> Result<(), String> {
        let i = self.index(n)?;
        let e = self.queue.get(i).ok_or_else(|| self.no_such(n))?;
        if e.requester.id != asker.user.id && !asker.user.dj {
            return Err(format!(
                "#{n} is {}'s: you can only remove your own tracks",
                format::md(&e.requester.name)
            ));
        }
        let e = self.queue.remove(i).ok_or_else(|| self.no_such(n))?;
        self.dirty = true;
        self.say(
            asker.chat,
            format!("Removed {} (#{n})", format::track(&e.track)),
        );
        Ok(())
    }

    fn move_entry(&mut self, asker: &Asker, from: usize, to: usize) -> Result<(), String> {
        let (a, b) = (self.index(from)?, self.index(to)?);
        let what = self
            .queue
            .get(a)
            .map(|e| format::track(&e.track))
            .unwrap_or_default();
        self.queue.move_to(a, b);
        self.dirty = true;
        self.say(asker.chat, format!("Moved {what} to #{to}"));
        Ok(())
    }

    fn clear(&mut self, asker: &Asker) -> Result<(), String> {
        if asker.user.dj {
            let n = self.queue.clear();
            if n == 0 {
                return Err("The queue is already empty".into());
            }
            self.dirty = true;
            self.say(
                asker.chat,
                format!("Cleared the queue ({})", format::tracks(n)),
            );
        } else {
            let n = self.queue.remove_user(asker.user.id);
            if n == 0 {
                return Err("You have no tracks in the queue".into());
            }
            self.dirty = true;
            self.say(
                asker.chat,
                format!("Removed your {} from the queue", format::tracks(n)),
            );
        }
        Ok(())
    }

    fn remove_dupes(&mut self, asker: &Asker) -> Result<(), String> {
        let playing = self.current.as_ref().map(|c| c.entry.track.source.clone());
        let n = self.queue.dedupe(playing.as_deref());
        if n == 0 {
            return Err("There are no duplicates in the queue".into());
        }
        self.dirty = true;
        let words = if n == 1 {
            "Removed 1 duplicate".to_string()
        } else {
            format!("Removed {n} duplicates")
        };
        self.say(asker.chat, words);
        Ok(())
    }

    fn prev(&mut self, asker: &Asker) -> Result<(), String> {
        let played = self
            .history
            .pop_front()
            .ok_or("Nothing has been played yet")?;
        let entry = self.new_entry(played.entry.track, &asker.user);
        let what = format::track(&entry.track);
        self.interrupt_with(entry);
        self.say(asker.chat, format!("Playing {what} again"));
        Ok(())
    }
}
