//! The DJ's HTTP routes: the panel's view, its buttons, and the room-wide mute.

use crate::auth::Authed;
use crate::error::{ApiError, ApiResult};
use crate::extract::{parse_id, Json};
use crate::AppState;
use axum::extract::{Path, State};
use axum::routing::{get, put};
use axum::Router;
use chat::ids::ChannelId;
use chat::perms::Perms;
use chat::Error;
use serde::Deserialize;
use serde_json::Value;
use std::sync::Arc;

type S = State<Arc<AppState>>;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/channels/{id}/dj", get(view).post(command))
        .route("/channels/{id}/dj/mute", put(mute))
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
