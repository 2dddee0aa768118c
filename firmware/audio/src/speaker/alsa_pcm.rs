//! The real device: an ALSA PCM opened non-blocking (so a device that stops taking samples is
//! found out in bounded time instead of hanging the thread), and its card's simple mixer.

use std::ffi::CString;
use std::time::{Duration, Instant};

use alsa::mixer::{Mixer, SelemId};
use alsa::pcm::{Access, Format, HwParams, PCM};
use alsa::{Direction, ValueOr};

use crate::devices::{self, HwCaps, MixerElem, SampleFormat};

use super::device::{DeviceError, ErrorKind, MixerSetting, Params, PcmDevice};
use super::volume;

pub struct AlsaPcm {
    pcm: Option<PCM>,
    frame_bytes: usize,
    mixer: Option<(Mixer, SelemId, bool)>,
    /// A device that takes nothing for this long is treated as gone.
    stall_limit: Duration,
}

impl Default for AlsaPcm {
    fn default() -> Self {
        AlsaPcm::new(Duration::from_secs(2))
    }
}

impl AlsaPcm {
    pub fn new(stall_limit: Duration) -> AlsaPcm {
        AlsaPcm {
            pcm: None,
            frame_bytes: 0,
            mixer: None,
            stall_limit,
        }
    }

    fn pcm(&self) -> Result<&PCM, DeviceError> {
        self.pcm
            .as_ref()
            .ok_or_else(|| DeviceError::new(ErrorKind::Other, "device not open"))
    }
}

/// ALSA's errno to what the thread does about it.
fn error(e: alsa::Error) -> DeviceError {
    let kind = match e.errno() {
        libc::EPIPE => ErrorKind::Underrun,
        libc::ESTRPIPE => ErrorKind::Suspended,
        libc::ENODEV | libc::EBADFD | libc::ENOENT | libc::ENXIO | libc::EIO => ErrorKind::Gone,
        libc::EBUSY => ErrorKind::Busy,
        libc::EINVAL => ErrorKind::Unsupported,
        _ => ErrorKind::Other,
    };
    // Words for the admin page first; ALSA's own text stays for support.
    let plain = match kind {
        ErrorKind::Gone => "the device is not there (unplugged, or the name is wrong)",
        ErrorKind::Busy => "another program is using the device",
        ErrorKind::Unsupported => "the device refused these settings",
        _ => "",
    };
    let detail = devices::probe_words(&e);
    DeviceError::new(kind, if plain.is_empty() { detail } else { format!("{plain} ({detail})") })
}

fn alsa_format(f: SampleFormat) -> Format {
    match f {
        SampleFormat::S16Le => Format::S16LE,
        SampleFormat::S16Be => Format::S16BE,
        SampleFormat::S24Le => Format::S24LE,
        SampleFormat::S24Be => Format::S24BE,
        SampleFormat::S24_3Le => Format::S243LE,
        SampleFormat::S24_3Be => Format::S243BE,
        SampleFormat::S32Le => Format::S32LE,
        SampleFormat::S32Be => Format::S32BE,
        SampleFormat::FloatLe => Format::FloatLE,
        SampleFormat::FloatBe => Format::FloatBE,
    }
}

/// ALSA's wrappers panic on a name with a NUL byte in it; ours are checked first.
fn c_name(name: &str) -> Result<CString, DeviceError> {
    CString::new(name)
        .map_err(|_| DeviceError::new(ErrorKind::Unsupported, "device name contains a NUL byte"))
}

impl PcmDevice for AlsaPcm {
    fn open(&mut self, name: &str) -> Result<HwCaps, DeviceError> {
        self.close();
        let pcm = PCM::open(&c_name(name)?, Direction::Playback, true).map_err(error)?;
        let caps = devices::caps_of(&pcm).map_err(error)?;
        self.pcm = Some(pcm);
        Ok(caps)
    }

    fn configure(&mut self, want: &Params) -> Result<Params, DeviceError> {
        let pcm = self.pcm()?;
        let got = {
            let hwp = HwParams::any(pcm).map_err(error)?;
            hwp.set_access(Access::RWInterleaved).map_err(error)?;
            hwp.set_format(alsa_format(want.format)).map_err(error)?;
            hwp.set_channels(want.channels).map_err(error)?;
            // Only `plug` devices resample; on `hw:` this is a no-op either way.
            let _ = hwp.set_rate_resample(false);
            hwp.set_rate(want.rate, ValueOr::Nearest).map_err(error)?;
            let frames = |v: u64| alsa::pcm::Frames::try_from(v).unwrap_or(alsa::pcm::Frames::MAX);
            hwp.set_period_size_near(frames(want.period_frames), ValueOr::Nearest)
                .map_err(error)?;
            hwp.set_buffer_size_near(frames(want.buffer_frames))
                .map_err(error)?;
            pcm.hw_params(&hwp).map_err(error)?;
            let cur = pcm.hw_params_current().map_err(error)?;
            let uframes = |v: alsa::Result<alsa::pcm::Frames>| {
                v.ok().and_then(|v| u64::try_from(v).ok()).unwrap_or(0)
            };
            Params {
                rate: cur.get_rate().map_err(error)?,
                format: want.format,
                channels: cur.get_channels().map_err(error)?,
                period_frames: uframes(cur.get_period_size()),
                buffer_frames: uframes(cur.get_buffer_size()),
            }
        };
        {
            let swp = pcm.sw_params_current().map_err(error)?;
            let period = alsa::pcm::Frames::try_from(got.period_frames)
                .unwrap_or(1)
                .max(1);
            let buffer = alsa::pcm::Frames::try_from(got.buffer_frames).unwrap_or(period);
            // Start once the prefill is in (the thread writes buffer − 2 periods of silence first),
            // and wake us each period.
            swp.set_start_threshold((buffer - 2 * period).max(period))
                .map_err(error)?;
            swp.set_avail_min(period).map_err(error)?;
            pcm.sw_params(&swp).map_err(error)?;
        }
        pcm.prepare().map_err(error)?;
        self.frame_bytes = got.frame_bytes();
        Ok(got)
    }

