//! Uploads, attachment downloads, custom emoji and exports over HTTP.
//!
//! On disk (`cfg.files_dir`): `uploads/` holds attachments and their thumbnails, `emoji/` custom
//! emoji, `tmp/` uploads in flight and exports being built. Stored names are random
//! (`[0-9a-f]{32}`, thumbnails and emoji with `.png`/`.jpg`), never derived from anything the
//! client sent; the user's file name lives only in the database.
//!
//! What a file *is* comes from its bytes, never from the client's `Content-Type`:
//! - PNG, JPEG, GIF and WebP (by magic bytes) must decode within `media`'s limits; they get a
//!   thumbnail and are the only files served `inline`.
//! - A file that *claims* to be one of those (by `Content-Type` or extension) but is not is
//!   refused with `bad_file` — this is how HTML or SVG disguised as an image is caught.
//! - Everything else is stored as `application/octet-stream` (or `application/pdf` when it
//!   starts like one) and always served as a download (`Content-Disposition: attachment`),
//!   with `nosniff` and a sandboxing CSP, so no upload is ever rendered as a page of the box.
//!
//! Durability: the bytes (and thumbnail) are fsynced and renamed into place, and the directory
//! fsynced, *before* the row is committed; only then is the 201 sent. A crash in between leaves
//! a file without a row, which [`prune_uploads`] removes later.

use crate::actions::{blocking, Limited};
use crate::auth::Authed;
use crate::error::{ApiError, ApiResult};
use crate::extract::parse_id;
use crate::{now_ms, AppState};
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::Router;
use chat::ids::{AttachmentId, ChannelId, EmojiId, MessageId};
use chat::model::Channel;
use chat::perms::{Action, Actor};
use chat::{Error, ErrorKind};
use futures_util::StreamExt;
use media::ImageKind;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path as FsPath, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use store::Store;
use tokio::io::AsyncWriteExt;

type S = State<Arc<AppState>>;

/// Longest side of an attachment's thumbnail.
pub const THUMB_SIDE: u32 = 400;
/// Longest side of a custom emoji.
pub const EMOJI_SIDE: u32 = 128;
/// Largest custom emoji upload.
pub const EMOJI_MAX_BYTES: usize = 256 << 10;
/// Longest file name we keep, in characters.
pub const FILENAME_MAX_CHARS: usize = 200;
/// Uploads never sent in a message are removed after this long.
pub const UNSENT_TTL_MS: i64 = 24 * 3600 * 1000;
/// A body that sends nothing for this long is abandoned.
const BODY_IDLE: Duration = Duration::from_secs(30);
/// Browsers may keep downloaded attachments this long (they never change).
const CACHE: &str = "private, max-age=86400";

/// Image decoding may take up to `media::MAX_ALLOC` bytes: two at a time at most, so a burst of
/// uploads cannot exhaust a Pi's memory.
static DECODERS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        // Bodies here are limited while streaming, not by the API's 64 KiB default.
        .route("/uploads", post(upload).layer(DefaultBodyLimit::disable()))
        .route("/attachments/{id}/thumb", get(thumb))
        .route("/attachments/{id}/{filename}", get(download))
        .route("/me/storage", get(storage))
        .route("/me/export", get(export_me))
        .route("/emoji", get(list_emoji))
        .route("/emoji/{id}", get(emoji_image))
        .route("/admin/emoji", post(create_emoji).layer(DefaultBodyLimit::disable()))
        .route("/admin/emoji/{id}", delete(delete_emoji))
        .route("/admin/channels/{id}/export", get(export_channel))
}

/// The directories under `files_dir`.
struct Dirs {
    uploads: PathBuf,
    emoji: PathBuf,
    tmp: PathBuf,
}

impl Dirs {
    fn of(state: &AppState) -> Dirs {
        let root = &state.cfg.files_dir;
        Dirs { uploads: root.join("uploads"), emoji: root.join("emoji"), tmp: root.join("tmp") }
    }

    async fn ensure(&self) -> ApiResult<()> {
        for d in [&self.uploads, &self.emoji, &self.tmp] {
            tokio::fs::create_dir_all(d).await.map_err(|e| io_error(e, "creating the files directory"))?;
        }
        Ok(())
    }
}

fn io_error(e: std::io::Error, what: &str) -> ApiError {
    tracing::error!(error = %e, "{what}");
    if e.kind() == std::io::ErrorKind::StorageFull {
        ApiError(Error::internal("The box's storage is full."))
    } else {
        ApiError(Error::internal("The file could not be stored on the box. Please try again."))
    }
}

