//! Admin → Updates, the update feed: a URL the admin sets (off until then; a server on the LAN
//! is fine), checked with the TUF-style client of `ota::feed` (expiring, versioned, signed
//! metadata: a replayed, frozen or mixed feed is refused), and a bundle downloaded from it
//! through the SSRF-safe fetcher.
//!
//! A download is a delta when the feed's server answers `Range`: the bundle's header first
//! (checked against the manifest hash and length the signed targets pin), then the helper says
//! which chunks the running slot lacks (`OtaPlan`), and only those byte ranges are fetched into
//! a sparse file the helper installs from (`OtaInstallDelta`, copying the other chunks from the
//! running slot; every chunk checked against the signed manifest, the slot read back). A
//! server without `Range` gets the whole file, checked against the pinned length and SHA-256 and
//! handed over like an upload. Either way `NAME.part.json` beside the file records what is on
//! disk (synced), so a download cut off (connection lost, daemon restarted) goes on from there
//! when it is asked for again.
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
/// Wanted ranges closer than this are fetched as one (a request costs more than the gap).
const MERGE_GAP: u64 = 64 << 10;
/// The file is synced and its progress record saved after this many downloaded bytes.
const RECORD_EVERY: u64 = 4 << 20;

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
    /// Bytes of the bundle on disk, of `total` to download (a delta: the header and the
    /// chunks the box lacks; otherwise the whole file). A resumed download starts where the
    /// last one stopped.
    pub done: u64,
    pub total: u64,
    /// Bytes per second fetched by this attempt.
    pub speed: Option<u64>,
    /// `delta` (only what the running system lacks) or `full`.
    pub mode: &'static str,
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
        *dl = Some(Download {
            name: d.name.clone(),
            version: pin.custom.version.to_string(),
            done: 0,
            total: pin.length,
            speed: None,
            mode: "full",
            state: "downloading",
            error: None,
        });
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

/// What of a download is on disk (synced): `NAME.part.json` beside `NAME.part`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PartRecord {
    /// The pin the bytes are of (a newer release starts over).
    length: u64,
    sha256: String,
    manifest_sha256: String,
    /// `delta`: `done` are file ranges; `full`: the file's first `done[0][1]` bytes.
    mode: String,
    /// `[offset, len]`, sorted, disjoint.
    done: Vec<[u64; 2]>,
}

impl PartRecord {
    fn new(pin: &TargetEntry, mode: &str) -> Self {
        PartRecord { length: pin.length, sha256: pin.sha256.clone(), manifest_sha256: pin.custom.manifest_sha256.clone(), mode: mode.into(), done: vec![] }
    }

    fn is_of(&self, pin: &TargetEntry) -> bool {
        self.length == pin.length && self.sha256 == pin.sha256 && self.manifest_sha256 == pin.custom.manifest_sha256
    }

    /// Adds `[off, off+len)`, merging neighbours.
    fn add(&mut self, off: u64, len: u64) {
        if len == 0 {
            return;
        }
        self.done.push([off, len]);
        self.done.sort_unstable();
        let mut out: Vec<[u64; 2]> = vec![];
        for [o, l] in self.done.drain(..) {
            match out.last_mut() {
                Some(last) if last[0] + last[1] >= o => last[1] = last[1].max(o + l - last[0]),
                _ => out.push([o, l]),
            }
        }
        self.done = out;
    }

    /// The parts of `[off, off+len)` not on disk yet.
    fn missing(&self, off: u64, len: u64) -> Vec<(u64, u64)> {
        let (mut at, end) = (off, off + len);
        let mut out = vec![];
        for &[o, l] in &self.done {
            if o + l <= at || o >= end {
                continue;
            }
            if o > at {
                out.push((at, o - at));
            }
            at = at.max(o + l);
        }
        if at < end {
            out.push((at, end - at));
        }
        out
    }

    fn load(path: &std::path::Path) -> Option<PartRecord> {
        serde_json::from_slice(&std::fs::read(path).ok()?).ok()
    }

    /// Written to a temporary name, synced, renamed.
    fn save(&self, path: &std::path::Path) -> std::io::Result<()> {
        let tmp = path.with_extension("tmp");
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&serde_json::to_vec(self).map_err(std::io::Error::other)?)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    }
}

/// Where one download attempt is, for `GET /api/admin/updates`.
struct Meter<'a> {
    feed: &'a FeedState,
    started: std::time::Instant,
    /// Bytes fetched by this attempt.
    fetched: u64,
    last_report: u64,
}

