//! The SFU core: rooms of participants, each one a str0m [`Rtc`], and the routing of Opus between
//! them. No sockets, no clock: the caller feeds datagrams and time in with [`Sfu::handle_input`]
//! and drains [`Sfu::poll_output`] until it says when to wake up (the shape of str0m's
//! `examples/chat.rs`, with signalling handed to the caller instead of a data channel).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::config::CryptoProvider;
use str0m::media::{Direction, MediaData, MediaKind, Mid};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc};

use crate::{ParticipantId, RoomId, VoiceError};

mod candidates;
mod forward;
mod local;
pub use local::LocalFrame;
use candidates::local_candidates;
pub mod quality;
pub use quality::{Grade, Quality};

/// How long after the last loud packet someone still counts as speaking: long enough that the
/// ring does not flicker between words, short enough to follow a conversation.
const SPEAKING_HOLD: Duration = Duration::from_millis(400);
/// RFC 6464 levels are -dBov (0 loudest, -127 silence). Browsers send about -127..-90 for a quiet
/// room and above -50 for speech.
const SPEAKING_THRESHOLD_DBOV: i8 = -50;
/// An idle Rtc still needs a tick now and then (keepalives, RTCP).
const MAX_SLEEP: Duration = Duration::from_millis(100);
/// Incoming tracks one participant may publish (a microphone, and room for a renegotiated one).
pub const MAX_TRACKS_IN: usize = 2;

#[derive(Debug, Clone)]
pub struct SfuConfig {
    /// Host candidates: every address the UDP socket is reachable on (all of the box's
    /// addresses for a socket bound to the unspecified address; kept current by the driver
    /// with [`Sfu::set_addresses`]).
    pub host_candidates: Vec<SocketAddr>,
    /// ICE-TCP host candidates (passive: browsers connect to us; RFC 6544): every address a
    /// TCP listener is open on, for networks that block UDP. Empty: UDP only.
    pub tcp_candidates: Vec<SocketAddr>,
    /// A public address forwarded to our port by a home router, announced as a server-reflexive
    /// candidate based on the first host candidate of the same IP family (for TCP as well, when
    /// there are TCP candidates: the same port number is forwarded for both).
    pub public_address: Option<SocketAddr>,
}

/// What the driver feeds in.
pub enum SfuInput<'a> {
    /// One datagram (UDP) or one de-framed RFC 4571 packet (TCP).
    Receive {
        now: Instant,
        proto: Protocol,
        source: SocketAddr,
        destination: SocketAddr,
        contents: &'a [u8],
    },
    Timeout(Instant),
}

/// What the driver must do.
#[derive(Debug)]
pub enum SfuOutput {
    /// Send `contents` from `source` to `destination`: a datagram for UDP, one framed packet on
    /// the TCP connection between those two addresses for TCP (dropped if there is none).
    Transmit {
        proto: Protocol,
        source: SocketAddr,
        destination: SocketAddr,
        contents: Vec<u8>,
    },
    Event(SfuEvent),
    /// Nothing more to do until then (or until the next input).
    Timeout(Instant),
}

#[derive(Debug, Clone, PartialEq)]
pub enum SfuEvent {
    /// Server-initiated renegotiation (someone's track came or went): send this offer to the
    /// participant and give its answer to [`Sfu::answer`].
    Offer { participant: ParticipantId, sdp: String },
    /// ICE + DTLS are up: media flows.
    Connected { participant: ParticipantId },
    Speaking { participant: ParticipantId, room: RoomId, speaking: bool },
    /// New connection-quality figures for a participant (a changed grade at once, changed
    /// figures at most every [`quality::QUALITY_REFRESH`]).
    Quality { participant: ParticipantId, room: RoomId, quality: Quality },
    /// The transport died (ICE gave up). The participant was removed; the client may rejoin.
    Disconnected { participant: ParticipantId, room: RoomId },
}

/// One incoming track: a participant's m-line we receive on. Tracks are counted per participant,
/// so camera, screenshare or a DJ's music can come next without changing the routing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct TrackIn {
    mid: Mid,
    kind: MediaKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OutState {
    ToOpen,
    Negotiating(Mid),
    Open(Mid),
    /// The origin left while we were negotiating: stop it once the answer lands.
    NegotiatingThenStop(Mid),
    ToStop(Mid),
    NegotiatingStop(Mid),
}

/// Another participant's track, sent to this participant on an m-line of its own.
#[derive(Debug, Clone, Copy)]
struct TrackOut {
    origin: ParticipantId,
    origin_mid: Mid,
    kind: MediaKind,
    state: OutState,
}

