//! The DJ core driven through its inputs, with a fake clock and a fake resolver.
#![allow(clippy::unwrap_used)]

mod harness;

mod fair;
mod leave;
mod limits;
mod loops;
mod parse;
mod playback;
mod playlists;
mod queueing;
mod restore;
mod search;
mod votes;
