//! What the box's sound hardware offers: every ALSA card, the hardware parameters of each of its
//! playback PCM devices as `hw:` offers them, and its volume controls. The types are plain data
//! (serde, for Admin → Audio); [`probe`] reads them from ALSA, [`report`] words them for
//! `spot doctor audio`. The sample formats the speaker can write ([`SampleFormat`]) live here too,
//! since the chooser, the converter and the report all speak them.

mod probe;

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

pub use probe::{caps_of, probe, COMMON_RATES};
pub(crate) use probe::{mixers as probe_mixers, words as probe_words};

/// One ALSA card (`/proc/asound/cardN`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Card {
    pub index: i32,
    /// The short id used in device names: `hw:CARD=<id>,DEV=0` (e.g. `Headphones`, `vc4hdmi0`).
    pub id: String,
    pub name: String,
    pub long_name: String,
    pub driver: String,
    pub devices: Vec<Device>,
    pub mixers: Vec<MixerElem>,
    /// Why the card's control interface (and so its devices and mixers) could not be read.
    pub error: Option<String>,
}

/// One playback PCM device of a card.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Device {
    pub device: u32,
    pub id: String,
    pub name: String,
    /// The name to put in the speaker's configuration: `hw:CARD=<id>,DEV=<n>`.
    pub pcm: String,
    pub subdevices: u32,
    /// `None` with `error` set when the device could not be opened (busy, permission, …).
    pub caps: Option<HwCaps>,
    pub error: Option<String>,
}

/// A device's hardware parameter space, as `hw:` offers it before anything is chosen.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct HwCaps {
    /// ALSA's names for every format offered (`S16_LE`, `S24_3LE`, `IEC958_SUBFRAME_LE`, …).
    pub formats: Vec<String>,
    pub rate_min: u32,
    pub rate_max: u32,
    /// Which of [`COMMON_RATES`] the device accepts (empty: only the range is known).
    pub rates: Vec<u32>,
    pub channels_min: u32,
    pub channels_max: u32,
    /// Period and buffer sizes in frames.
    pub period_min: u64,
    pub period_max: u64,
    pub buffer_min: u64,
    pub buffer_max: u64,
}

impl HwCaps {
    /// Does the device take this rate? Uses the tested list when there is one, else the range.
    pub fn takes_rate(&self, rate: u32) -> bool {
        if self.rates.is_empty() {
            self.rate_min <= rate && rate <= self.rate_max
        } else {
            self.rates.contains(&rate)
        }
    }

    /// The formats offered that we can write, in ALSA's order.
    pub fn known_formats(&self) -> impl Iterator<Item = SampleFormat> + '_ {
        self.formats
            .iter()
            .filter_map(|f| SampleFormat::from_alsa(f))
    }
}

/// A simple mixer element with a playback volume (what alsamixer shows as a slider).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MixerElem {
    pub name: String,
    pub index: u32,
    pub volume_min: i64,
    pub volume_max: i64,
    /// In hundredths of a dB (ALSA's millibel), when the driver reports a dB scale.
    pub db_min: Option<i64>,
    pub db_max: Option<i64>,
    pub has_switch: bool,
    /// The current volume of the first channel, raw and in hundredths of a dB.
    pub volume: Option<i64>,
    pub db: Option<i64>,
}

/// The sample formats the speaker converts to. Integer formats are signed, as every DAC the
/// box meets takes them; unsigned and companded ones are left to ALSA's `plug` layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SampleFormat {
    #[serde(rename = "S16_LE")]
    S16Le,
    #[serde(rename = "S16_BE")]
    S16Be,
    /// 24 bits in the low three bytes of a 32-bit word.
    #[serde(rename = "S24_LE")]
    S24Le,
    #[serde(rename = "S24_BE")]
    S24Be,
    /// 24 bits packed in three bytes (many USB DACs).
    #[serde(rename = "S24_3LE")]
    S24_3Le,
    #[serde(rename = "S24_3BE")]
    S24_3Be,
    #[serde(rename = "S32_LE")]
    S32Le,
    #[serde(rename = "S32_BE")]
    S32Be,
    #[serde(rename = "FLOAT_LE")]
    FloatLe,
    #[serde(rename = "FLOAT_BE")]
    FloatBe,
}

