//! Link previews. When a message with links is sent or edited, a job goes to a small background
//! worker that fetches each page through the SSRF-safe `fetch` crate (the only way the daemon
//! fetches URLs), re-encodes the preview image on the box (`media`) so readers never contact the
//! third-party site, caches the result per URL, and attaches it to the message (a
//! `message.update`). The admin can switch previews off and allowlist LAN services.

use crate::error::{ApiError, ApiResult};
use crate::extract::parse_id;
use crate::{now_ms, AppState};
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use chat::ids::{EmbedId, MessageId};
use chat::model::Message;
use chat::Error;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, Semaphore};

/// Links previewed per message.
pub const MAX_LINKS: usize = 3;
/// Jobs waiting; more are dropped (previews are a nicety, never a backlog on a Pi).
const QUEUE: usize = 64;
/// Pages fetched at once.
const PARALLEL: usize = 2;
/// A good preview is reused this long; a failed one is retried after `RETRY_AFTER`.
const FRESH_MS: i64 = 24 * 3600 * 1000;
const RETRY_AFTER_MS: i64 = 3600 * 1000;
/// Preview images: at most this many bytes fetched, this many pixels on the long side kept.
const IMAGE_MAX_BYTES: usize = 5 << 20;
const IMAGE_SIDE: u32 = 640;
/// Everything about one link, lookups and image included.
const LINK_DEADLINE: Duration = Duration::from_secs(25);
/// Preview images live here, under the files directory.
const DIR: &str = "embeds";

struct Job {
    message: MessageId,
    content: String,
    links: Vec<String>,
}

/// The job queue between the request path and the worker.
pub struct Embedder {
    tx: mpsc::Sender<Job>,
    rx: Mutex<Option<mpsc::Receiver<Job>>>,
}

impl Default for Embedder {
    fn default() -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        Embedder { tx, rx: Mutex::new(Some(rx)) }
    }
}

/// Queue previews for the links in `msg` (new or edited). Never waits.
pub fn spawn_for(state: &AppState, msg: &Message) {
    if msg.deleted {
        return;
    }
    let links = chat::text::links(&msg.content, MAX_LINKS);
    if links.is_empty() && msg.embeds.is_empty() {
        return;
    }
    let job = Job { message: msg.id, content: msg.content.clone(), links };
    if state.embeds.tx.try_send(job).is_err() {
        tracing::info!(message = %msg.id, "link preview queue full; skipped");
    }
}

/// Validate the admin's allowlist entries ("host", "host:port", CIDR).
pub fn check_allowlist(list: &[String]) -> ApiResult<()> {
    if list.len() > 100 {
        return Err(ApiError(Error::invalid("invalid_allowlist", "At most 100 allowlist entries.")));
    }
    fetch::Allowlist::parse(list).map(|_| ()).map_err(|e| ApiError(Error::invalid("invalid_allowlist", e.to_string())))
}

/// The worker: runs until `stop` turns true (the server's stop signal); previews still in
/// flight then are abandoned.
pub async fn worker(state: Arc<AppState>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let Some(mut rx) = state.embeds.rx.lock().unwrap_or_else(|e| e.into_inner()).take() else { return };
    let slots = Arc::new(Semaphore::new(PARALLEL));
    let mut fetcher: Option<(Vec<String>, Vec<std::net::IpAddr>, Arc<fetch::Fetcher>)> = None;
    let mut jobs = tokio::task::JoinSet::new();
    loop {
        let job = tokio::select! {
            job = rx.recv() => match job {
                Some(job) => job,
                None => break,
            },
            _ = stop.wait_for(|v| *v) => break,
        };
        while jobs.try_join_next().is_some() {}
        let settings = match state.db(move |store| store.settings()).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e.0, "link previews: settings unreadable");
                continue;
            }
        };
        if !settings.embeds_enabled {
            continue;
        }
        // The box's public address counts as its own (NAT loopback reaches the router).
        let public = state.identity.public_addrs(&state).await;
        let f = match &fetcher {
            Some((list, p, f)) if *list == settings.embed_allowlist && *p == public => f.clone(),
            _ => {
                let Ok(allow) = fetch::Allowlist::parse(&settings.embed_allowlist) else { continue };
                let own = Arc::new(fetch::SystemAndExtra(public.clone()));
                let f = Arc::new(fetch::Fetcher::new(fetch::Policy::with_allowlist(allow)).with_own_addrs(own));
                fetcher = Some((settings.embed_allowlist.clone(), public, f.clone()));
                f
            }
        };
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            _ = stop.wait_for(|v| *v) => break,
        };
        let state = state.clone();
        jobs.spawn(async move {
            run_job(&state, &f, job).await;
            drop(permit);
        });
    }
}

async fn run_job(state: &Arc<AppState>, f: &fetch::Fetcher, job: Job) {
    let mut ids = Vec::new();
    for url in &job.links {
        if let Some(id) = preview(state, f, url).await {
            ids.push(id);
        }
    }
    let (message, content) = (job.message, job.content);
    if let Err(e) = state.db(move |store| store.set_message_embeds(message, &content, &ids, now_ms())).await {
        tracing::info!(%message, error = %e.0, "link preview not attached");
    }
}

