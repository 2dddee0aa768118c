//! Choosing what we open a `hw:` device with, from what it offers. Pure.
//!
//! We open `hw:` and convert ourselves (rate, channels, format) rather than go through ALSA's
//! `plug` layer: our conversion is known and tested, `plug`'s resampler is linear interpolation
//! by default, and `hw:` keeps period and buffer sizes what we asked for. `plughw:` (or, for a
//! Pi's HDMI, which only takes IEC958 subframes, `hdmi:`) is the fallback when `hw:` offers
//! nothing we convert to.

use crate::devices::{HwCaps, SampleFormat};

use super::device::Params;

/// The order we take formats in. Integer formats first, widest first: we hold `f32`, so every
/// format but float is a requantisation, and 32 or 24 bits keep software volume and the
/// resampler's output free of added noise, where 16 bits needs dither (about −93 dBFS of it).
/// The bandwidth is no concern (48 kHz × 2 × 4 bytes = 384 kB/s). `S24_LE` (in 32-bit words)
/// before `S24_3LE` only because it needs no packing. `S16_LE` is what the Pi's headphone jack
/// and most cheap USB DACs take. Float comes after the integers: only virtual devices (the
/// loopback card) offer it, and taking an integer there keeps the path a real DAC takes the
/// tested one. Big-endian last: no DAC a Pi meets uses it, but they cost us nothing.
pub const FORMAT_ORDER: [SampleFormat; 10] = [
    SampleFormat::S32Le,
    SampleFormat::S24Le,
    SampleFormat::S24_3Le,
    SampleFormat::S16Le,
    SampleFormat::FloatLe,
    SampleFormat::S32Be,
    SampleFormat::S24Be,
    SampleFormat::S24_3Be,
    SampleFormat::S16Be,
    SampleFormat::FloatBe,
];

/// One period is one of the mixer's frames: the device wakes the thread once per frame it
/// has played, which is when the next one is due anyway.
pub const PERIOD_MS: u64 = 20;
/// 160 ms of buffer (8 periods): a Pi under load (an SD card fsync, the SFU and Opus on the
/// same cores, a Zero 2 W's thermal throttling) can keep a normal-priority thread off the CPU
/// for tens of milliseconds; 160 ms rides out a stall of about 140 ms without an underrun.
/// Latency does not matter here: the speaker plays music, nobody talks back to it in real
/// time. Much more buffer would only make volume changes and the start of a track lag.
pub const BUFFER_MS: u64 = 160;

/// Rates outside this are not audio we play (and a range there is a driver's nonsense).
const RATE_FLOOR: u32 = 8000;
const RATE_CEILING: u32 = 768_000;
/// More channels than this is not a playback device we fill with silence.
const CHANNELS_CEILING: u32 = 64;

/// Why a device cannot be driven directly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Unusable {
    #[error("offers no sample format the speaker writes (S16/S24/S32/FLOAT)")]
    NoFormat,
    #[error("offers no usable sample rate")]
    NoRate,
    #[error("offers no usable channel count")]
    NoChannels,
}

/// The parameters to ask the device for.
pub fn choose(caps: &HwCaps) -> Result<Params, Unusable> {
    let format = choose_format(caps).ok_or(Unusable::NoFormat)?;
    let rate = choose_rate(caps).ok_or(Unusable::NoRate)?;
    let channels = choose_channels(caps).ok_or(Unusable::NoChannels)?;
    let (period_frames, buffer_frames) = sizes(caps, rate);
    Ok(Params {
        rate,
        format,
        channels,
        period_frames,
        buffer_frames,
    })
}

pub fn choose_format(caps: &HwCaps) -> Option<SampleFormat> {
    FORMAT_ORDER
        .into_iter()
        .find(|f| caps.formats.iter().any(|c| c == f.alsa_name()))
}

/// 48 kHz if offered (no resampling at all), else 44.1 kHz (the other rate every DAC has),
/// else the offered rate nearest 48 kHz (a higher one on a tie: less is lost).
pub fn choose_rate(caps: &HwCaps) -> Option<u32> {
    let sane = |r: u32| (RATE_FLOOR..=RATE_CEILING).contains(&r);
    for r in [48_000, 44_100] {
        if caps.takes_rate(r) && sane(r) {
            return Some(r);
        }
    }
    if !caps.rates.is_empty() {
        return caps
            .rates
            .iter()
            .copied()
            .filter(|&r| sane(r))
            .min_by_key(|&r| (r.abs_diff(48_000), std::cmp::Reverse(r)));
    }
    if caps.rate_min > caps.rate_max || caps.rate_max == 0 {
        return None;
    }
    let r = 48_000u32.clamp(caps.rate_min, caps.rate_max);
    sane(r).then_some(r)
}

