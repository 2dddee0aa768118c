//! The edge between the speaker's thread and a PCM device: the real ALSA one
//! ([`super::alsa_pcm::AlsaPcm`]) or [`super::fake::FakeDevice`] in tests. The thread sees
//! nothing of ALSA but this.

use serde::{Deserialize, Serialize};

use crate::devices::{HwCaps, MixerElem, SampleFormat};

/// What a device was, or is to be, opened with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Params {
    pub rate: u32,
    pub format: SampleFormat,
    pub channels: u32,
    /// Frames per period (the unit the device wakes us up for) and in the whole ring buffer.
    pub period_frames: u64,
    pub buffer_frames: u64,
}

impl Params {
    pub fn frame_bytes(&self) -> usize {
        self.format.bytes() * self.channels as usize
    }
}

/// Why a device call failed, as the thread needs to tell it apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// EPIPE: the ring buffer ran empty. `recover` (prepare) and go on.
    Underrun,
    /// ESTRPIPE: the system suspended the device. `recover` (resume, else prepare) and go on.
    Suspended,
    /// ENODEV, EBADFD, ENOENT…: the device is not there (a USB DAC pulled out). Close, reopen
    /// later.
    Gone,
    /// EBUSY: another program holds it. Like `Gone`: try again later.
    Busy,
    /// The device cannot take what was asked of it (no format we know, …).
    Unsupported,
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct DeviceError {
    pub kind: ErrorKind,
    pub message: String,
}

impl DeviceError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> DeviceError {
        DeviceError {
            kind,
            message: message.into(),
        }
    }
}

/// What to set on a hardware volume control. The percent → dB mapping is
/// [`super::volume::hw_setting`]'s, so a device only carries it out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum MixerSetting {
    /// Hundredths of a dB (rounded up to the next step the control has).
    Db(i64),
    /// A raw control value, for controls without a dB scale.
    Raw(i64),
    /// Off (the element's switch, or its lowest value when it has none).
    Mute,
}

/// A PCM device as the speaker's thread drives it. Every call returns; none may panic.
///
/// The sequence is `open` → `configure` → `write`… (with `recover` after an `Underrun` or
/// `Suspended`; `stop` + `write` to pause and start again) → `close`. After `Gone` only `close`
/// and a new `open` are called.
pub trait PcmDevice: Send {
    /// Opens the PCM named `name` for playback and tells what its hardware offers.
    fn open(&mut self, name: &str) -> Result<HwCaps, DeviceError>;
    /// Sets the parameters and prepares the device; returns what it actually took (periods
    /// and buffers are rounded by the hardware, so the caller uses these, not its request).
    fn configure(&mut self, want: &Params) -> Result<Params, DeviceError>;
    /// Writes interleaved samples in the configured format; blocks until the device has room
    /// for some (a bounded time: a device that takes nothing for seconds is `Gone`). Returns
    /// whole frames written, perhaps fewer than given.
    fn write(&mut self, data: &[u8]) -> Result<usize, DeviceError>;
    /// After `Underrun` or `Suspended`: make the device take writes again.
    fn recover(&mut self, from: ErrorKind) -> Result<(), DeviceError>;
    /// Stops at once and drops what the device holds (the thread only calls it after feeding
    /// silence, so nothing audible is lost); the next `write` starts it again.
    fn stop(&mut self) -> Result<(), DeviceError>;
    fn close(&mut self);
    /// The volume control of the open device's card: `element` by name, or the first of
    /// [`super::volume::PREFERRED_ELEMENTS`] it has. `None`: use software gain.
    fn find_mixer(&mut self, element: Option<&str>) -> Option<MixerElem>;
    fn set_mixer(&mut self, setting: &MixerSetting) -> Result<(), DeviceError>;
}

impl<T: PcmDevice + ?Sized> PcmDevice for Box<T> {
    fn open(&mut self, name: &str) -> Result<HwCaps, DeviceError> {
        (**self).open(name)
    }
    fn configure(&mut self, want: &Params) -> Result<Params, DeviceError> {
        (**self).configure(want)
    }
    fn write(&mut self, data: &[u8]) -> Result<usize, DeviceError> {
        (**self).write(data)
    }
    fn recover(&mut self, from: ErrorKind) -> Result<(), DeviceError> {
        (**self).recover(from)
    }
    fn stop(&mut self) -> Result<(), DeviceError> {
        (**self).stop()
    }
    fn close(&mut self) {
        (**self).close()
    }
    fn find_mixer(&mut self, element: Option<&str>) -> Option<MixerElem> {
        (**self).find_mixer(element)
    }
    fn set_mixer(&mut self, setting: &MixerSetting) -> Result<(), DeviceError> {
        (**self).set_mixer(setting)
    }
}