impl Meter<'_> {
    fn set(&mut self, mode: &'static str, done: u64, total: u64) {
        if let Some(d) = self.feed.download.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
            (d.mode, d.done, d.total) = (mode, done, total);
        }
    }

    fn arrived(&mut self, n: u64, done: u64) {
        self.fetched += n;
        if self.fetched - self.last_report >= 256 << 10 || n == 0 {
            self.last_report = self.fetched;
            let secs = self.started.elapsed().as_secs_f64();
            if let Some(d) = self.feed.download.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
                d.done = done;
                d.speed = (secs > 0.0).then(|| (self.fetched as f64 / secs) as u64);
            }
        }
    }
}

/// How a delta attempt ended short of the install.
enum DeltaEnd {
    /// The server does not do ranges: download the whole file instead.
    Full,
    Failed(FeedError),
}

fn fe(code: &str, message: String) -> FeedError {
    FeedError { code: code.into(), message }
}

fn stopped(e: &fetch::Refused) -> FeedError {
    let code = if matches!(e.reason, fetch::Reason::TooLarge | fetch::Reason::BadRange) { "download_mismatch" } else { "download_failed" };
    fe(code, format!("The download stopped: {} ({})", e.detail, e.reason.code()))
}

/// Downloads the bundle into the incoming directory (a delta when the server does ranges,
/// else whole), resuming what an earlier attempt left, and hands it to the helper.
async fn fetch_bundle(state: &Arc<AppState>, base: &url::Url, name: &str, pin: &TargetEntry) -> Result<(), FeedError> {
    let url = base.join(&format!("bundles/{name}")).map_err(|e| fe("invalid_feed_url", e.to_string()))?;
    let fetcher = fetcher_for(base).map_err(|e| fe("invalid_feed_url", e.0.message))?;
    let dir = state.cfg.data_dir.join("ota").join("incoming");
    std::fs::create_dir_all(&dir).map_err(|e| fe("io", e.to_string()))?;
    // Named by the pin, so a later attempt at the same bundle finds what this one left.
    let file_name = format!("feed-{}.spotota", &pin.sha256[..16]);
    let part_name = format!("{file_name}.part");
    let part = dir.join(&part_name);
    let rec_path = dir.join(format!("{part_name}.json"));
    // What other releases' downloads left is of no use any more.
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for e in entries.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if n.starts_with("feed-") && (n.ends_with(".part") || n.ends_with(".part.json")) && !n.starts_with(&part_name) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    let plain = std::fs::symlink_metadata(&part).is_ok_and(|m| m.file_type().is_file());
    let mut rec = PartRecord::load(&rec_path).filter(|r| r.is_of(pin) && plain);
    if rec.is_none() {
        let _ = std::fs::remove_file(&part);
    }
    let file = std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&part).map_err(|e| fe("io", e.to_string()))?;
    let forget = || {
        let _ = std::fs::remove_file(&part);
        let _ = std::fs::remove_file(&rec_path);
    };
    let mut meter = Meter { feed: &state.updates.feed, started: std::time::Instant::now(), fetched: 0, last_report: 0 };
    let delta_possible = pin.header_len() < pin.length;
    if delta_possible && rec.as_ref().is_none_or(|r| r.mode == "delta") {
        let mut r = rec.take().unwrap_or_else(|| PartRecord::new(pin, "delta"));
        match fetch_delta(state, &fetcher, &url, pin, &file, &part_name, &rec_path, &mut r, &mut meter).await {
            Ok(()) => {
                drop(file);
                return hand_over(state, &dir, &part, &rec_path, &file_name, Request::OtaInstallDelta { name: file_name.clone() }).await;
            }
            Err(DeltaEnd::Full) => tracing::info!("the update feed's server does not answer ranges: downloading the whole bundle"),
            Err(DeltaEnd::Failed(e)) => {
                if e.code != "download_failed" {
                    forget();
                }
                return Err(e);
            }
        }
        file.set_len(0).map_err(|e| fe("io", e.to_string()))?;
    }
    let mut r = rec.filter(|r| r.mode == "full").unwrap_or_else(|| PartRecord::new(pin, "full"));
    match fetch_full(&fetcher, &url, pin, &file, &rec_path, &mut r, &mut meter).await {
        Ok(()) => {
            drop(file);
            hand_over(state, &dir, &part, &rec_path, &file_name, Request::OtaInstall { name: file_name.clone() }).await
        }
        Err(e) => {
            if e.code != "download_failed" {
                forget();
            }
            Err(e)
        }
    }
}

