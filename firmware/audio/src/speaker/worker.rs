//! The speaker's thread: open (with fallbacks) → play until the device is lost → wait with
//! back-off → open again. Every problem is logged once, when it starts; its end once too.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::devices::MixerElem;
use crate::{Frame, FRAME_LEN};

use super::choose;
use super::convert::Converter;
use super::device::{DeviceError, ErrorKind, Params, PcmDevice};
use super::volume;
use super::{Clip, MixerChoice, Opened, Shared, SpeakerConfig, SpeakerState, VolumeControl};

pub(crate) struct Worker<D> {
    cfg: SpeakerConfig,
    name: String,
    dev: D,
    shared: Arc<Shared>,
    volume: u8,
    clip: Option<Clip>,
    /// The problem last logged, so a retry that fails the same way says nothing.
    problem: Option<String>,
    opened_once: bool,
}

struct Session {
    params: Params,
    converter: Converter,
    mixer: Option<MixerElem>,
    gain: f32,
    bytes: Vec<u8>,
}

enum Lost {
    Shutdown,
    Device(DeviceError),
}

/// What woke the thread while waiting.
enum Wake {
    Frame(Box<Frame>),
    /// Frames are queued (not taken).
    Frames,
    Volume,
    Clip,
    Timeout,
    Shutdown,
}

/// What a wait returns for besides control changes.
#[derive(Clone, Copy, PartialEq)]
enum For {
    /// Take a queued frame.
    Take,
    /// Say frames are queued, leave them.
    Any,
    /// Control changes and shutdown only (no device: frames are not even queued).
    Control,
}

impl<D: PcmDevice> Worker<D> {
    pub(crate) fn new(cfg: SpeakerConfig, name: String, dev: D, shared: Arc<Shared>) -> Self {
        let volume = cfg.volume;
        Worker {
            cfg,
            name,
            dev,
            shared,
            volume,
            clip: None,
            problem: None,
            opened_once: false,
        }
    }

    pub(crate) fn run(mut self) {
        let mut backoff = self.cfg.retry;
        loop {
            match self.open() {
                Ok(mut s) => {
                    backoff = self.cfg.retry;
                    let lost = self.play(&mut s);
                    self.dev.close();
                    self.shared.stats().opened = None;
                    match lost {
                        Lost::Shutdown => return,
                        Lost::Device(e) => self.trouble(&e),
                    }
                }
                Err(e) => self.trouble(&e),
            }
            // Waiting also takes volume changes and notices shutdown; frames pushed meanwhile
            // are dropped by the queue's own bound.
            let until = Instant::now() + backoff;
            loop {
                let left = until.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                if let Wake::Shutdown = self.wait(Some(left), For::Control) {
                    return;
                }
            }
            backoff = (backoff * 2).min(self.cfg.retry_max.max(self.cfg.retry));
        }
    }

    /// The device is lost or cannot be opened: logged when the kind of trouble changes, not
    /// on every retry (a missing device fails in slightly different words each time).
    fn trouble(&mut self, e: &DeviceError) {
        let (state, kind) = match e.kind {
            ErrorKind::Gone | ErrorKind::Busy => (
                SpeakerState::WaitingForDevice {
                    reason: e.message.clone(),
                },
                "waiting",
            ),
            _ => (
                SpeakerState::Error {
                    message: e.message.clone(),
                },
                "error",
            ),
        };
        if self.problem.as_deref() != Some(kind) {
            tracing::warn!(device = %self.name, "speaker: {} (retrying quietly)", state.words());
            self.problem = Some(kind.to_owned());
        }
        // While there is no device, the mixer's frames are not kept.
        let mut inbox = self.shared.inbox();
        inbox.discard = true;
        inbox.frames.clear();
        drop(inbox);
        self.shared.stats().state = state;
    }

