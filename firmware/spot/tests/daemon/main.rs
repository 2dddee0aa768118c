//! Integration tests: the real `spot` daemon on port 0 with a temporary data dir, driven over
//! HTTP and WebSocket like the browser does. One test binary for the crate.

mod harness;

mod auth;
mod authz;
mod chat;
mod cli;
mod durability;
mod faces;
mod files;
mod gateway;
mod rich;
mod notify;
mod robustness;
mod errors;
mod voice;
mod dj;
mod dj_sources;
mod room_chat;
mod setup;
mod network;
mod updates;
mod login;
mod init;
mod limits;
