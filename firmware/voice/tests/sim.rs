//! In-process simulation: real str0m clients and the SFU on a fake clock, over a simulated
//! network with latency, jitter and loss (in the style of str0m's own tests/common.rs).
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use str0m::change::{SdpAnswer, SdpOffer};
use str0m::media::{Direction, MediaKind, MediaTime, Mid};
use str0m::net::{Protocol, Receive, TcpType};
use str0m::{Candidate, Event, Input, Output, Rtc};
use voice::{ParticipantId, RoomId, Sfu, SfuConfig, SfuEvent, SfuInput, SfuOutput};

const SFU_ADDR: &str = "10.0.0.1:5000";
/// The SFU's ICE-TCP listener: the same port number, on TCP.
const SFU_TCP_ADDR: &str = "10.0.0.1:5000";
const ROOM: RoomId = RoomId(1);

/// Deterministic PRNG so a failing run can be replayed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn chance(&mut self, p: f64) -> bool {
        (self.next() % 1_000_000) as f64 / 1_000_000.0 < p
    }
}

struct Packet {
    at: Instant,
    proto: Protocol,
    source: SocketAddr,
    destination: SocketAddr,
    contents: Vec<u8>,
}

struct Client {
    idx: u8,
    addr: SocketAddr,
    /// The client's ICE-TCP (active) address, if it offered one.
    tcp_addr: Option<SocketAddr>,
    rtc: Rtc,
    mic: Option<Mid>,
    connected: bool,
    sent: u64,
    /// Frames received, by the sender index written in the payload.
    received: BTreeMap<u8, u64>,
    /// The client keeps sending; `muted` here only says what the server was told.
    level: i8,
}

struct World {
    now: Instant,
    sfu: Sfu,
    clients: Vec<Client>,
    net: Vec<Packet>,
    rng: Rng,
    loss: f64,
    speaking: HashMap<ParticipantId, bool>,
    offers_seen: usize,
    /// Every server offer, in order (what each participant was offered to receive).
    offers: Vec<(ParticipantId, String)>,
    ticks: u64,
    /// A network that drops every UDP packet (ICE-TCP must carry everything).
    udp_blocked: bool,
    /// TCP connections (client address, SFU address) the clients opened: the SFU's candidates
    /// are passive, so it can only answer on a connection a client made.
    tcp_conns: std::collections::HashSet<(SocketAddr, SocketAddr)>,
    /// Packets delivered, by protocol.
    delivered: HashMap<Protocol, u64>,
    disconnected: Vec<ParticipantId>,
}

impl World {
    fn new(loss: f64) -> World {
        let now = Instant::now();
        let sfu = Sfu::new(
            SfuConfig {
                host_candidates: vec![SFU_ADDR.parse().unwrap()],
                tcp_candidates: vec![SFU_TCP_ADDR.parse().unwrap()],
                public_address: None,
            },
            now,
        );
        World {
            now,
            sfu,
            clients: Vec::new(),
            net: Vec::new(),
            rng: Rng(0x5eed_1234_abcd_0001),
            loss,
            speaking: HashMap::new(),
            offers_seen: 0,
            offers: Vec::new(),
            ticks: 0,
            udp_blocked: false,
            tcp_conns: Default::default(),
            delivered: HashMap::new(),
            disconnected: Vec::new(),
        }
    }

    fn pid(idx: u8) -> ParticipantId {
        ParticipantId(u64::from(idx))
    }

    /// A client makes an offer with its microphone track and joins through the SFU's signalling.
    fn join(&mut self, idx: u8, room: RoomId) {
        self.join_with(idx, room, false);
    }

    /// `tcp`: the client also offers an active ICE-TCP candidate, as browsers do.
    fn join_with(&mut self, idx: u8, room: RoomId, tcp: bool) {
        self.join_media(idx, room, tcp, &[]);
    }