/// Stereo if offered; else mono (we downmix); else the fewest channels above two (we fill the
/// extra ones with silence).
pub fn choose_channels(caps: &HwCaps) -> Option<u32> {
    let (lo, hi) = (caps.channels_min, caps.channels_max);
    if hi == 0 || lo > hi {
        None
    } else if lo <= 2 && 2 <= hi {
        Some(2)
    } else if hi == 1 {
        Some(1)
    } else {
        (lo <= CHANNELS_CEILING).then_some(lo)
    }
}

/// Period ≈ [`PERIOD_MS`], buffer ≈ [`BUFFER_MS`] but at least two periods, both within the
/// device's ranges (a bound of 0 means the device did not say).
pub fn sizes(caps: &HwCaps, rate: u32) -> (u64, u64) {
    let clamp = |v: u64, lo: u64, hi: u64| {
        let v = v.max(lo);
        if hi > 0 {
            v.min(hi)
        } else {
            v
        }
    };
    let rate = u64::from(rate);
    let mut period = clamp(rate * PERIOD_MS / 1000, caps.period_min, caps.period_max).max(1);
    let want = (rate * BUFFER_MS / 1000).max(2 * period);
    let buffer = clamp(want, caps.buffer_min, caps.buffer_max).max(1);
    if buffer < 2 * period {
        // A small ring: fit two periods into it rather than one that fills it.
        period = clamp(buffer / 2, caps.period_min, caps.period_max).max(1);
    }
    (period, buffer)
}

