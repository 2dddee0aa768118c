//! The shared DJ of each voice room: the IO around the sans-IO `dj` core.
//!
//! One task per room that has a DJ (`room.rs`) owns its `dj::Dj`, feeds it chat commands, the
//! web UI's buttons, the room's listeners, the player's events and time, and carries out what
//! it asks: look tracks up (`resolve.rs`: the music library, URLs through `fetch`), play them
//! (`player.rs`: the `audio` crate's decoder and Opus engine on their own threads, frames into
//! the SFU as the room's local sender), answer in the chat (`dj.reply` ephemerals), save its
//! state (SQLite, `dj_rooms`) and tell the room (`dj.state`, the whole view each time).
//!
//! Nothing here runs audio on the async runtime, and a room task never waits on a source: a
//! slow URL or a stalled stream only delays that room's own answers.

mod jellyfin;
mod player;
mod resolve;
mod room;
mod routes;
pub mod speaker;
mod web;

use crate::error::{ApiError, ApiResult};
use crate::AppState;
use chat::ids::ChannelId;
use chat::model::ChannelKind;
use chat::perms::{Action, Actor, Perms};
use chat::Error;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use tokio::sync::{mpsc, oneshot};

pub use player::words;
pub use routes::routes;
pub use room::Msg;

/// Inputs waiting for one room's task. A full queue answers `dj_busy` instead of growing.
const ROOM_QUEUE: usize = 64;

/// The DJs of the box (one per voice room that has used one), in [`AppState`].
#[derive(Default)]
pub struct Music {
    rooms: Mutex<HashMap<ChannelId, mpsc::Sender<Msg>>>,
    /// The admin's DJ settings (Admin → Music).
    settings: Mutex<DjSettings>,
    /// The box's own speaker and the room that plays out of it.
    pub speaker: speaker::BoxSpeaker,
    /// Jellyfin is set up (its tracks are `jellyfin:<id>`).
    jellyfin: std::sync::atomic::AtomicBool,
}

impl Music {
    fn rooms(&self) -> std::sync::MutexGuard<'_, HashMap<ChannelId, mpsc::Sender<Msg>>> {
        self.rooms.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// What the admin sets for every room's DJ: the core's limits and votes, and the text channels
/// where `!` commands also reach the DJ of the room the sender sits in.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DjSettings {
    pub config: dj::Config,
    pub command_channels: Vec<ChannelId>,
}