struct Participant {
    id: ParticipantId,
    room: RoomId,
    /// msid stream id the browser sees for this participant's tracks (so it can map a remote
    /// stream to a person).
    label: String,
    rtc: Rtc,
    next: Instant,
    connected: bool,
    muted: bool,
    deafened: bool,
    speaking: bool,
    last_loud: Option<Instant>,
    tracks_in: Vec<TrackIn>,
    tracks_out: Vec<TrackOut>,
    pending: Option<SdpPendingOffer>,
    /// Our address its DTLS/media last arrived on: the selected pair's end, so when that
    /// address leaves the box we know this session is dead (ICE checks, which probe every pair,
    /// do not count).
    local: Option<(Protocol, SocketAddr)>,
    quality: quality::Meter,
}

enum Propagated {
    TrackOpen(ParticipantId, RoomId, TrackIn),
    Media(ParticipantId, RoomId, Box<MediaData>),
}

/// A participant as the room state shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct ParticipantInfo {
    pub id: ParticipantId,
    pub room: RoomId,
    pub muted: bool,
    pub deafened: bool,
    pub speaking: bool,
    pub connected: bool,
    /// None until the first statistics (about a second after connecting).
    pub quality: Option<Quality>,
}

pub struct Sfu {
    config: SfuConfig,
    crypto: Arc<CryptoProvider>,
    participants: Vec<Participant>,
    /// Senders inside the box (the DJ): see `local`.
    locals: Vec<local::Local>,
    outputs: VecDeque<SfuOutput>,
    /// The latest time we were given (the core reads no clock of its own).
    last_now: Instant,
    /// Counters a benchmark or `doctor` can read.
    pub stats: SfuStats,
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SfuStats {
    pub media_in: u64,
    pub media_forwarded: u64,
    pub media_dropped_muted: u64,
}

impl Sfu {
    /// `now` is the start of the SFU's time; after that it only knows the times it is given.
    pub fn new(config: SfuConfig, now: Instant) -> Sfu {
        Sfu {
            config,
            crypto: Arc::new(str0m::crypto::from_feature_flags()),
            participants: Vec::new(),
            locals: Vec::new(),
            outputs: VecDeque::new(),
            last_now: now,
            stats: SfuStats::default(),
        }
    }

    fn idx(&self, id: ParticipantId) -> Result<usize, VoiceError> {
        self.participants
            .iter()
            .position(|p| p.id == id)
            .ok_or(VoiceError::NotInRoom)
    }

    pub fn participant(&self, id: ParticipantId) -> Option<ParticipantInfo> {
        self.participants.iter().find(|p| p.id == id).map(info)
    }

    pub fn participants(&self) -> impl Iterator<Item = ParticipantInfo> + '_ {
        self.participants.iter().map(info)
    }

    /// Joins `room` with the client's offer and returns the SDP answer. Joining again with the same
    /// id replaces the old connection (a reconnect after a network blip, or a move between rooms):
    /// the others see the old tracks stop and the new ones start.
    pub fn join(
        &mut self,
        now: Instant,
        id: ParticipantId,
        room: RoomId,
        label: &str,
        offer: &str,
    ) -> Result<String, VoiceError> {
        // Parse before touching anything so a bad offer leaves an existing session alone.
        let offer = SdpOffer::from_sdp_string(offer).map_err(|e| VoiceError::BadSdp(e.to_string()))?;
        if self.locals.iter().any(|l| l.id == id) {
            return Err(VoiceError::NotInRoom);
        }
        let mut rtc = Rtc::builder()
            .set_crypto_provider(self.crypto.clone())
            .clear_codecs()
            .enable_opus(true, false)
            .set_stats_interval(Some(quality::STATS_INTERVAL))
            .build(now);
        for c in local_candidates(&self.config) {
            rtc.add_local_candidate(c);
        }
        let answer = rtc
            .sdp_api()
            .accept_offer(offer)
            .map_err(|e| VoiceError::BadSdp(e.to_string()))?;

        let (muted, deafened) = match self.idx(id) {
            Ok(i) => {
                let old = &self.participants[i];
                let kept = (old.muted, old.deafened);
                self.remove(now, id);
                kept
            }
            Err(_) => (false, false),
        };
        let mut tracks_out: Vec<TrackOut> = self
            .participants
            .iter()
            .filter(|p| p.room == room)
            .flat_map(|p| {
                p.tracks_in.iter().map(|t| TrackOut {
                    origin: p.id,
                    origin_mid: t.mid,
                    kind: t.kind,
                    state: OutState::ToOpen,
                })
            })
            .collect();
        tracks_out.extend(self.local_tracks(room));
        self.participants.push(Participant {
            id,
            room,
            label: label.to_owned(),
            rtc,
            next: now,
            connected: false,
            muted,
            deafened,
            speaking: false,
            last_loud: None,
            tracks_in: Vec::new(),
            tracks_out,
            pending: None,
            local: None,
            quality: quality::Meter::default(),
        });
        self.drain(now);
        Ok(answer.to_sdp_string())
    }