impl SampleFormat {
    pub const ALL: [SampleFormat; 10] = [
        Self::S16Le,
        Self::S16Be,
        Self::S24Le,
        Self::S24Be,
        Self::S24_3Le,
        Self::S24_3Be,
        Self::S32Le,
        Self::S32Be,
        Self::FloatLe,
        Self::FloatBe,
    ];

    /// ALSA's name (`snd_pcm_format_name`).
    pub fn alsa_name(self) -> &'static str {
        match self {
            Self::S16Le => "S16_LE",
            Self::S16Be => "S16_BE",
            Self::S24Le => "S24_LE",
            Self::S24Be => "S24_BE",
            Self::S24_3Le => "S24_3LE",
            Self::S24_3Be => "S24_3BE",
            Self::S32Le => "S32_LE",
            Self::S32Be => "S32_BE",
            Self::FloatLe => "FLOAT_LE",
            Self::FloatBe => "FLOAT_BE",
        }
    }

    pub fn from_alsa(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.alsa_name() == name)
    }

    /// Bytes one sample takes in the buffer.
    pub fn bytes(self) -> usize {
        match self {
            Self::S16Le | Self::S16Be => 2,
            Self::S24_3Le | Self::S24_3Be => 3,
            _ => 4,
        }
    }

    /// Significant bits (the quantisation step); 0 for float.
    pub fn bits(self) -> u32 {
        match self {
            Self::S16Le | Self::S16Be => 16,
            Self::S24Le | Self::S24Be | Self::S24_3Le | Self::S24_3Be => 24,
            Self::S32Le | Self::S32Be => 32,
            Self::FloatLe | Self::FloatBe => 0,
        }
    }

    pub fn little_endian(self) -> bool {
        matches!(
            self,
            Self::S16Le | Self::S24Le | Self::S24_3Le | Self::S32Le | Self::FloatLe
        )
    }
}

impl std::fmt::Display for SampleFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.alsa_name())
    }
}

/// The facts of [`probe`] for a terminal (`spot doctor audio`).
pub fn report(cards: &[Card]) -> String {
    let mut out = String::new();
    if cards.is_empty() {
        out.push_str(
            "no sound card found: ALSA lists no cards (/dev/snd is empty or missing).\n\
             On a Pi the onboard audio needs `dtparam=audio=on` in config.txt (headphone jack \
             and HDMI; HDMI audio also needs a display that takes audio), an I2S DAC HAT needs \
             its `dtoverlay=…` line, and a USB DAC must be plugged in. Inside a container or VM \
             the host's sound devices must be passed through.\n",
        );
        return out;
    }
    for card in cards {
        let _ = writeln!(
            out,
            "card {}: {} [{}], driver {}\n  {}",
            card.index, card.id, card.name, card.driver, card.long_name
        );
        if let Some(e) = &card.error {
            let _ = writeln!(out, "  cannot read this card: {e}");
        }
        if card.devices.is_empty() && card.error.is_none() {
            out.push_str("  no playback devices\n");
        }
        for dev in &card.devices {
            let _ = writeln!(out, "  device {} ({}): {}", dev.device, dev.name, dev.pcm);
            if let Some(e) = &dev.error {
                let _ = writeln!(out, "    cannot open: {e}");
            }
            if let Some(c) = &dev.caps {
                report_caps(&mut out, c);
            }
        }
        if card.mixers.is_empty() {
            out.push_str("  no hardware volume control (the speaker uses software gain)\n");
        }
        for m in &card.mixers {
            let range = match (m.db_min, m.db_max) {
                (Some(lo), Some(hi)) => format!(", {} dB … {} dB", db(lo), db(hi)),
                _ => String::new(),
            };
            let now = match (m.db, m.volume) {
                (Some(d), _) => format!(", now {} dB", db(d)),
                (None, Some(v)) => format!(", now {v}"),
                _ => String::new(),
            };
            let switch = if m.has_switch {
                ", with mute switch"
            } else {
                ""
            };
            let _ = writeln!(
                out,
                "  mixer '{}',{}: volume {}…{}{range}{now}{switch}",
                m.name, m.index, m.volume_min, m.volume_max
            );
        }
    }
    out
}

