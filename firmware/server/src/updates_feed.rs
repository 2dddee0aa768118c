//! Admin → Updates, the update feed: a URL the admin sets (off until then; a server on the LAN
//! is fine), checked with the TUF-style client of `ota::feed` (expiring, versioned, signed
//! metadata: a replayed, frozen or mixed feed is refused), and a bundle downloaded from it
//! through the SSRF-safe fetcher, streamed to disk, checked against the length and SHA-256 the
//! signed metadata pins, then handed to the helper like an upload.
//!
//! The box trusts the root at `SPOT_OTA_ROOT` (default `/usr/share/spot/ota/root.json`, the
//! same file the helper checks bundles with); what it verified since lives in
//! `DATA/ota/trust/`.

use crate::auth::Authed;
use crate::error::{ApiError, ApiResult};
use crate::extract::Json;
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use chat::Error;
use ota::feed::{TargetEntry, TrustedState};
use ota::Version;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use setup::proto::{Reply, Request};
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

type S = State<Arc<AppState>>;

const FEED_KEY: &str = "ota.feed_url";
/// A whole download may take this long (300 MB at 1 MB/s, with room).
const DOWNLOAD_TIME: Duration = Duration::from_secs(3600);

/// What the last check found and what is downloading.
#[derive(Default)]
pub struct FeedState {
    pub last: Mutex<Option<Check>>,
    pub download: Mutex<Option<Download>>,
}

#[derive(Clone, Serialize)]
pub struct Check {
    pub at: u64,
    pub updates: Vec<Offer>,
    pub error: Option<FeedError>,
}

#[derive(Clone, Serialize)]
pub struct FeedError {
    pub code: String,
    pub message: String,
}

#[derive(Clone, Serialize)]
pub struct Offer {
    pub name: String,
    pub version: String,
    pub notes: String,
    pub length: u64,
}

#[derive(Clone, Serialize)]
pub struct Download {
    pub name: String,
    pub version: String,
    pub done: u64,
    pub total: u64,
    /// `downloading`, `installing` (handed to the helper), `failed`.
    pub state: &'static str,
    pub error: Option<FeedError>,
}

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/admin/updates/feed", get(get_feed).put(set_feed))
        .route("/admin/updates/check", post(check))
        .route("/admin/updates/download", post(download))
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

fn root_path() -> PathBuf {
    std::env::var_os("SPOT_OTA_ROOT").filter(|v| !v.is_empty()).map_or_else(|| "/usr/share/spot/ota/root.json".into(), PathBuf::from)
}

fn trust_dir(state: &AppState) -> PathBuf {
    state.cfg.data_dir.join("ota").join("trust")
}

async fn feed_url(state: &AppState) -> ApiResult<Option<String>> {
    Ok(state.db(move |store| store.meta_get(FEED_KEY)).await?.filter(|u| !u.is_empty()))
}