    fn write(&mut self, data: &[u8]) -> Result<usize, DeviceError> {
        let stall_limit = self.stall_limit;
        let frame_bytes = self.frame_bytes.max(1);
        let pcm = self.pcm()?;
        let whole = data.len() / frame_bytes * frame_bytes;
        let since = Instant::now();
        loop {
            match pcm.io_bytes().writei(&data[..whole]) {
                Ok(n) => return Ok(n),
                Err(e) if e.errno() == libc::EAGAIN || e.errno() == libc::EINTR => {
                    if since.elapsed() > stall_limit {
                        return Err(DeviceError::new(
                            ErrorKind::Gone,
                            "the device stopped taking samples",
                        ));
                    }
                    // Wakes when a period's room is free; the timeout bounds a dead device.
                    match pcm.wait(Some(200)) {
                        Ok(_) => {}
                        Err(e) if e.errno() == libc::EINTR => {}
                        Err(e) => return Err(error(e)),
                    }
                }
                Err(e) => return Err(error(e)),
            }
        }
    }

    fn recover(&mut self, from: ErrorKind) -> Result<(), DeviceError> {
        let pcm = self.pcm()?;
        if from == ErrorKind::Suspended {
            // Resume can answer EAGAIN while the hardware wakes up; give it a second.
            for _ in 0..10 {
                match pcm.resume() {
                    Ok(()) => return Ok(()),
                    Err(e) if e.errno() == libc::EAGAIN => {
                        std::thread::sleep(Duration::from_millis(100))
                    }
                    // ENOSYS: the driver cannot resume; prepare below restarts it.
                    Err(_) => break,
                }
            }
        }
        pcm.prepare().map_err(error)
    }

    fn stop(&mut self) -> Result<(), DeviceError> {
        let pcm = self.pcm()?;
        pcm.drop().map_err(error)?;
        pcm.prepare().map_err(error)
    }

    fn close(&mut self) {
        self.mixer = None;
        self.pcm = None;
        self.frame_bytes = 0;
    }

    fn find_mixer(&mut self, element: Option<&str>) -> Option<MixerElem> {
        self.mixer = None;
        let card = self.pcm.as_ref()?.info().ok()?.get_card();
        if card < 0 {
            return None; // `default` and other virtual PCMs have no card of their own.
        }
        let ctl = format!("hw:{card}");
        let elems = devices::probe_mixers(&ctl);
        let chosen = volume::pick(&elems, element)?.clone();
        let mixer = Mixer::new(&ctl, false).ok()?;
        let mut id = SelemId::empty();
        id.set_name(&c_name(&chosen.name).ok()?);
        id.set_index(chosen.index);
        self.mixer = Some((mixer, id, chosen.has_switch));
        Some(chosen)
    }

    fn set_mixer(&mut self, setting: &MixerSetting) -> Result<(), DeviceError> {
        let (mixer, id, has_switch) = self
            .mixer
            .as_ref()
            .ok_or_else(|| DeviceError::new(ErrorKind::Other, "no mixer"))?;
        let selem = mixer
            .find_selem(id)
            .ok_or_else(|| DeviceError::new(ErrorKind::Gone, "the mixer element went away"))?;
        match setting {
            MixerSetting::Mute if *has_switch => selem.set_playback_switch_all(0).map_err(error)?,
            MixerSetting::Mute => {
                let (lo, _) = selem.get_playback_volume_range();
                selem.set_playback_volume_all(lo).map_err(error)?;
            }
            MixerSetting::Db(mb) => {
                selem
                    .set_playback_db_all(alsa::mixer::MilliBel(*mb), alsa::Round::Ceil)
                    .map_err(error)?;
            }
            MixerSetting::Raw(v) => selem.set_playback_volume_all(*v).map_err(error)?,
        }
        if *has_switch && !matches!(setting, MixerSetting::Mute) {
            selem.set_playback_switch_all(1).map_err(error)?;
        }
        Ok(())
    }
}