    /// Like `join_with`, with more send-only m-lines after the microphone (a hostile or
    /// future client: extra audio tracks, video).
    fn join_media(&mut self, idx: u8, room: RoomId, tcp: bool, extra: &[MediaKind]) {
        let addr: SocketAddr = format!("10.0.1.{}:6000", idx + 10).parse().unwrap();
        let tcp_addr: Option<SocketAddr> = tcp.then(|| format!("10.0.1.{}:7000", idx + 10).parse().unwrap());
        let mut rtc = Rtc::builder().clear_codecs().enable_opus(true, false).build(self.now);
        rtc.add_local_candidate(Candidate::host(addr, "udp").unwrap());
        if let Some(t) = tcp_addr {
            let c = Candidate::builder().tcp().host(t).tcptype(TcpType::Active).build().unwrap();
            rtc.add_local_candidate(c);
        }
        let mut api = rtc.sdp_api();
        let mic = api.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None);
        for kind in extra {
            api.add_media(*kind, Direction::SendOnly, None, None, None);
        }
        let (offer, pending) = api.apply().unwrap();
        let answer = self
            .sfu
            .join(self.now, Self::pid(idx), room, &format!("u{idx}"), &offer.to_sdp_string())
            .unwrap();
        rtc.sdp_api()
            .accept_answer(pending, SdpAnswer::from_sdp_string(&answer).unwrap())
            .unwrap();
        let client = Client {
            idx,
            addr,
            tcp_addr,
            rtc,
            mic: Some(mic),
            connected: false,
            sent: 0,
            received: BTreeMap::new(),
            level: -30,
        };
        if let Some(c) = self.clients.iter_mut().find(|c| c.idx == idx) {
            *c = client;
        } else {
            self.clients.push(client);
        }
    }

    fn leave(&mut self, idx: u8) {
        self.sfu.leave(self.now, Self::pid(idx)).unwrap();
        self.clients.retain(|c| c.idx != idx);
    }

    fn send(&mut self, proto: Protocol, from: SocketAddr, to: SocketAddr, contents: Vec<u8>) {
        let sfu_tcp: SocketAddr = SFU_TCP_ADDR.parse().unwrap();
        let at = match proto {
            Protocol::Udp => {
                if self.udp_blocked || self.rng.chance(self.loss) {
                    return;
                }
                self.now + Duration::from_millis(10) + Duration::from_micros(self.rng.next() % 10_000)
            }
            _ => {
                // A client connects to the SFU's passive candidate; the SFU only answers on
                // connections that exist. TCP is lossless and in order here.
                if to == sfu_tcp {
                    self.tcp_conns.insert((from, to));
                } else if !self.tcp_conns.contains(&(to, from)) {
                    return;
                }
                self.now + Duration::from_millis(15)
            }
        };
        self.net.push(Packet {
            at,
            proto,
            source: from,
            destination: to,
            contents,
        });
    }

    /// Advances the fake clock by 1 ms: deliver due packets, tick everyone, route outputs.
    fn step(&mut self) {
        self.now += Duration::from_millis(1);
        let now = self.now;
        let sfu_addr: SocketAddr = SFU_ADDR.parse().unwrap();
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.net).into_iter().partition(|p| p.at <= now);
        self.net = later;
        for p in due {
            *self.delivered.entry(p.proto).or_default() += 1;
            if p.destination == sfu_addr {
                self.sfu.handle_input(SfuInput::Receive {
                    now,
                    proto: p.proto,
                    source: p.source,
                    destination: p.destination,
                    contents: &p.contents,
                });
            } else if let Some(c) = self
                .clients
                .iter_mut()
                .find(|c| c.addr == p.destination || c.tcp_addr == Some(p.destination))
            {
                let input = Input::Receive(
                    now,
                    Receive {
                        proto: p.proto,
                        source: p.source,
                        destination: p.destination,
                        contents: p.contents.as_slice().try_into().unwrap(),
                    },
                );
                if c.rtc.accepts(&input) {
                    c.rtc.handle_input(input).unwrap();
                }
            }
        }
        self.sfu.handle_input(SfuInput::Timeout(now));
        // Every 20 ms each connected client sends one Opus frame tagged with its index.
        self.ticks += 1;
        let frame_due = self.ticks % 20 == 0;
        for c in &mut self.clients {
            c.rtc.handle_input(Input::Timeout(now)).unwrap();
            if frame_due && c.connected {
                if let Some(mut w) = c.mic.and_then(|m| c.rtc.writer(m)) {
                    let pt = w.payload_params().next().unwrap().pt();
                    w = w.audio_level(c.level, c.level > -50);
                    let ts = MediaTime::new(c.sent * 960, str0m::media::Frequency::FORTY_EIGHT_KHZ);
                    let mut payload = vec![c.idx; 60];
                    payload[1..9].copy_from_slice(&c.sent.to_be_bytes());
                    w.write(pt, now, ts, payload).unwrap();
                    c.sent += 1;
                }
            }
        }
        self.route_outputs();
    }

    fn route_outputs(&mut self) {
        let mut offers: Vec<(ParticipantId, String)> = Vec::new();
        loop {
            match self.sfu.poll_output() {
                SfuOutput::Timeout(_) => break,
                SfuOutput::Transmit {
                    proto,
                    source,
                    destination,
                    contents,
                } => self.send(proto, source, destination, contents),
                SfuOutput::Event(SfuEvent::Offer { participant, sdp }) => offers.push((participant, sdp)),
                SfuOutput::Event(SfuEvent::Speaking {
                    participant,
                    speaking,
                    ..
                }) => {
                    self.speaking.insert(participant, speaking);
                }
                SfuOutput::Event(SfuEvent::Disconnected { participant, .. }) => self.disconnected.push(participant),
                SfuOutput::Event(_) => {}
            }
        }
        let mut sends = Vec::new();
        for c in &mut self.clients {
            loop {
                match c.rtc.poll_output().unwrap() {
                    Output::Timeout(_) => break,
                    Output::Transmit(t) => sends.push((t.proto, t.source, t.destination, t.contents.to_vec())),
                    Output::Event(Event::Connected) => c.connected = true,
                    Output::Event(Event::MediaData(d)) => {
                        *c.received.entry(d.data[0]).or_default() += 1;
                    }
                    Output::Event(_) => {}
                }
            }
        }
        for (p, s, d, b) in sends {
            self.send(p, s, d, b);
        }
        // Server-initiated renegotiation over "signalling" (instant and lossless, like the
        // gateway's TCP).
        for (participant, sdp) in offers {
            self.offers_seen += 1;
            self.offers.push((participant, sdp.clone()));
            let Some(c) = self.clients.iter_mut().find(|c| Self::pid(c.idx) == participant) else {
                continue;
            };
            let answer = c
                .rtc
                .sdp_api()
                .accept_offer(SdpOffer::from_sdp_string(&sdp).unwrap())
                .unwrap();
            self.sfu
                .answer(self.now, participant, &answer.to_sdp_string())
                .unwrap();
            self.route_outputs();
        }
    }

    fn run(&mut self, d: Duration) {
        let end = self.now + d;
        while self.now < end {
            self.step();
        }
    }

    fn client(&self, idx: u8) -> &Client {
        self.clients.iter().find(|c| c.idx == idx).unwrap()
    }

    fn received(&self, to: u8, from: u8) -> u64 {
        self.client(to).received.get(&from).copied().unwrap_or(0)
    }

    fn snapshot(&self) -> HashMap<(u8, u8), u64> {
        let mut m = HashMap::new();
        for c in &self.clients {
            for (from, n) in &c.received {
                m.insert((c.idx, *from), *n);
            }
        }
        m
    }
}

