//! Jellyfin: the admin's media server as a second music source. Its address and API key are
//! box settings (`store::MediaServer`); the key goes in a request header (never a URL, so it
//! never reaches a log) and never back to a browser but its last four characters. Tracks are
//! `jellyfin:<item id>`; they play through `/Audio/<id>/stream?static=true` over the same
//! streaming fetch as any web audio. Covers are left out for now (a later box-side proxy).
//!
//! The API subset used: `GET /System/Info` (the connection test), `GET /Items?searchTerm=…
//! &IncludeItemTypes=Audio&Recursive=true` (search, browse) and `GET /Items?Ids=<id>` (one
//! track), with `Authorization: MediaBrowser …, Token="<key>"` (and `X-Emby-Token`).

use super::web;
use crate::AppState;
use fetch::{Reason, StreamOptions};
use crate::error::{ApiError, ApiResult};
use serde_json::{json, Value};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use store::MediaServer;

pub const SCHEME: &str = "jellyfin";
/// A JSON answer's cap and time.
const MAX_JSON: usize = 2 << 20;
const JSON_TIME: Duration = Duration::from_secs(10);

/// The configured server, if any.
pub async fn server(state: &Arc<AppState>) -> Result<Option<MediaServer>, String> {
    state.db(|store| store.jellyfin()).await.map_err(|_| "The box's settings could not be read just now; try again.".to_owned())
}

fn auth(key: &str) -> Vec<(String, String)> {
    let token = format!(
        "MediaBrowser Client=\"Spot box\", Device=\"Spot box\", DeviceId=\"spot-box\", Version=\"{}\", Token=\"{key}\"",
        env!("CARGO_PKG_VERSION")
    );
    vec![("Authorization".into(), token), ("X-Emby-Token".into(), key.to_owned())]
}

/// `base` + `path`, with query pairs (the base may carry a path prefix: `/jellyfin`).
fn endpoint(base: &str, path: &str, query: &[(&str, &str)]) -> Result<url::Url, String> {
    let mut u = url::Url::parse(&format!("{}{path}", base.trim_end_matches('/'))).map_err(|_| "The Jellyfin address cannot be read.".to_owned())?;
    if !query.is_empty() {
        u.query_pairs_mut().extend_pairs(query);
    }
    Ok(u)
}

/// GET a JSON answer from the server.
async fn get_json(f: &fetch::Fetcher, server: &MediaServer, url: &url::Url) -> Result<Value, String> {
    let opts = StreamOptions { accept: vec!["application/json".into()], headers: auth(&server.api_key), ..StreamOptions::default() };
    let (_, mut body) = f.get_stream(url.as_str(), &opts).await.map_err(|e| match e.reason {
        Reason::HttpStatus if e.detail.contains("401") || e.detail.contains("403") => "Jellyfin refused the API key.".to_owned(),
        Reason::BadContentType => "That address does not answer like a Jellyfin server.".to_owned(),
        _ => web::refused_words(&e),
    })?;
    let mut bytes = Vec::new();
    let read = async {
        while let Some(c) = body.next_chunk().await.map_err(|e| web::refused_words(&e))? {
            if bytes.len() + c.len() > MAX_JSON {
                return Err("Jellyfin's answer is too large.".to_owned());
            }
            bytes.extend_from_slice(&c);
        }
        Ok(())
    };
    tokio::time::timeout(JSON_TIME, read).await.map_err(|_| "Jellyfin took too long to answer.".to_owned())??;
    serde_json::from_slice(&bytes).map_err(|_| "That address does not answer like a Jellyfin server.".to_owned())
}

/// Item ids are GUIDs (32 hex digits, with or without dashes); nothing else reaches a URL.
fn valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
}

fn track_info(item: &Value) -> Option<dj::TrackInfo> {
    let id = item["Id"].as_str().filter(|i| valid_id(i))?;
    let text = |v: &Value| v.as_str().map(str::trim).filter(|s| !s.is_empty()).map(|s| s.chars().take(200).collect::<String>());
    let artists: Vec<&str> = item["Artists"].as_array().map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
    let artist = if artists.is_empty() { text(&item["AlbumArtist"]) } else { Some(artists.join(", ").chars().take(200).collect()) };
    Some(dj::TrackInfo {
        source: format!("{SCHEME}:{id}"),
        title: text(&item["Name"]).unwrap_or_else(|| "Untitled".into()),
        artist,
        album: text(&item["Album"]),
        duration_ms: item["RunTimeTicks"].as_u64().map(|t| t / 10_000).filter(|ms| *ms > 0),
        cover: None,
        live: false,
    })
}

fn items(v: &Value) -> Vec<dj::TrackInfo> {
    v["Items"].as_array().map(|a| a.iter().filter_map(track_info).collect()).unwrap_or_default()
}

