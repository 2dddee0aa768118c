//! A PCM device in memory, for tests here and in the daemon (Admin → Audio without a sound
//! card): it answers to the names it was given with the capabilities it was given, takes
//! what `hw:` would take, records every byte written, consumes at a real-time pace (sped up by
//! `speed`), and fails on command — underruns, suspend, unplug and replug, a stalled device.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::devices::{HwCaps, MixerElem};

use super::convert::decode;
use super::device::{DeviceError, ErrorKind, MixerSetting, Params, PcmDevice};
use super::volume;

/// The device; give it to the speaker and keep the [`FakeHandle`] to steer and inspect it.
pub struct FakeDevice {
    inner: Arc<Inner>,
}

/// Steers the fake and reads what reached it. Clone freely.
#[derive(Clone)]
pub struct FakeHandle {
    inner: Arc<Inner>,
}

struct Inner {
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Default)]
struct State {
    names: HashMap<String, HwCaps>,
    mixers: Vec<MixerElem>,
    /// Audio seconds consumed per real second; 0 takes everything at once.
    speed: f64,
    // Faults asked for.
    underruns_pending: u32,
    suspend_pending: bool,
    unplugged: bool,
    stalled: bool,
    // What the device is doing.
    open: Option<String>,
    params: Option<Params>,
    xrun: bool,
    suspended: bool,
    /// Pacing: when the ring was last started, and frames written since.
    started: Option<Instant>,
    written_since_start: u64,
    // What happened.
    captures: Vec<Capture>,
    mixer_settings: Vec<MixerSetting>,
    opens: Vec<String>,
    open_attempts: u32,
    stops: u32,
    recoveries: Vec<ErrorKind>,
}

/// Everything written between one `configure` and the next.
#[derive(Debug, Clone)]
pub struct Capture {
    pub pcm: String,
    pub params: Params,
    pub bytes: Vec<u8>,
}

impl Capture {
    /// The samples, interleaved, as `f32`.
    pub fn samples(&self) -> Vec<f32> {
        decode(self.params.format, &self.bytes)
    }
}

impl FakeDevice {
    /// A device answering to `name` with `caps`, consuming at real-time pace.
    pub fn new(name: &str, caps: HwCaps) -> FakeDevice {
        let mut st = State {
            speed: 1.0,
            ..State::default()
        };
        st.names.insert(name.to_owned(), caps);
        FakeDevice {
            inner: Arc::new(Inner {
                state: Mutex::new(st),
                changed: Condvar::new(),
            }),
        }
    }

    /// Answers to another name too (`plughw:…`, `hdmi:…`).
    pub fn with_name(self, name: &str, caps: HwCaps) -> FakeDevice {
        lock(&self.inner).names.insert(name.to_owned(), caps);
        self
    }

    /// A hardware volume control on the card.
    pub fn with_mixer(self, elem: MixerElem) -> FakeDevice {
        lock(&self.inner).mixers.push(elem);
        self
    }

    pub fn with_speed(self, speed: f64) -> FakeDevice {
        lock(&self.inner).speed = speed.max(0.0);
        self
    }

    pub fn handle(&self) -> FakeHandle {
        FakeHandle {
            inner: self.inner.clone(),
        }
    }

    /// Capabilities like a plain stereo DAC: S16_LE and S32_LE, 44.1 and 48 kHz, 1–2 channels.
    pub fn stereo_caps() -> HwCaps {
        HwCaps {
            formats: vec!["S16_LE".into(), "S32_LE".into()],
            rate_min: 44_100,
            rate_max: 48_000,
            rates: vec![44_100, 48_000],
            channels_min: 1,
            channels_max: 2,
            period_min: 64,
            period_max: 16_384,
            buffer_min: 128,
            buffer_max: 65_536,
        }
    }
}

fn lock(inner: &Inner) -> MutexGuard<'_, State> {
    inner.state.lock().unwrap_or_else(|e| e.into_inner())
}

fn gone() -> DeviceError {
    DeviceError::new(ErrorKind::Gone, "fake: no such device (unplugged)")
}

