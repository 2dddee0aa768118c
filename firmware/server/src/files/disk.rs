//! The files directory: temp files that clean up after themselves, durable writes, bodies
//! streamed to disk and files streamed back out.

use super::names::{is_stored_name, random_name};
use super::view::{quota_exceeded, too_large, unknown_attachment};
use crate::error::{ApiError, ApiResult};
use crate::AppState;
use axum::body::Body;
use axum::http::{header, HeaderValue};
use axum::response::Response;
use chat::Error;
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path as FsPath, PathBuf};
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// The directories under `files_dir`.
pub(super) struct Dirs {
    pub uploads: PathBuf,
    pub emoji: PathBuf,
    pub tmp: PathBuf,
}

impl Dirs {
    pub fn of(state: &AppState) -> Dirs {
        let root = &state.cfg.files_dir;
        Dirs { uploads: root.join("uploads"), emoji: root.join("emoji"), tmp: root.join("tmp") }
    }

    pub async fn ensure(&self) -> ApiResult<()> {
        for d in [&self.uploads, &self.emoji, &self.tmp] {
            tokio::fs::create_dir_all(d).await.map_err(|e| io_error(e, "creating the files directory"))?;
        }
        Ok(())
    }
}

pub(super) fn io_error(e: std::io::Error, what: &str) -> ApiError {
    tracing::error!(error = %e, "{what}");
    if e.kind() == std::io::ErrorKind::StorageFull {
        ApiError(Error::internal("The box's storage is full."))
    } else {
        ApiError(Error::internal("The file could not be stored on the box. Please try again."))
    }
}

/// Deletes its file when dropped, unless kept.
pub(super) struct TempFile(pub Option<PathBuf>);

impl TempFile {
    pub fn path(&self) -> &FsPath {
        self.0.as_deref().unwrap_or(FsPath::new(""))
    }
    pub fn keep(mut self) -> PathBuf {
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

pub(super) fn fsync_dir(dir: &FsPath) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// Write `bytes` to `dir/name`, durably.
pub(super) fn write_durable(dir: &FsPath, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    let mut f = std::fs::File::create(dir.join(name))?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// What the streamed body came to.
pub(super) struct Received {
    pub tmp: TempFile,
    pub size: u64,
    pub sha256: String,
    /// The first bytes, to sniff.
    pub head: Vec<u8>,
}

/// Stream the body to a temp file, stopping as soon as it passes `max` (file too large) or
/// `room` (quota), or when it sends nothing for `idle` (the temp file goes with the error).
/// The file is fsynced.
pub(super) async fn receive(body: Body, idle: Duration, tmp_dir: &FsPath, max: u64, room: u64, used: u64, quota: u64) -> ApiResult<Received> {
    let tmp = TempFile(Some(tmp_dir.join(format!("{}.part", random_name()?))));
    let mut file = tokio::fs::File::create(tmp.path()).await.map_err(|e| io_error(e, "creating an upload's temp file"))?;
    let mut stream = body.into_data_stream();
    let (mut size, mut hash, mut head) = (0u64, Sha256::new(), Vec::new());
    loop {
        let chunk = match tokio::time::timeout(idle, stream.next()).await {
            Ok(Some(Ok(c))) => c,
            Ok(None) => break,
            Ok(Some(Err(_))) | Err(_) => return Err(interrupted()),
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

fn interrupted() -> ApiError {
    ApiError(Error::invalid("upload_interrupted", "The upload was interrupted. Please try again."))
}

/// A small body past its limit is read to its end (and dropped) before answering, up to this
/// many bytes: a client still sending when the answer comes may see a reset, not the 413.
pub(super) const DRAIN_MAX: u64 = 4 << 20;

/// Read a whole body, at most `max` bytes, each piece within `idle` of the last.
pub(super) async fn read_limited(body: Body, idle: Duration, max: usize) -> ApiResult<Vec<u8>> {
    let mut stream = body.into_data_stream();
    let mut out = Vec::new();
    let mut seen = 0u64;
    loop {
        match tokio::time::timeout(idle, stream.next()).await {
            Ok(Some(Ok(c))) => {
                seen += c.len() as u64;
                if seen > DRAIN_MAX.max(max as u64) {
                    return Err(too_large(max as u64));
                }
                // Past the limit: keep reading, keep nothing.
                if seen <= max as u64 {
                    out.extend_from_slice(&c);
                }
            }
            Ok(None) if seen > max as u64 => return Err(too_large(max as u64)),
            Ok(None) => return Ok(out),
            _ => return Err(interrupted()),
        }
    }
}

/// Serve a stored file with the headers that keep it inert.
pub(super) async fn serve_file(path: PathBuf, content_type: &str, disposition: String, cache: &'static str) -> ApiResult<Response> {
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

pub(super) fn stream_response(file: tokio::fs::File, len: u64, content_type: &str, disposition: &str, cache: &'static str) -> ApiResult<Response> {
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
    h.insert(header::CONTENT_TYPE, header_value(content_type)?);
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    h.insert(header::CONTENT_DISPOSITION, header_value(disposition)?);
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("sandbox; default-src 'none'"));
    h.insert("cross-origin-resource-policy", HeaderValue::from_static("same-origin"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    Ok(resp)
}

pub(super) fn header_value(s: &str) -> ApiResult<HeaderValue> {
    HeaderValue::from_str(s).map_err(|_| ApiError(Error::internal("Bad header value.")))
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