/// The finished file under its own name, then the helper's.
async fn hand_over(state: &AppState, dir: &std::path::Path, part: &std::path::Path, rec_path: &std::path::Path, file_name: &str, req: Request) -> Result<(), FeedError> {
    let _ = std::fs::remove_file(rec_path);
    let dest = dir.join(file_name);
    if let Err(e) = std::fs::rename(part, &dest) {
        let _ = std::fs::remove_file(part);
        return Err(fe("io", e.to_string()));
    }
    if let Err(e) = state.cfg.helper.done(&req).await {
        let _ = std::fs::remove_file(&dest);
        return Err(fe(e.code, e.message));
    }
    Ok(())
}

/// Fetches `[off, off+len)` into `file` at `off`, recording progress in `rec` (saved every
/// `RECORD_EVERY` bytes and when the fetch stops, always after a sync).
#[allow(clippy::too_many_arguments)]
async fn fetch_range(
    fetcher: &fetch::Fetcher,
    url: &url::Url,
    (off, len): (u64, u64),
    file: &std::fs::File,
    rec: &mut PartRecord,
    rec_path: &std::path::Path,
    meter: &mut Meter<'_>,
    done_before: u64,
    mut hash: Option<&mut Sha256>,
) -> Result<(), fetch::Refused> {
    use std::os::unix::fs::FileExt;
    let opts = fetch::GetOptions { accept: vec![], max_bytes: len as usize, truncate: false };
    let mut got = 0u64;
    let mut recorded = 0u64;
    let mut io_error: Option<String> = None;
    let result = fetcher
        .get_range_streaming(url.as_str(), &opts, (off, len), DOWNLOAD_TIME, &mut |bytes: &[u8]| {
            file.write_all_at(bytes, off + got).map_err(|e| e.to_string())?;
            if let Some(h) = hash.as_deref_mut() {
                h.update(bytes);
            }
            got += bytes.len() as u64;
            meter.arrived(bytes.len() as u64, done_before + got);
            if got - recorded >= RECORD_EVERY {
                let mut r = rec.clone();
                r.add(off, got);
                if let Err(e) = file.sync_data().and_then(|_| r.save(rec_path)) {
                    io_error = Some(e.to_string());
                    return Err(e.to_string());
                }
                *rec = r;
                recorded = got;
            }
            Ok(())
        })
        .await;
    if io_error.is_none() && got > recorded && file.sync_data().is_ok() {
        rec.add(off, got);
        let _ = rec.save(rec_path);
    }
    result.map(|_| ())
}

#[allow(clippy::too_many_arguments)]
async fn fetch_delta(
    state: &AppState,
    fetcher: &fetch::Fetcher,
    url: &url::Url,
    pin: &TargetEntry,
    file: &std::fs::File,
    part_name: &str,
    rec_path: &std::path::Path,
    rec: &mut PartRecord,
    meter: &mut Meter<'_>,
) -> Result<(), DeltaEnd> {
    use std::os::unix::fs::FileExt;
    let failed = |code: &str, m: String| DeltaEnd::Failed(fe(code, m));
    let io = |e: std::io::Error| DeltaEnd::Failed(fe("io", e.to_string()));
    let head_len = pin.header_len();
    meter.set("delta", 0, head_len);
    // 1. The header, checked against the signed pin (again after a resume: it is on disk).
    if !rec.missing(0, head_len).is_empty() {
        file.set_len(pin.length).map_err(io)?;
        match fetch_range(fetcher, url, (0, head_len), file, rec, rec_path, meter, 0, None).await {
            Ok(()) => {}
            Err(e) if e.reason == fetch::Reason::RangeIgnored => return Err(DeltaEnd::Full),
            Err(e) => return Err(DeltaEnd::Failed(stopped(&e))),
        }
    }
    let mut head = vec![0u8; head_len as usize];
    file.read_exact_at(&mut head, 0).map_err(io)?;
    if let Err(e) = pin.check_header(&head) {
        return Err(failed("download_mismatch", format!("The downloaded file is not the one the update feed's signed list names: {}", e.message)));
    }
    drop(head);
    // 2. What the running system lacks: the helper checks the bundle and reads the slot.
    let plan = match state.cfg.helper.call(&Request::OtaPlan { name: part_name.to_string() }).await {
        Ok(Reply::OtaPlan { plan, .. }) => plan,
        Ok(_) => return Err(failed("helper_failed", "The system helper gave no download plan.".into())),
        Err(e) => return Err(failed(e.code, e.message)),
    };
    let mut wanted: Vec<(u64, u64)> = vec![];
    for &[off, len] in &plan.ranges {
        let in_file = off >= head_len && off.checked_add(len).is_some_and(|end| end <= pin.length);
        if !in_file || wanted.last().is_some_and(|&(o, l)| o + l > off) {
            return Err(failed("helper_failed", "The system helper's download plan is not within the bundle.".into()));
        }
        match wanted.last_mut() {
            Some((o, l)) if off - (*o + *l) <= MERGE_GAP => *l = off + len - *o,
            _ => wanted.push((off, len)),
        }
    }
    // 3. Those ranges, what is not on disk yet.
    let total = head_len + wanted.iter().map(|r| r.1).sum::<u64>();
    let todo: Vec<(u64, u64)> = wanted.iter().flat_map(|&(o, l)| rec.missing(o, l)).collect();
    let mut done = total - todo.iter().map(|r| r.1).sum::<u64>();
    meter.set("delta", done, total);
    tracing::info!(total, to_fetch = total - done, local = plan.local, "downloading what the running system lacks of the update");
    for range in todo {
        let r = fetch_range(fetcher, url, range, file, rec, rec_path, meter, done, None).await;
        match r {
            Ok(()) => done += range.1,
            // It answered ranges for the header; a change of mind is a failed download.
            Err(e) => return Err(DeltaEnd::Failed(stopped(&e))),
        }
    }
    meter.arrived(0, done);
    file.sync_all().map_err(io)?;
    Ok(())
}