impl PcmDevice for FakeDevice {
    fn open(&mut self, name: &str) -> Result<HwCaps, DeviceError> {
        let mut st = lock(&self.inner);
        st.open_attempts += 1;
        self.inner.changed.notify_all();
        if st.unplugged {
            return Err(gone());
        }
        let caps =
            st.names.get(name).cloned().ok_or_else(|| {
                DeviceError::new(ErrorKind::Gone, format!("fake: no device {name}"))
            })?;
        st.open = Some(name.to_owned());
        st.params = None;
        st.opens.push(name.to_owned());
        Ok(caps)
    }

    fn configure(&mut self, want: &Params) -> Result<Params, DeviceError> {
        let mut st = lock(&self.inner);
        let name = st
            .open
            .clone()
            .ok_or_else(|| DeviceError::new(ErrorKind::Other, "fake: not open"))?;
        let caps = st.names.get(&name).cloned().unwrap_or_default();
        let fits = caps.formats.iter().any(|f| f == want.format.alsa_name())
            && caps.takes_rate(want.rate)
            && (caps.channels_min..=caps.channels_max).contains(&want.channels)
            && (caps.period_min..=caps.period_max).contains(&want.period_frames)
            && (caps.buffer_min..=caps.buffer_max).contains(&want.buffer_frames);
        if !fits {
            return Err(DeviceError::new(
                ErrorKind::Unsupported,
                format!("fake: {name} cannot take {want:?}"),
            ));
        }
        st.params = Some(want.clone());
        st.captures.push(Capture {
            pcm: name,
            params: want.clone(),
            bytes: Vec::new(),
        });
        (st.xrun, st.suspended, st.started) = (false, false, None);
        Ok(want.clone())
    }

    fn write(&mut self, data: &[u8]) -> Result<usize, DeviceError> {
        let mut st = lock(&self.inner);
        loop {
            if st.unplugged {
                return Err(gone());
            }
            let Some(p) = st.params.clone() else {
                return Err(DeviceError::new(
                    ErrorKind::Other,
                    "fake: write before configure",
                ));
            };
            if st.xrun {
                return Err(DeviceError::new(ErrorKind::Underrun, "fake: underrun"));
            }
            if st.suspended {
                return Err(DeviceError::new(ErrorKind::Suspended, "fake: suspended"));
            }
            if st.underruns_pending > 0 {
                st.underruns_pending -= 1;
                st.xrun = true;
                continue;
            }
            if st.suspend_pending {
                (st.suspend_pending, st.suspended) = (false, true);
                continue;
            }
            if st.stalled {
                st.started = None;
                st = self
                    .inner
                    .changed
                    .wait_timeout(st, Duration::from_millis(5))
                    .map(|r| r.0)
                    .unwrap_or_else(|e| e.into_inner().0);
                continue;
            }
            let frames = (data.len() / p.frame_bytes()) as u64;
            let mut room = frames;
            if st.speed > 0.0 {
                let now = Instant::now();
                let started = *st.started.get_or_insert(now);
                let rate = f64::from(p.rate) * st.speed;
                let played = (now.duration_since(started).as_secs_f64() * rate) as u64;
                if played > st.written_since_start {
                    // The ring ran dry; a real device would underrun. The fake is lenient:
                    // tests that run on a loaded machine must not see spurious underruns.
                    st.started = Some(now);
                    st.written_since_start = 0;
                }
                let played = played.min(st.written_since_start);
                let fill = st.written_since_start - played;
                room = p.buffer_frames.saturating_sub(fill).min(frames);
                if room == 0 {
                    let wait = Duration::from_secs_f64(p.period_frames.max(1) as f64 / rate);
                    drop(st);
                    std::thread::sleep(wait);
                    st = lock(&self.inner);
                    continue;
                }
            }
            st.written_since_start += room;
            let bytes = room as usize * p.frame_bytes();
            if let Some(c) = st.captures.last_mut() {
                c.bytes.extend_from_slice(&data[..bytes]);
            }
            self.inner.changed.notify_all();
            return Ok(room as usize);
        }
    }