    fn open(&mut self) -> Result<Session, DeviceError> {
        let (pcm, caps, want) = self.choose()?;
        let params = match self.dev.configure(&want) {
            Ok(p) => p,
            Err(e) => {
                self.dev.close();
                return Err(e);
            }
        };
        let mixer = match &self.cfg.mixer {
            MixerChoice::Software => None,
            MixerChoice::Auto => self.dev.find_mixer(None),
            MixerChoice::Element(el) => {
                let m = self.dev.find_mixer(Some(el));
                if m.is_none() {
                    tracing::warn!(device = %pcm, element = %el, "speaker: no such mixer element; using software volume");
                }
                m
            }
        };
        let mut s = Session {
            converter: Converter::new(&params),
            params,
            mixer,
            gain: 1.0,
            bytes: Vec::new(),
        };
        self.apply_volume(&mut s);
        let control = match &s.mixer {
            Some(m) => VolumeControl::Hardware {
                element: m.name.clone(),
            },
            None => VolumeControl::Software,
        };
        if self.problem.take().is_some() || !self.opened_once {
            tracing::info!(pcm = %pcm, params = ?s.params, formats = ?caps.formats, "speaker: device open");
        }
        let mut st = self.shared.stats();
        if self.opened_once {
            st.reopens += 1;
        }
        self.opened_once = true;
        st.opened = Some(Opened {
            pcm,
            params: s.params.clone(),
            volume: control,
        });
        st.state = SpeakerState::Idle;
        drop(st);
        self.shared.inbox().discard = false;
        Ok(s)
    }

    /// Opens the configured name, or its fallbacks when `hw:` offers nothing we convert to.
    fn choose(&mut self) -> Result<(String, crate::devices::HwCaps, Params), DeviceError> {
        let caps = self.dev.open(&self.name)?;
        let why = match choose::choose(&caps) {
            Ok(p) => return Ok((self.name.clone(), caps, p)),
            Err(why) => why,
        };
        self.dev.close();
        for alt in choose::fallbacks(&self.name, &caps) {
            if let Ok(c) = self.dev.open(&alt) {
                if let Ok(p) = choose::choose(&c) {
                    return Ok((alt, c, p));
                }
                self.dev.close();
            }
        }
        Err(DeviceError::new(
            ErrorKind::Unsupported,
            format!("{} {why}", self.name),
        ))
    }

    fn apply_volume(&mut self, s: &mut Session) {
        let v = self.volume;
        s.gain = volume::software_gain(v);
        if let Some(m) = s.mixer.clone() {
            match self.dev.set_mixer(&volume::hw_setting(v, &m)) {
                Ok(()) => s.gain = if v == 0 { 0.0 } else { 1.0 },
                Err(e) => {
                    tracing::warn!(element = %m.name, error = %e, "speaker: mixer failed; using software volume");
                    s.mixer = None;
                }
            }
        }
    }

