//! The box's own speaker: a [`FrameSink`] whose `push` only enqueues (bounded; the oldest frame
//! is dropped and counted when full) and a thread of its own that converts and writes to the
//! device, keeps it fed with silence through short gaps, pauses it when nothing plays, and
//! survives underruns, suspend and the device going away (reopened with back-off).
//!
//! ```text
//! mixer ──push──► queue (bounded) ──► worker thread ──► convert ──► PcmDevice (ALSA | fake)
//! admin ──SpeakerHandle──► volume, test tone, stats ◄──┘
//! ```

pub mod alsa_pcm;
pub mod choose;
pub mod convert;
pub mod device;
pub mod fake;
pub mod resample;
pub mod volume;
mod worker;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{Frame, FrameSink};

pub use device::{DeviceError, ErrorKind, MixerSetting, Params, PcmDevice};

/// Which volume control to use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MixerChoice {
    /// The card's usual element ([`volume::PREFERRED_ELEMENTS`]), else software gain.
    Auto,
    /// This simple element (e.g. "Digital"); software gain if the card lacks it.
    Element(String),
    /// Never touch the card's mixer.
    Software,
}

#[derive(Debug, Clone)]
pub struct SpeakerConfig {
    /// An ALSA PCM name (`hw:CARD=Headphones,DEV=0`, `hw:CARD=Loopback,DEV=0`); `None` leaves
    /// the speaker off.
    pub device: Option<String>,
    pub mixer: MixerChoice,
    /// 0–100 %.
    pub volume: u8,
    /// Frames the queue holds before dropping the oldest: 10 × 20 ms rides out a 200 ms stall
    /// of this thread on top of the device's own buffer.
    pub queue_frames: usize,
    /// First wait before reopening a device that went away; doubles up to `retry_max`.
    pub retry: Duration,
    pub retry_max: Duration,
    /// With nothing to play, silence is written this long (a gap between tracks keeps the
    /// device running, with no click of a restart), then the device is stopped.
    pub idle_after: Duration,
}

impl SpeakerConfig {
    pub fn new(device: Option<&str>) -> SpeakerConfig {
        SpeakerConfig {
            device: device.map(str::to_owned),
            mixer: MixerChoice::Auto,
            volume: 70,
            queue_frames: 10,
            retry: Duration::from_secs(1),
            retry_max: Duration::from_secs(5),
            idle_after: Duration::from_secs(2),
        }
    }