fn report_caps(out: &mut String, c: &HwCaps) {
    let usable: Vec<&str> = c.known_formats().map(SampleFormat::alsa_name).collect();
    let _ = writeln!(out, "    formats: {}", c.formats.join(" "));
    if usable.is_empty() {
        out.push_str("    (none the speaker writes itself: it goes through ALSA's plug layer)\n");
    }
    let rates = if c.rates.is_empty() {
        String::from("none of the common ones")
    } else {
        c.rates
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(" ")
    };
    let _ = writeln!(
        out,
        "    rates: {}…{} Hz (accepts {rates})\n    channels: {}…{}\n    period: {}…{} frames, buffer: {}…{} frames",
        c.rate_min, c.rate_max, c.channels_min, c.channels_max, c.period_min, c.period_max,
        c.buffer_min, c.buffer_max
    );
}

fn db(millibel: i64) -> String {
    format!("{:.2}", millibel as f64 / 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_names_round_trip_and_match_serde() {
        for f in SampleFormat::ALL {
            assert_eq!(SampleFormat::from_alsa(f.alsa_name()), Some(f));
            let json = serde_json::to_string(&f).expect("serialises");
            assert_eq!(json, format!("\"{}\"", f.alsa_name()));
        }
        assert_eq!(SampleFormat::from_alsa("IEC958_SUBFRAME_LE"), None);
    }

    #[test]
    fn report_names_every_fact() {
        let cards = vec![Card {
            index: 1,
            id: "Headphones".into(),
            name: "bcm2835 Headphones".into(),
            long_name: "bcm2835 Headphones".into(),
            driver: "bcm2835_headpho".into(),
            devices: vec![Device {
                device: 0,
                id: "bcm2835 Headphones".into(),
                name: "bcm2835 Headphones".into(),
                pcm: "hw:CARD=Headphones,DEV=0".into(),
                subdevices: 8,
                caps: Some(HwCaps {
                    formats: vec!["U8".into(), "S16_LE".into()],
                    rate_min: 8000,
                    rate_max: 192_000,
                    rates: vec![44_100, 48_000],
                    channels_min: 1,
                    channels_max: 8,
                    period_min: 1,
                    period_max: 16384,
                    buffer_min: 1,
                    buffer_max: 16384,
                }),
                error: None,
            }],
            mixers: vec![MixerElem {
                name: "PCM".into(),
                index: 0,
                volume_min: -10239,
                volume_max: 400,
                db_min: Some(-10239),
                db_max: Some(400),
                has_switch: true,
                volume: Some(0),
                db: Some(0),
            }],
            error: None,
        }];
        let r = report(&cards);
        for needle in [
            "card 1: Headphones",
            "hw:CARD=Headphones,DEV=0",
            "U8 S16_LE",
            "44100 48000",
            "channels: 1…8",
            "mixer 'PCM',0",
            "-102.39 dB … 4.00 dB",
            "mute switch",
        ] {
            assert!(r.contains(needle), "{needle:?} missing from\n{r}");
        }
        // Serialisable both ways, for the admin page.
        let json = serde_json::to_string(&cards).expect("serialises");
        let back: Vec<Card> = serde_json::from_str(&json).expect("deserialises");
        assert_eq!(back, cards);
    }

    #[test]
    fn report_without_cards_says_why() {
        let r = report(&[]);
        assert!(r.starts_with("no sound card found"), "{r}");
        assert!(r.contains("dtparam=audio=on"), "{r}");
    }
}
