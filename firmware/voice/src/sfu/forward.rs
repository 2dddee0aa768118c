//! The forwarding half of the SFU: draining every Rtc, handing media and speaking state from
//! one participant to the others in its room, and renegotiating when tracks come and go.

use super::*;

impl Sfu {
    /// Polls every Rtc until it has nothing more to say, forwarding media between them until
    /// the room is quiet, then starts any renegotiation that is due.
    pub(super) fn drain(&mut self, now: Instant) {
        self.last_now = self.last_now.max(now);
        loop {
            let mut props = Vec::new();
            let mut dead = Vec::new();
            for p in &mut self.participants {
                poll_participant(p, now, &mut self.outputs, &mut props, &mut dead);
            }
            for (id, room) in dead {
                self.remove(now, id);
                self.outputs
                    .push_back(SfuOutput::Event(SfuEvent::Disconnected { participant: id, room }));
            }
            if props.is_empty() {
                break;
            }
            for prop in props {
                self.propagate(now, prop);
            }
        }
        self.update_speaking(now);
        self.negotiate();
    }

    pub(super) fn propagate(&mut self, now: Instant, prop: Propagated) {
        match prop {
            Propagated::TrackOpen(origin, room, track) => {
                for p in self.participants.iter_mut().filter(|p| p.room == room && p.id != origin) {
                    p.tracks_out.push(TrackOut {
                        origin,
                        origin_mid: track.mid,
                        kind: track.kind,
                        state: OutState::ToOpen,
                    });
                }
            }
            Propagated::Media(origin, room, data) => {
                self.stats.media_in += 1;
                let Some(sender) = self.participants.iter_mut().find(|p| p.id == origin) else {
                    return;
                };
                if let Some(level) = data.ext_vals.audio_level {
                    if level >= SPEAKING_THRESHOLD_DBOV {
                        sender.last_loud = Some(now);
                    }
                }
                if sender.muted {
                    // Enforced here, not trusted to the client: a muted person is not heard.
                    self.stats.media_dropped_muted += 1;
                    return;
                }
                for p in self.participants.iter_mut() {
                    if p.room != room || p.id == origin || p.deafened || !p.connected {
                        continue;
                    }
                    let Some(mid) = p.tracks_out.iter().find_map(|t| match t.state {
                        OutState::Open(m) if t.origin == origin && t.origin_mid == data.mid => Some(m),
                        _ => None,
                    }) else {
                        continue;
                    };
                    let Some(writer) = p.rtc.writer(mid) else { continue };
                    let Some(pt) = writer.match_params(data.params) else { continue };
                    let writer = match (data.ext_vals.audio_level, data.ext_vals.voice_activity) {
                        (Some(l), va) => writer.audio_level(l, va.unwrap_or(false)),
                        _ => writer,
                    };
                    // str0m keeps per-leg RTP state: its own sequence numbers, RTCP reports and
                    // a resend buffer for the receiver's NACKs.
                    match writer.write(pt, data.network_time, data.time, data.data.clone()) {
                        Ok(()) => self.stats.media_forwarded += 1,
                        Err(e) => tracing::debug!(participant = p.id.0, "voice write failed: {e}"),
                    }
                    // Let the writer's packet go out now rather than at the next tick.
                    let _ = p.rtc.handle_input(Input::Timeout(now));
                }
            }
        }
    }

    pub(super) fn update_speaking(&mut self, now: Instant) {
        let heard = |muted: bool, last: Option<Instant>| {
            !muted && last.is_some_and(|l| now.saturating_duration_since(l) < SPEAKING_HOLD)
        };
        let people = self.participants.iter_mut().map(|p| (p.id, p.room, heard(p.muted, p.last_loud), &mut p.speaking));
        let locals = self.locals.iter_mut().map(|l| (l.id, l.room, heard(l.muted, l.last_loud), &mut l.speaking));
        for (participant, room, speaking, was) in people.chain(locals) {
            if speaking != *was {
                *was = speaking;
                self.outputs.push_back(SfuOutput::Event(SfuEvent::Speaking { participant, room, speaking }));
            }
        }
    }

