//! The DJ's player: decodes ahead on its own thread into a bounded buffer; the engine's clock
//! takes one frame at a time from `PlayerOutput::pull`, which never waits.
//!
//! - `player(config, events)` gives the control handle (`Player`: `Send + Sync`, every method
//!   returns at once) and the consumer end (`PlayerOutput`, moved into the engine's thread).
//! - `load` starts a decode thread for that entry: the caller's opener runs there, so opening a
//!   file or waiting on a network stream never blocks the caller. Decision: one decode thread
//!   per load (not one for the DJ's life): a source stuck in a blocking read (a silent radio
//!   server) cannot hold up the next track; the stale thread notices it was replaced at its
//!   next read and exits, and its frames are never played.
//! - The buffer holds at most `buffer_ms` of frames (≈ 1.2 MB for 3 s), whatever the source.
//!   Playback starts (and resumes after an underrun) once `prefill_ms` is buffered or the
//!   track has ended; an empty buffer after the start gives silence and counts an underrun.
//! - Gain: the `gain_db` given to `load` (a library scan's measurement) wins, else the tags
//!   (ReplayGain, R128), else `AdaptiveGain`. It travels with each frame; the engine applies it.
//! - Events come from `pull`, in play order (a title change arrives with the audio it belongs
//!   to): Started (first frame heard), Meta (a title), Position (every `position_every_ms`),
//!   Ended, Failed. The callback runs on the engine's thread and must not block.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use symphonia::core::formats::probe::Hint;
use symphonia::core::io::MediaSource;

use crate::decode::DecodeOptions;
use crate::error::AudioError;
use crate::frames::FrameReader;
use crate::loudness::{gain_from_tags, AdaptiveGain, TARGET_LUFS};
use crate::{Frame, FRAME_LEN, FRAME_MS};

/// The DJ queue's entry this audio belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EntryId(pub u64);

pub type Opener = Box<dyn FnOnce() -> Result<(Box<dyn MediaSource>, Hint), AudioError> + Send>;

#[derive(Debug, Clone, PartialEq)]
pub enum PlayerEvent {
    Started { id: EntryId },
    Ended { id: EntryId },
    Failed { id: EntryId, error: AudioError },
    Position { id: EntryId, ms: u64 },
    Meta { id: EntryId, title: String },
}

#[derive(Debug, Clone)]
pub struct PlayerConfig {
    pub buffer_ms: u32,
    pub prefill_ms: u32,
    pub target_lufs: f32,
    pub position_every_ms: u64,
    pub decode: DecodeOptions,
}

