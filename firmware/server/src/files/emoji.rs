//! Custom emoji: uploaded by admins, re-encoded on the box to at most [`EMOJI_SIDE`] pixels.

use super::disk::{fsync_dir, io_error, read_limited, serve_file, write_durable, Dirs, DRAIN_MAX};
use super::names::{copy_extension, is_stored_name, percent_decode, random_name};
use super::view::{bad_file, disposition, media_error, too_large};
use super::{S, CACHE, EMOJI_MAX_BYTES, EMOJI_SIDE};
use crate::actions::Limited;
use crate::auth::Authed;
use crate::error::{ApiError, ApiResult};
use crate::extract::parse_id;
use crate::now_ms;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chat::ids::EmojiId;
use chat::Error;

fn unknown_emoji() -> ApiError {
    ApiError(Error::not_found("unknown_emoji", "No such emoji."))
}

pub(super) async fn list_emoji(State(state): S, _a: Authed) -> ApiResult<axum::Json<Vec<chat::model::CustomEmoji>>> {
    Ok(axum::Json(state.db(move |store| store.custom_emoji()).await?))
}

pub(super) async fn emoji_image(State(state): S, _a: Authed, Path(id): Path<String>) -> ApiResult<Response> {
    let id: EmojiId = parse_id(id.trim_end_matches(".png")).map_err(|_| unknown_emoji())?;
    let (name, ct) = state.db(move |store| store.emoji_file(id)).await?;
    if !is_stored_name(&name) {
        return Err(unknown_emoji());
    }
    let file = format!("emoji-{id}.{}", copy_extension(&ct));
    serve_file(Dirs::of(&state).emoji.join(name), &ct, disposition(true, &file), CACHE).await
}

pub(super) async fn create_emoji(State(state): S, a: Authed, headers: HeaderMap, body: Body) -> ApiResult<Response> {
    a.require_admin()?;
    let actor = a.actor();
    state.rate(actor, Limited::Upload)?;
    let raw = headers.get("x-emoji-name").map(|v| v.as_bytes()).unwrap_or_default();
    let name = chat::text::emoji_name(&percent_decode(raw).unwrap_or_default())?;
    if headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|n| n > DRAIN_MAX)
    {
        return Err(too_large(EMOJI_MAX_BYTES as u64));
    }
    let bytes = read_limited(body, state.cfg.body_idle, EMOJI_MAX_BYTES).await?;
    if media::sniff(&bytes).is_none() {
        return Err(bad_file("An emoji is a PNG, JPEG, GIF or WebP image."));
    }
    // A small file can still be a huge image: it waits for its share of the decode budget.
    let need = media::probe(&bytes).map_err(media_error)?.peak_bytes(EMOJI_SIDE);
    let p = state.files.decode.run(need, move || media::reencode(&bytes, EMOJI_SIDE, need)).await?.map_err(media_error)?;
    let dirs = Dirs::of(&state);
    dirs.ensure().await?;
    let stored = format!("{}.{}", random_name()?, copy_extension(p.content_type));
    let (dir, sn) = (dirs.emoji.clone(), stored.clone());
    tokio::task::spawn_blocking(move || write_durable(&dir, &sn, &p.bytes).and_then(|_| fsync_dir(&dir)))
        .await?
        .map_err(|e| io_error(e, "storing an emoji"))?;
    let (sn, ct) = (stored.clone(), p.content_type);
    match state.db(move |store| store.create_emoji(&name, &sn, ct, actor.id, now_ms())).await {
        Ok(emoji) => Ok((StatusCode::CREATED, axum::Json(emoji)).into_response()),
        Err(e) => {
            let _ = tokio::fs::remove_file(dirs.emoji.join(&stored)).await;
            Err(e)
        }
    }
}

pub(super) async fn delete_emoji(State(state): S, a: Authed, Path(id): Path<String>) -> ApiResult<StatusCode> {
    a.require_admin()?;
    let id: EmojiId = parse_id(&id).map_err(|_| unknown_emoji())?;
    let by = a.user.id;
    let stored = state.db(move |store| store.delete_emoji(id, by, now_ms())).await?;
    if is_stored_name(&stored) {
        if let Err(e) = tokio::fs::remove_file(Dirs::of(&state).emoji.join(&stored)).await {
            tracing::warn!(error = %e, name = %stored, "could not remove an emoji's file");
        }
    }
    Ok(StatusCode::NO_CONTENT)
}
