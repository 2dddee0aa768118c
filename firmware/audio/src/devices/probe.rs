//! Reading [`Card`]s out of ALSA. An error on one card or device is recorded on it and the
//! listing goes on.

use alsa::card::Iter as CardIter;
use alsa::ctl::{Ctl, DeviceIter};
use alsa::mixer::{Mixer, Selem, SelemChannelId};
use alsa::pcm::{Format, HwParams, PCM};
use alsa::Direction;

use super::{Card, Device, HwCaps, MixerElem};

/// The rates tested one by one (a range alone hides gaps, e.g. a USB DAC that offers 44.1 and 48
/// kHz but nothing between).
pub const COMMON_RATES: [u32; 11] = [
    8000, 11_025, 16_000, 22_050, 32_000, 44_100, 48_000, 88_200, 96_000, 176_400, 192_000,
];

/// Every ALSA card with its playback devices and mixers. No cards is an empty list, not an error.
pub fn probe() -> Vec<Card> {
    let mut cards = Vec::new();
    for card in CardIter::new() {
        match card {
            Ok(card) => cards.push(probe_card(&card)),
            // snd_card_next failing means the listing itself broke; what we have is what we give.
            Err(e) => {
                tracing::warn!(error = %e, "listing ALSA cards stopped early");
                break;
            }
        }
    }
    cards
}

fn probe_card(card: &alsa::Card) -> Card {
    let index = card.get_index();
    let mut out = Card {
        index,
        id: String::new(),
        name: card.get_name().unwrap_or_default(),
        long_name: card.get_longname().unwrap_or_default(),
        driver: String::new(),
        devices: Vec::new(),
        mixers: Vec::new(),
        error: None,
    };
    let ctl = match Ctl::from_card(card, false) {
        Ok(c) => c,
        Err(e) => {
            out.error = Some(words(&e));
            return out;
        }
    };
    match ctl.card_info() {
        Ok(info) => {
            out.id = info.get_id().unwrap_or_default().to_owned();
            out.driver = info.get_driver().unwrap_or_default().to_owned();
            if let Ok(n) = info.get_name() {
                out.name = n.to_owned();
            }
            if let Ok(n) = info.get_longname() {
                out.long_name = n.to_owned();
            }
        }
        Err(e) => out.error = Some(words(&e)),
    }
    let card_ref = if out.id.is_empty() {
        index.to_string()
    } else {
        out.id.clone()
    };
    for dev in DeviceIter::new(&ctl) {
        let Ok(dev) = u32::try_from(dev) else {
            continue;
        };
        // A device without a playback stream (capture only) answers ENOENT here.
        let Ok(info) = ctl.pcm_info(dev, 0, Direction::Playback) else {
            continue;
        };
        let pcm = format!("hw:CARD={card_ref},DEV={dev}");
        let (caps, error) = match open_caps(&pcm) {
            Ok(c) => (Some(c), None),
            Err(e) => (None, Some(e)),
        };
        out.devices.push(Device {
            device: dev,
            id: info.get_id().unwrap_or_default().to_owned(),
            name: info.get_name().unwrap_or_default().to_owned(),
            pcm,
            subdevices: info.get_subdevices_count(),
            caps,
            error,
        });
    }
    out.mixers = mixers(&format!("hw:{index}"));
    out
}

fn open_caps(name: &str) -> Result<HwCaps, String> {
    // Non-blocking: a device another program holds answers EBUSY at once instead of waiting.
    let pcm = PCM::new(name, Direction::Playback, true).map_err(|e| words(&e))?;
    caps_of(&pcm).map_err(|e| words(&e))
}

/// The formats asked about: every one ALSA names but `Unknown` (-1), which alsa-lib takes as a
/// mask bit and aborts the whole process on (`snd_mask_leave: val <= SND_MASK_MAX`): seen in
/// the QEMU image against snd-aloop.
fn probe_formats() -> impl Iterator<Item = Format> {
    Format::all().iter().copied().filter(|f| *f != Format::Unknown && (*f as i32) >= 0)
}