/// Search (or, with an empty query, browse by name). `None`: Jellyfin is not set up.
pub async fn search(state: &Arc<AppState>, query: &str, limit: usize) -> Result<Option<Vec<dj::TrackInfo>>, String> {
    let Some(server) = server(state).await? else { return Ok(None) };
    let f = web::fetcher(state).await?;
    let limit = limit.clamp(1, 100).to_string();
    let q = query.trim();
    let mut pairs = vec![("IncludeItemTypes", "Audio"), ("Recursive", "true"), ("Limit", limit.as_str()), ("SortBy", "SortName")];
    if !q.is_empty() {
        pairs.push(("searchTerm", q));
    }
    let url = endpoint(&server.url, "/Items", &pairs)?;
    Ok(Some(items(&get_json(&f, &server, &url).await?)))
}

fn not_set_up() -> String {
    "Jellyfin is not set up on this box (an admin adds it under Admin → Music).".into()
}

/// `jellyfin:<id>` as the DJ knows it.
pub async fn track(state: &Arc<AppState>, key: &str) -> Result<dj::TrackInfo, String> {
    let id = key.strip_prefix("jellyfin:").filter(|i| valid_id(i)).ok_or_else(|| "That is not a Jellyfin track.".to_owned())?;
    let server = server(state).await?.ok_or_else(not_set_up)?;
    let f = web::fetcher(state).await?;
    let url = endpoint(&server.url, "/Items", &[("Ids", id)])?;
    items(&get_json(&f, &server, &url).await?).into_iter().next().ok_or_else(|| "That track is no longer on the Jellyfin server.".to_owned())
}

/// Where to stream `jellyfin:<id>` from, and the headers to send.
pub async fn stream_request(state: &Arc<AppState>, key: &str) -> Result<(String, Vec<(String, String)>), String> {
    let id = key.strip_prefix("jellyfin:").filter(|i| valid_id(i)).ok_or_else(|| "That is not a Jellyfin track.".to_owned())?;
    let server = server(state).await?.ok_or_else(not_set_up)?;
    let url = endpoint(&server.url, &format!("/Audio/{id}/stream"), &[("static", "true")])?;
    Ok((url.to_string(), auth(&server.api_key)))
}

/// The admin's view: never the key, only its last four characters.
pub fn view(server: Option<&MediaServer>) -> Value {
    match server {
        None => json!({"configured": false, "url": null, "api_key": null}),
        Some(s) => {
            let tail: String = s.api_key.chars().rev().take(4).collect::<Vec<_>>().into_iter().rev().collect();
            json!({"configured": true, "url": s.url, "api_key": format!("••••{tail}")})
        }
    }
}

/// The admin's address, checked: http(s), no user name, no query; kept without a trailing `/`.
pub fn check_url(raw: &str) -> Result<String, String> {
    let u = url::Url::parse(raw.trim()).map_err(|_| "Enter the Jellyfin address like http://192.168.1.20:8096.".to_owned())?;
    if !matches!(u.scheme(), "http" | "https") || u.host_str().is_none() {
        return Err("The Jellyfin address must start with http:// or https://.".into());
    }
    if !u.username().is_empty() || u.password().is_some() || u.query().is_some() || u.fragment().is_some() {
        return Err("Enter only the Jellyfin address (no user name, ? or #); the API key goes in its own field.".into());
    }
    Ok(u.as_str().trim_end_matches('/').to_owned())
}

pub fn check_key(key: &str) -> Result<(), String> {
    if (8..=128).contains(&key.len()) && key.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) {
        Ok(())
    } else {
        Err("That API key does not look like one (Jellyfin → Dashboard → API Keys makes one).".into())
    }
}

/// The connection test: `/System/Info` with the key. Words for the admin either way.
pub async fn test(state: &Arc<AppState>, server: &MediaServer) -> Result<String, String> {
    let f = web::fetcher(state).await?;
    let url = endpoint(&server.url, "/System/Info", &[])?;
    let info = get_json(&f, server, &url).await.map_err(|w| format!("The box could not use Jellyfin at {}: {w}", server.url))?;
    let name = info["ServerName"].as_str().unwrap_or("Jellyfin");
    let version = info["Version"].as_str().unwrap_or("?");
    Ok(format!("Connected to “{name}” (Jellyfin {version})."))
}

/// At start: whether Jellyfin is set up (the rooms' track schemes follow it).
pub async fn restore(state: &Arc<AppState>) {
    let on = matches!(server(state).await, Ok(Some(_)));
    state.music.jellyfin.store(on, Ordering::Relaxed);
}