async fn fetch_full(
    fetcher: &fetch::Fetcher,
    url: &url::Url,
    pin: &TargetEntry,
    file: &std::fs::File,
    rec_path: &std::path::Path,
    rec: &mut PartRecord,
    meter: &mut Meter<'_>,
) -> Result<(), FeedError> {
    use std::os::unix::fs::FileExt;
    let io = |e: std::io::Error| fe("io", e.to_string());
    // What an earlier attempt left, hashed again from the disk.
    let mut have = rec.done.first().filter(|d| d[0] == 0).map_or(0, |d| d[1]).min(pin.length);
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut at = 0u64;
    while at < have {
        let n = (have - at).min(buf.len() as u64) as usize;
        if file.read_exact_at(&mut buf[..n], at).is_err() {
            have = 0;
            hash = Sha256::new();
            break;
        }
        hash.update(&buf[..n]);
        at += n as u64;
    }
    drop(buf);
    meter.set("full", have, pin.length);
    let mut result: Result<(), fetch::Refused> = Ok(());
    if have > 0 && have < pin.length {
        // Resumed with a Range from where it stopped.
        rec.done = vec![[0, have]];
        let mut h = hash.clone();
        match fetch_range(fetcher, url, (have, pin.length - have), file, rec, rec_path, meter, have, Some(&mut h)).await {
            Err(e) if e.reason == fetch::Reason::RangeIgnored => {
                have = 0;
                hash = Sha256::new();
            }
            other => {
                hash = h;
                result = other;
            }
        }
    }
    if have == 0 {
        file.set_len(0).map_err(io)?;
        rec.done.clear();
        let opts = fetch::GetOptions { accept: vec![], max_bytes: pin.length as usize, truncate: false };
        let mut got = 0u64;
        let mut recorded = 0u64;
        let res = fetcher
            .get_streaming(url.as_str(), &opts, DOWNLOAD_TIME, &mut |bytes: &[u8]| {
                hash.update(bytes);
                file.write_all_at(bytes, got).map_err(|e| e.to_string())?;
                got += bytes.len() as u64;
                meter.arrived(bytes.len() as u64, got);
                if got - recorded >= RECORD_EVERY {
                    let r = PartRecord { done: vec![[0, got]], ..rec.clone() };
                    file.sync_data().and_then(|_| r.save(rec_path)).map_err(|e| e.to_string())?;
                    recorded = got;
                }
                Ok(())
            })
            .await;
        if got > 0 && file.sync_data().is_ok() {
            rec.done = vec![[0, got]];
            let _ = rec.save(rec_path);
        }
        result = res.map(|_| ());
    }
    meter.arrived(0, rec.done.first().map_or(0, |d| d[1]));
    if let Err(e) = result {
        return Err(stopped(&e));
    }
    let len = rec.done.first().map_or(0, |d| d[1]);
    if len != pin.length || hex::encode(hash.finalize()) != pin.sha256 {
        return Err(fe("download_mismatch", "The downloaded file is not the one the update feed's signed list names.".into()));
    }
    file.sync_all().map_err(io)?;
    Ok(())
}
