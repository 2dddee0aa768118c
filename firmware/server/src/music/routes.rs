//! The DJ's HTTP routes: the panel's view, its buttons, and the room-wide mute.

use crate::auth::Authed;
use crate::error::{ApiError, ApiResult};
use crate::extract::{parse_id, Json};
use crate::AppState;
use axum::extract::{Path, State};
use axum::routing::{get, post, put};
use axum::Router;
use chat::ids::ChannelId;
use chat::perms::Perms;
use chat::Error;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

type S = State<Arc<AppState>>;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/channels/{id}/dj", get(view).post(command))
        .route("/channels/{id}/dj/mute", put(mute))
        .route("/admin/audio", get(audio_get).put(audio_put))
        .route("/admin/audio/status", get(audio_status))
        .route("/admin/audio/tone", post(audio_tone))
        .route("/admin/dj", get(dj_get).put(dj_put))
        .merge(super::jellyfin::routes())
}

/// Admin → Music: the DJs' limits and votes, and the text channels that take `!` commands.
async fn dj_get(State(state): S, a: Authed) -> ApiResult<axum::Json<Value>> {
    a.require_admin()?;
    Ok(axum::Json(json!({"settings": state.music.settings(), "defaults": super::DjSettings::default()})))
}

async fn dj_put(State(state): S, a: Authed, Json(body): Json<super::DjSettings>) -> ApiResult<axum::Json<Value>> {
    a.require_admin()?;
    let s = super::save_settings(&state, a.actor(), body).await?;
    Ok(axum::Json(json!({"settings": s})))
}

/// Admin → Audio: every sound card the box found with what it can do, the speaker's settings
/// and what it is doing.
async fn audio_get(State(state): S, a: Authed) -> ApiResult<axum::Json<Value>> {
    a.require_admin()?;
    let cards = tokio::task::spawn_blocking(audio::devices::probe).await?;
    let report = audio::devices::report(&cards);
    Ok(axum::Json(json!({
        "settings": state.music.speaker.settings(),
        "speaker": state.music.speaker.stats(),
        "cards": cards,
        "report": report,
    })))
}

/// The speaker's settings and state only (no hardware scan): what the page polls.
async fn audio_status(State(state): S, a: Authed) -> ApiResult<axum::Json<Value>> {
    a.require_admin()?;
    Ok(axum::Json(json!({"settings": state.music.speaker.settings(), "speaker": state.music.speaker.stats()})))
}

async fn audio_put(State(state): S, a: Authed, Json(body): Json<super::speaker::AudioSettings>) -> ApiResult<axum::Json<Value>> {
    a.require_admin()?;
    if let Some(room) = body.room_id {
        super::voice_room(&state, a.actor(), room).await?;
    }
    super::speaker::save(&state, a.user.id, body).await?;
    Ok(axum::Json(json!({"settings": state.music.speaker.settings(), "speaker": state.music.speaker.stats()})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ToneBody {
    /// Another device than the configured one, to try before choosing it.
    #[serde(default)]
    device: Option<String>,
}

/// Plays a 1 kHz test tone for 1.5 s.
async fn audio_tone(State(state): S, a: Authed, Json(body): Json<ToneBody>) -> ApiResult<axum::Json<Value>> {
    a.require_admin()?;
    let played_on = state.music.speaker.tone(body.device, 1500).await?;
    Ok(axum::Json(json!({"played_on": played_on, "speaker": state.music.speaker.stats()})))
}

async fn view(State(state): S, a: Authed, Path(id): Path<String>) -> ApiResult<axum::Json<Value>> {
    let room: ChannelId = parse_id(&id)?;
    Ok(axum::Json(super::view(&state, a.actor(), room).await?))
}

#[derive(Deserialize)]
struct CommandBody {
    text: String,
}

async fn command(State(state): S, a: Authed, Path(id): Path<String>, Json(body): Json<CommandBody>) -> ApiResult<axum::Json<Value>> {
    let room: ChannelId = parse_id(&id)?;
    Ok(axum::Json(super::command(&state, a.actor(), room, body.text).await?))
}

#[derive(Deserialize)]
struct MuteBody {
    muted: bool,
}

/// Moderators mute the DJ for the whole room (a listener mutes it for themselves in the browser).
async fn mute(State(state): S, a: Authed, Path(id): Path<String>, Json(body): Json<MuteBody>) -> ApiResult<axum::Json<Value>> {
    let room: ChannelId = parse_id(&id)?;
    let actor = a.actor();
    if !(actor.is_admin() || actor.perms.contains(Perms::MODERATE) || actor.perms.contains(Perms::DJ)) {
        return Err(ApiError(Error::forbidden("missing_permission", "Only moderators and DJs can mute the DJ for everyone.")));
    }
    super::voice_room(&state, actor, room).await?;
    Ok(axum::Json(crate::voice::set_dj_muted(&state, room, body.muted).await?))
}