impl Music {
    pub fn settings(&self) -> DjSettings {
        self.settings.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// The DJ core's settings as the rooms run them: the admin's, with the source schemes this box
/// can play (`library:12`; more when other sources are configured).
fn config(state: &AppState) -> dj::Config {
    let mut c = state.music.settings().config;
    c.track_schemes = track_schemes(state);
    c
}

/// The `scheme:` prefixes a chat argument may name as a track.
fn track_schemes(state: &AppState) -> Vec<String> {
    let mut s = vec!["library".to_owned()];
    if state.music.jellyfin.load(std::sync::atomic::Ordering::Relaxed) {
        s.push(jellyfin::SCHEME.to_owned());
    }
    s
}

/// Saves the admin's DJ settings and hands them to every running room.
pub async fn save_settings(state: &Arc<AppState>, actor: Actor, s: DjSettings) -> ApiResult<DjSettings> {
    s.config.validate().map_err(|e| ApiError(Error::invalid("bad_dj_settings", e.to_string())))?;
    if s.command_channels.len() > 20 {
        return Err(ApiError(Error::invalid("bad_dj_settings", "dj.command_channels: at most 20 channels.")));
    }
    for c in &s.command_channels {
        let c = *c;
        let (ch, _) = state.db(move |store| store.authorize(actor, c, Action::ViewChannel)).await?;
        if ch.kind != ChannelKind::Text {
            return Err(ApiError(Error::invalid("bad_dj_settings", format!("dj.command_channels: #{} is not a text channel.", ch.name))));
        }
    }
    let json = serde_json::to_string(&s).map_err(|e| ApiError(Error::internal(e.to_string())))?;
    let by = actor.id;
    state.db(move |store| store.set_dj_settings(&json, by, crate::now_ms())).await?;
    *state.music.settings.lock().unwrap_or_else(|e| e.into_inner()) = s.clone();
    let cfg = config(state);
    let rooms: Vec<mpsc::Sender<Msg>> = state.music.rooms().values().cloned().collect();
    for tx in rooms {
        let _ = tx.send(Msg::Config(cfg.clone())).await;
    }
    Ok(s)
}

/// The room's task, started (restored from its saved state, if any) when first needed.
fn room_tx(state: &Arc<AppState>, room: ChannelId, saved: Option<dj::State>) -> mpsc::Sender<Msg> {
    let mut rooms = state.music.rooms();
    if let Some(tx) = rooms.get(&room).filter(|t| !t.is_closed()) {
        return tx.clone();
    }
    let (tx, rx) = mpsc::channel(ROOM_QUEUE);
    rooms.insert(room, tx.clone());
    let weak: Weak<AppState> = Arc::downgrade(state);
    tokio::spawn(room::run(weak, room, config(state), saved, rx));
    tx
}

fn send(state: &Arc<AppState>, room: ChannelId, msg: Msg) -> ApiResult<()> {
    room_tx(state, room, None).try_send(msg).map_err(|_| {
        ApiError(Error::conflict("dj_busy", "The DJ is busy with other requests; try again in a moment."))
    })
}

/// Who is talking to the DJ: their name, and whether they hold the DJ permission (admins do).
async fn dj_user(state: &Arc<AppState>, actor: Actor) -> ApiResult<dj::User> {
    let id = actor.id;
    let user = state.db(move |store| store.user(id)).await?;
    Ok(dj::User { id: actor.id.0, name: user.display_name, dj: actor.is_admin() || actor.perms.contains(Perms::DJ) })
}

/// The voice room `room`, if `actor` may see it and use voice there.
pub(crate) async fn voice_room(state: &Arc<AppState>, actor: Actor, room: ChannelId) -> ApiResult<()> {
    let (ch, _here) = state.db(move |store| store.authorize(actor, room, Action::ViewChannel)).await?;
    if ch.kind != ChannelKind::Voice {
        return Err(ApiError(Error::invalid("not_voice_channel", "The DJ plays in voice rooms; this is a text channel.")));
    }
    Ok(())
}

/// A message someone sent (already stored). In a voice room's chat a `!` line may be for that
/// room's DJ; elsewhere it is not. Never an error for the sender: the DJ answers in words, in
/// the chat.
pub fn on_message(state: &AppState, actor: Actor, msg: &chat::model::Message) {
    if !msg.content.trim_start().starts_with('!') || actor.timed_out {
        return;
    }
    let Some(state) = state.arc() else { return };
    let (channel, text) = (msg.channel_id, msg.content.clone());
    let listened = state.music.settings().command_channels.contains(&channel);
    tokio::spawn(async move {
        let Ok(ch) = state.db(move |store| store.channel(channel)).await else { return };
        // The room's own chat talks to its DJ; an allowed text channel talks to the DJ of the
        // room the sender sits in.
        let (room, chat) = match ch.kind {
            ChannelKind::Voice => (channel, dj::Chat::Room),
            ChannelKind::Text if listened => match state.voice.room_of(actor.id) {
                Some(room) => (room, dj::Chat::Channel(channel.0)),
                None => {
                    // Only a command for the DJ gets this answer; other bots' `!words` do not.
                    if dj::parse(&text).ok().flatten().is_some() {
                        let d = serde_json::json!({"channel_id": channel, "private": true, "at": crate::now_ms(),
                            "text": "Join a voice room first: the DJ plays in the room you are in."});
                        state.hub.send_ephemeral(chat::events::Audience::User(actor.id), "dj.reply", d);
                    }
                    return;
                }
            },
            _ => return,
        };
        let Ok(user) = dj_user(&state, actor).await else { return };
        let input = dj::Input::Text { chat, user, text };
        if send(&state, room, Msg::Input(input)).is_err() {
            tracing::info!(room = room.0, "DJ queue full; a chat command was dropped");
        }
    });
}

/// `POST /api/channels/:id/dj` (the voice panel's buttons, and anything typed there): the same
/// commands as the chat, answered the same way.
pub async fn command(state: &Arc<AppState>, actor: Actor, room: ChannelId, text: String) -> ApiResult<Value> {
    if actor.timed_out {
        return Err(ApiError(Error::forbidden("timed_out", "You are timed out and cannot control the music right now.")));
    }
    state.rate(actor, crate::actions::Limited::Send)?;
    voice_room(state, actor, room).await?;
    let text = text.trim();
    if text.is_empty() || text.chars().count() > 500 {
        return Err(ApiError(Error::invalid("bad_command", "Send one DJ command, like !skip (at most 500 characters).")));
    }
    let text = if text.starts_with('!') { text.to_owned() } else { format!("!{text}") };
    if let Err(e) = dj::parse(&text) {
        return Err(ApiError(Error::invalid("bad_command", e.to_string())));
    }
    let user = dj_user(state, actor).await?;
    send(state, room, Msg::Input(dj::Input::Text { chat: dj::Chat::Room, user, text }))?;
    Ok(Value::Null)
}

/// `GET /api/channels/:id/dj`: the room's DJ as the panel shows it.
pub async fn view(state: &Arc<AppState>, actor: Actor, room: ChannelId) -> ApiResult<Value> {
    voice_room(state, actor, room).await?;
    let (tx, rx) = oneshot::channel();
    send(state, room, Msg::View(tx))?;
    rx.await.map_err(|_| ApiError(Error::internal("The DJ did not answer.")))
}

/// The people in a voice room changed (joins, leaves, moves): its DJ, if it has one, is told.
pub fn listeners_changed(state: &AppState, room: ChannelId, people: Vec<i64>) {
    let tx = state.music.rooms().get(&room).cloned();
    if let Some(tx) = tx {
        let _ = tx.try_send(Msg::Input(dj::Input::Listeners(people)));
    }
}

/// At start: every room whose DJ had a queue or a track gets its task back, so the music and
/// its queue survive a restart (it resumes when someone is in the room).
pub async fn restore(state: &Arc<AppState>) {
    speaker::restore(state).await;
    jellyfin::restore(state).await;
    if let Ok(Some(j)) = state.db(|store| store.dj_settings()).await {
        match serde_json::from_str::<DjSettings>(&j) {
            Ok(s) => *state.music.settings.lock().unwrap_or_else(|e| e.into_inner()) = s,
            Err(e) => tracing::warn!("the DJ settings are unreadable; the defaults apply: {e}"),
        }
    }
    let saved = match state.db(|store| store.dj_states()).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = ?e.0, "the DJs' saved state could not be read");
            return;
        }
    };
    for (room, json) in saved {
        match serde_json::from_str::<dj::State>(&json) {
            Ok(s) => {
                room_tx(state, room, Some(s));
            }
            Err(e) => tracing::warn!(room = room.0, "a DJ's saved state is unreadable and was dropped: {e}"),
        }
    }
}