    /// Checks what ALSA would choke on (and what its wrappers would panic on).
    pub fn validate(&self) -> Result<(), SpeakerError> {
        if let Some(d) = &self.device {
            let ok = !d.is_empty() && d.len() <= 256 && d.chars().all(|c| c.is_ascii_graphic());
            if !ok {
                return Err(SpeakerError::DeviceName(d.clone()));
            }
        }
        if let MixerChoice::Element(e) = &self.mixer {
            if e.is_empty() || e.len() > 64 || e.chars().any(char::is_control) {
                return Err(SpeakerError::MixerName(e.clone()));
            }
        }
        if self.volume > 100 {
            return Err(SpeakerError::Volume(self.volume));
        }
        if !(1..=500).contains(&self.queue_frames) {
            return Err(SpeakerError::Queue(self.queue_frames));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpeakerError {
    #[error("speaker.device: {0:?} is not an ALSA device name (printable ASCII, no spaces, at most 256 characters)")]
    DeviceName(String),
    #[error("speaker.mixer: {0:?} is not a mixer element name")]
    MixerName(String),
    #[error("speaker.volume: {0} is not a percentage")]
    Volume(u8),
    #[error("speaker queue of {0} frames: must be 1–500")]
    Queue(usize),
    #[error("cannot start the speaker thread: {0}")]
    Thread(String),
}

/// What the speaker is doing, for Admin → Audio.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum SpeakerState {
    NoDeviceConfigured,
    Starting,
    Playing,
    /// Open, nothing to play: the device is stopped.
    Idle,
    /// The device is missing or busy; retried with back-off.
    WaitingForDevice {
        reason: String,
    },
    /// The device is there but cannot be used; retried with back-off too (it may be replaced).
    Error {
        message: String,
    },
    Stopped,
}

impl SpeakerState {
    pub fn words(&self) -> String {
        match self {
            Self::NoDeviceConfigured => "off: no output device configured".into(),
            Self::Starting => "starting".into(),
            Self::Playing => "playing".into(),
            Self::Idle => "idle (nothing to play)".into(),
            Self::WaitingForDevice { reason } => format!("waiting for the device: {reason}"),
            Self::Error { message } => format!("error: {message}"),
            Self::Stopped => "stopped".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum VolumeControl {
    Hardware { element: String },
    Software,
}

/// What was opened: the PCM name (it may be a fallback such as `plughw:…`), the parameters
/// the device took, and where the volume is applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Opened {
    pub pcm: String,
    pub params: Params,
    pub volume: VolumeControl,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpeakerStats {
    pub state: SpeakerState,
    pub device: Option<String>,
    pub opened: Option<Opened>,
    pub volume: u8,
    pub underruns: u64,
    pub suspends: u64,
    /// Frames dropped from the queue because the device did not keep up.
    pub dropped_frames: u64,
    /// Frames waiting in the queue now.
    pub queued_frames: usize,
    /// Times the device was opened again after it went away.
    pub reopens: u64,
    /// Device frames written (silence included).
    pub frames_written: u64,
}

/// A one-shot sound played over whatever the mixer sends (the test tone).
pub type Clip = Box<dyn Iterator<Item = Frame> + Send>;

pub(crate) struct Shared {
    inbox: Mutex<Inbox>,
    wake: Condvar,
    stats: Mutex<SpeakerStats>,
    dropped: AtomicU64,
}

#[derive(Default)]
pub(crate) struct Inbox {
    frames: VecDeque<Box<Frame>>,
    /// Boxes the worker is done with, reused by `push` so steady state allocates nothing.
    spare: Vec<Box<Frame>>,
    capacity: usize,
    volume: Option<u8>,
    clip: Option<Clip>,
    /// No device open: `push` keeps nothing (stale audio is not saved up for a replug).
    discard: bool,
    shutdown: bool,
}

impl Shared {
    pub(crate) fn inbox(&self) -> MutexGuard<'_, Inbox> {
        self.inbox.lock().unwrap_or_else(|e| e.into_inner())
    }
    pub(crate) fn stats(&self) -> MutexGuard<'_, SpeakerStats> {
        self.stats.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The sink. Dropping it stops the thread (after its current write).
pub struct Speaker {
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// The admin's side: stats, volume, test tone. Clone freely; outlives nothing.
#[derive(Clone)]
pub struct SpeakerHandle {
    shared: Arc<Shared>,
}

impl Speaker {
    /// The box's speaker on ALSA.
    pub fn alsa(config: SpeakerConfig) -> Result<Speaker, SpeakerError> {
        Speaker::open(config, alsa_pcm::AlsaPcm::default())
    }

    /// The speaker on any device (the fake in tests).
    pub fn open<D: PcmDevice + 'static>(
        config: SpeakerConfig,
        device: D,
    ) -> Result<Speaker, SpeakerError> {
        config.validate()?;
        let state = if config.device.is_some() {
            SpeakerState::Starting
        } else {
            SpeakerState::NoDeviceConfigured
        };
        let shared = Arc::new(Shared {
            inbox: Mutex::new(Inbox {
                capacity: config.queue_frames,
                ..Inbox::default()
            }),
            wake: Condvar::new(),
            stats: Mutex::new(SpeakerStats {
                state,
                device: config.device.clone(),
                opened: None,
                volume: config.volume,
                underruns: 0,
                suspends: 0,
                dropped_frames: 0,
                queued_frames: 0,
                reopens: 0,
                frames_written: 0,
            }),
            dropped: AtomicU64::new(0),
        });
        let Some(name) = config.device.clone() else {
            return Ok(Speaker {
                shared,
                thread: None,
            });
        };
        let worker = worker::Worker::new(config, name, device, shared.clone());
        // The thread logs into the subscriber of whoever opened the speaker.
        let dispatch = tracing::dispatcher::get_default(|d| d.clone());
        let thread = std::thread::Builder::new()
            .name("speaker".into())
            .spawn(move || tracing::dispatcher::with_default(&dispatch, || worker.run()))
            .map_err(|e| SpeakerError::Thread(e.to_string()))?;
        Ok(Speaker {
            shared,
            thread: Some(thread),
        })
    }

    pub fn handle(&self) -> SpeakerHandle {
        SpeakerHandle {
            shared: self.shared.clone(),
        }
    }
}

impl FrameSink for Speaker {
    fn push(&mut self, frame: &Frame) {
        if self.thread.is_none() {
            return; // no device configured: nothing listens.
        }
        let mut inbox = self.shared.inbox();
        if inbox.discard {
            return;
        }
        let mut slot = if inbox.frames.len() >= inbox.capacity {
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            inbox.frames.pop_front()
        } else {
            inbox.spare.pop()
        }
        .unwrap_or_else(|| Box::new([0.0; crate::FRAME_LEN]));
        slot.copy_from_slice(frame);
        inbox.frames.push_back(slot);
        drop(inbox);
        self.shared.wake.notify_one();
    }
}

impl Drop for Speaker {
    fn drop(&mut self) {
        self.shared.inbox().shutdown = true;
        self.shared.wake.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.shared.stats().state = SpeakerState::Stopped;
    }
}

impl SpeakerHandle {
    pub fn stats(&self) -> SpeakerStats {
        let mut s = self.shared.stats().clone();
        s.dropped_frames = self.shared.dropped.load(Ordering::Relaxed);
        s.queued_frames = self.shared.inbox().frames.len();
        s
    }

    /// 0–100 %, applied by the thread (on the hardware control where there is one).
    pub fn set_volume(&self, percent: u8) {
        let percent = percent.min(100);
        self.shared.inbox().volume = Some(percent);
        self.shared.stats().volume = percent;
        self.shared.wake.notify_all();
    }

    /// Plays `clip` over the mixer's output, paced by the device (so nothing of it is dropped).
    pub fn play(&self, clip: Clip) {
        self.shared.inbox().clip = Some(clip);
        self.shared.wake.notify_all();
    }

    /// Admin → Audio's test tone.
    pub fn play_tone(&self, freq: f64, dbfs: f64, duration_ms: u32) {
        self.play(Box::new(crate::tone::Tone::new(freq, dbfs, duration_ms)));
    }
}