/// `PUT /api/admin/jellyfin`: an empty address switches Jellyfin off; otherwise the address
/// and key (the stored key if none is given) are tested first and kept only if they work.
pub async fn save(state: &Arc<AppState>, by: chat::ids::UserId, url: &str, api_key: Option<&str>) -> Result<Value, ApiError> {
    let invalid = |code, w: String| ApiError(chat::Error::invalid(code, w));
    let old = server(state).await.map_err(|w| ApiError(chat::Error::unavailable("settings_unreadable", w)))?;
    let server = if url.trim().is_empty() {
        None
    } else {
        let url = check_url(url).map_err(|w| invalid("bad_jellyfin_url", w))?;
        let api_key = match api_key.map(str::trim).filter(|k| !k.is_empty()) {
            Some(k) => k.to_owned(),
            None => old.as_ref().map(|o| o.api_key.clone()).ok_or_else(|| invalid("bad_jellyfin_key", "Enter the Jellyfin API key too.".into()))?,
        };
        check_key(&api_key).map_err(|w| invalid("bad_jellyfin_key", w))?;
        Some(MediaServer { url, api_key })
    };
    let message = match &server {
        Some(s) => test(state, s).await.map_err(|w| invalid("jellyfin_unreachable", w))?,
        None => "Jellyfin is switched off.".to_owned(),
    };
    let stored = server.clone();
    state.db(move |store| store.set_jellyfin(stored.as_ref(), crate::now_ms(), by)).await?;
    state.music.jellyfin.store(server.is_some(), Ordering::Relaxed);
    // Running rooms learn the `jellyfin:` scheme (or forget it).
    let cfg = super::config(state);
    let rooms: Vec<_> = state.music.rooms().values().cloned().collect();
    for tx in rooms {
        let _ = tx.send(super::Msg::Config(cfg.clone())).await;
    }
    let mut v = view(server.as_ref());
    v["message"] = json!(message);
    Ok(v)
}

/// `GET/PUT /api/admin/jellyfin` (admins) and `GET /api/music/jellyfin?q=` (everyone: the
/// web UI's browse and search).
pub fn routes() -> axum::Router<Arc<AppState>> {
    use axum::routing::get;
    axum::Router::new().route("/admin/jellyfin", get(admin_get).put(admin_put)).route("/music/jellyfin", get(items_route))
}

type S = axum::extract::State<Arc<AppState>>;

async fn admin_get(axum::extract::State(state): S, a: crate::auth::Authed) -> ApiResult<axum::Json<Value>> {
    a.require_admin()?;
    let s = server(&state).await.map_err(|w| ApiError(chat::Error::unavailable("settings_unreadable", w)))?;
    Ok(axum::Json(view(s.as_ref())))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Put {
    url: String,
    api_key: Option<String>,
}

async fn admin_put(axum::extract::State(state): S, a: crate::auth::Authed, crate::extract::Json(p): crate::extract::Json<Put>) -> ApiResult<axum::Json<Value>> {
    a.require_admin()?;
    Ok(axum::Json(save(&state, a.user.id, &p.url, p.api_key.as_deref()).await?))
}

#[derive(serde::Deserialize)]
struct ItemsQuery {
    q: Option<String>,
    limit: Option<usize>,
}

async fn items_route(axum::extract::State(state): S, a: crate::auth::Authed, crate::extract::Query(q): crate::extract::Query<ItemsQuery>) -> ApiResult<axum::Json<Value>> {
    state.rate(a.actor(), crate::actions::Limited::Send)?;
    let query = q.q.unwrap_or_default();
    if query.chars().count() > 200 {
        return Err(ApiError(chat::Error::invalid("bad_query", "Search for at most 200 characters.")));
    }
    match search(&state, &query, q.limit.unwrap_or(50)).await {
        Ok(Some(items)) => Ok(axum::Json(json!({"items": items}))),
        Ok(None) => Err(ApiError(chat::Error::not_found("jellyfin_not_configured", not_set_up()))),
        Err(w) => Err(ApiError(chat::Error::unavailable("jellyfin_unavailable", w))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_become_tracks_and_odd_ids_are_dropped() {
        let v = json!({"Items": [
            {"Id": "0a1b2c3d4e5f60718293a4b5c6d7e8f9", "Name": "Song", "Artists": ["A", "B"], "Album": "LP", "RunTimeTicks": 1_800_000_000u64},
            {"Id": "../../System/Restart", "Name": "evil"},
            {"Id": "ffff", "Name": "", "AlbumArtist": "C"}
        ]});
        let t = items(&v);
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].source, "jellyfin:0a1b2c3d4e5f60718293a4b5c6d7e8f9");
        assert_eq!((t[0].artist.as_deref(), t[0].album.as_deref(), t[0].duration_ms), (Some("A, B"), Some("LP"), Some(180_000)));
        assert_eq!((t[1].title.as_str(), t[1].artist.as_deref(), t[1].duration_ms), ("Untitled", Some("C"), None));
    }

    #[test]
    fn settings_are_checked_and_the_key_is_never_shown() {
        assert_eq!(check_url(" http://192.168.1.20:8096/ ").as_deref(), Ok("http://192.168.1.20:8096"));
        assert_eq!(check_url("https://jf.example/jellyfin/").as_deref(), Ok("https://jf.example/jellyfin"));
        for bad in ["ftp://x", "http://u:p@x", "http://x/?api_key=1", "x"] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
        assert!(check_key("0123456789abcdef0123456789abcdef").is_ok());
        assert!(check_key("a\"b\r\nX: y").is_err());
        let v = view(Some(&MediaServer { url: "http://x".into(), api_key: "0123456789abcdef".into() }));
        assert_eq!(v["api_key"], "••••cdef");
        assert!(!v.to_string().contains("0123456789"));
        let u = endpoint("http://x/jf/", "/Items", &[("searchTerm", "a&b c")]).expect("url");
        assert_eq!(u.as_str(), "http://x/jf/Items?searchTerm=a%26b+c");
    }
}