/// The full hardware parameter space of an open PCM (nothing is set on it).
pub fn caps_of(pcm: &PCM) -> alsa::Result<HwCaps> {
    let hwp = HwParams::any(pcm)?;
    let formats = probe_formats()
        .filter(|f| hwp.test_format(*f).is_ok())
        .map(|f| f.to_string())
        .collect();
    let rates = COMMON_RATES
        .into_iter()
        .filter(|r| hwp.test_rate(*r).is_ok())
        .collect();
    let frames = |r: alsa::Result<alsa::pcm::Frames>| r.ok().and_then(|v| u64::try_from(v).ok());
    Ok(HwCaps {
        formats,
        rate_min: hwp.get_rate_min().unwrap_or(0),
        rate_max: hwp.get_rate_max().unwrap_or(0),
        rates,
        channels_min: hwp.get_channels_min().unwrap_or(0),
        channels_max: hwp.get_channels_max().unwrap_or(0),
        period_min: frames(hwp.get_period_size_min()).unwrap_or(0),
        period_max: frames(hwp.get_period_size_max()).unwrap_or(0),
        buffer_min: frames(hwp.get_buffer_size_min()).unwrap_or(0),
        buffer_max: frames(hwp.get_buffer_size_max()).unwrap_or(0),
    })
}

/// The simple elements with a playback volume on a card's control device (`hw:N`).
pub(crate) fn mixers(ctl_name: &str) -> Vec<MixerElem> {
    let Ok(mixer) = Mixer::new(ctl_name, false) else {
        return Vec::new();
    };
    mixer
        .iter()
        .filter_map(Selem::new)
        .filter(|s| s.has_playback_volume())
        .filter_map(|s| describe(&s))
        .collect()
}

pub(crate) fn describe(s: &Selem<'_>) -> Option<MixerElem> {
    let id = s.get_id();
    let name = id.get_name().ok()?.to_owned();
    let (volume_min, volume_max) = s.get_playback_volume_range();
    let (lo, hi) = s.get_playback_db_range();
    // ALSA leaves both at 0 when the element has no dB information.
    let has_db = lo.0 < hi.0;
    let ch = SelemChannelId::FrontLeft;
    // Mono elements answer on channel 0, which is FrontLeft too.
    Some(MixerElem {
        name,
        index: id.get_index(),
        volume_min,
        volume_max,
        db_min: has_db.then_some(lo.0),
        db_max: has_db.then_some(hi.0),
        has_switch: s.has_playback_switch(),
        volume: s.get_playback_volume(ch).ok(),
        db: if has_db {
            s.get_playback_vol_db(ch).ok().map(|m| m.0)
        } else {
            None
        },
    })
}

/// An ALSA error in words, with the hint a person needs for the usual ones.
pub(crate) fn words(e: &alsa::Error) -> String {
    let hint = match e.errno() {
        libc::EBUSY => " (in use by another program)",
        libc::EACCES | libc::EPERM => " (no permission: is the user in the `audio` group?)",
        libc::ENOENT | libc::ENODEV => " (no such device)",
        _ => "",
    };
    format!("{e}{hint}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// This host has no sound card: the listing is empty, says so, and nothing fails.
    #[test]
    fn probing_a_host_without_cards_is_an_empty_list() {
        if std::path::Path::new("/dev/snd").exists() {
            eprintln!("skipped: this machine has /dev/snd");
            return;
        }
        let cards = probe();
        assert!(cards.is_empty(), "{cards:?}");
        assert!(super::super::report(&cards).starts_with("no sound card found"));
    }
}

#[cfg(test)]
mod format_tests {
    use super::*;

    #[test]
    fn no_format_asked_about_is_outside_alsas_mask() {
        let v: Vec<Format> = probe_formats().collect();
        assert!(!v.contains(&Format::Unknown));
        // SND_MASK_MAX is 64: every format asked about must be a bit of the mask.
        assert!(v.iter().all(|f| (0..64).contains(&(*f as i32))), "{v:?}");
        assert!(v.contains(&Format::S16LE) && v.contains(&Format::S32LE));
    }
}