    pub(super) fn negotiate(&mut self) {
        for p in &mut self.participants {
            // Only once connected: the client has applied our answer by then, so our offer can
            // never overtake it on the signalling path.
            if !p.connected || p.pending.is_some() {
                continue;
            }
            let mut api = p.rtc.sdp_api();
            for t in &mut p.tracks_out {
                match t.state {
                    OutState::ToOpen => {
                        let origin_label = format!("p{}", t.origin.0);
                        let mid = api.add_media(
                            t.kind,
                            Direction::SendOnly,
                            Some(origin_label.clone()),
                            Some(format!("{origin_label}-{}", t.origin_mid)),
                            None,
                        );
                        t.state = OutState::Negotiating(mid);
                    }
                    OutState::ToStop(m) => {
                        api.stop_media(m);
                        t.state = OutState::NegotiatingStop(m);
                    }
                    _ => {}
                }
            }
            if !api.has_changes() {
                continue;
            }
            if let Some((offer, pending)) = api.apply() {
                p.pending = Some(pending);
                self.outputs.push_back(SfuOutput::Event(SfuEvent::Offer {
                    participant: p.id,
                    sdp: offer.to_sdp_string(),
                }));
            }
        }
    }
}

pub(super) fn poll_participant(
    p: &mut Participant,
    now: Instant,
    outputs: &mut VecDeque<SfuOutput>,
    props: &mut Vec<Propagated>,
    dead: &mut Vec<(ParticipantId, RoomId)>,
) {
    loop {
        if !p.rtc.is_alive() {
            dead.push((p.id, p.room));
            return;
        }
        let out = match p.rtc.poll_output() {
            Ok(o) => o,
            Err(e) => {
                tracing::debug!(participant = p.id.0, "voice poll failed: {e}");
                p.rtc.disconnect();
                dead.push((p.id, p.room));
                return;
            }
        };
        match out {
            Output::Timeout(t) => {
                p.next = t.min(now + MAX_SLEEP);
                if let Some(quality) = p.quality.poll(now) {
                    outputs.push_back(SfuOutput::Event(SfuEvent::Quality {
                        participant: p.id,
                        room: p.room,
                        quality,
                    }));
                }
                return;
            }
            Output::Transmit(t) => outputs.push_back(SfuOutput::Transmit {
                proto: t.proto,
                source: t.source,
                destination: t.destination,
                contents: t.contents.to_vec(),
            }),
            Output::Event(e) => match e {
                Event::Connected => {
                    p.connected = true;
                    outputs.push_back(SfuOutput::Event(SfuEvent::Connected { participant: p.id }));
                }
                Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                    p.rtc.disconnect();
                }
                // Our own send-only m-lines (other people's tracks) are not incoming tracks.
                Event::MediaAdded(m)
                    if matches!(m.direction, Direction::RecvOnly | Direction::SendRecv)
                        && !p.tracks_out.iter().any(|t| out_mid(t) == Some(m.mid))
                        && !p.tracks_in.iter().any(|t| t.mid == m.mid) =>
                {
                    // Audio only until video forwarding exists, and a few tracks at most: every
                    // forwarded track costs every other participant bandwidth and the Pi CPU.
                    if m.kind != MediaKind::Audio || p.tracks_in.len() >= MAX_TRACKS_IN {
                        tracing::info!(participant = p.id.0, kind = ?m.kind, tracks = p.tracks_in.len(), "incoming track refused");
                    } else {
                        let t = TrackIn { mid: m.mid, kind: m.kind };
                        p.tracks_in.push(t);
                        props.push(Propagated::TrackOpen(p.id, p.room, t));
                    }
                }
                Event::MediaData(d) if p.tracks_in.iter().any(|t| t.mid == d.mid) => {
                    props.push(Propagated::Media(p.id, p.room, Box::new(d)));
                }
                Event::PeerStats(s) => p.quality.peer(&s),
                Event::MediaIngressStats(s) => p.quality.ingress(&s),
                Event::MediaEgressStats(s) => p.quality.egress(&s),
                _ => {}
            },
        }
    }
}

fn out_mid(t: &TrackOut) -> Option<Mid> {
    match t.state {
        OutState::ToOpen => None,
        OutState::Negotiating(m)
        | OutState::Open(m)
        | OutState::NegotiatingThenStop(m)
        | OutState::ToStop(m)
        | OutState::NegotiatingStop(m) => Some(m),
    }
}
