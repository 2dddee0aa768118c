//! The audio crate's integration tests: real files made by ffmpeg at test time, decoded through
//! the whole pipeline, and the player and engine driven like the DJ drives them.

mod fixtures;
mod formats;
mod hostile;
mod loudness;
mod player;
