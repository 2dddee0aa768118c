//! The music library's files: `POST /api/music/tracks` (an upload streamed to disk, scanned on
//! a blocking thread for its tags, length and loudness, its cover re-encoded like an image
//! upload), the listing and search, the cover, and removal.

use super::disk::{fsync_dir, io_error, receive, serve_file, write_durable, Dirs};
use super::names::{copy_extension, filename_header, is_stored_name, random_name};
use super::view::{disposition, media_error, too_large};
use super::{S, CACHE};
use crate::actions::Limited;
use crate::auth::Authed;
use crate::error::{ApiError, ApiResult};
use crate::extract::parse_id;
use crate::{now_ms, AppState};
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chat::ids::TrackId;
use chat::music::{clean_tag, MAX_TRACK_BYTES};
use chat::perms::Perms;
use chat::Error;
use serde::Deserialize;
use std::path::PathBuf;

/// Longest side of a track's cover as the box keeps it.
pub const COVER_SIDE: u32 = 512;
const TAG_CHARS: usize = 200;

/// `DATA_DIR/files/music`: the library's files (covers in `covers/` below it).
pub fn music_dir(state: &AppState) -> PathBuf {
    state.cfg.files_dir.join("music")
}

fn covers_dir(state: &AppState) -> PathBuf {
    music_dir(state).join("covers")
}

fn unknown_track() -> ApiError {
    ApiError(Error::not_found("unknown_track", "That track is not in the music library."))
}

/// A pipeline error in words, with its stable code.
fn audio_error(e: &audio::AudioError) -> ApiError {
    let words = crate::music::words(e);
    let code = match e {
        audio::AudioError::UnsupportedFormat(_) | audio::AudioError::UnsupportedCodec(_) | audio::AudioError::NoAudioTrack => {
            "unsupported_format"
        }
        audio::AudioError::Io(_) => return ApiError(Error::internal("The file could not be read back on the box. Please try again.")),
        other => other.code(),
    };
    ApiError(Error::invalid(code, words))
}

#[derive(Deserialize)]
pub(super) struct ListQuery {
    q: Option<String>,
    #[serde(default)]
    offset: usize,
    limit: Option<usize>,
}

pub(super) async fn list(State(state): S, _a: Authed, Query(q): Query<ListQuery>) -> ApiResult<axum::Json<serde_json::Value>> {
    let query: Option<String> = q.q.map(|s| s.chars().take(200).collect());
    let limit = q.limit.unwrap_or(50).clamp(1, 200);
    let (tracks, total) = state.db(move |store| store.tracks(query.as_deref(), q.offset, limit)).await?;
    Ok(axum::Json(serde_json::json!({"tracks": tracks, "total": total})))
}

/// What the scan found, as the row wants it.
struct Scanned {
    info: audio::scan::TrackInfo,
    gain_db: Option<f64>,
    peak: Option<f64>,
    cover: Option<(Vec<u8>, &'static str)>,
}

pub(super) async fn upload(State(state): S, a: Authed, headers: HeaderMap, body: Body) -> ApiResult<Response> {
    let actor = a.actor();
    if actor.timed_out {
        return Err(ApiError(Error::forbidden("timed_out", "You are timed out and cannot add music right now.")));
    }
    state.rate(actor, Limited::Upload)?;
    let filename = filename_header(&headers, "x-filename")?;
    let max = MAX_TRACK_BYTES;
    if headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok()).is_some_and(|n| n > max) {
        return Err(too_large(max));
    }
    let dirs = Dirs::of(&state);
    dirs.ensure().await?;
    let got = receive(body, state.cfg.body_idle, &dirs.tmp, max, u64::MAX, 0, u64::MAX).await?;
    if got.size == 0 {
        return Err(ApiError(Error::invalid("empty", "This file is empty.")));
    }

    // Tags, length, loudness (a whole decode when the file carries no gain), on its own thread.
    let (path, name) = (got.tmp.path().to_path_buf(), filename.clone());
    let scanned = tokio::task::spawn_blocking(move || -> Result<Scanned, audio::AudioError> {
        let file = std::fs::File::open(&path).map_err(|e| audio::AudioError::Io(e.to_string()))?;
        let hint = audio::scan::hint_for_path(std::path::Path::new(&name));
        let quick = audio::scan::scan(Box::new(file), &hint, &name, &audio::scan::ScanOptions::default())?;
        let tagged = quick.replaygain.map(|r| (r.track_gain_db, r.track_peak)).or(quick.r128_track_gain_db.map(|g| (g, None)));
        let info = if tagged.is_some() && quick.duration_ms.is_some() {
            quick
        } else {
            let file = std::fs::File::open(&path).map_err(|e| audio::AudioError::Io(e.to_string()))?;
            let opts = audio::scan::ScanOptions { measure: true, ..Default::default() };
            audio::scan::scan(Box::new(file), &hint, &name, &opts)?
        };
        let (gain_db, peak) = match (tagged, info.loudness) {
            (Some((g, p)), _) => (Some(f64::from(g)), p.map(f64::from)),
            (None, Some(l)) => (Some(f64::from(l.gain_db)), Some(f64::from(l.peak))),
            (None, None) => (None, None),
        };
        let cover = info.cover.as_ref().map(|p| (p.data.clone(), "")).filter(|(d, _)| media::sniff(d).is_some());
        Ok(Scanned { info, gain_db, peak, cover })
    })
    .await?
    .map_err(|e| audio_error(&e))?;
    if scanned.info.duration_ms.unwrap_or(0) == 0 {
        return Err(ApiError(Error::invalid("empty", "That file holds no audio.")));
    }

