//! `POST /api/uploads` and the downloads: who may fetch which file, with which headers.

use super::disk::{fsync_dir, io_error, receive, serve_file, write_durable, Dirs};
use super::housekeeping::maybe_prune;
use super::names::{claims_image, copy_extension, filename_header, is_stored_name, random_name};
use super::view::{bad_file, disposition, media_error, quota_exceeded, too_large, unknown_attachment};
use super::{S, CACHE, THUMB_SIDE};
use crate::actions::Limited;
use crate::auth::Authed;
use crate::error::{ApiError, ApiResult};
use crate::extract::parse_id;
use crate::{now_ms, AppState};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chat::ids::AttachmentId;
use chat::perms::{Action, Actor};
use chat::{Error, ErrorKind};
use media::ImageKind;
use sha2::{Digest, Sha256};
use std::path::PathBuf;

/// An image upload after processing: its thumbnail, and the original's size and hash once
/// its metadata is gone.
struct Image {
    thumb: media::Processed,
    size: u64,
    sha256: String,
}

/// Measure the upload (headers only), reserve what decoding it needs plus its stripped copy,
/// then make the thumbnail and rewrite the file without its metadata, in place.
async fn process(state: &AppState, path: PathBuf, size: u64, sha256: String) -> ApiResult<Image> {
    let p = path.clone();
    let probe = tokio::task::spawn_blocking(move || {
        std::fs::File::open(&p).map(|f| media::probe_reader(std::io::BufReader::new(f), size))
    })
    .await?
    .map_err(|e| io_error(e, "reading an upload back"))?
    .map_err(media_error)?;
    let decode = probe.peak_bytes(THUMB_SIDE);
    let done = state
        .files
        .decode
        .run(decode + size, move || -> std::io::Result<Result<Image, media::MediaError>> {
            let b = std::fs::read(&path)?;
            let thumb = match media::thumbnail(&b, THUMB_SIDE, decode) {
                Ok(t) => t,
                Err(e) => return Ok(Err(e)),
            };
            // A photo's EXIF says where it was taken: the stored original keeps none of it.
            let (size, sha256) = match media::strip_metadata(&b) {
                Ok(Some(clean)) => {
                    let mut f = std::fs::File::create(&path)?;
                    std::io::Write::write_all(&mut f, &clean)?;
                    f.sync_all()?;
                    (clean.len() as u64, hex::encode(Sha256::digest(&clean)))
                }
                Ok(None) => (size, sha256),
                Err(e) => return Ok(Err(e)),
            };
            Ok(Ok(Image { thumb, size, sha256 }))
        })
        .await?;
    done.map_err(|e| io_error(e, "processing an upload"))?.map_err(media_error)
}

pub(super) async fn upload(State(state): S, a: Authed, headers: HeaderMap, body: Body) -> ApiResult<Response> {
    let actor = a.actor();
    if actor.timed_out {
        return Err(ApiError(Error::forbidden("timed_out", "You are timed out and cannot upload files right now.")));
    }
    state.rate(actor, Limited::Upload)?;
    maybe_prune(&state);
    let filename = filename_header(&headers, "x-filename")?;
    let claimed = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let (max, quota) = (state.cfg.limits.upload_max_bytes, state.cfg.limits.upload_quota_bytes);
    let used = state.db(move |store| store.storage_used(actor.id)).await?;
    let room = quota.saturating_sub(used);
    // Refuse before reading when the client says how much is coming.
    if let Some(len) = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok()) {
        if len > max {
            return Err(too_large(max));
        }
        if len > room {
            return Err(quota_exceeded(used, quota));
        }
    }
    let dirs = Dirs::of(&state);
    dirs.ensure().await?;
    let got = receive(body, state.cfg.body_idle, &dirs.tmp, max, room, used, quota).await?;
    if got.size == 0 {
        return Err(bad_file("This file is empty."));
    }

    let stored_name = random_name()?;
    let (mut size, mut sha256) = (got.size, got.sha256.clone());
    let (content_type, dims, thumb) = match media::sniff(&got.head) {
        Some(kind) => {
            let img = process(&state, got.tmp.path().to_path_buf(), got.size, got.sha256.clone()).await?;
            (size, sha256) = (img.size, img.sha256);
            let p = img.thumb;
            let thumb_name = format!("{}.{}", random_name()?, copy_extension(p.content_type));
            (kind.content_type(), Some((p.orig_width, p.orig_height)), Some((thumb_name, p.bytes)))
        }
        None if claims_image(&claimed, &filename) => {
            return Err(bad_file("This file is not a PNG, JPEG, GIF or WebP image."));
        }
        None if got.head.starts_with(b"%PDF-") => ("application/pdf", None, None),
        None => ("application/octet-stream", None, None),
    };

    // Bytes (and thumbnail) durable and in place before the row exists.
    let uploads = dirs.uploads.clone();
    let tmp_path = got.tmp.keep();
    let (name, th) = (stored_name.clone(), thumb.clone());
    let placed = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        let res = (|| {
            if let Some((tn, bytes)) = &th {
                write_durable(&uploads, tn, bytes)?;
            }
            std::fs::rename(&tmp_path, uploads.join(&name))?;
            fsync_dir(&uploads)
        })();
        if res.is_err() {
            let _ = std::fs::remove_file(&tmp_path);
            let _ = std::fs::remove_file(uploads.join(&name));
            if let Some((tn, _)) = &th {
                let _ = std::fs::remove_file(uploads.join(tn));
            }
        }
        res
    })
    .await?;
    placed.map_err(|e| io_error(e, "storing an upload"))?;

    let thumb_name = thumb.map(|(n, _)| n);
    let (sn, tn, fname, sha) = (stored_name.clone(), thumb_name.clone(), filename, sha256);
    let created = state.db(move |store| {
        store.create_attachment(
            &store::NewAttachment {
                uploader: actor.id,
                filename: &fname,
                content_type,
                size,
                sha256: &sha,
                stored_name: &sn,
                width: dims.map(|d| d.0),
                height: dims.map(|d| d.1),
                thumb_name: tn.as_deref(),
            },
            quota,
            now_ms(),
        )
    })
    .await;
    let refused = match created {
        Ok(Ok(att)) => return Ok((StatusCode::CREATED, axum::Json(att)).into_response()),
        Ok(Err(over)) => quota_exceeded(over.used, over.quota),
        Err(e) => e,
    };
    super::remove_stored(&state, std::iter::once(stored_name).chain(thumb_name).collect()).await;
    Err(refused)
}

