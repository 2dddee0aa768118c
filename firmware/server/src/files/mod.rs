//! Uploads, attachment downloads, custom emoji and exports over HTTP.
//!
//! On disk (`cfg.files_dir`): `uploads/` holds attachments and their thumbnails, `emoji/` custom
//! emoji, `avatars/<side>/` people's pictures, `tmp/` uploads in flight and exports being
//! built. Stored names are random
//! (`[0-9a-f]{32}`, thumbnails and emoji with `.png`/`.jpg`), never derived from anything the
//! client sent; the user's file name lives only in the database.
//!
//! What a file *is* comes from its bytes, never from the client's `Content-Type`:
//! - PNG, JPEG, GIF and WebP (by magic bytes) must decode within `media`'s limits and the
//!   box's decode budget ([`budget`]); they get a thumbnail, lose their metadata (a photo's
//!   location) and are the only files served `inline`.
//! - A file that *claims* to be one of those (by `Content-Type` or extension) but is not is
//!   refused with `bad_file` — this is how HTML or SVG disguised as an image is caught.
//! - Everything else is stored as `application/octet-stream` (or `application/pdf` when it
//!   starts like one) and always served as a download (`Content-Disposition: attachment`),
//!   with `nosniff` and a sandboxing CSP, so no upload is ever rendered as a page of the box.
//!
//! Durability: the bytes (and thumbnail) are fsynced and renamed into place, and the directory
//! fsynced, *before* the row is committed; only then is the 201 sent. A crash in between leaves
//! a file without a row, which [`prune_uploads`] removes later.
//!
//! The parts: [`names`] (what the client's names become), [`disk`] (temp files, durable
//! writes, streaming files out), [`budget`] (the one memory budget of every image decode),
//! [`view`] (the words and headers people see), [`uploads`], [`emoji`], [`avatars`], [`export`],
//! [`housekeeping`].

mod avatars;
mod budget;
mod disk;
mod emoji;
mod export;
mod housekeeping;
mod music;
mod names;
mod uploads;
mod view;

pub use budget::{BudgetStats, DecodeBudget};
pub use disk::remove_stored;
pub use housekeeping::prune_uploads;
pub use names::sanitize_filename;
pub(crate) use names::{is_stored_name, random_name};
pub use music::music_dir;

use crate::AppState;
use axum::extract::{DefaultBodyLimit, State};
use axum::routing::{delete, get, post, put};
use axum::Router;
use std::sync::atomic::AtomicI64;
use std::sync::Arc;

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
/// Browsers may keep downloaded attachments this long (they never change).
const CACHE: &str = "private, max-age=86400";

/// What the file routes keep between requests (one per server, in [`AppState`]).
pub struct Files {
    /// Every image decode (uploads, emoji, link-preview images) reserves its memory here.
    pub decode: DecodeBudget,
    /// When uploads were last pruned (Unix ms); uploads trigger a prune at most hourly.
    last_prune: AtomicI64,
}

impl Files {
    pub fn new(decode_budget_bytes: u64) -> Files {
        Files { decode: DecodeBudget::new(decode_budget_bytes), last_prune: AtomicI64::new(0) }
    }
}

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        // Bodies here are limited while streaming, not by the API's 64 KiB default.
        .route("/uploads", post(uploads::upload).layer(DefaultBodyLimit::disable()))
        .route("/attachments/{id}/thumb", get(uploads::thumb))
        .route("/attachments/{id}/{filename}", get(uploads::download))
        .route("/me/storage", get(uploads::storage))
        .route("/me/export", get(export::export_me))
        .route("/emoji", get(emoji::list_emoji))
        .route("/emoji/{id}", get(emoji::emoji_image))
        .route("/admin/emoji", post(emoji::create_emoji).layer(DefaultBodyLimit::disable()))
        .route("/admin/emoji/{id}", delete(emoji::delete_emoji))
        .route("/admin/channels/{id}/export", get(export::export_channel))
        .route("/admin/media", get(uploads::media_stats))
        .route("/me/avatar", put(avatars::put_avatar).delete(avatars::delete_my_avatar).layer(DefaultBodyLimit::disable()))
        .route("/mod/users/{id}/avatar", delete(avatars::delete_avatar))
        .route("/avatars/{side}/{name}", get(avatars::avatar_image))
        .route("/music/tracks", get(music::list).post(music::upload).layer(DefaultBodyLimit::disable()))
        .route("/music/tracks/{id}", delete(music::delete))
        .route("/music/tracks/{id}/cover", get(music::cover))
}