fn delta(before: &HashMap<(u8, u8), u64>, w: &World, to: u8, from: u8) -> u64 {
    w.received(to, from) - before.get(&(to, from)).copied().unwrap_or(0)
}

fn room_of(w: &mut World, n: u8, loss: f64) {
    w.loss = loss;
    for i in 0..n {
        w.join(i, ROOM);
    }
    w.run(Duration::from_secs(3));
}

#[test]
fn everyone_hears_everyone_else_and_not_themselves() {
    let mut w = World::new(0.0);
    room_of(&mut w, 4, 0.0);
    let before = w.snapshot();
    w.run(Duration::from_secs(2));
    for to in 0..4 {
        assert_eq!(delta(&before, &w, to, to), 0, "{to} hears itself");
        for from in (0..4).filter(|f| *f != to) {
            // 2 s of 20 ms frames is 100; allow for the pipeline's edges.
            let n = delta(&before, &w, to, from);
            assert!(n >= 95, "{to} got {n} frames from {from}");
        }
    }
    assert!(w.offers_seen >= 3, "server-initiated renegotiation happened");
}

#[test]
fn rooms_are_separate() {
    let mut w = World::new(0.0);
    w.join(0, RoomId(1));
    w.join(1, RoomId(1));
    w.join(2, RoomId(2));
    w.run(Duration::from_secs(3));
    assert!(w.received(0, 1) > 50);
    assert_eq!(w.received(0, 2), 0);
    assert_eq!(w.received(2, 0), 0);
}

