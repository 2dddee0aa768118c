//! Local senders: participants of a room that live inside the box and only send audio (the
//! DJ). They have no WebRTC leg of their own: their Opus frames are written straight into every
//! listener's send-only m-line, exactly where a person's forwarded audio goes, so the browsers
//! see one more remote track with its own msid (`p<id>`) and do not need to know the difference.
//!
//! Like a person they can be muted for the whole room (a routing decision here), listeners who
//! deafened get nothing from them, and their frames carry an RFC 6464 level that drives the
//! same speaking state (a listener mutes one of them for themselves in the browser, like any
//! remote track).

use super::*;
use str0m::media::{Frequency, MediaTime};

/// The one m-line a local sender has (its track id for the listeners is `p<id>-dj`).
fn local_mid() -> Mid {
    Mid::from("dj")
}

pub(super) struct Local {
    pub(super) id: ParticipantId,
    pub(super) room: RoomId,
    pub(super) label: String,
    pub(super) muted: bool,
    pub(super) speaking: bool,
    pub(super) last_loud: Option<Instant>,
    /// The RTP clock (48 kHz samples sent so far, gaps included: a pause is a jump in time).
    rtp: u64,
    /// When the last frame was written, to let the RTP clock follow the wall clock across a
    /// pause (receivers' jitter buffers expect timestamps to match time).
    last_frame: Option<Instant>,
}

/// One frame of Opus from a local sender.
#[derive(Debug, Clone)]
pub struct LocalFrame<'a> {
    pub opus: &'a [u8],
    /// Samples per channel at 48 kHz this frame lasts (960 for 20 ms).
    pub samples: u32,
    /// RFC 6464 level, -dBov as str0m wants it: 0 loudest, -127 silence.
    pub level: i8,
}

impl Sfu {
    /// Adds a local sender to `room` (replacing one with the same id, which may move it): every
    /// listener in the room, and everyone who joins it later, is offered its track.
    pub fn add_local(&mut self, now: Instant, id: ParticipantId, room: RoomId, label: &str) -> Result<(), VoiceError> {
        if self.participants.iter().any(|p| p.id == id) {
            // A person's id: refusing keeps the two kinds from ever aliasing.
            return Err(VoiceError::NotInRoom);
        }
        let muted = self.locals.iter().find(|l| l.id == id).is_some_and(|l| l.muted);
        self.remove_local_tracks(id);
        self.locals.retain(|l| l.id != id);
        self.locals.push(Local {
            id,
            room,
            label: label.to_owned(),
            muted,
            speaking: false,
            last_loud: None,
            rtp: 0,
            last_frame: None,
        });
        for p in self.participants.iter_mut().filter(|p| p.room == room) {
            p.tracks_out.push(TrackOut {
                origin: id,
                origin_mid: local_mid(),
                kind: MediaKind::Audio,
                state: OutState::ToOpen,
            });
        }
        self.drain(now);
        Ok(())
    }

    /// Removes a local sender: its track is renegotiated away from every listener.
    pub fn remove_local(&mut self, now: Instant, id: ParticipantId) -> Result<(), VoiceError> {
        if !self.locals.iter().any(|l| l.id == id) {
            return Err(VoiceError::NotInRoom);
        }
        self.remove_local_tracks(id);
        self.locals.retain(|l| l.id != id);
        self.drain(now);
        Ok(())
    }

    /// Muted for the whole room: its frames are dropped here.
    pub fn set_local_muted(&mut self, now: Instant, id: ParticipantId, muted: bool) -> Result<(), VoiceError> {
        let l = self.locals.iter_mut().find(|l| l.id == id).ok_or(VoiceError::NotInRoom)?;
        l.muted = muted;
        self.update_speaking(now);
        Ok(())
    }

    /// The local senders, as the room state shows them.
    pub fn locals(&self) -> impl Iterator<Item = ParticipantInfo> + '_ {
        self.locals.iter().map(|l| ParticipantInfo {
            id: l.id,
            room: l.room,
            muted: l.muted,
            deafened: false,
            speaking: l.speaking,
            connected: true,
            quality: None,
        })
    }

    /// Writes one frame of a local sender's audio to every listener in its room whose m-line
    /// for it is open. Returns how many listeners it was written to.
    pub fn send_local(&mut self, now: Instant, id: ParticipantId, frame: LocalFrame<'_>) -> Result<usize, VoiceError> {
        self.last_now = self.last_now.max(now);
        let l = self.locals.iter_mut().find(|l| l.id == id).ok_or(VoiceError::NotInRoom)?;
        // After a gap (pause, a stalled source) the RTP clock jumps by the time that passed, so
        // receivers see the silence as time, not as a burst to play catch-up on.
        if let Some(prev) = l.last_frame {
            let gap = now.saturating_duration_since(prev);
            if gap > Duration::from_millis(200) {
                l.rtp += gap.as_millis() as u64 * 48;
            }
        }
        l.last_frame = Some(now);
        let ts = MediaTime::new(l.rtp, Frequency::FORTY_EIGHT_KHZ);
        l.rtp += u64::from(frame.samples);
        if frame.level >= SPEAKING_THRESHOLD_DBOV {
            l.last_loud = Some(now);
        }
        self.stats.media_in += 1;
        if l.muted {
            self.stats.media_dropped_muted += 1;
            self.update_speaking(now);
            return Ok(0);
        }
        let room = l.room;
        let mut sent = 0;
        for p in self.participants.iter_mut() {
            if p.room != room || p.deafened || !p.connected {
                continue;
            }
            let Some(mid) = p.tracks_out.iter().find_map(|t| match t.state {
                OutState::Open(m) if t.origin == id => Some(m),
                _ => None,
            }) else {
                continue;
            };
            let Some(writer) = p.rtc.writer(mid) else { continue };
            let Some(pt) = writer
                .payload_params()
                .find(|pp| pp.spec().codec == str0m::format::Codec::Opus)
                .map(|pp| pp.pt())
            else {
                continue;
            };
            let writer = writer.audio_level(frame.level, frame.level >= SPEAKING_THRESHOLD_DBOV);
            match writer.write(pt, now, ts, frame.opus.to_vec()) {
                Ok(()) => {
                    self.stats.media_forwarded += 1;
                    sent += 1;
                }
                Err(e) => tracing::debug!(participant = p.id.0, "local write failed: {e}"),
            }
            let _ = p.rtc.handle_input(Input::Timeout(now));
        }
        self.drain(now);
        Ok(sent)
    }

    /// Every listener's m-line for a local sender's track goes (as when a person leaves).
    fn remove_local_tracks(&mut self, id: ParticipantId) {
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

    /// The tracks of the local senders in `room`, for someone joining it.
    pub(super) fn local_tracks(&self, room: RoomId) -> Vec<TrackOut> {
        self.locals
            .iter()
            .filter(|l| l.room == room)
            .map(|l| TrackOut {
                origin: l.id,
                origin_mid: local_mid(),
                kind: MediaKind::Audio,
                state: OutState::ToOpen,
            })
            .collect()
    }

    /// The label a local sender was added with.
    pub fn local_label(&self, id: ParticipantId) -> Option<&str> {
        self.locals.iter().find(|l| l.id == id).map(|l| l.label.as_str())
    }
}
