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

mod player;
mod resolve;
mod room;
mod routes;
pub mod speaker;

use crate::error::{ApiError, ApiResult};
use crate::AppState;
use chat::ids::ChannelId;
use chat::model::ChannelKind;
use chat::perms::{Action, Actor, Perms};
use chat::Error;
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
    /// The box's own speaker and the room that plays out of it.
    pub speaker: speaker::BoxSpeaker,
}

impl Music {
    fn rooms(&self) -> std::sync::MutexGuard<'_, HashMap<ChannelId, mpsc::Sender<Msg>>> {
        self.rooms.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The DJ core's settings for this box (limits, votes, when to leave an empty room).
fn config() -> dj::Config {
    dj::Config::default()
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
    tokio::spawn(room::run(weak, room, config(), saved, rx));
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
    tokio::spawn(async move {
        let Ok(ch) = state.db(move |store| store.channel(channel)).await else { return };
        if ch.kind != ChannelKind::Voice {
            return;
        }
        let Ok(user) = dj_user(&state, actor).await else { return };
        let input = dj::Input::Text { chat: dj::Chat::Room, user, text };
        if send(&state, channel, Msg::Input(input)).is_err() {
            tracing::info!(room = channel.0, "DJ queue full; a chat command was dropped");
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