/// The attachment if `actor` may download it: the channel of its message must be visible to
/// them; an unsent upload is its uploader's only. Hidden and missing look the same.
async fn visible_attachment(state: &AppState, actor: Actor, id: &str) -> ApiResult<store::StoredAttachment> {
    let id: AttachmentId = parse_id(id).map_err(|_| unknown_attachment())?;
    let att = state.db(move |store| store.attachment(id)).await?.ok_or_else(unknown_attachment)?;
    match (att.message_id, att.channel_id) {
        (None, _) if att.uploader_id == actor.id => Ok(att),
        (Some(_), Some(ch)) => {
            match state.db(move |store| store.authorize(actor, ch, Action::ViewChannel)).await {
                Ok(_) => Ok(att),
                Err(ApiError(e)) if e.kind != ErrorKind::Internal => Err(unknown_attachment()),
                Err(e) => Err(e),
            }
        }
        _ => Err(unknown_attachment()),
    }
}

pub(super) async fn download(State(state): S, a: Authed, Path((id, _name)): Path<(String, String)>) -> ApiResult<Response> {
    let att = visible_attachment(&state, a.actor(), &id).await?;
    let ct = att.attachment.content_type.as_str();
    // Only our four raster types are shown in the browser; everything else is a download.
    let inline = ImageKind::from_content_type(ct).is_some();
    if !is_stored_name(&att.stored_name) {
        return Err(unknown_attachment());
    }
    let path = Dirs::of(&state).uploads.join(&att.stored_name);
    serve_file(path, ct, disposition(inline, &att.attachment.filename), CACHE).await
}

pub(super) async fn thumb(State(state): S, a: Authed, Path(id): Path<String>) -> ApiResult<Response> {
    let att = visible_attachment(&state, a.actor(), &id).await?;
    let name = att.thumb_name.filter(|n| is_stored_name(n)).ok_or_else(unknown_attachment)?;
    let ct = if name.ends_with(".png") { "image/png" } else { "image/jpeg" };
    let stem = att.attachment.filename.rsplit_once('.').map_or(att.attachment.filename.as_str(), |(s, _)| s);
    let fname = format!("{stem}-thumb.{}", copy_extension(ct));
    serve_file(Dirs::of(&state).uploads.join(name), ct, disposition(true, &fname), CACHE).await
}

pub(super) async fn storage(State(state): S, a: Authed) -> ApiResult<axum::Json<serde_json::Value>> {
    let id = a.user.id;
    let used = state.db(move |store| store.storage_used(id)).await?;
    Ok(axum::Json(serde_json::json!({"used_bytes": used, "quota_bytes": state.cfg.limits.upload_quota_bytes})))
}

/// `GET /api/admin/media`: the decode budget's figures.
pub(super) async fn media_stats(State(state): S, a: Authed) -> ApiResult<axum::Json<super::BudgetStats>> {
    a.require_admin()?;
    Ok(axum::Json(state.files.decode.stats()))
}