fn bad_file(message: impl Into<String>) -> ApiError {
    ApiError(Error::invalid("bad_file", message))
}

fn unknown_attachment() -> ApiError {
    ApiError(Error::not_found("unknown_attachment", "No such file."))
}

fn too_large(limit: u64) -> ApiError {
    ApiError(Error::new(
        ErrorKind::TooLarge,
        "file_too_large",
        format!("Files can be at most {}.", store::megabytes(limit)),
    ))
}

fn quota_exceeded(used: u64, quota: u64) -> ApiError {
    ApiError(Error::new(
        ErrorKind::TooLarge,
        "storage_quota_exceeded",
        format!(
            "This file does not fit: your files take {} of your {}. Delete some messages with files first.",
            store::megabytes(used),
            store::megabytes(quota)
        ),
    ))
}

/// 16 random bytes from the OS, hex: a stored file name.
fn random_name() -> ApiResult<String> {
    use rand::TryRngCore;
    let mut b = [0u8; 16];
    rand::rngs::OsRng
        .try_fill_bytes(&mut b)
        .map_err(|_| ApiError(Error::internal("The system random number generator failed.")))?;
    Ok(hex::encode(b))
}

/// Is this one of our stored names (so joining it to a directory stays in that directory)?
fn is_stored_name(name: &str) -> bool {
    let (stem, ext) = name.split_once('.').unwrap_or((name, ""));
    stem.len() == 32
        && stem.bytes().all(|b| b.is_ascii_hexdigit())
        && matches!(ext, "" | "png" | "jpg")
}