/// Other names to try for a device whose `hw:` we cannot drive: the Pi's HDMI through `hdmi:`
/// (it takes only IEC958 subframes, which that plugin builds), and `plughw:` for anything.
pub fn fallbacks(name: &str, caps: &HwCaps) -> Vec<String> {
    let Some(rest) = name.strip_prefix("hw:") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if caps.known_formats().next().is_none() && caps.formats.iter().any(|f| f.starts_with("IEC958"))
    {
        out.push(format!("hdmi:{rest}"));
    }
    out.push(format!("plughw:{rest}"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(formats: &[&str], rates: &[u32], ch: (u32, u32)) -> HwCaps {
        HwCaps {
            formats: formats.iter().map(|s| s.to_string()).collect(),
            rate_min: rates.iter().copied().min().unwrap_or(0),
            rate_max: rates.iter().copied().max().unwrap_or(0),
            rates: rates.to_vec(),
            channels_min: ch.0,
            channels_max: ch.1,
            period_min: 32,
            period_max: 65_536,
            buffer_min: 64,
            buffer_max: 262_144,
        }
    }

    fn pick(
        formats: &[&str],
        rates: &[u32],
        ch: (u32, u32),
    ) -> Result<(u32, &'static str, u32), Unusable> {
        choose(&caps(formats, rates, ch)).map(|p| (p.rate, p.format.alsa_name(), p.channels))
    }

    #[test]
    fn common_devices() {
        // The Pi's headphone jack (bcm2835): U8 and S16_LE, 8 kHz … 192 kHz, 1 … 8 channels.
        assert_eq!(
            pick(&["U8", "S16_LE"], &[44_100, 48_000], (1, 8)),
            Ok((48_000, "S16_LE", 2))
        );
        // A USB DAC with packed 24 bits.
        assert_eq!(
            pick(&["S16_LE", "S24_3LE"], &[44_100, 48_000, 96_000], (2, 2)),
            Ok((48_000, "S24_3LE", 2))
        );
        // An I2S DAC HAT (PCM5102 class).
        assert_eq!(
            pick(
                &["S16_LE", "S24_LE", "S32_LE"],
                &[44_100, 48_000, 96_000],
                (2, 2)
            ),
            Ok((48_000, "S32_LE", 2))
        );
        // The loopback card offers everything: the integer path is taken.
        assert_eq!(
            pick(&["S16_LE", "S32_LE", "FLOAT_LE"], &[8000, 48_000], (1, 32)),
            Ok((48_000, "S32_LE", 2))
        );
    }

    #[test]
    fn odd_devices() {
        assert_eq!(
            pick(&["S16_LE"], &[44_100], (2, 2)),
            Ok((44_100, "S16_LE", 2))
        );
        assert_eq!(
            pick(&["S24_3LE"], &[48_000], (1, 1)),
            Ok((48_000, "S24_3LE", 1))
        );
        assert_eq!(
            pick(&["FLOAT_LE"], &[48_000], (8, 8)),
            Ok((48_000, "FLOAT_LE", 8))
        );
        assert_eq!(
            pick(&["S16_BE"], &[48_000], (4, 6)),
            Ok((48_000, "S16_BE", 4))
        );
        // Neither 48 nor 44.1: the nearest to 48, the higher on a tie.
        assert_eq!(
            pick(&["S16_LE"], &[32_000, 96_000], (2, 2)),
            Ok((32_000, "S16_LE", 2))
        );
        assert_eq!(
            pick(&["S16_LE"], &[24_000, 72_000], (2, 2)),
            Ok((72_000, "S16_LE", 2))
        );
        // Only a range: 48 kHz clamped into it.
        let mut c = caps(&["S16_LE"], &[], (2, 2));
        (c.rate_min, c.rate_max) = (50_000, 60_000);
        assert_eq!(choose(&c).map(|p| p.rate), Ok(50_000));
        (c.rate_min, c.rate_max) = (8000, 192_000);
        assert_eq!(choose(&c).map(|p| p.rate), Ok(48_000));
    }

    #[test]
    fn absurd_devices() {
        assert_eq!(pick(&[], &[48_000], (2, 2)), Err(Unusable::NoFormat));
        assert_eq!(
            pick(&["U8", "MU_LAW", "IEC958_SUBFRAME_LE"], &[48_000], (2, 2)),
            Err(Unusable::NoFormat)
        );
        assert_eq!(
            pick(&["S16_LE"], &[48_000], (0, 0)),
            Err(Unusable::NoChannels)
        );
        assert_eq!(
            pick(&["S16_LE"], &[48_000], (3, 2)),
            Err(Unusable::NoChannels)
        );
        assert_eq!(
            pick(&["S16_LE"], &[48_000], (128, 256)),
            Err(Unusable::NoChannels)
        );
        // Rates: none listed and an empty, inverted or inaudible range.
        let mut c = caps(&["S16_LE"], &[], (2, 2));
        for (lo, hi) in [
            (0, 0),
            (96_000, 44_100),
            (100, 4000),
            (1_000_000, 2_000_000),
        ] {
            (c.rate_min, c.rate_max) = (lo, hi);
            assert_eq!(choose(&c), Err(Unusable::NoRate), "{lo}…{hi}");
        }
        // A listed rate outside the sane range is not taken either.
        assert_eq!(pick(&["S16_LE"], &[4000], (2, 2)), Err(Unusable::NoRate));
    }

    #[test]
    fn period_and_buffer_sizes() {
        let c = caps(&["S16_LE"], &[48_000], (2, 2));
        assert_eq!(sizes(&c, 48_000), (960, 7680));
        assert_eq!(sizes(&c, 44_100), (882, 7056));
        // A device with a small ring: two periods that fit.
        let mut small = c.clone();
        small.buffer_max = 1024;
        assert_eq!(sizes(&small, 48_000), (512, 1024));
        // Big minimum periods (some USB DACs): at least two of them in the buffer.
        let mut big = c.clone();
        big.period_min = 4096;
        assert_eq!(sizes(&big, 48_000), (4096, 8192));
        // Bounds of 0 (the device did not say) do not clamp.
        let mut unknown = c;
        (
            unknown.period_min,
            unknown.period_max,
            unknown.buffer_min,
            unknown.buffer_max,
        ) = (0, 0, 0, 0);
        assert_eq!(sizes(&unknown, 48_000), (960, 7680));
    }

    #[test]
    fn fallback_names() {
        let hdmi = caps(&["IEC958_SUBFRAME_LE"], &[48_000], (2, 8));
        assert_eq!(
            fallbacks("hw:CARD=vc4hdmi0,DEV=0", &hdmi),
            ["hdmi:CARD=vc4hdmi0,DEV=0", "plughw:CARD=vc4hdmi0,DEV=0"]
        );
        let mulaw = caps(&["MU_LAW"], &[8000], (1, 1));
        assert_eq!(fallbacks("hw:1,0", &mulaw), ["plughw:1,0"]);
        assert!(fallbacks("plughw:1,0", &mulaw).is_empty());
        assert!(fallbacks("default", &mulaw).is_empty());
    }
}
