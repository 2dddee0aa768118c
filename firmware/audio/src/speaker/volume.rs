//! Volume: 0–100 % to a hardware control's setting, or to a software gain. Pure.
//!
//! The mapping is alsamixer's (alsa-utils `volume_mapping.c`), so the admin's slider and
//! `alsamixer` on the same box agree: over a wide dB range the position is the cube root of
//! the amplitude (50 % ≈ −18 dB, which sounds about half as loud); a range of 24 dB or less is
//! mapped linearly in dB. The top is capped at 0 dB: the Pi's headphone control goes to +4 dB,
//! which clips a full-scale track.

use crate::devices::MixerElem;

use super::device::MixerSetting;

/// The elements we take for volume when none is configured, in order: a DAC HAT's "Digital",
/// then "PCM" (the Pi's headphone jack, most USB DACs), "Master", "Headphone", "Speaker".
pub const PREFERRED_ELEMENTS: [&str; 6] =
    ["Digital", "PCM", "Master", "Headphone", "Speaker", "HDMI"];

/// A range this narrow (in 1/100 dB) is mapped linearly in dB, as alsamixer does.
const LINEAR_DB_SCALE: i64 = 2400;

/// What to set on `elem` for `percent`.
pub fn hw_setting(percent: u8, elem: &MixerElem) -> MixerSetting {
    let p = f64::from(percent.min(100)) / 100.0;
    if percent == 0 {
        return MixerSetting::Mute;
    }
    match (elem.db_min, elem.db_max) {
        (Some(lo), Some(hi)) if lo < hi => {
            let hi = hi.min(0).max(lo);
            let (lo_f, hi_f) = (lo as f64, hi as f64);
            let db = if hi - lo <= LINEAR_DB_SCALE {
                lo_f + p * (hi_f - lo_f)
            } else {
                // norm = (10^(dB/60) − min_norm) / (1 − min_norm), solved for dB.
                let min_norm = 10f64.powf((lo_f - hi_f) / 6000.0);
                hi_f + 6000.0 * (p * (1.0 - min_norm) + min_norm).log10()
            };
            MixerSetting::Db(db.round() as i64)
        }
        _ => {
            let (lo, hi) = (elem.volume_min, elem.volume_max.max(elem.volume_min));
            MixerSetting::Raw(lo + ((hi - lo) as f64 * p).round() as i64)
        }
    }
}

/// Linear gain for `percent` when there is no hardware control: the same cube-root law,
/// amplitude = p³ (50 % ≈ −18 dB, 10 % = −60 dB), and 0 at 0 %.
pub fn software_gain(percent: u8) -> f32 {
    let p = f32::from(percent.min(100)) / 100.0;
    p * p * p
}

/// Picks the element to use: the configured one if the card has it, else the preferred ones.
pub fn pick<'a>(elems: &'a [MixerElem], configured: Option<&str>) -> Option<&'a MixerElem> {
    match configured {
        Some(name) => elems.iter().find(|e| e.name == name),
        None => PREFERRED_ELEMENTS
            .iter()
            .find_map(|want| elems.iter().find(|e| e.name == *want))
            // Else a card with one volume control (a USB DAC names it after itself): that one.
            .or(if elems.len() == 1 {
                elems.first()
            } else {
                None
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn elem(name: &str, db: Option<(i64, i64)>, raw: (i64, i64)) -> MixerElem {
        MixerElem {
            name: name.into(),
            index: 0,
            volume_min: raw.0,
            volume_max: raw.1,
            db_min: db.map(|d| d.0),
            db_max: db.map(|d| d.1),
            has_switch: true,
            volume: None,
            db: None,
        }
    }

    #[test]
    fn wide_db_range_follows_alsamixer() {
        // The Pi's headphone "PCM": −102.39 dB … +4 dB; the top is capped at 0 dB.
        let pcm = elem("PCM", Some((-10239, 400)), (-10239, 400));
        assert_eq!(hw_setting(100, &pcm), MixerSetting::Db(0));
        assert_eq!(hw_setting(0, &pcm), MixerSetting::Mute);
        let MixerSetting::Db(half) = hw_setting(50, &pcm) else {
            panic!("dB")
        };
        assert!((-1900..=-1700).contains(&half), "{half}");
        let MixerSetting::Db(one) = hw_setting(1, &pcm) else {
            panic!("dB")
        };
        assert!(one > -10239 && one < -5000, "{one}");
        // Monotonic.
        let mut last = i64::MIN;
        for p in 1..=100 {
            let MixerSetting::Db(d) = hw_setting(p, &pcm) else {
                panic!("dB")
            };
            assert!(d >= last, "{p}");
            last = d;
        }
    }

    #[test]
    fn narrow_db_range_is_linear_and_raw_without_db() {
        let narrow = elem("Master", Some((-2000, 0)), (0, 20));
        assert_eq!(hw_setting(50, &narrow), MixerSetting::Db(-1000));
        let raw = elem("Speaker", None, (0, 37));
        assert_eq!(hw_setting(100, &raw), MixerSetting::Raw(37));
        assert_eq!(hw_setting(50, &raw), MixerSetting::Raw(19));
        assert_eq!(hw_setting(0, &raw), MixerSetting::Mute);
    }

    #[test]
    fn software_gain_law() {
        assert_eq!(software_gain(0), 0.0);
        assert_eq!(software_gain(100), 1.0);
        assert_eq!(software_gain(200), 1.0);
        let half_db = 20.0 * f64::from(software_gain(50)).log10();
        assert!((half_db + 18.06).abs() < 0.05, "{half_db}");
    }

    #[test]
    fn element_choice() {
        let e = [elem("Headphone", None, (0, 1)), elem("PCM", None, (0, 1))];
        assert_eq!(pick(&e, None).map(|e| e.name.as_str()), Some("PCM"));
        assert_eq!(
            pick(&e, Some("Headphone")).map(|e| e.name.as_str()),
            Some("Headphone")
        );
        assert_eq!(pick(&e, Some("Digital")), None);
        let usb = [elem("UMC204HD 192k Output", None, (0, 1))];
        assert_eq!(
            pick(&usb, None).map(|e| e.name.as_str()),
            Some("UMC204HD 192k Output")
        );
        assert_eq!(pick(&[], None), None);
    }
}
