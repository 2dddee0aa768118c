//! Admin → Updates. The daemon never writes a slot or the boot state: it receives a bundle into
//! its data directory (`ota/incoming/`) and asks the helper to install it; the helper checks
//! the signature and everything else again, writes the other slot and reports progress. Once
//! serving, the daemon tells the helper it is healthy (`heartbeat`), which is what commits a new
//! system on trial.

use crate::auth::Authed;
use crate::error::{ApiError, ApiResult};
use crate::AppState;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use chat::error::ErrorKind;
use chat::Error;
use futures_util::StreamExt;
use ota::bundle::MAGIC;
use serde_json::json;
use setup::proto::{Reply, Request};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

type S = State<Arc<AppState>>;

/// A bundle is at most this big (a full system image is ~300 MB).
pub const MAX_BUNDLE: u64 = 4 << 30;
/// How often a healthy daemon says so.
pub const HEARTBEAT: Duration = Duration::from_secs(5);

/// One upload at a time; the feed's last check and download; a scheduled restart.
#[derive(Default)]
pub struct Updates {
    receiving: AtomicBool,
    pub feed: crate::updates_feed::FeedState,
    /// When the box restarts by itself (seconds since the epoch), and the task that does it.
    scheduled: std::sync::Mutex<Option<(u64, tokio::task::AbortHandle)>>,
}

/// A scheduled restart is at most this far ahead.
const MAX_SCHEDULE: u64 = 7 * 24 * 3600;

fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/admin/updates", get(status))
        // Streamed to disk with its own limit, not the API's 64 KiB.
        .route("/admin/updates/upload", post(upload).layer(DefaultBodyLimit::disable()))
        .route("/admin/updates/restart", post(restart).delete(cancel_restart))
        .route("/admin/updates/rollback", post(rollback))
        .merge(crate::updates_feed::routes())
}

fn unmanaged() -> ApiError {
    ApiError(Error::invalid(
        "updates_unmanaged",
        "This server's system is not installed by Spot box (a development machine): update it the way it was installed.",
    ))
}

fn incoming(state: &AppState) -> PathBuf {
    state.cfg.data_dir.join("ota").join("incoming")
}

async fn status(State(state): S, a: Authed) -> ApiResult<Response> {
    a.require_admin()?;
    if !state.cfg.helper.managed() {
        return Ok(axum::Json(json!({"managed": false, "version": env!("CARGO_PKG_VERSION")})).into_response());
    }
    match state.cfg.helper.call(&Request::OtaStatus).await? {
        Reply::Ota { ota, .. } => {
            let download = state.updates.feed.download.lock().unwrap_or_else(|p| p.into_inner()).clone();
            let restart_at = state.updates.scheduled.lock().unwrap_or_else(|p| p.into_inner()).as_ref().map(|(at, _)| *at);
            Ok(axum::Json(json!({"managed": true, "version": env!("CARGO_PKG_VERSION"), "ota": ota, "download": download, "restart_at": restart_at}))
                .into_response())
        }
        _ => Err(ApiError(Error::unavailable("helper_failed", "The system helper gave no update status."))),
    }
}

/// Clears the flag however the upload ends.
struct Receiving<'a>(&'a AtomicBool);
impl Drop for Receiving<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

/// Removes a partial file unless kept.
struct Partial(Option<PathBuf>);
impl Drop for Partial {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

fn bad_bundle(message: &str) -> ApiError {
    ApiError(Error::invalid("not_a_bundle", message))
}

/// The body is the bundle file. Answers 202 once it is on disk and the helper started the
/// install; progress and the outcome are in `GET /admin/updates`.
async fn upload(State(state): S, a: Authed, headers: HeaderMap, body: Body) -> ApiResult<Response> {
    a.require_admin()?;
    if !state.cfg.helper.managed() {
        return Err(unmanaged());
    }
    if let Some(len) = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok()) {
        if len > MAX_BUNDLE {
            return Err(too_large());
        }
    }
    if state.updates.receiving.swap(true, Ordering::SeqCst) {
        return Err(ApiError(Error::conflict("busy", "Another update is being uploaded right now.")));
    }
    let _flag = Receiving(&state.updates.receiving);
    let dir = incoming(&state);
    tokio::fs::create_dir_all(&dir).await.map_err(|e| io(e, "creating the update directory"))?;
    clear_old(&dir).await;
    let name = format!("{}.spotota", crate::files::random_name()?);
    let part = dir.join(format!("{name}.part"));
    let mut guard = Partial(Some(part.clone()));
    // Twice the usual idle time: a browser reads a bundle of hundreds of MB from its disk.
    receive(body, state.cfg.body_idle * 2, &part).await?;
    let done = dir.join(&name);
    tokio::fs::rename(&part, &done).await.map_err(|e| io(e, "saving the update"))?;
    guard.0 = Some(done);
    tracing::info!(by = %a.user.username, file = %name, "update uploaded; installing");
    state.cfg.helper.done(&Request::OtaInstall { name: name.clone() }).await?;
    // The helper owns the file now (it deletes it when done).
    guard.0 = None;
    Ok((StatusCode::ACCEPTED, axum::Json(json!({"accepted": true}))).into_response())
}

fn too_large() -> ApiError {
    ApiError(Error::new(ErrorKind::TooLarge, "too_large", format!("An update bundle is at most {} GB.", MAX_BUNDLE >> 30)))
}

