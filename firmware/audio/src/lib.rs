//! The audio pipeline of the box: decode (symphonia, plus libopus for Opus streams), resample
//! (rubato) to 48 kHz stereo, loudness-normalise, encode Opus in 20 ms frames for the voice
//! room, and a second branch to the box's own speaker through ALSA (device probing, the sink).
//!
//! Everything here runs on dedicated threads, never on the async runtime.
//!
//! The path of a DJ track: `player` (its decode thread: `decode` → `convert` → `resample` →
//! `frames`, gain from `loudness`, into a bounded buffer) → `engine` (the 20 ms clock: gain,
//! volume, limiter, `encode`) → the SFU's callback and the optional speaker `FrameSink`.
//! `scan` reads a library file's tags and loudness; `stream` and `playlist` feed internet radio.

pub mod convert;
pub mod decode;
pub mod encode;
pub mod engine;
pub mod error;
pub mod frames;
mod guard;
pub mod loudness;
mod opus_dec;
pub mod player;
pub mod playlist;
pub mod resample;
pub mod scan;
pub mod stream;
pub mod tags;

pub use error::AudioError;
pub use symphonia::core::formats::probe::Hint;
pub use symphonia::core::io::MediaSource;

pub mod devices;
pub mod speaker;
pub mod tone;

/// The pipeline's one internal format: 48 kHz, stereo, interleaved `f32` in [-1, 1].
pub const RATE: u32 = 48_000;
pub const CHANNELS: usize = 2;
/// One frame is 20 ms: what Opus encodes at a time and what the mixer's clock ticks.
pub const FRAME_MS: u32 = 20;
/// Samples per channel in one frame.
pub const FRAME_SAMPLES: usize = 960;
/// Interleaved samples in one frame.
pub const FRAME_LEN: usize = FRAME_SAMPLES * CHANNELS;

/// One 20 ms frame of the internal format.
pub type Frame = [f32; FRAME_LEN];

/// Where the mixer's output goes besides the voice room (the box's own speaker). `push` must
/// not block: a sink that cannot keep up drops frames rather than stall the room.
pub trait FrameSink: Send {
    fn push(&mut self, frame: &Frame);
}