    /// A client-initiated renegotiation (it added or removed a track).
    pub fn offer(&mut self, now: Instant, id: ParticipantId, offer: &str) -> Result<String, VoiceError> {
        let i = self.idx(id)?;
        let offer = SdpOffer::from_sdp_string(offer).map_err(|e| VoiceError::BadSdp(e.to_string()))?;
        let p = &mut self.participants[i];
        let answer = p
            .rtc
            .sdp_api()
            .accept_offer(offer)
            .map_err(|e| VoiceError::BadSdp(e.to_string()))?;
        // Glare: the client's offer wins and ours is void (str0m dropped it). Redo our changes
        // after this round.
        if p.pending.take().is_some() {
            // An m-line that was only in our void offer never existed: a track whose origin
            // left meanwhile simply goes, the others are offered again.
            p.tracks_out
                .retain(|t| !matches!(t.state, OutState::NegotiatingThenStop(_)));
            for t in &mut p.tracks_out {
                t.state = match t.state {
                    OutState::Negotiating(_) => OutState::ToOpen,
                    OutState::NegotiatingStop(m) => OutState::ToStop(m),
                    s => s,
                };
            }
        }
        self.drain(now);
        Ok(answer.to_sdp_string())
    }

    /// The client's answer to an [`SfuEvent::Offer`].
    pub fn answer(&mut self, now: Instant, id: ParticipantId, answer: &str) -> Result<(), VoiceError> {
        let i = self.idx(id)?;
        let answer =
            SdpAnswer::from_sdp_string(answer).map_err(|e| VoiceError::BadSdp(e.to_string()))?;
        let p = &mut self.participants[i];
        let pending = p.pending.take().ok_or(VoiceError::NoPendingOffer)?;
        if let Err(e) = p.rtc.sdp_api().accept_answer(pending, answer) {
            // The offer is spent either way; tracks go back to be offered again.
            for t in &mut p.tracks_out {
                t.state = match t.state {
                    OutState::Negotiating(_) => OutState::ToOpen,
                    s => s,
                };
            }
            self.drain(now);
            return Err(VoiceError::BadSdp(e.to_string()));
        }
        for t in &mut p.tracks_out {
            t.state = match t.state {
                OutState::Negotiating(m) => OutState::Open(m),
                OutState::NegotiatingThenStop(m) => OutState::ToStop(m),
                s => s,
            };
        }
        p.tracks_out
            .retain(|t| !matches!(t.state, OutState::NegotiatingStop(_)));
        self.drain(now);
        Ok(())
    }

    /// A trickled ICE candidate (`candidate:...`, as the browser's `RTCIceCandidate.candidate`).
    /// An empty string is end-of-candidates.
    pub fn add_candidate(&mut self, id: ParticipantId, candidate: &str) -> Result<(), VoiceError> {
        let i = self.idx(id)?;
        let s = candidate.trim();
        if s.is_empty() {
            return Ok(());
        }
        let s = s.strip_prefix("a=").unwrap_or(s);
        let c = Candidate::from_sdp_string(s).map_err(|e| VoiceError::BadCandidate(e.to_string()))?;
        self.participants[i].rtc.add_remote_candidate(c);
        Ok(())
    }

    /// Muted: the SFU stops forwarding this participant's audio, whatever the client sends.
    pub fn set_muted(&mut self, now: Instant, id: ParticipantId, muted: bool) -> Result<(), VoiceError> {
        let i = self.idx(id)?;
        self.participants[i].muted = muted;
        self.update_speaking(now);
        Ok(())
    }

    /// Deafened: nothing is forwarded to this participant.
    pub fn set_deafened(&mut self, id: ParticipantId, deafened: bool) -> Result<(), VoiceError> {
        let i = self.idx(id)?;
        self.participants[i].deafened = deafened;
        Ok(())
    }

