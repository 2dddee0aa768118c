//! The DJ engine: a dedicated thread on a 20 ms clock that pulls a frame from the player,
//! applies the track's gain and the volume (ramped) and the limiter, encodes Opus, and hands the
//! frame with its level to the SFU's callback, and the PCM to the speaker sink if there is one.
//!
//! Decisions:
//! - Real time from `Instant` (monotonic): tick n is due at start + n × 20 ms, so sleeping late
//!   never accumulates drift; a few late ticks run back to back to catch up; more than
//!   `max_behind_ms` behind (a suspended process, a stalled machine), the missed ticks are
//!   skipped (counted) rather than sent as a burst.
//! - While paused, idle or buffering nothing is sent (the SFU needs frames only while something
//!   plays); ticks keep counting, so `OpusFrame::tick` (× 960 = the RTP timestamp) shows the gap.
//!   An underrun mid-track is sent as encoded silence so the stream keeps its pace.
//! - The callback and the sink run on this thread and must not block.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::encode::{OpusConfig, OpusEncoder, OpusFrame};
use crate::error::AudioError;
use crate::loudness::GainStage;
use crate::player::{PlayerOutput, Pulled};
use crate::{Frame, FrameSink, FRAME_LEN, FRAME_MS};

#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub opus: OpusConfig,
    pub max_behind_ms: u64,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            opus: OpusConfig::default(),
            max_behind_ms: 200,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EngineStats {
    pub ticks: u64,
    pub frames_sent: u64,
    pub silence_sent: u64,
    pub skipped_ticks: u64,
    pub encode_errors: u64,
}

#[derive(Default)]
struct Counters {
    ticks: AtomicU64,
    frames_sent: AtomicU64,
    silence_sent: AtomicU64,
    skipped_ticks: AtomicU64,
    encode_errors: AtomicU64,
}

pub type OpusSink = Box<dyn FnMut(OpusFrame) + Send>;

pub struct Engine {
    stop: Arc<AtomicBool>,
    counters: Arc<Counters>,
    thread: Option<JoinHandle<()>>,
}

impl Engine {
    pub fn spawn(
        output: PlayerOutput,
        on_frame: OpusSink,
        speaker: Option<Box<dyn FrameSink>>,
        config: EngineConfig,
    ) -> Result<Engine, AudioError> {
        let encoder = OpusEncoder::new(&config.opus)?;
        let stop = Arc::new(AtomicBool::new(false));
        let counters = Arc::new(Counters::default());
        let mut run = Run {
            output,
            on_frame,
            speaker,
            encoder,
            stage: GainStage::new(),
            counters: counters.clone(),
            frame: [0.0; FRAME_LEN],
        };
        let flag = stop.clone();
        let max_behind = Duration::from_millis(config.max_behind_ms.max(u64::from(FRAME_MS)));
        let thread = std::thread::Builder::new()
            .name("dj-engine".into())
            .spawn(move || run.clock(&flag, max_behind))
            .map_err(|e| AudioError::Io(format!("cannot start the engine thread: {e}")))?;
        Ok(Engine {
            stop,
            counters,
            thread: Some(thread),
        })
    }

    pub fn stats(&self) -> EngineStats {
        let c = &self.counters;
        EngineStats {
            ticks: c.ticks.load(Ordering::Relaxed),
            frames_sent: c.frames_sent.load(Ordering::Relaxed),
            silence_sent: c.silence_sent.load(Ordering::Relaxed),
            skipped_ticks: c.skipped_ticks.load(Ordering::Relaxed),
            encode_errors: c.encode_errors.load(Ordering::Relaxed),
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Run {
    output: PlayerOutput,
    on_frame: OpusSink,
    speaker: Option<Box<dyn FrameSink>>,
    encoder: OpusEncoder,
    stage: GainStage,
    counters: Arc<Counters>,
    frame: Frame,
}

const TICK: Duration = Duration::from_millis(FRAME_MS as u64);

impl Run {
    fn clock(&mut self, stop: &AtomicBool, max_behind: Duration) {
        let start = Instant::now();
        let mut tick: u64 = 0;
        while !stop.load(Ordering::Relaxed) {
            let due = start + TICK * tick as u32;
            let now = Instant::now();
            if now < due {
                std::thread::sleep(due - now);
            } else if now - due > max_behind {
                let missed = ((now - due).as_micros() / TICK.as_micros()) as u64;
                tick += missed;
                self.counters
                    .skipped_ticks
                    .fetch_add(missed, Ordering::Relaxed);
                continue;
            }
            self.tick(tick);
            tick += 1;
            self.counters.ticks.store(tick, Ordering::Relaxed);
        }
    }

    fn tick(&mut self, tick: u64) {
        let silence = match self.output.pull(&mut self.frame) {
            Pulled::Frame { gain_db } => {
                let volume = self.output.volume();
                self.stage.apply(&mut self.frame, gain_db, volume);
                false
            }
            Pulled::Underrun => true,
            Pulled::Buffering | Pulled::Paused | Pulled::Idle => return,
        };
        match self.encoder.encode(&self.frame, tick) {
            Ok(f) => (self.on_frame)(f),
            Err(e) => {
                tracing::warn!(%e, "opus encode failed");
                self.counters.encode_errors.fetch_add(1, Ordering::Relaxed);
            }
        }
        if let Some(s) = &mut self.speaker {
            s.push(&self.frame);
        }
        let counter = if silence {
            &self.counters.silence_sent
        } else {
            &self.counters.frames_sent
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}