/// The preview for one URL, from the cache or fetched now. `None` if there is nothing to show.
async fn preview(state: &Arc<AppState>, f: &fetch::Fetcher, url: &str) -> Option<EmbedId> {
    let u = url.to_owned();
    let cached = state.db(move |store| store.cached_embed(&u)).await.ok().flatten();
    let now = now_ms();
    if let Some(c) = cached {
        let fresh = if c.status == "ok" { FRESH_MS } else { RETRY_AFTER_MS };
        if now - c.fetched_at < fresh {
            return (c.status == "ok").then_some(c.id);
        }
    }
    let fetched = tokio::time::timeout(LINK_DEADLINE, fetch_preview(state, f, url)).await;
    let (p, image_file, status) = match fetched {
        Ok(Ok((p, image))) => {
            let empty = p.title.is_none() && p.description.is_none() && image.is_none();
            (p, image, if empty { "empty".to_owned() } else { "ok".to_owned() })
        }
        Ok(Err(refused)) => (fetch::Preview::default(), None, refused.code().to_owned()),
        Err(_) => (fetch::Preview::default(), None, "timeout".to_owned()),
    };
    let site = p.site_name.clone().unwrap_or_default();
    let (title, description) = (p.title.clone().unwrap_or_default(), p.description.clone().unwrap_or_default());
    let u = url.to_owned();
    let st = status.clone();
    let saved = state.db(move |store| {
        store.save_embed(
            &store::NewEmbed {
                url: &u,
                title: &title,
                description: &description,
                site_name: &site,
                image_file: image_file.as_deref(),
                status: &st,
            },
            now_ms(),
        )
    })
    .await;
    match saved {
        Ok((id, replaced)) => {
            if let Some(old) = replaced {
                let path = state.cfg.files_dir.join(DIR).join(old);
                let _ = tokio::fs::remove_file(path).await;
            }
            (status == "ok").then_some(id)
        }
        Err(e) => {
            tracing::warn!(url, error = %e.0, "link preview not saved");
            None
        }
    }
}

/// Fetch the page and its image; the image is re-encoded and written under `files/embeds/`.
async fn fetch_preview(state: &Arc<AppState>, f: &fetch::Fetcher, url: &str) -> Result<(fetch::Preview, Option<String>), fetch::Refused> {
    let p = fetch::page_preview(f, url).await?;
    let mut image = None;
    if let Some(img_url) = &p.image_url {
        match fetch::fetch_image(f, img_url, IMAGE_MAX_BYTES).await {
            Ok((bytes, _)) => image = store_image(state, bytes).await,
            // The page preview stands without its image.
            Err(e) => tracing::info!(url, image = %img_url, reason = e.code(), "preview image refused"),
        }
    }
    Ok((p, image))
}

/// Re-encode a preview image within the box's decode budget (shared with uploads and emoji)
/// and write it under `files/embeds/`.
async fn store_image(state: &Arc<AppState>, bytes: Vec<u8>) -> Option<String> {
    let need = match media::probe(&bytes) {
        Ok(p) => p.peak_bytes(IMAGE_SIDE),
        Err(e) => {
            tracing::info!(error = %e, "preview image not usable");
            return None;
        }
    };
    let dir = state.cfg.files_dir.join(DIR);
    let out = state
        .files
        .decode
        .run(need, move || -> Result<String, String> {
            let p = media::reencode(&bytes, IMAGE_SIDE, need).map_err(|e| e.to_string())?;
            let ext = if p.content_type == "image/png" { "png" } else { "jpg" };
            let mut name = [0u8; 16];
            rand::fill(&mut name);
            let name = format!("{}.{ext}", hex::encode(name));
            std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
            std::fs::write(dir.join(&name), &p.bytes).map_err(|e| e.to_string())?;
            Ok(name)
        })
        .await;
    match out {
        Ok(Ok(name)) => Some(name),
        Ok(Err(e)) => {
            tracing::info!(error = e, "preview image not usable");
            None
        }
        Err(e) => {
            tracing::info!(error = %e.0.message, code = e.0.code, "preview image not usable");
            None
        }
    }
}

pub fn routes() -> Router<Arc<AppState>> {
    Router::new().route("/embeds/{id}/image", get(image))
}

/// A preview image, to users who can see a message showing it.
async fn image(State(state): State<Arc<AppState>>, a: crate::auth::Authed, Path(id): Path<String>) -> ApiResult<Response> {
    let id: EmbedId = parse_id(&id)?;
    let actor = a.actor();
    let missing = || ApiError(Error::not_found("unknown_embed", "No such preview image."));
    let file = state.db(move |store| store.embed_image(id, actor)).await?.ok_or_else(missing)?;
    if file.contains('/') || file.contains("..") {
        return Err(missing());
    }
    let bytes = tokio::fs::read(state.cfg.files_dir.join(DIR).join(&file)).await.map_err(|_| missing())?;
    let ct = if file.ends_with(".png") { "image/png" } else { "image/jpeg" };
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(ct)),
            (header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=86400")),
            (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
            (header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("sandbox; default-src 'none'")),
        ],
        bytes,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_worker_ends_when_the_server_stops() {
        let dir = tempfile::tempdir().expect("dir");
        let store = Arc::new(store::Store::open(dir.path().join("t.db")).expect("store"));
        let cfg = crate::ServerConfig { files_dir: dir.path().join("files"), data_dir: dir.path().to_path_buf(), ..Default::default() };
        let state = crate::AppState::new(store, cfg);
        let main = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(crate::run(state.clone(), crate::Listeners { main, tls: None, redirect: None }, async move {
            let _ = stopped.await;
        }));
        // The worker took its queue: it is running.
        while state.embeds.rx.lock().unwrap_or_else(|e| e.into_inner()).is_some() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(!state.embeds.tx.is_closed());
        let _ = stop.send(());
        server.await.expect("join").expect("run");
        // The worker dropped its end of the queue: it has ended.
        assert!(state.embeds.tx.is_closed(), "the link preview worker outlived the server");
    }
}
