//! Housekeeping: uploads never sent, temp files of cut-short uploads, files no row owns.

use super::disk::{remove_stored, Dirs};
use super::names::is_stored_name;
use super::UNSENT_TTL_MS;
use crate::{now_ms, AppState};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// Start [`prune_uploads`] in the background if it has not run for an hour.
pub(super) fn maybe_prune(state: &Arc<AppState>) {
    let now = now_ms();
    let last_prune = &state.files.last_prune;
    let last = last_prune.load(Ordering::Relaxed);
    if now - last < 3600 * 1000 || last_prune.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_err() {
        return;
    }
    let state = state.clone();
    tokio::spawn(async move { prune_uploads(&state).await });
}

/// Housekeeping, meant to run hourly: forget uploads never sent within 24 h and remove their
/// files; remove temp files older than an hour (uploads cut short by a crash) and files no row
/// owns (written just before a crash, before their row was committed).
pub async fn prune_uploads(state: &AppState) {
    match state.db(move |store| store.prune_unattached(now_ms() - UNSENT_TTL_MS)).await {
        Ok(names) => {
            if !names.is_empty() {
                tracing::info!(files = names.len(), "removed uploads that were never sent");
            }
            remove_stored(state, names).await;
        }
        Err(e) => tracing::warn!(error = ?e.0, "pruning unsent uploads failed"),
    }
    let dirs = Dirs::of(state);
    let swept = state.db(move |store| {
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
        Ok(n) if n > 0 => tracing::info!(files = n, "removed stray files"),
        Err(e) => tracing::warn!(error = ?e.0, "sweeping stray files failed"),
        _ => {}
    }
}
