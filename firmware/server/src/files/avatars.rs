//! Avatars: `PUT /api/me/avatar?x=&y=&side=` takes the original picture as the body and the
//! square to cut (in its pixels as shown); the box decodes it within the decode budget, cuts,
//! scales and re-encodes it into [`AVATAR_SIDES`] square copies under one random name
//! (`avatars/<side>/<name>`), then stores the name (`user.update` for every client). The
//! previous copies are deleted after the commit. A new name on every change, so
//! `GET /api/avatars/{side}/{name}` is cached for good.

use super::disk::{fsync_dir, io_error, read_limited, serve_file, write_durable, DRAIN_MAX};
use super::names::{copy_extension, is_stored_name, random_name};
use super::view::{bad_file, disposition, media_error, too_large};
use super::S;
use crate::actions::Limited;
use crate::auth::Authed;
use crate::error::{ApiError, ApiResult};
use crate::extract::parse_id;
use crate::{now_ms, AppState};
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap};
use axum::response::Response;
use axum::Json;
use chat::ids::UserId;
use chat::model::User;
use chat::Error;
use std::path::PathBuf;

/// The sides of the copies: the profile card's and the messages' (2× for sharp screens).
pub const AVATAR_SIDES: [u32; 2] = [256, 64];
/// Largest picture accepted (a phone photo); decoding it is charged to the budget.
pub const AVATAR_MAX_BYTES: usize = 10 << 20;
/// The copies never change under their name.
const IMMUTABLE: &str = "private, max-age=31536000, immutable";

fn dir(state: &AppState, side: u32) -> PathBuf {
    state.cfg.files_dir.join("avatars").join(side.to_string())
}

fn bad_crop(message: &str) -> ApiError {
    ApiError(Error::invalid("bad_crop", message))
}

fn unknown_avatar() -> ApiError {
    ApiError(Error::not_found("unknown_avatar", "No such picture."))
}

/// `x`, `y` and `side` from the query, each a whole number of pixels.
fn parse_crop(query: Option<&str>) -> ApiResult<media::Crop> {
    let (mut x, mut y, mut side) = (None, None, None);
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let n = v.parse::<u32>().map_err(|_| bad_crop("The square is given in whole pixels: ?x=0&y=0&side=256."))?;
        match k {
            "x" => x = Some(n),
            "y" => y = Some(n),
            "side" => side = Some(n),
            _ => {}
        }
    }
    match (x, y, side) {
        (Some(x), Some(y), Some(side)) => Ok(media::Crop { x, y, side }),
        _ => Err(bad_crop("Say which square of the picture to use: ?x=0&y=0&side=256.")),
    }
}

/// Remove the copies of a replaced or removed avatar (failures are logged: a leftover file
/// is only space).
async fn remove_copies(state: &AppState, name: Option<String>) {
    let Some(name) = name.filter(|n| is_stored_name(n)) else { return };
    for side in AVATAR_SIDES {
        match tokio::fs::remove_file(dir(state, side).join(&name)).await {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!(error = %e, %name, "could not remove an avatar's copy"),
        }
    }
}

pub(super) async fn put_avatar(State(state): S, a: Authed, RawQuery(query): RawQuery, headers: HeaderMap, body: Body) -> ApiResult<Json<User>> {
    let actor = a.actor();
    state.rate(actor, Limited::Upload)?;
    let crop = parse_crop(query.as_deref())?;
    let announced = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > DRAIN_MAX.max(AVATAR_MAX_BYTES as u64)) {
        return Err(too_large(AVATAR_MAX_BYTES as u64));
    }
    let bytes = read_limited(body, state.cfg.body_idle, AVATAR_MAX_BYTES).await?;
    if media::sniff(&bytes).is_none() {
        return Err(bad_file("A picture is a PNG, JPEG, GIF or WebP image."));
    }
    let largest = AVATAR_SIDES[0];
    let need = media::avatar_peak_bytes(&media::probe(&bytes).map_err(media_error)?, largest);
    let copies = state
        .files
        .decode
        .run(need, move || media::avatar(&bytes, crop, &AVATAR_SIDES, need))
        .await?
        .map_err(media_error)?;
    let ext = copy_extension(copies[0].content_type);
    let name = format!("{}.{ext}", random_name()?);
    let dirs: Vec<PathBuf> = AVATAR_SIDES.iter().map(|s| dir(&state, *s)).collect();
    let (d2, n2) = (dirs.clone(), name.clone());
    tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        for (d, p) in d2.iter().zip(&copies) {
            std::fs::create_dir_all(d)?;
            write_durable(d, &n2, &p.bytes)?;
            fsync_dir(d)?;
        }
        Ok(())
    })
    .await?
    .map_err(|e| io_error(e, "storing an avatar"))?;
    let n2 = name.clone();
    match state.db(move |store| store.set_avatar(actor.id, Some(&n2), now_ms(), actor)).await {
        Ok((user, old)) => {
            remove_copies(&state, old).await;
            Ok(Json(user))
        }
        Err(e) => {
            remove_copies(&state, Some(name)).await;
            Err(e)
        }
    }
}

async fn clear(state: &AppState, target: UserId, a: &Authed) -> ApiResult<Json<User>> {
    let actor = a.actor();
    let (user, old) = state.db(move |store| store.set_avatar(target, None, now_ms(), actor)).await?;
    remove_copies(state, old).await;
    Ok(Json(user))
}

pub(super) async fn delete_my_avatar(State(state): S, a: Authed) -> ApiResult<Json<User>> {
    clear(&state, a.user.id, &a).await
}

/// A moderator removes someone's picture (audit-logged by the store).
pub(super) async fn delete_avatar(State(state): S, a: Authed, Path(id): Path<String>) -> ApiResult<Json<User>> {
    let id: UserId = parse_id(&id)?;
    clear(&state, id, &a).await
}

pub(super) async fn avatar_image(State(state): S, _a: Authed, Path((side, name)): Path<(String, String)>) -> ApiResult<Response> {
    let side = AVATAR_SIDES.into_iter().find(|s| s.to_string() == side).ok_or_else(unknown_avatar)?;
    if !is_stored_name(&name) || !name.contains('.') {
        return Err(unknown_avatar());
    }
    let path = dir(&state, side).join(&name);
    if !tokio::fs::try_exists(&path).await.unwrap_or(false) {
        return Err(unknown_avatar());
    }
    let ct = if name.ends_with(".png") { "image/png" } else { "image/jpeg" };
    serve_file(path, ct, disposition(true, &name), IMMUTABLE).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crops_parse_from_whole_pixels_only() {
        assert_eq!(parse_crop(Some("x=1&y=2&side=30")).expect("crop"), media::Crop { x: 1, y: 2, side: 30 });
        for q in [None, Some(""), Some("x=1&y=2"), Some("x=-1&y=0&side=9"), Some("x=1.5&y=0&side=9"), Some("x=a&y=0&side=9")] {
            assert_eq!(parse_crop(q).expect_err("refused").0.code, "bad_crop", "{q:?}");
        }
    }
}
