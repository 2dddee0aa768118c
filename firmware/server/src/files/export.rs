//! Exports: a user's own messages (JSON, streamed as it is read) and, for admins, a channel
//! with its files (a tar built in a temp file). Neither is ever whole in memory: the store is
//! read a page at a time and what is written goes out (or to disk) before the next page.

use super::disk::{header_value, io_error, stream_response, Dirs, TempFile};
use super::names::{header_safe, is_stored_name, random_name};
use super::view::download_headers;
use super::S;
use crate::auth::Authed;
use crate::error::ApiResult;
use crate::extract::parse_id;
use crate::now_ms;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::response::Response;
use chat::ids::{ChannelId, MessageId};
use chat::model::{Channel, User};
use chat::perms::Action;
use std::io::Write;
use std::path::Path as FsPath;
use store::Store;
use tokio::sync::mpsc;

/// Messages read per query while exporting (a page is at most this many messages in memory).
const EXPORT_PAGE: usize = 100;
/// The user export goes out in pieces of about this size; two may wait for a slow client.
const PIECE: usize = 64 << 10;
const PIECES_QUEUED: usize = 2;

fn other(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

/// A writer whose bytes become the response body, a piece at a time. Writing waits while the
/// client is slower than the store (the queue is short), so the export holds at most a page
/// and a few pieces; a client that left ends the export (`BrokenPipe`).
struct BodyWriter {
    buf: Vec<u8>,
    tx: mpsc::Sender<std::io::Result<Bytes>>,
}

impl BodyWriter {
    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let piece = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(PIECE)));
        self.tx.blocking_send(Ok(piece)).map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client left"))
    }
}

impl Write for BodyWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(b);
        if self.buf.len() >= PIECE {
            self.send()?;
        }
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

/// The user export, message by message: `{format, exported_at, user, messages: [..]}`.
fn write_user_export(store: &Store, user: &User, w: &mut impl Write) -> std::io::Result<()> {
    write!(w, "{{\"format\":\"spot-export-v1\",\"exported_at\":{},\"user\":", now_ms())?;
    let who = serde_json::json!({"id": user.id, "username": user.username, "display_name": user.display_name});
    serde_json::to_writer(&mut *w, &who).map_err(other)?;
    w.write_all(b",\"messages\":[\n")?;
    let mut after: Option<MessageId> = None;
    let mut first = true;
    loop {
        let page = store.export_user_messages(user.id, after, EXPORT_PAGE).map_err(other)?;
        let done = page.len() < EXPORT_PAGE;
        after = page.last().map(|m| m.id);
        for m in &page {
            if !first {
                w.write_all(b",\n")?;
            }
            first = false;
            serde_json::to_writer(&mut *w, m).map_err(other)?;
        }
        if done {
            break;
        }
    }
    w.write_all(b"\n]}\n")?;
    w.flush()
}

/// `GET /api/me/export`: the user's own messages as one JSON file, streamed (no length up
/// front) while the store is read page by page.
pub(super) async fn export_me(State(state): S, a: Authed) -> ApiResult<Response> {
    let (tx, mut rx) = mpsc::channel::<std::io::Result<Bytes>>(PIECES_QUEUED);
    // Not `state.db`: this task is not awaited (it feeds the body while the response streams)
    // and its failures are IO errors that end the body, not `ApiError`s.
    let (store, user) = (state.store.clone(), a.user.clone());
    tokio::task::spawn_blocking(move || {
        let mut w = BodyWriter { buf: Vec::with_capacity(PIECE), tx: tx.clone() };
        match write_user_export(&store, &user, &mut w) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
            Err(e) => {
                tracing::warn!(error = %e, user = %user.id, "an export failed part way");
                // The body ends in an error, so the client sees a failed download, not a
                // shorter file.
                let _ = tx.blocking_send(Err(e));
            }
        }
    });
    let stream = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
    let mut resp = Response::new(Body::from_stream(stream));
    let name = format!("spot-export-{}.json", header_safe(&a.user.username));
    for (k, v) in download_headers("application/json", &name) {
        resp.headers_mut().insert(k, header_value(&v)?);
    }
    Ok(resp)
}

/// `GET /api/admin/channels/:id/export`: a tar of `channel.json` (the channel and all its
/// messages) and `attachments/ID-FILENAME`, built in a temp file (never whole in memory) and
/// streamed.
pub(super) async fn export_channel(State(state): S, a: Authed, Path(id): Path<String>) -> ApiResult<Response> {
    a.require_admin()?;
    let actor = a.actor();
    let id: ChannelId = parse_id(&id)?;
    // Admins export what they can see: DMs stay private to their members.
    let (channel, _) = state.db(move |store| store.authorize(actor, id, Action::ViewChannel)).await?;
    let dirs = Dirs::of(&state);
    dirs.ensure().await?;
    // Not `state.db`: the tar is mostly file IO, and its `io::Error`s map to `io_error`'s words.
    let store = state.store.clone();
    let name = format!("spot-channel-{}-{}.tar", header_safe(&channel.name), channel.id);
    let (file, len) = tokio::task::spawn_blocking(move || build_channel_tar(&store, &dirs, &channel))
        .await?
        .map_err(|e| io_error(e, "building a channel export"))?;
    let mut resp = stream_response(tokio::fs::File::from_std(file), len, "application/x-tar", "", "no-store")?;
    for (k, v) in download_headers("application/x-tar", &name) {
        resp.headers_mut().insert(k, header_value(&v)?);
    }
    Ok(resp)
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
    fn the_body_writer_sends_pieces_and_stops_when_the_client_left() {
        let (tx, mut rx) = mpsc::channel(8);
        let mut w = BodyWriter { buf: Vec::new(), tx };
        w.write_all(&vec![b'x'; PIECE + 10]).expect("write");
        w.write_all(b"tail").expect("write");
        w.flush().expect("flush");
        let a = rx.try_recv().expect("a piece").expect("ok");
        let b = rx.try_recv().expect("the rest").expect("ok");
        assert_eq!((a.len(), b.len()), (PIECE + 10, 4));
        drop(rx);
        w.write_all(b"more").expect("buffered");
        assert_eq!(w.flush().err().map(|e| e.kind()), Some(std::io::ErrorKind::BrokenPipe));
    }
}
