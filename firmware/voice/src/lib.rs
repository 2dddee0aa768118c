//! Voice rooms: a selective forwarding unit (SFU) on str0m.
//!
//! [`sfu`] is the sans-IO core (rooms, participants, routing, speaking state); [`driver`] is the
//! thin tokio shell that owns the sockets (one UDP port, and the same port number on TCP for
//! ICE-TCP) and the clock. Signalling (SDP, candidates)
//! arrives from the caller as strings, so the core does not care whether it came over the
//! gateway WebSocket or from a test.

pub mod driver;
pub mod sfu;

pub use sfu::{Grade, LocalFrame, ParticipantInfo, Quality, Sfu, SfuConfig, SfuEvent, SfuInput, SfuOutput, SfuStats};
/// UDP or TCP, for [`SfuInput::Receive`] and [`SfuOutput::Transmit`].
pub use str0m::net::Protocol;

/// A voice room: the daemon uses the voice channel's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoomId(pub i64);

/// One connection in a room. The daemon uses the user id (one voice session per user, so joining
/// from a second device moves the session there).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ParticipantId(pub u64);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VoiceError {
    #[error("malformed or unacceptable SDP: {0}")]
    BadSdp(String),
    #[error("malformed ICE candidate: {0}")]
    BadCandidate(String),
    #[error("not in a voice room")]
    NotInRoom,
    #[error("no offer is waiting for an answer")]
    NoPendingOffer,
    #[error("voice is not running")]
    Unavailable,
}

impl VoiceError {
    /// Stable code for API clients.
    pub fn code(&self) -> &'static str {
        match self {
            VoiceError::BadSdp(_) => "bad_sdp",
            VoiceError::BadCandidate(_) => "bad_candidate",
            VoiceError::NotInRoom => "not_in_voice",
            VoiceError::NoPendingOffer => "no_pending_offer",
            VoiceError::Unavailable => "voice_unavailable",
        }
    }
}