impl Default for PlayerConfig {
    fn default() -> Self {
        PlayerConfig {
            buffer_ms: 3000,
            prefill_ms: 400,
            target_lufs: TARGET_LUFS,
            position_every_ms: 1000,
            decode: DecodeOptions::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Idle,
    Playing,
    Paused,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pulled {
    /// A frame of the track, to be played at `gain_db` (times the volume).
    Frame {
        gain_db: f32,
    },
    /// The buffer ran dry while playing: `out` is silence.
    Underrun,
    /// Loaded, not started yet (opening, first fill): nothing to play.
    Buffering,
    Paused,
    Idle,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlayerStats {
    pub state: State,
    pub underruns: u64,
    pub buffered_frames: usize,
    pub capacity_frames: usize,
}

enum Item {
    Frame {
        pcm: Box<Frame>,
        pos_ms: u64,
        gain_db: f32,
    },
    Meta(String),
    End,
    Failed(AudioError),
}

struct Queue {
    gen: u64,
    id: Option<EntryId>,
    state: State,
    items: VecDeque<Item>,
    frames: usize,
    cap: usize,
    prefill: usize,
    buffering: bool,
    terminal: bool,
    started: bool,
    last_position: Option<u64>,
    seekable: bool,
    volume: f32,
}

struct Shared {
    q: Mutex<Queue>,
    space: Condvar,
    underruns: AtomicU64,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.q.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues an item for generation `gen`, waiting while the buffer is full; false when the
    /// generation is gone (a seek, a new load, a stop).
    fn push(&self, gen: u64, item: Item) -> bool {
        let mut q = self.lock();
        loop {
            if q.gen != gen {
                return false;
            }
            let frame = matches!(item, Item::Frame { .. });
            if !frame || q.frames < q.cap {
                if frame {
                    q.frames += 1;
                } else if !matches!(item, Item::Meta(_)) {
                    q.terminal = true;
                }
                q.items.push_back(item);
                return true;
            }
            q = self
                .space
                .wait_timeout(q, Duration::from_millis(250))
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }
}

enum Cmd {
    Seek { ms: u64, gen: u64 },
}

pub struct Player {
    shared: Arc<Shared>,
    cmds: Mutex<Option<Sender<Cmd>>>,
    config: PlayerConfig,
}

pub struct PlayerOutput {
    shared: Arc<Shared>,
    events: Box<dyn FnMut(PlayerEvent) + Send>,
    position_every_ms: u64,
}

pub fn player(
    config: PlayerConfig,
    events: impl FnMut(PlayerEvent) + Send + 'static,
) -> (Player, PlayerOutput) {
    let cap = (config.buffer_ms / FRAME_MS).max(2) as usize;
    let shared = Arc::new(Shared {
        q: Mutex::new(Queue {
            gen: 0,
            id: None,
            state: State::Idle,
            items: VecDeque::with_capacity(cap + 8),
            frames: 0,
            cap,
            prefill: ((config.prefill_ms / FRAME_MS) as usize).clamp(1, cap),
            buffering: true,
            terminal: false,
            started: false,
            last_position: None,
            seekable: false,
            volume: 1.0,
        }),
        space: Condvar::new(),
        underruns: AtomicU64::new(0),
    });
    let output = PlayerOutput {
        shared: shared.clone(),
        events: Box::new(events),
        position_every_ms: config.position_every_ms.max(20),
    };
    (
        Player {
            shared,
            cmds: Mutex::new(None),
            config,
        },
        output,
    )
}

impl Player {
    /// Plays `id` from `from_ms`, replacing whatever played. `gain_db`: the track's measured
    /// gain, if known (else tags or adaptive gain).
    pub fn load(&self, id: EntryId, opener: Opener, from_ms: u64, gain_db: Option<f32>) {
        let (tx, rx) = mpsc::channel();
        let gen = {
            let mut q = self.shared.lock();
            q.gen += 1;
            reset(&mut q);
            q.id = Some(id);
            q.state = State::Playing;
            q.started = false;
            q.seekable = false;
            q.gen
        };
        self.shared.space.notify_all();
        *self.cmds.lock().unwrap_or_else(|p| p.into_inner()) = Some(tx);
        let shared = self.shared.clone();
        let config = self.config.clone();
        let spawned = std::thread::Builder::new()
            .name("dj-decode".into())
            .spawn(move || decode_main(&shared, gen, opener, from_ms, gain_db, &rx, &config));
        if let Err(e) = spawned {
            self.shared.push(
                gen,
                Item::Failed(AudioError::Io(format!(
                    "cannot start the decode thread: {e}"
                ))),
            );
        }
    }

    pub fn pause(&self) {
        let mut q = self.shared.lock();
        if q.state == State::Playing {
            q.state = State::Paused;
        }
    }

    pub fn resume(&self) {
        let mut q = self.shared.lock();
        if q.state == State::Paused {
            q.state = State::Playing;
        }
    }

    /// Seeks the current track; false (and nothing changes) if it cannot seek.
    pub fn seek(&self, ms: u64) -> bool {
        let mut q = self.shared.lock();
        if q.id.is_none() || !q.seekable {
            return false;
        }
        let cmds = self.cmds.lock().unwrap_or_else(|p| p.into_inner());
        let Some(tx) = cmds.as_ref() else {
            return false;
        };
        q.gen += 1;
        reset(&mut q);
        let sent = tx.send(Cmd::Seek { ms, gen: q.gen }).is_ok();
        drop(q);
        self.shared.space.notify_all();
        sent
    }

    pub fn stop(&self) {
        {
            let mut q = self.shared.lock();
            q.gen += 1;
            reset(&mut q);
            q.id = None;
            q.state = State::Idle;
        }
        self.shared.space.notify_all();
        *self.cmds.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// Volume in percent (0–150), applied by the engine with a ramp.
    pub fn set_volume(&self, percent: u16) {
        self.shared.lock().volume = f32::from(percent.min(150)) / 100.0;
    }

    /// A title from outside the decoder (the ICY metadata of a radio stream): reported when the
    /// audio buffered so far has played.
    pub fn stream_title(&self, id: EntryId, title: String) {
        let mut q = self.shared.lock();
        if q.id == Some(id) {
            q.items.push_back(Item::Meta(title));
        }
    }

    pub fn stats(&self) -> PlayerStats {
        let q = self.shared.lock();
        PlayerStats {
            state: q.state,
            underruns: self.shared.underruns.load(Ordering::Relaxed),
            buffered_frames: q.frames,
            capacity_frames: q.cap,
        }
    }
}

impl Drop for Player {
    fn drop(&mut self) {
        self.stop();
    }
}

fn reset(q: &mut Queue) {
    q.items.clear();
    q.frames = 0;
    q.buffering = true;
    q.terminal = false;
    q.last_position = None;
}

impl PlayerOutput {
    /// The next frame into `out`. Never waits (beyond a lock held for microseconds).
    pub fn pull(&mut self, out: &mut Frame) -> Pulled {
        let mut events = Vec::new();
        let result = self.pull_locked(out, &mut events);
        for e in events {
            (self.events)(e);
        }
        result
    }

    fn pull_locked(&mut self, out: &mut Frame, events: &mut Vec<PlayerEvent>) -> Pulled {
        let mut q = self.shared.lock();
        let Some(id) = q.id else { return Pulled::Idle };
        match q.state {
            State::Idle => return Pulled::Idle,
            State::Paused => return Pulled::Paused,
            State::Playing => {}
        }
        if q.buffering && q.frames < q.prefill && !q.terminal {
            return self.dry(&mut q, out);
        }
        q.buffering = false;
        loop {
            match q.items.pop_front() {
                None => {
                    q.buffering = true;
                    return self.dry(&mut q, out);
                }
                Some(Item::Meta(title)) => events.push(PlayerEvent::Meta { id, title }),
                Some(Item::End) => {
                    events.push(PlayerEvent::Ended { id });
                    finish(&mut q);
                    return Pulled::Idle;
                }
                Some(Item::Failed(error)) => {
                    events.push(PlayerEvent::Failed { id, error });
                    finish(&mut q);
                    return Pulled::Idle;
                }
                Some(Item::Frame {
                    pcm,
                    pos_ms,
                    gain_db,
                }) => {
                    q.frames -= 1;
                    self.shared.space.notify_one();
                    out.copy_from_slice(&pcm[..]);
                    if !q.started {
                        q.started = true;
                        events.push(PlayerEvent::Started { id });
                    }
                    let due = q
                        .last_position
                        .is_none_or(|l| pos_ms >= l + self.position_every_ms || pos_ms < l);
                    if due {
                        q.last_position = Some(pos_ms);
                        events.push(PlayerEvent::Position { id, ms: pos_ms });
                    }
                    return Pulled::Frame { gain_db };
                }
            }
        }
    }

    fn dry(&self, q: &mut Queue, out: &mut Frame) -> Pulled {
        if !q.started {
            return Pulled::Buffering;
        }
        self.shared.underruns.fetch_add(1, Ordering::Relaxed);
        out.fill(0.0);
        Pulled::Underrun
    }

    /// The volume factor (1.0 = 100 %).
    pub fn volume(&self) -> f32 {
        self.shared.lock().volume
    }
}

fn finish(q: &mut Queue) {
    q.id = None;
    q.state = State::Idle;
    q.items.clear();
    q.frames = 0;
}

/// The decode thread of one load.
fn decode_main(
    shared: &Shared,
    mut gen: u64,
    opener: Opener,
    from_ms: u64,
    gain_db: Option<f32>,
    cmds: &Receiver<Cmd>,
    config: &PlayerConfig,
) {
    let opened =
        opener().and_then(|(source, hint)| FrameReader::open(source, &hint, &config.decode));
    let mut reader = match opened {
        Ok(r) => r,
        Err(e) => {
            shared.push(gen, Item::Failed(e));
            return;
        }
    };
    {
        let mut q = shared.lock();
        if q.gen == gen {
            q.seekable = reader.decoder().info().seekable;
        }
    }
    if from_ms > 0 {
        match reader.seek(from_ms) {
            Ok(()) | Err(AudioError::NotSeekable) => {}
            Err(e) => {
                shared.push(gen, Item::Failed(e));
                return;
            }
        }
    }
    let mut tag_gain = None;
    let mut agc = AdaptiveGain::new(config.target_lufs);
    loop {
        if let Some(tags) = reader.decoder_mut().take_changed_tags() {
            tag_gain = gain_from_tags(tags, config.target_lufs);
            if let Some(title) = tags.title.clone() {
                if !shared.push(gen, Item::Meta(title))
                    && !next_command(shared, &mut gen, &mut reader, cmds, true)
                {
                    return;
                }
            }
        }
        let mut pcm = Box::new([0.0f32; FRAME_LEN]);
        let pos_ms = reader.position_ms();
        let item = match reader.next_frame(&mut pcm) {
            Ok(true) => {
                let gain_db = gain_db.or(tag_gain).unwrap_or_else(|| agc.process(&pcm));
                Item::Frame {
                    pcm,
                    pos_ms,
                    gain_db,
                }
            }
            Ok(false) => Item::End,
            Err(e) => Item::Failed(e),
        };
        let terminal = !matches!(item, Item::Frame { .. });
        let pushed = shared.push(gen, item);
        if !next_command(shared, &mut gen, &mut reader, cmds, !pushed || terminal) {
            return;
        }
    }
}

/// Handles the seeks that are waiting (or, when `wait`, waits for one). False: this thread has
/// been replaced or stopped, or the track failed.
fn next_command(
    shared: &Shared,
    gen: &mut u64,
    reader: &mut FrameReader,
    cmds: &Receiver<Cmd>,
    wait: bool,
) -> bool {
    let mut wait = wait;
    loop {
        let cmd = if wait {
            match cmds.recv() {
                Ok(c) => c,
                Err(_) => return false,
            }
        } else {
            match cmds.try_recv() {
                Ok(c) => c,
                Err(TryRecvError::Empty) => return true,
                Err(TryRecvError::Disconnected) => return false,
            }
        };
        let Cmd::Seek { ms, gen: g } = cmd;
        *gen = g;
        wait = false;
        if let Err(e) = reader.seek(ms) {
            shared.push(*gen, Item::Failed(e));
            wait = true;
        }
    }
}
