//! The box's own speaker (Admin → Audio): one ALSA output the admin picks (the headphone jack,
//! HDMI, a USB DAC, an I2S HAT), and the one voice room whose DJ plays out of it — the box as
//! that room's jukebox. The `audio` crate's `Speaker` owns the device on its own thread; every
//! DJ engine gets a [`RoomSink`] that forwards its frames only while its room is the chosen one,
//! so switching the device or the room never touches a running DJ.

use crate::error::{ApiError, ApiResult};
use crate::{now_ms, AppState};
use audio::speaker::{MixerChoice, Speaker, SpeakerConfig, SpeakerHandle, SpeakerStats};
use chat::ids::{ChannelId, UserId};
use chat::Error;
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex};

/// What the admin chose, saved in the database (`meta` key `audio`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AudioSettings {
    /// Play out of the box at all.
    pub enabled: bool,
    /// The ALSA device (`hw:CARD=Headphones,DEV=0`), from the list Admin → Audio shows.
    pub device: Option<String>,
    /// `None`: the card's usual volume control; `"software"`: never touch the card's mixer;
    /// otherwise that mixer element.
    pub mixer: Option<String>,
    /// 0–100 %.
    pub volume: u8,
    /// The voice room whose DJ plays out of the box.
    pub room_id: Option<ChannelId>,
}

impl Default for AudioSettings {
    fn default() -> Self {
        AudioSettings { enabled: false, device: None, mixer: None, volume: 70, room_id: None }
    }
}

impl AudioSettings {
    fn speaker_config(&self) -> SpeakerConfig {
        let mut c = SpeakerConfig::new(self.device.as_deref());
        c.mixer = match self.mixer.as_deref() {
            None => MixerChoice::Auto,
            Some("software") => MixerChoice::Software,
            Some(e) => MixerChoice::Element(e.to_owned()),
        };
        c.volume = self.volume;
        c
    }

    /// Refused in words, with the field named.
    pub fn validate(&self) -> ApiResult<()> {
        if self.enabled && self.device.is_none() {
            return Err(ApiError(Error::invalid("no_audio_device", "Choose the output to play on before switching it on.")));
        }
        self.speaker_config().validate().map_err(|e| ApiError(Error::invalid("bad_audio_settings", e.to_string())))
    }
}

struct Open {
    speaker: Speaker,
    room: Option<ChannelId>,
}

/// The open speaker, shared by every DJ's sink.
#[derive(Default)]
pub struct BoxSpeaker {
    open: Mutex<Option<Open>>,
    settings: Mutex<AudioSettings>,
}

impl BoxSpeaker {
    fn open(&self) -> std::sync::MutexGuard<'_, Option<Open>> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn settings(&self) -> AudioSettings {
        self.settings.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn stats(&self) -> Option<SpeakerStats> {
        self.open().as_ref().map(|o| o.speaker.handle().stats())
    }

    fn handle(&self) -> Option<SpeakerHandle> {
        self.open().as_ref().map(|o| o.speaker.handle())
    }

    /// Opens (or closes) the speaker as `s` says. The old one is closed on a blocking thread
    /// (its thread finishes its current write first).
    pub async fn apply(&self, s: AudioSettings) -> ApiResult<()> {
        let next = if s.enabled && s.device.is_some() {
            let cfg = s.speaker_config();
            let speaker = tokio::task::spawn_blocking(move || Speaker::alsa(cfg))
                .await?
                .map_err(|e| ApiError(Error::invalid("bad_audio_settings", e.to_string())))?;
            Some(Open { speaker, room: s.room_id })
        } else {
            None
        };
        let old = std::mem::replace(&mut *self.open(), next);
        *self.settings.lock().unwrap_or_else(|e| e.into_inner()) = s;
        if let Some(o) = old {
            tokio::task::spawn_blocking(move || drop(o));
        }
        Ok(())
    }

    /// A test tone (1 kHz, −12 dBFS) on the configured speaker, or for a moment on `device`.
    pub async fn tone(&self, device: Option<String>, ms: u32) -> ApiResult<String> {
        let current = self.settings();
        match device.filter(|d| Some(d) != current.device.as_ref() || !current.enabled) {
            None => {
                let h = self.handle().ok_or_else(|| ApiError(Error::invalid("no_audio_device", "The box's speaker is off; choose an output first.")))?;
                unusable(&h.stats())?;
                h.play_tone(1000.0, -12.0, ms);
                Ok(current.device.unwrap_or_default())
            }
            Some(d) => {
                let mut cfg = current.speaker_config();
                cfg.device = Some(d.clone());
                cfg.validate().map_err(|e| ApiError(Error::invalid("bad_audio_settings", e.to_string())))?;
                tokio::task::spawn_blocking(move || -> Result<(), String> {
                    let speaker = Speaker::alsa(cfg).map_err(|e| e.to_string())?;
                    let h = speaker.handle();
                    h.play_tone(1000.0, -12.0, ms);
                    // Long enough for the device to open (or be found missing), then the tone.
                    std::thread::sleep(std::time::Duration::from_millis(300));
                    unusable(&h.stats()).map_err(|e| e.0.message)?;
                    std::thread::sleep(std::time::Duration::from_millis(u64::from(ms)));
                    Ok(())
                })
                .await?
                .map_err(|e| ApiError(Error::invalid("audio_device_failed", e)))?;
                Ok(d)
            }
        }
    }
}

/// A speaker that cannot play now (its device is missing, busy or refuses us), in words.
fn unusable(st: &SpeakerStats) -> ApiResult<()> {
    use audio::speaker::SpeakerState as S;
    match &st.state {
        S::WaitingForDevice { .. } | S::Error { .. } | S::NoDeviceConfigured => Err(ApiError(Error::invalid(
            "audio_device_failed",
            format!("The output {} cannot play: {}.", st.device.as_deref().unwrap_or("(none)"), st.state.words()),
        ))),
        _ => Ok(()),
    }
}

/// A DJ engine's branch to the box's speaker: frames pass only while its room is the one the
/// admin chose. `push` never blocks (the speaker's own push drops when its queue is full).
pub struct RoomSink {
    pub room: ChannelId,
    pub state: std::sync::Weak<AppState>,
}

impl audio::FrameSink for RoomSink {
    fn push(&mut self, frame: &audio::Frame) {
        let Some(state) = self.state.upgrade() else { return };
        let mut open = state.music.speaker.open();
        if let Some(o) = open.as_mut().filter(|o| o.room == Some(self.room)) {
            o.speaker.push(frame);
        }
    }
}

/// At start: the saved settings, and the speaker opened if it is on.
pub async fn restore(state: &Arc<AppState>) {
    let saved = state.db(|store| store.audio_settings()).await.ok().flatten();
    let s: AudioSettings = saved.and_then(|j| serde_json::from_str(&j).ok()).unwrap_or_default();
    if let Err(e) = state.music.speaker.apply(s).await {
        tracing::warn!(error = %e.0.message, "the box's speaker could not be opened");
    }
}

/// Saves and applies new settings (admin).
pub async fn save(state: &Arc<AppState>, by: UserId, s: AudioSettings) -> ApiResult<()> {
    s.validate()?;
    let json = serde_json::to_string(&s).map_err(|e| ApiError(Error::internal(e.to_string())))?;
    state.db(move |store| store.set_audio_settings(&json, by, now_ms())).await?;
    state.music.speaker.apply(s).await
}
