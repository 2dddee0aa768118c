//! A room's DJ in the voice room: the `audio` crate's player (decoding ahead on its own thread)
//! and engine (the 20 ms clock that encodes Opus), whose frames go into the SFU as the room's
//! local sender. Everything here returns at once; the audio threads never touch the runtime.

use crate::voice::{dj_participant, dj_seated};
use crate::AppState;
use chat::ids::ChannelId;
use dj::EntryId;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::mpsc;

/// What the room's task hears from its player.
#[derive(Debug)]
pub enum PlayerEvent {
    Started(EntryId),
    Ended(EntryId),
    Failed(EntryId, String),
    Position(EntryId, u64),
    Meta(EntryId, String),
}

/// What to open for an entry.
pub enum Source {
    /// A file of the music library, with its measured gain.
    File { path: PathBuf, ext: Option<String>, gain_db: Option<f32> },
    /// A web stream (HTTP audio, internet radio, a Jellyfin track): fetched by its own task.
    Stream(super::web::Stream),
}

pub struct Player {
    room: ChannelId,
    /// Shared (weakly) with a web stream's body task, which hands it the ICY titles.
    player: Arc<audio::player::Player>,
    /// Stops the clock thread when dropped (after the player: no frame after `leave`).
    engine: Option<audio::engine::Engine>,
}

/// Words for the chat from a pipeline error.
pub fn words(e: &audio::AudioError) -> String {
    use audio::AudioError as E;
    match e {
        E::UnsupportedFormat(_) | E::UnsupportedCodec(_) | E::NoAudioTrack => {
            "That file is not music the box can play (MP3, FLAC, AAC/M4A, Ogg Vorbis, Opus, WAV or ALAC).".to_owned()
        }
        E::Empty => "That track holds no audio.".to_owned(),
        E::Corrupt(_) => "That track's audio is damaged and cannot be played.".to_owned(),
        E::Stalled => "The stream stopped sending music.".to_owned(),
        other => {
            let mut s = other.to_string();
            if let Some(c) = s.get_mut(0..1) {
                c.make_ascii_uppercase();
            }
            format!("{s}.")
        }
    }
}

impl Player {
    /// The DJ sits down in its room: a local sender in the SFU, and the audio threads.
    pub async fn start(state: &Arc<AppState>, room: ChannelId, events: mpsc::UnboundedSender<PlayerEvent>) -> Result<Player, String> {
        let driver = state.voice.driver().cloned().ok_or_else(|| "Voice is not running on this box, so the DJ cannot play.".to_owned())?;
        let pid = dj_participant(room);
        driver
            .add_local(pid, voice::RoomId(room.0), "dj".to_owned())
            .await
            .map_err(|e| format!("The DJ could not join the room ({e})."))?;
        let ev = events;
        let (player, output) = audio::player::player(audio::player::PlayerConfig::default(), move |e| {
            use audio::player::PlayerEvent as P;
            let _ = ev.send(match e {
                P::Started { id } => PlayerEvent::Started(EntryId(id.0)),
                P::Ended { id } => PlayerEvent::Ended(EntryId(id.0)),
                P::Failed { id, error } => PlayerEvent::Failed(EntryId(id.0), words(&error)),
                P::Position { id, ms } => PlayerEvent::Position(EntryId(id.0), ms),
                P::Meta { id, title } => PlayerEvent::Meta(EntryId(id.0), title),
            });
        });
        let to_sfu = driver.clone();
        let on_frame: audio::engine::OpusSink = Box::new(move |f: audio::encode::OpusFrame| {
            // RFC 6464 levels go to str0m as -dBov.
            let level = -(i16::from(f.level.min(127)) as i8);
            to_sfu.send_local(voice::driver::LocalMedia { participant: pid, opus: f.data, samples: 960, level });
        });
        // The branch to the box's own speaker, live while this room is the one that plays there.
        let sink: Box<dyn audio::FrameSink> = Box::new(super::speaker::RoomSink { room, state: Arc::downgrade(state) });
        let engine = match audio::engine::Engine::spawn(output, on_frame, Some(sink), audio::engine::EngineConfig::default()) {
            Ok(e) => e,
            Err(e) => {
                let _ = driver.remove_local(pid).await;
                return Err(format!("The DJ's audio could not start: {}", words(&e)));
            }
        };
        dj_seated(state, room, true);
        Ok(Player { room, player: Arc::new(player), engine: Some(engine) })
    }

    pub fn load(&self, entry: EntryId, source: Source, from_ms: u64) {
        let id = audio::player::EntryId(entry.0);
        match source {
            Source::File { path, ext, gain_db } => {
                let opener: audio::player::Opener = Box::new(move || {
                    let f = std::fs::File::open(&path).map_err(|e| audio::AudioError::Io(e.to_string()))?;
                    let mut hint = audio::Hint::new();
                    if let Some(e) = &ext {
                        hint.with_extension(e);
                    }
                    Ok((Box::new(f) as Box<dyn audio::MediaSource>, hint))
                });
                self.player.load(id, opener, from_ms, gain_db);
            }
            Source::Stream(stream) => {
                let opener = super::web::opener(stream, id, Arc::downgrade(&self.player));
                self.player.load(id, opener, from_ms, None);
            }
        }
    }

    pub fn pause(&self) {
        self.player.pause();
    }
    pub fn resume(&self) {
        self.player.resume();
    }
    pub fn stop(&self) {
        self.player.stop();
    }
    pub fn seek(&self, ms: u64) {
        self.player.seek(ms);
    }
    pub fn volume(&self, percent: u32) {
        self.player.set_volume(percent.min(150) as u16);
    }

    /// The DJ gets up: its track leaves every listener, the audio threads end.
    pub async fn leave(mut self, state: &Arc<AppState>) {
        self.player.stop();
        // The clock thread notices within one tick; joining it is not for the runtime's threads.
        if let Some(e) = self.engine.take() {
            let _ = tokio::task::spawn_blocking(move || drop(e)).await;
        }
        if let Some(d) = state.voice.driver() {
            let _ = d.remove_local(dj_participant(self.room)).await;
        }
        dj_seated(state, self.room, false);
    }

    /// The daemon is shutting down: only the threads.
    pub fn shutdown(mut self) {
        self.player.stop();
        drop(self.engine.take());
    }
}

/// Tracks a URL names: an audio file, a radio station, or a playlist's first entries (see
/// `web.rs`; everything through the SSRF-safe `fetch`).
pub async fn url_tracks(state: &Arc<AppState>, url: &str) -> Result<Vec<dj::TrackInfo>, String> {
    super::web::url_tracks(state, url).await
}

/// How to play a web or Jellyfin track. No IO here (the room task calls it): the stream's own
/// task fetches.
pub async fn url_source(state: &Arc<AppState>, track: &dj::TrackInfo) -> Result<Source, String> {
    use super::web::{Stream, Target};
    let target = if let Some(url) = track.source.strip_prefix(super::web::URL_SCHEME) {
        Target::Url(url.to_owned())
    } else if track.source.starts_with("jellyfin:") {
        Target::Jellyfin(track.source.clone())
    } else {
        return Err(format!("“{}” cannot be played: the box does not know where it comes from.", track.title));
    };
    Ok(Source::Stream(Stream { target, state: Arc::downgrade(state) }))
}