/// Decode `%XX` escapes (strictly: a stray `%` is an error); raw UTF-8 passes through.
fn percent_decode(raw: &[u8]) -> Option<String> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'%' {
            let hex = raw.get(i + 1..i + 3)?;
            let s = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(s, 16).ok()?);
            i += 3;
        } else {
            out.push(raw[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Characters that change how text around them is shown (bidi overrides make `gpj.exe` look
/// like `exe.jpg`) or are invisible.
fn is_format_char(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}')
}

/// The file name to keep: the last path component (either separator), without control or
/// bidi characters, without leading dots or trailing dots and spaces, at most
/// [`FILENAME_MAX_CHARS`] characters (the extension kept). `None` if nothing is left.
pub fn sanitize_filename(raw: &str) -> Option<String> {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let clean: String = base.chars().filter(|c| !c.is_control() && !is_format_char(*c)).collect();
    let clean = clean.trim().trim_start_matches(['.', ' ']).trim_end_matches(['.', ' ']);
    if clean.is_empty() {
        return None;
    }
    if clean.chars().count() <= FILENAME_MAX_CHARS {
        return Some(clean.to_owned());
    }
    let (stem, ext) = match clean.rsplit_once('.') {
        Some((s, e)) if !s.is_empty() && (1..=16).contains(&e.chars().count()) => (s, Some(e)),
        _ => (clean, None),
    };
    let keep = FILENAME_MAX_CHARS - ext.map_or(0, |e| e.chars().count() + 1);
    let stem: String = stem.chars().take(keep).collect();
    Some(match ext {
        Some(e) => format!("{}.{e}", stem.trim_end()),
        None => stem,
    })
}

fn filename_header(headers: &HeaderMap, name: &str) -> ApiResult<String> {
    let bad = || ApiError(Error::invalid("bad_filename", "Send the file's name, URL-encoded, in X-Filename."));
    let raw = headers.get(name).ok_or_else(bad)?;
    let decoded = percent_decode(raw.as_bytes()).ok_or_else(bad)?;
    sanitize_filename(&decoded).ok_or_else(bad)
}

/// Does the upload say it is one of the raster images we serve inline?
fn claims_image(content_type: &str, filename: &str) -> bool {
    let ext = filename.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
    ImageKind::from_content_type(content_type).is_some() || matches!(ext.as_str(), "png" | "jpg" | "jpeg" | "jpe" | "gif" | "webp")
}

/// Deletes its file when dropped, unless kept.
struct TempFile(Option<PathBuf>);

impl TempFile {
    fn path(&self) -> &FsPath {
        self.0.as_deref().unwrap_or(FsPath::new(""))
    }
    fn keep(mut self) -> PathBuf {
        self.0.take().unwrap_or_default()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

fn fsync_dir(dir: &FsPath) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// Write `bytes` to `dir/name`, durably.
fn write_durable(dir: &FsPath, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    let mut f = std::fs::File::create(dir.join(name))?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// What the streamed body came to.
struct Received {
    tmp: TempFile,
    size: u64,
    sha256: String,
    /// The first bytes, to sniff.
    head: Vec<u8>,
}

/// Stream the body to a temp file, stopping as soon as it passes `max` (file too large) or
/// `room` (quota). The file is fsynced.
async fn receive(body: Body, tmp_dir: &FsPath, max: u64, room: u64, used: u64, quota: u64) -> ApiResult<Received> {
    let tmp = TempFile(Some(tmp_dir.join(format!("{}.part", random_name()?))));
    let mut file = tokio::fs::File::create(tmp.path()).await.map_err(|e| io_error(e, "creating an upload's temp file"))?;
    let mut stream = body.into_data_stream();
    let (mut size, mut hash, mut head) = (0u64, Sha256::new(), Vec::new());
    loop {
        let chunk = match tokio::time::timeout(BODY_IDLE, stream.next()).await {
            Ok(Some(Ok(c))) => c,
            Ok(None) => break,
            Ok(Some(Err(_))) | Err(_) => {
                return Err(ApiError(Error::invalid("upload_interrupted", "The upload was interrupted. Please try again.")))
            }
        };
        size += chunk.len() as u64;
        if size > max {
            return Err(too_large(max));
        }
        if size > room {
            return Err(quota_exceeded(used, quota));
        }
        hash.update(&chunk);
        if head.len() < 1024 {
            head.extend_from_slice(&chunk[..chunk.len().min(1024 - head.len())]);
        }
        file.write_all(&chunk).await.map_err(|e| io_error(e, "writing an upload"))?;
    }
    file.sync_all().await.map_err(|e| io_error(e, "syncing an upload"))?;
    Ok(Received { tmp, size, sha256: hex::encode(hash.finalize()), head })
}

/// Run an image job on the blocking pool, at most two at a time.
async fn process_image<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> ApiResult<T> {
    let _permit = DECODERS.acquire().await.map_err(|_| ApiError(Error::internal("Image processing is unavailable.")))?;
    Ok(tokio::task::spawn_blocking(f).await?)
}

/// When uploads were last pruned (Unix ms); uploads trigger a prune at most hourly.
static LAST_PRUNE: AtomicI64 = AtomicI64::new(0);

async fn upload(State(state): S, a: Authed, headers: HeaderMap, body: Body) -> ApiResult<Response> {
    let actor = a.actor();
    if actor.timed_out {
        return Err(ApiError(Error::forbidden("timed_out", "You are timed out and cannot upload files right now.")));
    }
    state.rate(actor, Limited::Upload)?;
    maybe_prune(&state);
    let filename = filename_header(&headers, "x-filename")?;
    let claimed = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let (max, quota) = (state.cfg.limits.upload_max_bytes, state.cfg.limits.upload_quota_bytes);
    let store = state.store.clone();
    let used = blocking(move || store.storage_used(actor.id)).await?;
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
    let got = receive(body, &dirs.tmp, max, room, used, quota).await?;
    if got.size == 0 {
        return Err(bad_file("This file is empty."));
    }

    let stored_name = random_name()?;
    let (mut size, mut sha256) = (got.size, got.sha256.clone());
    let (content_type, dims, thumb) = match media::sniff(&got.head) {
        Some(kind) => {
            let path = got.tmp.path().to_path_buf();
            // The thumbnail, and the original without its metadata (a photo's EXIF says where
            // it was taken): rewritten in place before it is stored.
            let p = process_image(move || -> std::io::Result<_> {
                let b = std::fs::read(&path)?;
                let thumb = media::thumbnail(&b, THUMB_SIDE);
                let stripped = match media::strip_metadata(&b) {
                    Some(clean) => {
                        let mut f = std::fs::File::create(&path)?;
                        std::io::Write::write_all(&mut f, &clean)?;
                        f.sync_all()?;
                        Some((clean.len() as u64, hex::encode(Sha256::digest(&clean))))
                    }
                    None => None,
                };
                Ok((thumb, stripped))
            })
            .await?;
            let (p, stripped) = p.map_err(|e| io_error(e, "reading an upload back"))?;
            let p = p.map_err(|e| bad_file(e.to_string()))?;
            if let Some((n, h)) = stripped {
                (size, sha256) = (n, h);
            }
            let thumb_name = format!("{}.{}", random_name()?, if p.content_type == "image/png" { "png" } else { "jpg" });
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

    let store = state.store.clone();
    let thumb_name = thumb.map(|(n, _)| n);
    let (sn, tn, fname, sha) = (stored_name.clone(), thumb_name.clone(), filename, sha256);
    let created = blocking(move || {
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
    match created {
        Ok(att) => Ok((StatusCode::CREATED, axum::Json(att)).into_response()),
        Err(e) => {
            remove_stored(&state, std::iter::once(stored_name).chain(thumb_name).collect()).await;
            Err(e)
        }
    }
}

/// The attachment if `actor` may download it: the channel of its message must be visible to
/// them; an unsent upload is its uploader's only. Hidden and missing look the same.
async fn visible_attachment(state: &AppState, actor: Actor, id: &str) -> ApiResult<store::StoredAttachment> {
    let id: AttachmentId = parse_id(id).map_err(|_| unknown_attachment())?;
    let store = state.store.clone();
    let att = blocking(move || store.attachment(id)).await?.ok_or_else(unknown_attachment)?;
    match (att.message_id, att.channel_id) {
        (None, _) if att.uploader_id == actor.id => Ok(att),
        (Some(_), Some(ch)) => {
            let store = state.store.clone();
            match blocking(move || store.authorize(actor, ch, Action::ViewChannel)).await {
                Ok(_) => Ok(att),
                Err(ApiError(e)) if e.kind != ErrorKind::Internal => Err(unknown_attachment()),
                Err(e) => Err(e),
            }
        }
        _ => Err(unknown_attachment()),
    }
}

/// `attachment; filename="ascii"; filename*=UTF-8''utf8` (or `inline; …`).
fn disposition(inline: bool, filename: &str) -> String {
    let ascii: String = filename
        .chars()
        .map(|c| if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' { c } else { '_' })
        .collect();
    let kind = if inline { "inline" } else { "attachment" };
    format!("{kind}; filename=\"{ascii}\"; filename*=UTF-8''{}", store::url_component(filename))
}

/// Serve a stored file with the headers that keep it inert.
async fn serve_file(path: PathBuf, content_type: &str, disposition: String, cache: &'static str) -> ApiResult<Response> {
    let file = match tokio::fs::File::open(&path).await {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            tracing::warn!(path = %path.display(), "a stored file is missing");
            return Err(unknown_attachment());
        }
        Err(e) => return Err(io_error(e, "opening a stored file")),
    };
    let len = file.metadata().await.map_err(|e| io_error(e, "reading a stored file"))?.len();
    stream_response(file, len, content_type, &disposition, cache)
}

fn stream_response(file: tokio::fs::File, len: u64, content_type: &str, disposition: &str, cache: &'static str) -> ApiResult<Response> {
    let stream = futures_util::stream::unfold(Some(file), |file| async move {
        use tokio::io::AsyncReadExt;
        let mut f = file?;
        let mut buf = vec![0u8; 64 * 1024];
        match f.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<_, std::io::Error>(axum::body::Bytes::from(buf)), Some(f)))
            }
            Err(e) => Some((Err(e), None)),
        }
    });
    let mut resp = Response::new(Body::from_stream(stream));
    let h = resp.headers_mut();
    let value = |s: &str| HeaderValue::from_str(s).map_err(|_| ApiError(Error::internal("Bad header value.")));
    h.insert(header::CONTENT_TYPE, value(content_type)?);
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    h.insert(header::CONTENT_DISPOSITION, value(disposition)?);
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("sandbox; default-src 'none'"));
    h.insert("cross-origin-resource-policy", HeaderValue::from_static("same-origin"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    Ok(resp)
}

async fn download(State(state): S, a: Authed, Path((id, _name)): Path<(String, String)>) -> ApiResult<Response> {
    let att = visible_attachment(&state, a.actor(), &id).await?;
    let ct = att.attachment.content_type.as_str();
    // Only our four raster types are shown in the browser; everything else is a download.
    let inline = ImageKind::from_content_type(ct).is_some();
    let path = Dirs::of(&state).uploads.join(&att.stored_name);
    if !is_stored_name(&att.stored_name) {
        return Err(unknown_attachment());
    }
    serve_file(path, ct, disposition(inline, &att.attachment.filename), CACHE).await
}

async fn thumb(State(state): S, a: Authed, Path(id): Path<String>) -> ApiResult<Response> {
    let att = visible_attachment(&state, a.actor(), &id).await?;
    let name = att.thumb_name.filter(|n| is_stored_name(n)).ok_or_else(unknown_attachment)?;
    let ct = if name.ends_with(".png") { "image/png" } else { "image/jpeg" };
    let stem = att.attachment.filename.rsplit_once('.').map_or(att.attachment.filename.as_str(), |(s, _)| s);
    let fname = format!("{stem}-thumb.{}", if ct == "image/png" { "png" } else { "jpg" });
    serve_file(Dirs::of(&state).uploads.join(name), ct, disposition(true, &fname), CACHE).await
}

async fn storage(State(state): S, a: Authed) -> ApiResult<axum::Json<serde_json::Value>> {
    let store = state.store.clone();
    let id = a.user.id;
    let used = blocking(move || store.storage_used(id)).await?;
    Ok(axum::Json(serde_json::json!({"used_bytes": used, "quota_bytes": state.cfg.limits.upload_quota_bytes})))
}

/// Remove stored files (of a deleted message, an expired upload) from disk, on the blocking
/// pool. Names that are not ours are refused; failures are logged.
pub async fn remove_stored(state: &AppState, names: Vec<String>) {
    if names.is_empty() {
        return;
    }
    let dir = Dirs::of(state).uploads;
    let done = tokio::task::spawn_blocking(move || unlink_all(&dir, &names)).await;
    if let Err(e) = done {
        tracing::warn!(error = %e, "removing stored files failed");
    }
}

fn unlink_all(dir: &FsPath, names: &[String]) {
    for n in names {
        if !is_stored_name(n) {
            tracing::warn!(name = %n, "refusing to remove a file that is not a stored name");
            continue;
        }
        match std::fs::remove_file(dir.join(n)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!(name = %n, error = %e, "could not remove a stored file"),
        }
    }
}

/// Start [`prune_uploads`] in the background if it has not run for an hour.
fn maybe_prune(state: &Arc<AppState>) {
    let now = now_ms();
    let last = LAST_PRUNE.load(Ordering::Relaxed);
    if now - last < 3600 * 1000 || LAST_PRUNE.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_err() {
        return;
    }
    let state = state.clone();
    tokio::spawn(async move { prune_uploads(&state).await });
}

/// Housekeeping, meant to run hourly: forget uploads never sent within 24 h and remove their
/// files; remove temp files older than an hour (uploads cut short by a crash) and files no row
/// owns (written just before a crash, before their row was committed).
pub async fn prune_uploads(state: &AppState) {
    let store = state.store.clone();
    match blocking(move || store.prune_unattached(now_ms() - UNSENT_TTL_MS)).await {
        Ok(names) => {
            if !names.is_empty() {
                tracing::info!(files = names.len(), "removed uploads that were never sent");
            }
            remove_stored(state, names).await;
        }
        Err(e) => tracing::warn!(error = ?e.0, "pruning unsent uploads failed"),
    }
    let dirs = Dirs::of(state);
    let store = state.store.clone();
    let swept = tokio::task::spawn_blocking(move || -> store::Result<usize> {
        let hour_ago = std::time::SystemTime::now() - Duration::from_secs(3600);
        let old = |e: &std::fs::DirEntry| e.metadata().and_then(|m| m.modified()).is_ok_and(|t| t < hour_ago);
        let mut n = 0;
        for e in std::fs::read_dir(&dirs.tmp).into_iter().flatten().flatten() {
            if old(&e) && std::fs::remove_file(e.path()).is_ok() {
                n += 1;
            }
        }
        let known = store.known_stored_names()?;
        for dir in [&dirs.uploads, &dirs.emoji] {
            for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if is_stored_name(&name) && !known.contains(&name) && old(&e) && std::fs::remove_file(e.path()).is_ok() {
                    n += 1;
                }
            }
        }
        Ok(n)
    })
    .await;
    match swept {
        Ok(Ok(n)) if n > 0 => tracing::info!(files = n, "removed stray files"),
        Ok(Err(e)) => tracing::warn!(error = %e, "sweeping stray files failed"),
        Err(e) => tracing::warn!(error = %e, "sweeping stray files failed"),
        _ => {}
    }
}

// ---- custom emoji ----

async fn list_emoji(State(state): S, _a: Authed) -> ApiResult<axum::Json<Vec<chat::model::CustomEmoji>>> {
    let store = state.store.clone();
    Ok(axum::Json(blocking(move || store.custom_emoji()).await?))
}

async fn emoji_image(State(state): S, _a: Authed, Path(id): Path<String>) -> ApiResult<Response> {
    let id: EmojiId = parse_id(id.trim_end_matches(".png")).map_err(|_| ApiError(Error::not_found("unknown_emoji", "No such emoji.")))?;
    let store = state.store.clone();
    let (name, ct) = blocking(move || store.emoji_file(id)).await?;
    if !is_stored_name(&name) {
        return Err(ApiError(Error::not_found("unknown_emoji", "No such emoji.")));
    }
    let ext = if ct == "image/png" { "png" } else { "jpg" };
    serve_file(Dirs::of(&state).emoji.join(name), &ct, disposition(true, &format!("emoji-{id}.{ext}")), CACHE).await
}

/// A small body past its limit is read to its end (and dropped) before answering, up to this
/// many bytes: a client still sending when the answer comes may see a reset, not the 413.
const DRAIN_MAX: u64 = 4 << 20;

/// Read a whole body, at most `max` bytes.
async fn read_limited(body: Body, max: usize) -> ApiResult<Vec<u8>> {
    let mut stream = body.into_data_stream();
    let mut out = Vec::new();
    let mut seen = 0u64;
    loop {
        match tokio::time::timeout(BODY_IDLE, stream.next()).await {
            Ok(Some(Ok(c))) => {
                seen += c.len() as u64;
                if seen > DRAIN_MAX {
                    return Err(too_large(max as u64));
                }
                // Past the limit: keep reading, keep nothing.
                if seen <= max as u64 {
                    out.extend_from_slice(&c);
                }
            }
            Ok(None) if seen > max as u64 => return Err(too_large(max as u64)),
            Ok(None) => return Ok(out),
            _ => return Err(ApiError(Error::invalid("upload_interrupted", "The upload was interrupted. Please try again."))),
        }
    }
}

async fn create_emoji(State(state): S, a: Authed, headers: HeaderMap, body: Body) -> ApiResult<Response> {
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
    let bytes = read_limited(body, EMOJI_MAX_BYTES).await?;
    if media::sniff(&bytes).is_none() {
        return Err(bad_file("An emoji is a PNG, JPEG, GIF or WebP image."));
    }
    let p = process_image(move || media::reencode(&bytes, EMOJI_SIDE)).await?.map_err(|e| bad_file(e.to_string()))?;
    let dirs = Dirs::of(&state);
    dirs.ensure().await?;
    let ext = if p.content_type == "image/png" { "png" } else { "jpg" };
    let stored = format!("{}.{ext}", random_name()?);
    let (dir, sn) = (dirs.emoji.clone(), stored.clone());
    tokio::task::spawn_blocking(move || write_durable(&dir, &sn, &p.bytes).and_then(|_| fsync_dir(&dir)))
        .await?
        .map_err(|e| io_error(e, "storing an emoji"))?;
    let store = state.store.clone();
    let (sn, ct) = (stored.clone(), p.content_type);
    match blocking(move || store.create_emoji(&name, &sn, ct, actor.id, now_ms())).await {
        Ok(emoji) => Ok((StatusCode::CREATED, axum::Json(emoji)).into_response()),
        Err(e) => {
            let _ = tokio::fs::remove_file(dirs.emoji.join(&stored)).await;
            Err(e)
        }
    }
}

async fn delete_emoji(State(state): S, a: Authed, Path(id): Path<String>) -> ApiResult<StatusCode> {
    a.require_admin()?;
    let id: EmojiId = parse_id(&id).map_err(|_| ApiError(Error::not_found("unknown_emoji", "No such emoji.")))?;
    let store = state.store.clone();
    let by = a.user.id;
    let stored = blocking(move || store.delete_emoji(id, by, now_ms())).await?;
    if is_stored_name(&stored) {
        if let Err(e) = tokio::fs::remove_file(Dirs::of(&state).emoji.join(&stored)).await {
            tracing::warn!(error = %e, name = %stored, "could not remove an emoji's file");
        }
    }
    Ok(StatusCode::NO_CONTENT)
}

// ---- exports ----

/// Messages read per query while exporting.
const EXPORT_PAGE: usize = 500;

fn header_safe(s: &str) -> String {
    let v: String = s.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')).collect();
    if v.is_empty() { "export".into() } else { v }
}

fn download_headers(content_type: &'static str, filename: &str) -> [(header::HeaderName, String); 3] {
    [
        (header::CONTENT_TYPE, content_type.to_owned()),
        (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{filename}\"")),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
    ]
}

/// `GET /api/me/export`: the user's own messages as one JSON file.
async fn export_me(State(state): S, a: Authed) -> ApiResult<Response> {
    let store = state.store.clone();
    let user = a.user.clone();
    let body = blocking(move || {
        let mut messages = Vec::new();
        let mut after = None;
        loop {
            let page = store.export_user_messages(user.id, after, EXPORT_PAGE)?;
            let done = page.len() < EXPORT_PAGE;
            after = page.last().map(|m| m.id);
            messages.extend(page);
            if done {
                break;
            }
        }
        let doc = serde_json::json!({
            "format": "spot-export-v1",
            "exported_at": now_ms(),
            "user": {"id": user.id, "username": user.username, "display_name": user.display_name},
            "messages": messages,
        });
        serde_json::to_vec_pretty(&doc).map_err(|e| store::Error::Internal(e.to_string()))
    })
    .await?;
    let name = format!("spot-export-{}.json", header_safe(&a.user.username));
    let headers = download_headers("application/json", &name);
    let mut resp = Response::new(Body::from(body));
    for (k, v) in headers {
        resp.headers_mut().insert(k, HeaderValue::from_str(&v).map_err(|_| ApiError(Error::internal("Bad header value.")))?);
    }
    Ok(resp)
}

/// `GET /api/admin/channels/:id/export`: a tar of `channel.json` (the channel and all its
/// messages) and `attachments/ID-FILENAME`, built in a temp file (never whole in memory) and
/// streamed.
async fn export_channel(State(state): S, a: Authed, Path(id): Path<String>) -> ApiResult<Response> {
    a.require_admin()?;
    let actor = a.actor();
    let id: ChannelId = parse_id(&id)?;
    let store = state.store.clone();
    // Admins export what they can see: DMs stay private to their members.
    let (channel, _) = blocking(move || store.authorize(actor, id, Action::ViewChannel)).await?;
    let dirs = Dirs::of(&state);
    dirs.ensure().await?;
    let store = state.store.clone();
    let name = format!("spot-channel-{}-{}.tar", header_safe(&channel.name), channel.id);
    let (file, len) = tokio::task::spawn_blocking(move || build_channel_tar(&store, &dirs, &channel))
        .await?
        .map_err(|e| io_error(e, "building a channel export"))?;
    let mut resp = stream_response(tokio::fs::File::from_std(file), len, "application/x-tar", "", "no-store")?;
    for (k, v) in download_headers("application/x-tar", &name) {
        resp.headers_mut().insert(k, HeaderValue::from_str(&v).map_err(|_| ApiError(Error::internal("Bad header value.")))?);
    }
    Ok(resp)
}

fn other(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

/// Build the export in `tmp/`; returns the open archive (already unlinked) and its length.
fn build_channel_tar(store: &Store, dirs: &Dirs, channel: &Channel) -> std::io::Result<(std::fs::File, u64)> {
    let tag = random_name().map_err(|e| other(e.0))?;
    let json = TempFile(Some(dirs.tmp.join(format!("{tag}.json"))));
    let tar_path = TempFile(Some(dirs.tmp.join(format!("{tag}.tar"))));

    // channel.json, written message by message.
    let mut files = Vec::new();
    {
        let mut w = std::io::BufWriter::new(std::fs::File::create(json.path())?);
        write!(w, "{{\"format\":\"spot-channel-export-v1\",\"exported_at\":{},\"channel\":", now_ms())?;
        serde_json::to_writer(&mut w, channel).map_err(other)?;
        w.write_all(b",\"messages\":[")?;
        let mut after: Option<MessageId> = None;
        let mut first = true;
        loop {
            let page = store.export_channel_page(channel.id, after, EXPORT_PAGE).map_err(other)?;
            let done = page.messages.len() < EXPORT_PAGE;
            after = page.messages.last().map(|m| m.id);
            for m in &page.messages {
                if !first {
                    w.write_all(b",\n")?;
                }
                first = false;
                serde_json::to_writer(&mut w, m).map_err(other)?;
            }
            files.extend(page.files);
            if done {
                break;
            }
        }
        w.write_all(b"]}\n")?;
        w.into_inner().map_err(|e| other(e.error()))?.sync_all()?;
    }

    let mtime = (now_ms() / 1000).max(0) as u64;
    let mut tar = tar::Builder::new(std::io::BufWriter::new(std::fs::File::create(tar_path.path())?));
    let add = |tar: &mut tar::Builder<_>, path: &str, src: &FsPath| -> std::io::Result<()> {
        let f = std::fs::File::open(src)?;
        let mut h = tar::Header::new_gnu();
        h.set_size(f.metadata()?.len());
        h.set_mode(0o644);
        h.set_mtime(mtime);
        h.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut h, path, f)
    };
    add(&mut tar, "channel.json", json.path())?;
    for (id, filename, stored) in files {
        if !is_stored_name(&stored) {
            continue;
        }
        let src = dirs.uploads.join(&stored);
        match add(&mut tar, &format!("attachments/{id}-{filename}"), &src) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => tracing::warn!(attachment = %id, "an exported file is missing"),
            Err(e) => return Err(e),
        }
    }
    let mut inner = tar.into_inner()?.into_inner().map_err(|e| other(e.error()))?;
    inner.flush()?;
    drop(inner);
    let file = std::fs::File::open(tar_path.path())?;
    let len = file.metadata()?.len();
    // The open handle keeps the data; the name goes now (TempFile's drop).
    drop(tar_path);
    Ok((file, len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_lose_paths_and_control_characters() {
        let s = |r: &str| sanitize_filename(r);
        assert_eq!(s("../../etc/passwd").as_deref(), Some("passwd"));
        assert_eq!(s("..\\..\\windows\\win.ini").as_deref(), Some("win.ini"));
        assert_eq!(s("..\\x").as_deref(), Some("x"));
        assert_eq!(s("../"), None);
        assert_eq!(s(".."), None);
        assert_eq!(s("..."), None);
        assert_eq!(s("   "), None);
        assert_eq!(s(""), None);
        assert_eq!(s(".htaccess").as_deref(), Some("htaccess"));
        assert_eq!(s("a\0b\r\n.txt").as_deref(), Some("ab.txt"));
        assert_eq!(s("photo\u{202E}gpj.exe").as_deref(), Some("photogpj.exe"));
        assert_eq!(s("report. ").as_deref(), Some("report"));
        assert_eq!(s("ünïcödé 📎.png").as_deref(), Some("ünïcödé 📎.png"));
        let long = format!("{}.tar.gz", "x".repeat(500));
        let out = s(&long).unwrap_or_default();
        assert_eq!(out.chars().count(), FILENAME_MAX_CHARS);
        assert!(out.ends_with(".gz"));
    }

    #[test]
    fn percent_decoding_is_strict() {
        assert_eq!(percent_decode(b"%2e%2e%2fx").as_deref(), Some("../x"));
        assert_eq!(percent_decode(b"a%20b+c").as_deref(), Some("a b+c"));
        assert_eq!(percent_decode("ü".as_bytes()).as_deref(), Some("ü"));
        assert_eq!(percent_decode(b"%"), None);
        assert_eq!(percent_decode(b"%zz"), None);
        assert_eq!(percent_decode(b"%ff"), None, "not UTF-8");
    }

    #[test]
    fn stored_names_are_only_ours() {
        assert!(is_stored_name("0123456789abcdef0123456789abcdef"));
        assert!(is_stored_name("0123456789abcdef0123456789abcdef.png"));
        assert!(!is_stored_name("../0123456789abcdef0123456789abcd"));
        assert!(!is_stored_name("0123456789abcdef0123456789abcdef.html"));
        assert!(!is_stored_name("passwd"));
    }

    #[test]
    fn dispositions_quote_safely() {
        assert_eq!(
            disposition(false, "a \"b\" ü.txt"),
            "attachment; filename=\"a _b_ _.txt\"; filename*=UTF-8''a%20%22b%22%20%C3%BC.txt"
        );
        assert!(disposition(true, "x.png").starts_with("inline; "));
    }

    #[test]
    fn image_claims() {
        assert!(claims_image("image/png", "x.bin"));
        assert!(claims_image("application/octet-stream", "x.JPG"));
        assert!(!claims_image("text/html", "x.html"));
        assert!(!claims_image("image/svg+xml", "x.svg"));
    }
}