#[test]
fn muted_participant_is_not_forwarded_and_unmute_restores() {
    let mut w = World::new(0.0);
    room_of(&mut w, 3, 0.0);
    w.sfu.set_muted(w.now, ParticipantId(1), true).unwrap();
    w.run(Duration::from_millis(100)); // in flight
    let before = w.snapshot();
    w.run(Duration::from_secs(1));
    assert_eq!(delta(&before, &w, 0, 1), 0);
    assert_eq!(delta(&before, &w, 2, 1), 0);
    assert!(delta(&before, &w, 1, 0) >= 45, "a muted person still hears");
    assert_eq!(w.speaking.get(&ParticipantId(1)), Some(&false), "muted is never speaking");
    w.sfu.set_muted(w.now, ParticipantId(1), false).unwrap();
    let before = w.snapshot();
    w.run(Duration::from_secs(1));
    assert!(delta(&before, &w, 0, 1) >= 45);
}

#[test]
fn deafened_participant_receives_nothing_but_is_heard() {
    let mut w = World::new(0.0);
    room_of(&mut w, 3, 0.0);
    w.sfu.set_deafened(ParticipantId(2), true).unwrap();
    w.run(Duration::from_millis(100));
    let before = w.snapshot();
    w.run(Duration::from_secs(1));
    assert_eq!(delta(&before, &w, 2, 0) + delta(&before, &w, 2, 1), 0);
    assert!(delta(&before, &w, 0, 2) >= 45, "deafened is still heard");
}

#[test]
fn departed_participant_stops_and_its_track_is_renegotiated_away() {
    let mut w = World::new(0.0);
    room_of(&mut w, 3, 0.0);
    let offers = w.offers_seen;
    w.leave(2);
    w.run(Duration::from_millis(200));
    assert!(w.offers_seen > offers, "the others got an offer that stops the track");
    let before = w.snapshot();
    w.run(Duration::from_secs(1));
    assert_eq!(delta(&before, &w, 0, 2), 0);
    assert!(delta(&before, &w, 0, 1) >= 45, "the rest of the room keeps going");
    assert_eq!(w.sfu.participants().count(), 2);
}

#[test]
fn reconnecting_client_gets_its_streams_back() {
    let mut w = World::new(0.0);
    room_of(&mut w, 3, 0.0);
    // A network blip: the client throws its connection away and joins again with a fresh one.
    w.join(1, ROOM);
    w.run(Duration::from_secs(3));
    let before = w.snapshot();
    w.run(Duration::from_secs(1));
    assert!(delta(&before, &w, 1, 0) >= 45, "it hears the others again");
    assert!(delta(&before, &w, 1, 2) >= 45);
    assert!(delta(&before, &w, 0, 1) >= 45, "the others hear it again");
    assert_eq!(w.sfu.participants().count(), 3);
}

