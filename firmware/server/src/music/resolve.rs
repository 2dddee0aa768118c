//! What the DJ core asks to look up (`dj::Request`), answered from the music library, and how
//! to open what it plays. Errors are words for the chat.

use super::player::Source;
use crate::AppState;
use chat::ids::TrackId;
use chat::music::Track;
use std::sync::Arc;

/// A library track as the DJ core knows it.
pub fn track_info(t: &Track) -> dj::TrackInfo {
    let some = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    dj::TrackInfo {
        source: Track::source_key(t.id),
        title: t.title.clone(),
        artist: some(&t.artist),
        album: some(&t.album),
        duration_ms: u64::try_from(t.duration_ms).ok(),
        cover: t.cover_url.clone(),
        live: false,
    }
}

fn unavailable(e: crate::error::ApiError) -> String {
    match e.0.kind {
        chat::ErrorKind::Internal => "The music library could not be read just now; try again.".to_owned(),
        _ => e.0.message,
    }
}

/// How long a search waits for Jellyfin.
const JELLYFIN_SEARCH: std::time::Duration = std::time::Duration::from_secs(8);

pub async fn resolve(state: &Arc<AppState>, request: dj::Request) -> Result<Vec<dj::TrackInfo>, String> {
    match request {
        dj::Request::Track(key) if key.starts_with("jellyfin:") => Ok(vec![super::jellyfin::track(state, &key).await?]),
        dj::Request::Track(key) if key.starts_with(super::web::URL_SCHEME) => {
            super::web::url_tracks(state, &key[super::web::URL_SCHEME.len()..]).await
        }
        dj::Request::Track(key) => {
            let id = Track::from_source_key(&key).ok_or_else(|| "That is not a track of the music library.".to_owned())?;
            let f = state.db(move |store| store.track_file(id)).await.map_err(unavailable)?;
            Ok(vec![track_info(&f.track)])
        }
        dj::Request::Search { query, limit } => {
            let q = query.clone();
            let limit = limit.clamp(1, 25);
            let (hits, _) = state.db(move |store| store.tracks(Some(&q), 0, limit)).await.map_err(unavailable)?;
            let mut found: Vec<dj::TrackInfo> = hits.iter().map(track_info).collect();
            // Jellyfin's hits after the library's; a Jellyfin that does not answer only costs its hits.
            let mut jellyfin = false;
            if found.len() < limit {
                match tokio::time::timeout(JELLYFIN_SEARCH, super::jellyfin::search(state, &query, limit - found.len())).await {
                    Ok(Ok(Some(more))) => {
                        jellyfin = true;
                        found.extend(more);
                    }
                    Ok(Ok(None)) => {}
                    Ok(Err(words)) => tracing::info!("Jellyfin search failed: {words}"),
                    Err(_) => tracing::info!("Jellyfin search timed out"),
                }
            }
            if found.is_empty() {
                let q = dj::format::short(&query, 80);
                return Err(if jellyfin { format!("Nothing in the music library or on Jellyfin matches “{q}”.") } else { format!("Nothing in the music library matches “{q}”.") });
            }
            Ok(found)
        }
        dj::Request::Url(url) => super::player::url_tracks(state, &url).await,
    }
}

/// How the player opens an entry's track: the library file (with its gain), or a URL.
pub async fn opener(state: &Arc<AppState>, track: &dj::TrackInfo) -> Result<Source, String> {
    if let Some(id) = Track::from_source_key(&track.source) {
        return library(state, id).await;
    }
    super::player::url_source(state, track).await
}

async fn library(state: &Arc<AppState>, id: TrackId) -> Result<Source, String> {
    let f = state.db(move |store| store.track_file(id)).await.map_err(|e| match e.0.kind {
        chat::ErrorKind::NotFound => "That track was removed from the music library.".to_owned(),
        _ => unavailable(e),
    })?;
    if !crate::files::is_stored_name(&f.stored_name) {
        return Err("That track's file is missing on the box.".to_owned());
    }
    let path = crate::files::music_dir(state).join(&f.stored_name);
    let ext = f.track.filename.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    Ok(Source::File { path, ext, gain_db: f.gain_db.map(|g| g as f32) })
}