    fn recover(&mut self, from: ErrorKind) -> Result<(), DeviceError> {
        let mut st = lock(&self.inner);
        if st.unplugged {
            return Err(gone());
        }
        st.recoveries.push(from);
        match from {
            // prepare: leaves an xrun, and (as on ALSA) a suspended state too.
            ErrorKind::Underrun => (st.xrun, st.suspended) = (false, false),
            ErrorKind::Suspended => st.suspended = false,
            _ => {}
        }
        st.started = None;
        Ok(())
    }

    fn stop(&mut self) -> Result<(), DeviceError> {
        let mut st = lock(&self.inner);
        if st.unplugged {
            return Err(gone());
        }
        st.stops += 1;
        st.started = None;
        self.inner.changed.notify_all();
        Ok(())
    }

    fn close(&mut self) {
        let mut st = lock(&self.inner);
        (st.open, st.params) = (None, None);
    }

    fn find_mixer(&mut self, element: Option<&str>) -> Option<MixerElem> {
        let st = lock(&self.inner);
        volume::pick(&st.mixers, element).cloned()
    }

    fn set_mixer(&mut self, setting: &MixerSetting) -> Result<(), DeviceError> {
        let mut st = lock(&self.inner);
        if st.unplugged {
            return Err(gone());
        }
        st.mixer_settings.push(setting.clone());
        self.inner.changed.notify_all();
        Ok(())
    }
}

impl FakeHandle {
    /// The next `n` writes fail with an underrun (each until `recover`).
    pub fn underruns(&self, n: u32) {
        lock(&self.inner).underruns_pending += n;
    }
    /// The next write finds the device suspended.
    pub fn suspend(&self) {
        lock(&self.inner).suspend_pending = true;
    }
    /// Pulls the device out: every call fails with `Gone`, and `open` too, until `replug`.
    pub fn unplug(&self) {
        lock(&self.inner).unplugged = true;
        self.inner.changed.notify_all();
    }
    pub fn replug(&self) {
        let mut st = lock(&self.inner);
        st.unplugged = false;
        (st.open, st.params) = (None, None);
        self.inner.changed.notify_all();
    }
    /// A device that takes nothing: writes block until `stall(false)`.
    pub fn stall(&self, on: bool) {
        lock(&self.inner).stalled = on;
        self.inner.changed.notify_all();
    }
    pub fn captures(&self) -> Vec<Capture> {
        lock(&self.inner).captures.clone()
    }
    /// Frames written, all captures together.
    pub fn frames_written(&self) -> u64 {
        let st = lock(&self.inner);
        st.captures
            .iter()
            .map(|c| (c.bytes.len() / c.params.frame_bytes().max(1)) as u64)
            .sum()
    }
    pub fn mixer_settings(&self) -> Vec<MixerSetting> {
        lock(&self.inner).mixer_settings.clone()
    }
    /// The names opened, in order.
    pub fn opens(&self) -> Vec<String> {
        lock(&self.inner).opens.clone()
    }
    /// Calls to `open`, failed ones included.
    pub fn open_attempts(&self) -> u32 {
        lock(&self.inner).open_attempts
    }
    pub fn stops(&self) -> u32 {
        lock(&self.inner).stops
    }
    pub fn recoveries(&self) -> Vec<ErrorKind> {
        lock(&self.inner).recoveries.clone()
    }
    pub fn is_open(&self) -> bool {
        lock(&self.inner).open.is_some()
    }
    /// Waits until `cond` holds of the handle, up to `limit`; says whether it did. A limit,
    /// not a measurement: tests give it generously.
    pub fn wait_for(&self, limit: Duration, mut cond: impl FnMut(&FakeHandle) -> bool) -> bool {
        let end = Instant::now() + limit;
        loop {
            if cond(self) {
                return true;
            }
            if Instant::now() >= end {
                return false;
            }
            let st = lock(&self.inner);
            let _ = self
                .inner
                .changed
                .wait_timeout(st, Duration::from_millis(2));
        }
    }
}