#[test]
fn speaking_follows_the_audio_level_extension() {
    let mut w = World::new(0.0);
    room_of(&mut w, 2, 0.0);
    assert_eq!(w.speaking.get(&ParticipantId(0)), Some(&true));
    w.clients[0].level = -100; // silence
    w.run(Duration::from_secs(1));
    assert_eq!(w.speaking.get(&ParticipantId(0)), Some(&false));
    assert_eq!(w.speaking.get(&ParticipantId(1)), Some(&true));
}

#[test]
fn loss_is_survived_and_most_audio_arrives() {
    let mut w = World::new(0.0);
    room_of(&mut w, 3, 0.05);
    let before = w.snapshot();
    w.run(Duration::from_secs(4));
    for to in 0..3u8 {
        for from in (0..3u8).filter(|f| *f != to) {
            // 200 frames sent over two lossy hops (5 % each); NACK may recover some.
            let n = delta(&before, &w, to, from);
            assert!(n >= 160, "{to} got {n} of 200 frames from {from}");
        }
    }
}

#[test]
fn malformed_signalling_is_an_error_and_leaves_the_room_alone() {
    let mut w = World::new(0.0);
    room_of(&mut w, 2, 0.0);
    let e = w.sfu.join(w.now, ParticipantId(0), ROOM, "x", "v=0 nonsense").unwrap_err();
    assert_eq!(e.code(), "bad_sdp");
    let e = w.sfu.add_candidate(ParticipantId(0), "candidate:garbage").unwrap_err();
    assert_eq!(e.code(), "bad_candidate");
    let e = w.sfu.answer(w.now, ParticipantId(0), "v=0").unwrap_err();
    assert_eq!(e.code(), "bad_sdp");
    assert_eq!(w.sfu.add_candidate(ParticipantId(9), "").unwrap_err().code(), "not_in_voice");
    // Datagram garbage on the port is dropped.
    w.sfu.handle_input(SfuInput::Receive {
        now: w.now,
        proto: Protocol::Udp,
        source: "10.9.9.9:1".parse().unwrap(),
        destination: SFU_ADDR.parse().unwrap(),
        contents: &[0xff; 40],
    });
    let before = w.snapshot();
    w.run(Duration::from_secs(1));
    assert!(delta(&before, &w, 0, 1) >= 45);
    assert!(delta(&before, &w, 1, 0) >= 45);
}

#[test]
fn answers_offer_passive_tcp_candidates_next_to_udp() {
    let now = Instant::now();
    let mut sfu = Sfu::new(
        SfuConfig {
            host_candidates: vec![SFU_ADDR.parse().unwrap()],
            tcp_candidates: vec![SFU_TCP_ADDR.parse().unwrap()],
            public_address: Some("203.0.113.7:5000".parse().unwrap()),
        },
        now,
    );
    let mut rtc = Rtc::builder().clear_codecs().enable_opus(true, false).build(now);
    let mut api = rtc.sdp_api();
    api.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None);
    let (offer, _) = api.apply().unwrap();
    let answer = sfu.join(now, ParticipantId(1), ROOM, "u1", &offer.to_sdp_string()).unwrap();
    let cands: Vec<&str> = answer.lines().filter(|l| l.starts_with("a=candidate:")).collect();
    let has = |needle: &[&str]| cands.iter().any(|c| needle.iter().all(|n| c.contains(n)));
    assert!(has(&[" udp ", "10.0.0.1 5000 typ host"]), "{cands:?}");
    assert!(has(&[" tcp ", "10.0.0.1 5000 typ host", "tcptype passive"]), "{cands:?}");
    assert!(has(&[" udp ", "203.0.113.7 5000 typ srflx"]), "{cands:?}");
    assert!(has(&[" tcp ", "203.0.113.7 5000 typ srflx", "tcptype passive"]), "{cands:?}");
    // UDP is preferred whenever it works: every TCP candidate ranks below every UDP host one.
    let prio = |c: &str| c.split(' ').nth(3).unwrap().parse::<u32>().unwrap();
    let udp_host = cands.iter().filter(|c| c.contains(" udp ") && c.contains("typ host")).map(|c| prio(c)).min().unwrap();
    assert!(cands.iter().filter(|c| c.contains(" tcp ")).all(|c| prio(c) < udp_host));
}