async fn get_feed(State(state): S, a: Authed) -> ApiResult<Response> {
    a.require_admin()?;
    let url = feed_url(&state).await?;
    let last = state.updates.feed.last.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let download = state.updates.feed.download.lock().unwrap_or_else(|p| p.into_inner()).clone();
    Ok(axum::Json(json!({"url": url, "last_check": last, "download": download})).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FeedInput {
    url: Option<String>,
}

/// The feed's base URL, ending in `/` (files are fetched relative to it).
fn parse_feed_url(raw: &str) -> Result<url::Url, ApiError> {
    let bad = |m: &str| ApiError(Error::invalid("invalid_feed_url", m.to_string()));
    if raw.len() > 500 {
        return Err(bad("The feed address is at most 500 characters."));
    }
    let mut u = url::Url::parse(raw.trim()).map_err(|_| bad("The feed address must be a web address such as http://nas.lan/spot-feed/."))?;
    if !matches!(u.scheme(), "http" | "https") || u.host_str().is_none() {
        return Err(bad("The feed address must start with http:// or https://."));
    }
    if !u.username().is_empty() || u.password().is_some() || u.query().is_some() || u.fragment().is_some() {
        return Err(bad("The feed address may not carry a user name, password, query or fragment."));
    }
    if !u.path().ends_with('/') {
        let p = format!("{}/", u.path());
        u.set_path(&p);
    }
    Ok(u)
}

async fn set_feed(State(state): S, a: Authed, Json(f): Json<FeedInput>) -> ApiResult<StatusCode> {
    a.require_admin()?;
    let value = match f.url.as_deref().map(str::trim).filter(|u| !u.is_empty()) {
        Some(raw) => parse_feed_url(raw)?.to_string(),
        None => String::new(),
    };
    state.db(move |store| store.meta_set(FEED_KEY, &value)).await?;
    *state.updates.feed.last.lock().unwrap_or_else(|p| p.into_inner()) = None;
    Ok(StatusCode::NO_CONTENT)
}

/// A fetcher that may reach the feed's host (the admin chose it, a LAN address included) and
/// nothing else.
fn fetcher_for(base: &url::Url) -> Result<fetch::Fetcher, ApiError> {
    let host = base.host_str().unwrap_or_default();
    let entry = match base.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    };
    let allow = fetch::Allowlist::parse([entry]).map_err(|e| ApiError(Error::invalid("invalid_feed_url", format!("The feed address cannot be used: {}", e.0))))?;
    Ok(fetch::Fetcher::new(fetch::Policy::with_allowlist(allow)))
}

fn feed_err(e: &ota::Error) -> FeedError {
    FeedError { code: e.code().to_string(), message: e.message.clone() }
}

/// The box's board, version and floor, from the helper.
async fn installed(state: &AppState) -> ApiResult<(String, Version, Version)> {
    if !state.cfg.helper.managed() {
        return Err(ApiError(Error::invalid("updates_unmanaged", "This server's system is not installed by Spot box: it takes no updates.")));
    }
    match state.cfg.helper.call(&Request::OtaStatus).await? {
        Reply::Ota { ota, .. } => {
            let v = |s: &str| s.parse::<Version>().unwrap_or(Version(0, 0, 0));
            Ok((ota.board, v(&ota.version), v(&ota.floor)))
        }
        _ => Err(ApiError(Error::unavailable("helper_failed", "The system helper gave no update status."))),
    }
}

/// One TUF refresh against the feed; persists what verified. Returns the targets.
async fn refresh(state: &Arc<AppState>, base: url::Url) -> Result<std::collections::BTreeMap<String, TargetEntry>, ota::Error> {
    let fetcher = fetcher_for(&base).map_err(|e| ota::Error::new(ota::Kind::Malformed, e.0.message))?;
    let dir = trust_dir(state);
    let handle = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        let root = std::fs::read(root_path()).map_err(|e| ota::Error::new(ota::Kind::Io, format!("this box has no update key ({}): {e}", root_path().display())))?;
        let files: Vec<(String, Vec<u8>)> = ["root.json", "timestamp.json", "snapshot.json", "targets.json"]
            .iter()
            .filter_map(|n| std::fs::read(dir.join(n)).ok().map(|b| (n.to_string(), b)))
            .collect();
        let mut trusted = match TrustedState::from_files(files.iter().map(|(n, b)| (n.as_str(), b.as_slice()))) {
            Ok(t) if files.iter().any(|(n, _)| n == "root.json") => t,
            _ => TrustedState::new(&root)?,
        };
        let mut fetch = |name: &str, max: u64| -> ota::Result<Option<Vec<u8>>> {
            let url = base.join(name).map_err(|e| ota::Error::new(ota::Kind::Malformed, e.to_string()))?;
            let opts = fetch::GetOptions { accept: vec![], max_bytes: max as usize, truncate: false };
            match handle.block_on(fetcher.get(url.as_str(), &opts)) {
                Ok(r) => Ok(Some(r.body)),
                Err(e) if e.reason == fetch::Reason::HttpStatus && e.detail.contains("404") => Ok(None),
                Err(e) if e.reason == fetch::Reason::TooLarge => Err(ota::Error::new(ota::Kind::Oversized, format!("the feed's {name} is larger than {max} bytes"))),
                Err(e) => Err(ota::Error::new(ota::Kind::Io, format!("the update feed could not be reached ({}): {}", e.reason.code(), e.detail))),
            }
        };
        let result = trusted.refresh(&mut fetch, now()).map(|t| t.targets.clone());
        // Whatever verified is kept, even after an error (TrustedState's invariant).
        let _ = std::fs::create_dir_all(&dir);
        for (name, bytes) in trusted.to_files() {
            let tmp = dir.join(format!("{name}.tmp"));
            if std::fs::File::create(&tmp).and_then(|mut f| f.write_all(&bytes).and_then(|_| f.sync_all())).is_ok() {
                let _ = std::fs::rename(&tmp, dir.join(name));
            }
        }
        result
    })
    .await
    .map_err(|e| ota::Error::new(ota::Kind::Io, e.to_string()))?
}