    /// Waits for a control change, frames (as `what` says) or `limit`. Checked under the
    /// queue's lock, so a push just before the wait is never missed.
    fn wait(&mut self, limit: Option<Duration>, what: For) -> Wake {
        let end = limit.map(|l| Instant::now() + l);
        let mut inbox = self.shared.inbox();
        loop {
            if inbox.shutdown {
                return Wake::Shutdown;
            }
            if let Some(v) = inbox.volume.take() {
                self.volume = v;
                return Wake::Volume;
            }
            if let Some(c) = inbox.clip.take() {
                self.clip = Some(c);
                return Wake::Clip;
            }
            match what {
                For::Take => {
                    if let Some(f) = inbox.frames.pop_front() {
                        return Wake::Frame(f);
                    }
                }
                For::Any if !inbox.frames.is_empty() => return Wake::Frames,
                _ => {}
            }
            inbox = match end {
                None => self
                    .shared
                    .wake
                    .wait(inbox)
                    .unwrap_or_else(|e| e.into_inner()),
                Some(end) => {
                    let left = end.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Wake::Timeout;
                    }
                    self.shared
                        .wake
                        .wait_timeout(inbox, left)
                        .map(|r| r.0)
                        .unwrap_or_else(|e| e.into_inner().0)
                }
            };
        }
    }

    fn recycle(&self, f: Box<Frame>) {
        let mut inbox = self.shared.inbox();
        if inbox.spare.len() < inbox.capacity {
            inbox.spare.push(f);
        }
    }

    fn play(&mut self, s: &mut Session) -> Lost {
        let silence: Frame = [0.0; FRAME_LEN];
        let rate = u64::from(s.params.rate.max(1));
        // Wait this long for a late frame before writing silence: one period, plus slack.
        let grace = Duration::from_micros(s.params.period_frames * 1_000_000 / rate)
            + Duration::from_millis(5);
        let mut running = false;
        let mut silent_since: Option<Instant> = None;
        loop {
            let got = match self.wait(Some(Duration::ZERO), For::Take) {
                Wake::Shutdown => return Lost::Shutdown,
                Wake::Volume => {
                    self.apply_volume(s);
                    continue;
                }
                Wake::Frame(f) => Some(f),
                Wake::Clip | Wake::Frames => continue,
                Wake::Timeout => None,
            };
            let clip = self.clip.as_mut().and_then(Iterator::next);
            if clip.is_none() {
                self.clip = None;
            }
            let mut out = match (&got, &clip) {
                (Some(f), _) => **f,
                (None, Some(_)) => silence,
                (None, None) if !running => {
                    // Stopped: sleep until there is something to play.
                    match self.wait(None, For::Any) {
                        Wake::Shutdown => return Lost::Shutdown,
                        Wake::Volume => self.apply_volume(s),
                        _ => {}
                    }
                    continue;
                }
                (None, None) => {
                    let since = *silent_since.get_or_insert_with(Instant::now);
                    if since.elapsed() >= self.cfg.idle_after {
                        if let Err(e) = self.dev.stop() {
                            return Lost::Device(e);
                        }
                        running = false;
                        self.shared.stats().state = SpeakerState::Idle;
                        continue;
                    }
                    if since.elapsed() < grace {
                        match self.wait(Some(grace), For::Any) {
                            Wake::Shutdown => return Lost::Shutdown,
                            Wake::Volume => {
                                self.apply_volume(s);
                                continue;
                            }
                            Wake::Frames | Wake::Clip | Wake::Frame(_) => continue,
                            Wake::Timeout => {}
                        }
                    }
                    silence
                }
            };
            if let Some(c) = &clip {
                out.iter_mut().zip(c.iter()).for_each(|(o, c)| *o += c);
            }
            if got.is_some() || clip.is_some() {
                silent_since = None;
            }
            if let Some(f) = got {
                self.recycle(f);
            }
            if !running {
                // (Re)start: fill the ring with silence but for two periods, so the device
                // holds most of its buffer ahead of us from the first frame on.
                running = true;
                s.converter.reset();
                let prefill = s
                    .params
                    .buffer_frames
                    .saturating_sub(2 * s.params.period_frames);
                let zeros = vec![0u8; prefill as usize * s.params.frame_bytes()];
                if let Err(e) = self.write_all(&zeros, s.params.frame_bytes()) {
                    return Lost::Device(e);
                }
                self.shared.stats().state = SpeakerState::Playing;
            }
            s.bytes.clear();
            s.converter.push(&out, s.gain, &mut s.bytes);
            let bytes = std::mem::take(&mut s.bytes);
            let r = self.write_all(&bytes, s.params.frame_bytes());
            s.bytes = bytes;
            if let Err(e) = r {
                return Lost::Device(e);
            }
        }
    }

    /// Writes all of `bytes`, recovering from underruns and suspend on the way.
    fn write_all(&mut self, bytes: &[u8], frame_bytes: usize) -> Result<(), DeviceError> {
        let frame_bytes = frame_bytes.max(1);
        let (mut off, mut failures) = (0, 0u32);
        while off + frame_bytes <= bytes.len() {
            let err = match self.dev.write(&bytes[off..]) {
                Ok(0) => DeviceError::new(ErrorKind::Other, "the device took no samples"),
                Ok(n) => {
                    off += n * frame_bytes;
                    failures = 0;
                    self.shared.stats().frames_written += n as u64;
                    continue;
                }
                Err(e) => e,
            };
            // Failing again and again without a sample getting through is no underrun storm
            // to count forever: the device is treated as lost and reopened.
            failures += 1;
            if failures > 10 {
                return Err(err);
            }
            match err.kind {
                ErrorKind::Underrun => {
                    self.shared.stats().underruns += 1;
                    self.dev.recover(ErrorKind::Underrun)?;
                }
                ErrorKind::Suspended => {
                    self.shared.stats().suspends += 1;
                    tracing::info!(device = %self.name, "speaker: device was suspended; resuming");
                    self.dev.recover(ErrorKind::Suspended)?;
                }
                ErrorKind::Gone | ErrorKind::Busy => return Err(err),
                ErrorKind::Unsupported | ErrorKind::Other => {
                    self.dev.recover(ErrorKind::Underrun)?
                }
            }
        }
        Ok(())
    }
}