    /// The box's addresses changed (the driver opened or closed sockets). Answers from now on
    /// carry these candidates; a session whose media used an address that is gone is removed
    /// with [`SfuEvent::Disconnected`], as if ICE had given up, so its client re-joins.
    pub fn set_addresses(&mut self, now: Instant, udp: Vec<SocketAddr>, tcp: Vec<SocketAddr>) {
        self.config.host_candidates = udp;
        self.config.tcp_candidates = tcp;
        let cfg = &self.config;
        let gone: Vec<(ParticipantId, RoomId)> = self
            .participants
            .iter()
            .filter(|p| match p.local {
                Some((Protocol::Udp, a)) => !cfg.host_candidates.contains(&a),
                Some((_, a)) => !cfg.tcp_candidates.contains(&a),
                None => false,
            })
            .map(|p| (p.id, p.room))
            .collect();
        for (id, room) in gone {
            self.remove(now, id);
            self.outputs
                .push_back(SfuOutput::Event(SfuEvent::Disconnected { participant: id, room }));
        }
        self.drain(now);
    }

    pub fn leave(&mut self, now: Instant, id: ParticipantId) -> Result<(), VoiceError> {
        self.idx(id)?;
        self.remove(now, id);
        self.drain(now);
        Ok(())
    }

    fn remove(&mut self, _now: Instant, id: ParticipantId) {
        let Ok(i) = self.idx(id) else { return };
        let mut gone = self.participants.remove(i);
        gone.rtc.disconnect();
        for p in &mut self.participants {
            p.tracks_out.retain_mut(|t| {
                if t.origin != id {
                    return true;
                }
                match t.state {
                    OutState::ToOpen => return false,
                    OutState::Open(m) => t.state = OutState::ToStop(m),
                    OutState::Negotiating(m) => t.state = OutState::NegotiatingThenStop(m),
                    _ => {}
                }
                true
            });
        }
    }

    pub fn handle_input(&mut self, input: SfuInput<'_>) {
        match input {
            SfuInput::Receive {
                now,
                proto,
                source,
                destination,
                contents,
            } => {
                // RFC 7983: a first byte of 0..=3 is STUN (checks probe every pair); DTLS and
                // RTP travel the selected pair only.
                let on_path = contents.first().is_some_and(|b| *b > 3);
                // Garbage from the internet is dropped, never an error for the room.
                let Ok(contents) = contents.try_into() else { return };
                let input = Input::Receive(
                    now,
                    Receive {
                        proto,
                        source,
                        destination,
                        contents,
                    },
                );
                if let Some(p) = self.participants.iter_mut().find(|p| p.rtc.accepts(&input)) {
                    if on_path {
                        p.local = Some((proto, destination));
                    }
                    if let Err(e) = p.rtc.handle_input(input) {
                        tracing::debug!(participant = p.id.0, "voice input failed: {e}");
                    }
                }
                self.drain(now);
            }
            SfuInput::Timeout(now) => {
                for p in &mut self.participants {
                    if p.next <= now {
                        if let Err(e) = p.rtc.handle_input(Input::Timeout(now)) {
                            tracing::debug!(participant = p.id.0, "voice timeout failed: {e}");
                        }
                    }
                }
                self.drain(now);
            }
        }
    }

    pub fn poll_output(&mut self) -> SfuOutput {
        if let Some(o) = self.outputs.pop_front() {
            return o;
        }
        let mut t = self
            .participants
            .iter()
            .map(|p| p.next)
            .min()
            .unwrap_or(self.last_now + MAX_SLEEP);
        let loud = self.participants.iter().map(|p| (p.speaking, p.last_loud));
        for (speaking, last) in loud.chain(self.locals.iter().map(|l| (l.speaking, l.last_loud))) {
            if let (true, Some(l)) = (speaking, last) {
                t = t.min(l + SPEAKING_HOLD);
            }
        }
        SfuOutput::Timeout(t)
    }

    /// The label a participant joined with (the msid the others' browsers see is `p<id>`).
    pub fn label(&self, id: ParticipantId) -> Option<&str> {
        self.participants.iter().find(|p| p.id == id).map(|p| p.label.as_str())
    }
}

fn info(p: &Participant) -> ParticipantInfo {
    ParticipantInfo {
        id: p.id,
        room: p.room,
        muted: p.muted,
        deafened: p.deafened,
        speaking: p.speaking,
        connected: p.connected,
        quality: p.quality.current(),
    }
}