fn io(e: std::io::Error, what: &str) -> ApiError {
    if e.raw_os_error() == Some(28) {
        return ApiError(Error::new(ErrorKind::TooLarge, "disk_full", "The box's data partition is full: there is no room for the update."));
    }
    ApiError(Error::internal(format!("{what}: {e}")))
}

/// Leftovers of uploads cut off (a crash mid-upload) or never taken by the helper.
async fn clear_old(dir: &Path) {
    let Ok(mut rd) = tokio::fs::read_dir(dir).await else { return };
    while let Ok(Some(e)) = rd.next_entry().await {
        let old = e.metadata().await.ok().and_then(|m| m.modified().ok()).and_then(|t| t.elapsed().ok()).is_some_and(|d| d > Duration::from_secs(3600));
        if old || e.file_name().to_string_lossy().ends_with(".part") {
            let _ = tokio::fs::remove_file(e.path()).await;
        }
    }
}

async fn receive(body: Body, idle: Duration, path: &Path) -> ApiResult<()> {
    let mut file = tokio::fs::File::create(path).await.map_err(|e| io(e, "creating the update file"))?;
    let mut stream = body.into_data_stream();
    let mut size = 0u64;
    let mut head = Vec::with_capacity(8);
    loop {
        let chunk = match tokio::time::timeout(idle, stream.next()).await {
            Ok(Some(Ok(c))) => c,
            Ok(None) => break,
            Ok(Some(Err(_))) | Err(_) => {
                return Err(ApiError(Error::invalid("upload_interrupted", "The upload was interrupted. Please try again.")))
            }
        };
        size += chunk.len() as u64;
        if size > MAX_BUNDLE {
            return Err(too_large());
        }
        if head.len() < MAGIC.len() {
            head.extend_from_slice(&chunk[..chunk.len().min(MAGIC.len() - head.len())]);
            if !MAGIC.starts_with(&head) {
                return Err(bad_bundle("This file is not a Spot box update bundle (.spotota)."));
            }
        }
        file.write_all(&chunk).await.map_err(|e| io(e, "writing the update"))?;
    }
    if head.len() < MAGIC.len() {
        return Err(bad_bundle("This file is not a Spot box update bundle (.spotota)."));
    }
    file.sync_all().await.map_err(|e| io(e, "saving the update"))?;
    Ok(())
}

#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RestartInput {
    /// Seconds since the epoch; absent: now.
    #[serde(default)]
    at: Option<u64>,
}

/// Restart now, or at `at` (e.g. tonight, when nobody is in a voice room). A new schedule
/// replaces the old one.
async fn restart(State(state): S, a: Authed, crate::extract::Json(input): crate::extract::Json<RestartInput>) -> ApiResult<Response> {
    a.require_admin()?;
    if !state.cfg.helper.managed() {
        return Err(unmanaged());
    }
    let now = now_secs();
    let Some(at) = input.at.filter(|at| *at > now) else {
        if input.at.is_some_and(|at| at + 60 < now) {
            return Err(ApiError(Error::invalid("invalid_time", "That time has passed; choose a time ahead.")));
        }
        tracing::warn!(by = %a.user.username, "restart for an update requested");
        state.cfg.helper.done(&Request::Reboot).await?;
        return Ok((StatusCode::ACCEPTED, axum::Json(json!({}))).into_response());
    };
    if at - now > MAX_SCHEDULE {
        return Err(ApiError(Error::invalid("invalid_time", "A restart can be scheduled at most a week ahead.")));
    }
    let st = state.clone();
    let task = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(at.saturating_sub(now_secs()))).await;
        tracing::warn!("scheduled restart");
        if let Err(e) = st.cfg.helper.done(&Request::Reboot).await {
            tracing::warn!(error = %e.message, "the scheduled restart failed");
        }
        *st.updates.scheduled.lock().unwrap_or_else(|p| p.into_inner()) = None;
    });
    let old = state.updates.scheduled.lock().unwrap_or_else(|p| p.into_inner()).replace((at, task.abort_handle()));
    if let Some((_, h)) = old {
        h.abort();
    }
    tracing::info!(by = %a.user.username, at, "restart scheduled");
    Ok((StatusCode::ACCEPTED, axum::Json(json!({"restart_at": at}))).into_response())
}

async fn cancel_restart(State(state): S, a: Authed) -> ApiResult<StatusCode> {
    a.require_admin()?;
    if let Some((_, h)) = state.updates.scheduled.lock().unwrap_or_else(|p| p.into_inner()).take() {
        h.abort();
    }
    Ok(StatusCode::NO_CONTENT)
}

async fn rollback(State(state): S, a: Authed) -> ApiResult<Response> {
    a.require_admin()?;
    if !state.cfg.helper.managed() {
        return Err(unmanaged());
    }
    tracing::warn!(by = %a.user.username, "rollback to the other slot requested");
    state.cfg.helper.done(&Request::OtaRollback).await?;
    Ok((StatusCode::ACCEPTED, axum::Json(json!({}))).into_response())
}

/// Tells the helper every few seconds that this daemon is serving and its database answers:
/// what commits a new system on trial. A daemon that never gets here never commits one.
pub fn heartbeat(state: Arc<AppState>) {
    if !state.cfg.helper.managed() {
        return;
    }
    tokio::spawn(async move {
        loop {
            let db_ok = state.db(move |store| store.current_seq()).await.is_ok();
            if db_ok {
                if let Err(e) = state.cfg.helper.done(&Request::OtaHealthy).await {
                    tracing::debug!(error = %e.message, "update heartbeat not delivered");
                }
            }
            tokio::time::sleep(HEARTBEAT).await;
        }
    });
}