async fn check(State(state): S, a: Authed) -> ApiResult<Response> {
    a.require_admin()?;
    let Some(url) = feed_url(&state).await? else {
        return Err(ApiError(Error::invalid("no_feed", "Set the update feed's address first.")));
    };
    let base = parse_feed_url(&url)?;
    let (board, running, floor) = installed(&state).await?;
    let check = match refresh(&state, base).await {
        Ok(targets) => {
            let mut updates: Vec<(Version, Offer)> = targets
                .into_iter()
                .filter(|(_, t)| t.custom.boards.contains(&board) && t.custom.version > running && t.custom.version >= floor)
                .map(|(name, t)| (t.custom.version, Offer { name, version: t.custom.version.to_string(), notes: t.custom.notes, length: t.length }))
                .collect();
            updates.sort_by_key(|u| std::cmp::Reverse(u.0));
            Check { at: now(), updates: updates.into_iter().map(|(_, o)| o).collect(), error: None }
        }
        Err(e) => Check { at: now(), updates: vec![], error: Some(feed_err(&e)) },
    };
    *state.updates.feed.last.lock().unwrap_or_else(|p| p.into_inner()) = Some(check.clone());
    Ok(axum::Json(json!(check)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DownloadInput {
    name: String,
}

async fn download(State(state): S, a: Authed, Json(d): Json<DownloadInput>) -> ApiResult<Response> {
    a.require_admin()?;
    let Some(url) = feed_url(&state).await? else {
        return Err(ApiError(Error::invalid("no_feed", "Set the update feed's address first.")));
    };
    let base = parse_feed_url(&url)?;
    ota::feed::check_target_name(&d.name).map_err(|e| ApiError(Error::invalid("invalid_name", e.message)))?;
    let (board, ..) = installed(&state).await?;
    // The pin comes from a fresh, verified refresh, never from the client.
    let targets = refresh(&state, base.clone()).await.map_err(|e| ApiError(Error::unavailable("feed_failed", e.message)))?;
    let Some(pin) = targets.get(&d.name).cloned() else {
        return Err(ApiError(Error::not_found("unknown_update", "The update feed does not list that update (any more).")));
    };
    if !pin.custom.boards.contains(&board) {
        return Err(ApiError(Error::invalid("wrong_board", "That update is for a different kind of board.")));
    }
    {
        let mut dl = state.updates.feed.download.lock().unwrap_or_else(|p| p.into_inner());
        if dl.as_ref().is_some_and(|d| d.state == "downloading") {
            return Err(ApiError(Error::conflict("busy", "An update is being downloaded already.")));
        }
        *dl = Some(Download { name: d.name.clone(), version: pin.custom.version.to_string(), done: 0, total: pin.length, state: "downloading", error: None });
    }
    tracing::info!(by = %a.user.username, name = %d.name, "downloading an update from the feed");
    let st = state.clone();
    tokio::spawn(async move {
        let outcome = fetch_bundle(&st, &base, &d.name, &pin).await;
        let mut dl = st.updates.feed.download.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(cur) = dl.as_mut() {
            match outcome {
                Ok(()) => cur.state = "installing",
                Err(e) => {
                    tracing::warn!(code = %e.code, "update download failed: {}", e.message);
                    cur.state = "failed";
                    cur.error = Some(e);
                }
            }
        }
    });
    Ok((StatusCode::ACCEPTED, axum::Json(json!({"accepted": true}))).into_response())
}

/// Streams the bundle into the incoming directory, checks it against the pin, hands it over.
async fn fetch_bundle(state: &Arc<AppState>, base: &url::Url, name: &str, pin: &TargetEntry) -> Result<(), FeedError> {
    let fe = |code: &str, message: String| FeedError { code: code.into(), message };
    let url = base.join(&format!("bundles/{name}")).map_err(|e| fe("invalid_feed_url", e.to_string()))?;
    let fetcher = fetcher_for(base).map_err(|e| fe("invalid_feed_url", e.0.message))?;
    let dir = state.cfg.data_dir.join("ota").join("incoming");
    std::fs::create_dir_all(&dir).map_err(|e| fe("io", e.to_string()))?;
    let file_name = format!("feed-{}.spotota", crate::files::random_name().map_err(|_| fe("io", "no randomness".into()))?);
    let part = dir.join(format!("{file_name}.part"));
    let mut file = std::fs::File::create(&part).map_err(|e| fe("io", e.to_string()))?;
    let mut hash = Sha256::new();
    let mut done = 0u64;
    let opts = fetch::GetOptions { accept: vec![], max_bytes: pin.length as usize, truncate: false };
    let feed = &state.updates.feed;
    let mut last_report = 0u64;
    // Writes block briefly (page cache); a bundle is hundreds of MB at most.
    let got = fetcher
        .get_streaming(url.as_str(), &opts, DOWNLOAD_TIME, &mut |bytes: &[u8]| {
            hash.update(bytes);
            file.write_all(bytes).map_err(|e| e.to_string())?;
            done += bytes.len() as u64;
            if done - last_report >= 1 << 20 || done == pin.length {
                last_report = done;
                if let Some(d) = feed.download.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
                    d.done = done;
                }
            }
            Ok(())
        })
        .await;
    let cleanup = |e: FeedError| {
        let _ = std::fs::remove_file(&part);
        e
    };
    if let Err(e) = got {
        let code = if e.reason == fetch::Reason::TooLarge { "download_mismatch" } else { "download_failed" };
        return Err(cleanup(fe(code, format!("The download stopped: {} ({})", e.detail, e.reason.code()))));
    }
    if done != pin.length || hex::encode(hash.finalize()) != pin.sha256 {
        return Err(cleanup(fe("download_mismatch", "The downloaded file is not the one the update feed's signed list names.".into())));
    }
    file.sync_all().map_err(|e| cleanup(fe("io", e.to_string())))?;
    drop(file);
    std::fs::rename(&part, dir.join(&file_name)).map_err(|e| cleanup(fe("io", e.to_string())))?;
    if let Err(e) = state.cfg.helper.done(&Request::OtaInstall { name: file_name.clone() }).await {
        let _ = std::fs::remove_file(dir.join(&file_name));
        return Err(fe(e.code, e.message));
    }
    Ok(())
}
