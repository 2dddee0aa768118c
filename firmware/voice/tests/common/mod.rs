//! The simulation the SFU's tests share: real str0m clients and the SFU on a fake clock, over a
//! simulated network with latency, jitter and loss (in the style of str0m's own tests/common.rs),
//! where one client's own link can be made worse than the others'.
#![allow(clippy::unwrap_used, dead_code, unused_imports)]

pub use std::collections::{BTreeMap, HashMap};
pub use std::net::SocketAddr;
pub use std::time::{Duration, Instant};

pub use str0m::change::{SdpAnswer, SdpOffer};
pub use str0m::media::{Direction, MediaKind, MediaTime, Mid};
pub use str0m::net::{Protocol, Receive, TcpType};
pub use str0m::{Candidate, Event, Input, Output, Rtc};
pub use voice::{ParticipantId, Quality, RoomId, Sfu, SfuConfig, SfuEvent, SfuInput, SfuOutput};

pub const SFU_ADDR: &str = "10.0.0.1:5000";
/// The SFU's ICE-TCP listener: the same port number, on TCP.
pub const SFU_TCP_ADDR: &str = "10.0.0.1:5000";
pub const ROOM: RoomId = RoomId(1);

/// Deterministic PRNG so a failing run can be replayed.
pub struct Rng(u64);
impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next() % 1_000_000) as f64 / 1_000_000.0 < p
    }
}

pub struct Packet {
    pub at: Instant,
    pub proto: Protocol,
    pub source: SocketAddr,
    pub destination: SocketAddr,
    pub contents: Vec<u8>,
}

pub struct Client {
    pub idx: u8,
    pub addr: SocketAddr,
    /// The client's ICE-TCP (active) address, if it offered one.
    pub tcp_addr: Option<SocketAddr>,
    pub rtc: Rtc,
    pub mic: Option<Mid>,
    pub connected: bool,
    pub sent: u64,
    /// Frames received, by the sender index written in the payload.
    pub received: BTreeMap<u8, u64>,
    /// The client keeps sending; `muted` here only says what the server was told.
    pub level: i8,
    /// The RTP time of the latest frame received, by sender index (in 48 kHz samples).
    pub last_time: BTreeMap<u8, u64>,
}

pub struct World {
    pub now: Instant,
    pub sfu: Sfu,
    pub clients: Vec<Client>,
    pub net: Vec<Packet>,
    pub rng: Rng,
    pub loss: f64,
    pub speaking: HashMap<ParticipantId, bool>,
    pub offers_seen: usize,
    /// Every server offer, in order (what each participant was offered to receive).
    pub offers: Vec<(ParticipantId, String)>,
    pub ticks: u64,
    /// A network that drops every UDP packet (ICE-TCP must carry everything).
    pub udp_blocked: bool,
    /// TCP connections (client address, SFU address) the clients opened: the SFU's candidates
    /// are passive, so it can only answer on a connection a client made.
    pub tcp_conns: std::collections::HashSet<(SocketAddr, SocketAddr)>,
    /// Packets delivered, by protocol.
    pub delivered: HashMap<Protocol, u64>,
    pub disconnected: Vec<ParticipantId>,
    /// One client's own link, worse than the rest (by client index): extra loss each way and
    /// extra one-way delay.
    pub links: HashMap<u8, (f64, Duration)>,
    /// The latest quality the SFU told for each participant, and every time it told one.
    pub quality: HashMap<ParticipantId, Quality>,
    pub quality_told: Vec<(Instant, ParticipantId)>,
}

impl World {
    pub fn new(loss: f64) -> World {
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
            links: HashMap::new(),
            quality: HashMap::new(),
            quality_told: Vec::new(),
        }
    }

    pub fn pid(idx: u8) -> ParticipantId {
        ParticipantId(u64::from(idx))
    }

    /// A client makes an offer with its microphone track and joins through the SFU's signalling.
    pub fn join(&mut self, idx: u8, room: RoomId) {
        self.join_with(idx, room, false);
    }

    /// `tcp`: the client also offers an active ICE-TCP candidate, as browsers do.
    pub fn join_with(&mut self, idx: u8, room: RoomId, tcp: bool) {
        self.join_media(idx, room, tcp, &[]);
    }

    /// Like `join_with`, with more send-only m-lines after the microphone (a hostile or
    /// future client: extra audio tracks, video).
    pub fn join_media(&mut self, idx: u8, room: RoomId, tcp: bool, extra: &[MediaKind]) {
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
            last_time: BTreeMap::new(),
        };
        if let Some(c) = self.clients.iter_mut().find(|c| c.idx == idx) {
            *c = client;
        } else {
            self.clients.push(client);
        }
    }

    pub fn leave(&mut self, idx: u8) {
        self.sfu.leave(self.now, Self::pid(idx)).unwrap();
        self.clients.retain(|c| c.idx != idx);
    }

    pub fn send(&mut self, proto: Protocol, from: SocketAddr, to: SocketAddr, contents: Vec<u8>) {
        let sfu_tcp: SocketAddr = SFU_TCP_ADDR.parse().unwrap();
        let sfu_udp: SocketAddr = SFU_ADDR.parse().unwrap();
        let peer = if to == sfu_udp { from } else { to };
        let (extra_loss, extra_delay) = self
            .clients
            .iter()
            .find(|c| c.addr == peer)
            .and_then(|c| self.links.get(&c.idx).copied())
            .unwrap_or((0.0, Duration::ZERO));
        let at = match proto {
            Protocol::Udp => {
                if self.udp_blocked || self.rng.chance(self.loss) || self.rng.chance(extra_loss) {
                    return;
                }
                self.now + Duration::from_millis(10) + extra_delay + Duration::from_micros(self.rng.next() % 10_000)
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
    pub fn step(&mut self) {
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

    pub fn route_outputs(&mut self) {
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
                SfuOutput::Event(SfuEvent::Quality { participant, quality, .. }) => {
                    self.quality.insert(participant, quality);
                    self.quality_told.push((self.now, participant));
                }
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
                        c.last_time.insert(d.data[0], d.time.rebase(str0m::media::Frequency::FORTY_EIGHT_KHZ).numer());
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

    pub fn run(&mut self, d: Duration) {
        let end = self.now + d;
        while self.now < end {
            self.step();
        }
    }

    pub fn client(&self, idx: u8) -> &Client {
        self.clients.iter().find(|c| c.idx == idx).unwrap()
    }

    pub fn received(&self, to: u8, from: u8) -> u64 {
        self.client(to).received.get(&from).copied().unwrap_or(0)
    }

    pub fn snapshot(&self) -> HashMap<(u8, u8), u64> {
        let mut m = HashMap::new();
        for c in &self.clients {
            for (from, n) in &c.received {
                m.insert((c.idx, *from), *n);
            }
        }
        m
    }
}

pub fn delta(before: &HashMap<(u8, u8), u64>, w: &World, to: u8, from: u8) -> u64 {
    w.received(to, from) - before.get(&(to, from)).copied().unwrap_or(0)
}

pub fn room_of(w: &mut World, n: u8, loss: f64) {
    w.loss = loss;
    for i in 0..n {
        w.join(i, ROOM);
    }
    w.run(Duration::from_secs(3));
}