#[test]
fn udp_blocked_everyone_connects_over_ice_tcp() {
    let mut w = World::new(0.0);
    w.udp_blocked = true;
    for i in 0..3 {
        w.join_with(i, ROOM, true);
    }
    w.run(Duration::from_secs(3));
    for c in &w.clients {
        assert!(c.connected, "client {} connected over TCP", c.idx);
    }
    let before = w.snapshot();
    w.run(Duration::from_secs(2));
    for to in 0..3u8 {
        for from in (0..3u8).filter(|f| *f != to) {
            let n = delta(&before, &w, to, from);
            assert!(n >= 95, "{to} got {n} frames from {from} over TCP");
        }
    }
    assert_eq!(w.delivered.get(&Protocol::Udp), None, "nothing crossed on UDP");
    assert!(w.delivered.get(&Protocol::Tcp).copied().unwrap_or(0) > 1000);
}

#[test]
fn sessions_on_an_address_that_left_the_box_are_disconnected_and_new_answers_use_the_new_ones() {
    let mut w = World::new(0.0);
    room_of(&mut w, 2, 0.0);
    let (sfu, other): (SocketAddr, SocketAddr) = (SFU_ADDR.parse().unwrap(), "10.0.0.2:5000".parse().unwrap());
    // An address joins: nobody is disturbed.
    w.sfu.set_addresses(w.now, vec![sfu, other], vec![sfu, other]);
    w.run(Duration::from_millis(200));
    assert!(w.disconnected.is_empty(), "{:?}", w.disconnected);
    // The one everyone's media used leaves: both are told (their clients re-join).
    w.sfu.set_addresses(w.now, vec![other], vec![other]);
    w.route_outputs();
    assert_eq!(w.disconnected, vec![ParticipantId(0), ParticipantId(1)]);
    assert_eq!(w.sfu.participants().count(), 0);
    let mut rtc = Rtc::builder().clear_codecs().enable_opus(true, false).build(w.now);
    let mut api = rtc.sdp_api();
    api.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None);
    let (offer, _) = api.apply().unwrap();
    let answer = w.sfu.join(w.now, ParticipantId(5), ROOM, "u5", &offer.to_sdp_string()).unwrap();
    assert!(answer.contains(" 10.0.0.2 5000 typ host") && !answer.contains(" 10.0.0.1 "), "{answer}");
}

#[test]
fn at_most_two_tracks_per_participant_are_forwarded() {
    // (Video cannot even be negotiated: the SFU's sessions carry Opus only, so a video m-line
    // is answered without a payload type and never becomes a track.)
    let mut w = World::new(0.0);
    // Participant 0 offers a microphone and three more audio tracks.
    w.join_media(0, ROOM, false, &[MediaKind::Audio, MediaKind::Audio, MediaKind::Audio]);
    w.join(1, ROOM);
    w.run(Duration::from_secs(3));
    let (_, offer) = w.offers.iter().rev().find(|(p, _)| *p == World::pid(1)).expect("participant 1 was offered the others' tracks");
    let sections: Vec<&str> = offer.split("\r\nm=").skip(1).collect();
    let sent = |kind: &str| sections.iter().filter(|m| m.starts_with(kind) && m.contains("a=sendonly")).count();
    assert_eq!(sent("audio"), voice::sfu::MAX_TRACKS_IN, "at most MAX_TRACKS_IN audio tracks: {offer}");
    // The microphone still works.
    let before = w.snapshot();
    w.run(Duration::from_secs(1));
    assert!(delta(&before, &w, 1, 0) >= 40, "1 hears 0");
}