    // The cover is re-encoded by the box (no metadata, bounded size), within the decode budget.
    let cover = match scanned.cover {
        Some((bytes, _)) => {
            let need = media::probe(&bytes).map_err(media_error)?.peak_bytes(COVER_SIDE);
            match state.files.decode.run(need, move || media::reencode(&bytes, COVER_SIDE, need)).await? {
                Ok(p) => Some(p),
                // A broken picture does not refuse the music.
                Err(e) => {
                    tracing::info!("a track's cover was not usable: {e}");
                    None
                }
            }
        }
        None => None,
    };

    let (music, covers) = (music_dir(&state), covers_dir(&state));
    // No extension on disk: the player's hint comes from the original name in the row.
    let stored = random_name()?;
    let cover_name = match &cover {
        Some(p) => Some(format!("{}.{}", random_name()?, copy_extension(p.content_type))),
        None => None,
    };
    let tmp_path = got.tmp.keep();
    let (sn, cn, cb) = (stored.clone(), cover_name.clone(), cover.map(|p| p.bytes));
    let (m2, c2) = (music.clone(), covers.clone());
    tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        let res = (|| {
            std::fs::create_dir_all(&c2)?;
            if let (Some(n), Some(b)) = (&cn, &cb) {
                write_durable(&c2, n, b)?;
                fsync_dir(&c2)?;
            }
            std::fs::rename(&tmp_path, m2.join(&sn))?;
            fsync_dir(&m2)
        })();
        if res.is_err() {
            let _ = std::fs::remove_file(&tmp_path);
            let _ = std::fs::remove_file(m2.join(&sn));
            if let Some(n) = &cn {
                let _ = std::fs::remove_file(c2.join(n));
            }
        }
        res
    })
    .await?
    .map_err(|e| io_error(e, "storing a track"))?;

    let i = scanned.info;
    let (title, artist, album) = (clean_tag(&i.title, TAG_CHARS), clean_tag(i.artist.as_deref().unwrap_or(""), TAG_CHARS), clean_tag(i.album.as_deref().unwrap_or(""), TAG_CHARS));
    let title = if title.is_empty() { audio::scan::title_from_file_name(&filename) } else { title };
    let codec = clean_tag(&i.codec, 20);
    let (sn, cn, fname, sha) = (stored.clone(), cover_name.clone(), filename, got.sha256);
    let (gain_db, peak) = (scanned.gain_db, scanned.peak);
    let created = state
        .db(move |store| {
            store.create_track(
                &store::NewTrack {
                    stored_name: &sn,
                    filename: &fname,
                    title: &title,
                    artist: &artist,
                    album: &album,
                    track_no: i.track_number.map(i64::from),
                    duration_ms: i.duration_ms.unwrap_or(0) as i64,
                    codec: &codec,
                    sample_rate: i64::from(i.rate),
                    channels: i.channels as i64,
                    gain_db,
                    peak,
                    cover_name: cn.as_deref(),
                    size: got.size as i64,
                    sha256: &sha,
                    uploaded_by: actor.id,
                },
                now_ms(),
            )
        })
        .await;
    match created {
        Ok(track) => Ok((StatusCode::CREATED, axum::Json(track)).into_response()),
        Err(e) => {
            let _ = tokio::fs::remove_file(music.join(&stored)).await;
            if let Some(n) = cover_name {
                let _ = tokio::fs::remove_file(covers.join(n)).await;
            }
            Err(e)
        }
    }
}

pub(super) async fn cover(State(state): S, _a: Authed, Path(id): Path<String>) -> ApiResult<Response> {
    let id: TrackId = parse_id(&id).map_err(|_| unknown_track())?;
    let name = state.db(move |store| store.track_cover(id)).await?.filter(|n| is_stored_name(n)).ok_or_else(unknown_track)?;
    let ct = if name.ends_with(".png") { "image/png" } else { "image/jpeg" };
    serve_file(covers_dir(&state).join(&name), ct, disposition(true, &format!("cover-{id}.{}", copy_extension(ct))), CACHE).await
}

/// The uploader, a moderator or an admin may remove a track.
pub(super) async fn delete(State(state): S, a: Authed, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let id: TrackId = parse_id(&id).map_err(|_| unknown_track())?;
    let actor = a.actor();
    let f = state.db(move |store| store.track_file(id)).await?;
    let may = actor.is_admin() || actor.perms.contains(Perms::MODERATE) || f.track.uploaded_by == Some(actor.id);
    if !may {
        return Err(ApiError(Error::forbidden("not_yours", "Only the person who added this track, or a moderator, can remove it.")));
    }
    let (file, cover) = state.db(move |store| store.delete_track(id, actor.id, now_ms())).await?;
    if is_stored_name(&file) {
        let _ = tokio::fs::remove_file(music_dir(&state).join(&file)).await;
    }
    if let Some(c) = cover.filter(|c| is_stored_name(c)) {
        let _ = tokio::fs::remove_file(covers_dir(&state).join(&c)).await;
    }
    Ok(StatusCode::NO_CONTENT)
}
