//! Voice rooms on the real daemon: signalling over the gateway, media over real UDP (and ICE-TCP,
//! for networks that block UDP) between real str0m clients and the daemon's SFU, and bad input
//! that must not disturb the room.

use crate::harness::*;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::media::{Direction, Frequency, MediaKind, MediaTime, Mid};
use str0m::net::{Protocol, Receive, TcpType};
use str0m::{Candidate, Event, Input, Output, Rtc};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

/// How a peer reaches the box.
enum Link {
    Udp(UdpSocket),
    /// ICE-TCP as a browser on a UDP-blocking network does it: an active candidate (port 9),
    /// and one connection to the box's passive candidate carrying RFC 4571 frames.
    Tcp { stream: Option<TcpStream>, server: Option<SocketAddr>, inbox: Vec<u8> },
}

/// A voice client: a str0m peer on a real UDP socket (or TCP connection), sending a tagged
/// Opus-sized frame every 20 ms and counting the frames it receives by tag.
pub(crate) struct Peer {
    tag: u8,
    rtc: Rtc,
    link: Link,
    /// The local candidate's address (what str0m sends from and expects packets to).
    addr: SocketAddr,
    mic: Mid,
    connected: bool,
    sent: u64,
    pub(crate) received: BTreeMap<u8, u64>,
    next_frame: Instant,
    /// Every media payload received (kept when `keep` is set, for decoding), with its mid.
    pub(crate) payloads: Vec<Vec<u8>>,
    pub(crate) keep: bool,
}

impl Peer {
    async fn new(tag: u8) -> (Peer, String, SdpPendingOffer) {
        Self::with(tag, false).await
    }

    /// `tcp`: the peer has no UDP at all, only an active ICE-TCP candidate.
    async fn with(tag: u8, tcp: bool) -> (Peer, String, SdpPendingOffer) {
        let mut rtc = Rtc::builder().clear_codecs().enable_opus(true, false).build(Instant::now());
        let (link, addr) = if tcp {
            let addr: SocketAddr = "127.0.0.1:9".parse().expect("addr");
            let c = Candidate::builder().tcp().host(addr).tcptype(TcpType::Active).build().expect("candidate");
            rtc.add_local_candidate(c);
            (Link::Tcp { stream: None, server: None, inbox: Vec::new() }, addr)
        } else {
            let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
            let addr = socket.local_addr().expect("addr");
            rtc.add_local_candidate(Candidate::host(addr, "udp").expect("candidate"));
            (Link::Udp(socket), addr)
        };
        let mut api = rtc.sdp_api();
        let mic = api.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None);
        let (offer, pending) = api.apply().expect("offer");
        let peer = Peer { tag, rtc, link, addr, mic, connected: false, sent: 0, received: BTreeMap::new(), next_frame: Instant::now(), payloads: Vec::new(), keep: false };
        (peer, offer.to_sdp_string(), pending)
    }

    fn accept_answer(&mut self, pending: SdpPendingOffer, sdp: &str) {
        let answer = SdpAnswer::from_sdp_string(sdp).expect("answer parses");
        self.rtc.sdp_api().accept_answer(pending, answer).expect("answer accepted");
    }

    /// A TCP peer opens its connection to the box's passive candidate on 127.0.0.1.
    async fn connect_tcp(&mut self, answer: &str) {
        let Link::Tcp { stream, server, .. } = &mut self.link else { return };
        let addr = tcp_candidates(answer).into_iter().find(|a| a.ip().is_loopback() && a.is_ipv4()).expect("a passive TCP candidate on 127.0.0.1");
        *stream = Some(TcpStream::connect(addr).await.expect("connect to the box's ICE-TCP port"));
        *server = Some(addr);
    }

    pub(crate) fn answer_offer(&mut self, sdp: &str) -> String {
        let offer = SdpOffer::from_sdp_string(sdp).expect("offer parses");
        self.rtc.sdp_api().accept_offer(offer).expect("offer accepted").to_sdp_string()
    }

    /// Runs the peer for `d` of real time.
    pub(crate) async fn pump(&mut self, d: Duration) {
        let end = Instant::now() + d;
        let mut buf = vec![0u8; 2000];
        while Instant::now() < end {
            let now = Instant::now();
            if self.connected && now >= self.next_frame {
                self.next_frame = now + Duration::from_millis(20);
                if let Some(w) = self.rtc.writer(self.mic) {
                    let pt = w.payload_params().next().expect("opus").pt();
                    let ts = MediaTime::new(self.sent * 960, Frequency::FORTY_EIGHT_KHZ);
                    let _ = w.audio_level(-20, true).write(pt, now, ts, vec![self.tag; 80]);
                    self.sent += 1;
                }
            }
            let timeout = loop {
                match self.rtc.poll_output().expect("poll") {
                    Output::Timeout(t) => break t,
                    Output::Transmit(t) => match &mut self.link {
                        Link::Udp(socket) => {
                            let _ = socket.send_to(&t.contents, t.destination).await;
                        }
                        // Only towards the candidate we are connected to (checks to the box's
                        // other addresses go nowhere, as they would from a browser).
                        Link::Tcp { stream: Some(stream), server, .. } if t.proto == Protocol::Tcp && Some(t.destination) == *server => {
                            let mut frame = (t.contents.len() as u16).to_be_bytes().to_vec();
                            frame.extend_from_slice(&t.contents);
                            stream.write_all(&frame).await.expect("tcp write");
                        }
                        Link::Tcp { .. } => {}
                    },
                    Output::Event(Event::Connected) => self.connected = true,
                    Output::Event(Event::MediaData(m)) => {
                        *self.received.entry(m.data[0]).or_default() += 1;
                        if self.keep {
                            self.payloads.push(m.data.to_vec());
                        }
                    }
                    Output::Event(_) => {}
                }
            };
            let wait = timeout.min(self.next_frame).min(end).saturating_duration_since(Instant::now()).max(Duration::from_millis(1));
            let destination = self.addr;
            match &mut self.link {
                Link::Udp(socket) => match tokio::time::timeout(wait, socket.recv_from(&mut buf)).await {
                    Ok(Ok((n, source))) => {
                        let Ok(contents) = buf[..n].try_into() else { continue };
                        let input = Input::Receive(Instant::now(), Receive { proto: Protocol::Udp, source, destination, contents });
                        let _ = self.rtc.handle_input(input);
                    }
                    _ => {
                        let _ = self.rtc.handle_input(Input::Timeout(Instant::now()));
                    }
                },
                Link::Tcp { stream: Some(stream), server: Some(source), inbox } => {
                    // `read` (not `read_exact`) so a timeout never loses half a frame.
                    if let Ok(Ok(n)) = tokio::time::timeout(wait, stream.read(&mut buf)).await {
                        assert!(n > 0, "the box closed the ICE-TCP connection");
                        inbox.extend_from_slice(&buf[..n]);
                    }
                    while inbox.len() >= 2 {
                        let len = usize::from(u16::from_be_bytes([inbox[0], inbox[1]]));
                        if inbox.len() < 2 + len {
                            break;
                        }
                        let packet: Vec<u8> = inbox.drain(..2 + len).skip(2).collect();
                        let Ok(contents) = packet.as_slice().try_into() else { continue };
                        let input = Input::Receive(Instant::now(), Receive { proto: Protocol::Tcp, source: *source, destination, contents });
                        let _ = self.rtc.handle_input(input);
                    }
                    let _ = self.rtc.handle_input(Input::Timeout(Instant::now()));
                }
                Link::Tcp { .. } => {
                    tokio::time::sleep(wait).await;
                    let _ = self.rtc.handle_input(Input::Timeout(Instant::now()));
                }
            }
        }
    }

    fn from(&self, tag: u8) -> u64 {
        self.received.get(&tag).copied().unwrap_or(0)
    }
}

pub(crate) async fn voice_channel(admin: &Client, name: &str, limit: i64) -> String {
    let r = admin.post("/api/channels", json!({"name": name, "kind": "voice", "user_limit": limit})).await.expect_status(201);
    assert_eq!(r.body["kind"], "voice");
    r.body["id"].as_str().expect("id").to_owned()
}

/// Answers any server offers waiting on the socket (renegotiation when tracks come and go).
async fn answer_offers(gw: &mut Gw, peer: &mut Peer) {
    while let Some(f) = gw.next_within(Duration::from_millis(20)).await {
        if f["op"] == "ephemeral" && f["t"] == "voice.offer" {
            let answer = peer.answer_offer(f["d"]["sdp"].as_str().expect("sdp"));
            let r = gw.request("ans", "voice.answer", json!({"sdp": answer})).await;
            assert_eq!(r["op"], "reply", "{r}");
        }
    }
}

/// Both peers run while their sockets' offers are answered, for about `d`.
async fn run(a: (&mut Gw, &mut Peer), b: (&mut Gw, &mut Peer), d: Duration) {
    let end = Instant::now() + d;
    while Instant::now() < end {
        tokio::join!(a.1.pump(Duration::from_millis(100)), b.1.pump(Duration::from_millis(100)));
        answer_offers(a.0, a.1).await;
        answer_offers(b.0, b.1).await;
    }
}

pub(crate) async fn join(gw: &mut Gw, ch: &str, tag: u8) -> Peer {
    let (mut peer, offer, pending) = Peer::new(tag).await;
    let r = gw.request("join", "voice.join", json!({"channel_id": ch, "sdp": offer})).await;
    assert_eq!(r["op"], "reply", "{r}");
    peer.accept_answer(pending, r["d"]["sdp"].as_str().expect("answer sdp"));
    peer
}

/// The passive ICE-TCP candidates in an SDP.
fn tcp_candidates(sdp: &str) -> Vec<SocketAddr> {
    sdp.lines()
        .filter(|l| l.starts_with("a=candidate:") && l.contains(" tcp ") && l.contains("tcptype passive"))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            let ip: std::net::IpAddr = f.get(4)?.parse().ok()?;
            Some(SocketAddr::new(ip, f.get(5)?.parse().ok()?))
        })
        .collect()
}

fn participants(state: &Value) -> Vec<i64> {
    state["d"]["participants"].as_array().map(|a| a.iter().filter_map(|p| p["user_id"].as_str()?.parse().ok()).collect()).unwrap_or_default()
}

#[tokio::test]
async fn unauthenticated_or_unauthorized_joins_are_refused() {
    let d = Daemon::start();
    let admin = d.admin().await;
    let bob = d.member(&admin, "bob").await;
    // No session, no gateway, so no signalling at all.
    assert!(Client::new(&d).gateway_raw(None).await.is_err());
    // Only admins make voice channels, with a sane limit.
    bob.post("/api/channels", json!({"name": "mine", "kind": "voice"})).await.expect_error(403, "admin_only");
    admin.post("/api/channels", json!({"name": "big", "kind": "voice", "user_limit": 100})).await.expect_error(400, "invalid_user_limit");
    admin.post("/api/channels", json!({"name": "odd", "kind": "video"})).await.expect_status(400);
    let lounge = voice_channel(&admin, "lounge", 1).await;
    let general = admin.general().await;
    let (mut gw, _) = bob.gateway(None).await;
    let (_, offer, _) = Peer::new(1).await;
    let r = gw.request("1", "voice.join", json!({"channel_id": general, "sdp": offer})).await;
    assert_eq!(r["d"]["code"], "not_voice_channel");
    let r = gw.request("2", "voice.join", json!({"channel_id": "999999", "sdp": offer})).await;
    assert_eq!(r["d"]["code"], "unknown_channel");
    let r = gw.request("3", "voice.candidate", json!({"candidate": "candidate:1 1 udp 1 127.0.0.1 9 typ host"})).await;
    assert_eq!(r["d"]["code"], "not_in_voice");
    // Archived rooms take nobody; full rooms take nobody more.
    let archived = voice_channel(&admin, "old-room", 0).await;
    admin.patch(&format!("/api/channels/{archived}"), json!({"archived": true})).await.expect_status(200);
    let r = gw.request("4", "voice.join", json!({"channel_id": archived, "sdp": offer})).await;
    assert_eq!(r["d"]["code"], "channel_archived");
    let (mut agw, _) = admin.gateway(None).await;
    let (_, aoffer, _) = Peer::new(2).await;
    let r = agw.request("5", "voice.join", json!({"channel_id": lounge, "sdp": aoffer})).await;
    assert_eq!(r["op"], "reply", "{r}");
    let r = gw.request("6", "voice.join", json!({"channel_id": lounge, "sdp": offer})).await;
    assert_eq!(r["d"]["code"], "voice_room_full");
    // Unknown fields and missing ones are refused like every other request.
    let r = gw.request("7", "voice.join", json!({"channel_id": lounge})).await;
    assert_eq!(r["d"]["code"], "invalid_request");
}

#[tokio::test]
async fn two_people_hear_each_other_through_the_daemon_and_bad_input_does_not_disturb_the_room() {
    let d = Daemon::start();
    let admin = d.admin().await;
    let bob = d.member(&admin, "bob").await;
    let carol = d.member(&admin, "carol").await;
    let lounge = voice_channel(&admin, "lounge", 0).await;
    // Carol is not in the room but sees who is, from the sidebar.
    let (mut cgw, _) = carol.gateway(None).await;
    let (mut agw, _) = admin.gateway(None).await;
    let (mut bgw, _) = bob.gateway(None).await;
    let mut a = join(&mut agw, &lounge, 1).await;
    let mut b = join(&mut bgw, &lounge, 2).await;
    run((&mut agw, &mut a), (&mut bgw, &mut b), Duration::from_secs(4)).await;
    assert!(a.connected && b.connected, "ICE + DTLS over real UDP");
    assert!(a.from(2) > 20, "admin hears bob: {:?}", a.received);
    assert!(b.from(1) > 20, "bob hears admin: {:?}", b.received);
    assert_eq!(a.from(1) + b.from(2), 0, "nobody hears themselves");
    let mut seen_both = false;
    let mut graded = false;
    while let Some(f) = cgw.next_within(Duration::from_millis(200)).await {
        if f["t"] == "voice.state" && participants(&f).len() == 2 {
            seen_both = true;
            // The SFU's own measurement of each path (round trip, loss) rides in the state.
            graded = f["d"]["participants"].as_array().is_some_and(|p| {
                p.iter().all(|p| p["quality"]["grade"] == "good" && p["quality"]["rtt_ms"].as_u64().is_some_and(|r| r < 200) && p["quality"]["loss_pct"].is_number())
            });
        }
    }
    assert!(seen_both, "room state reaches people outside the room");
    assert!(graded, "the room state carries each participant's connection quality");

    // Malformed signalling: clear errors, and the room keeps going.
    let r = bgw.request("b1", "voice.candidate", json!({"candidate": "candidate:this is not one"})).await;
    assert_eq!(r["d"]["code"], "bad_candidate");
    let r = bgw.request("b2", "voice.offer", json!({"sdp": "v=0\r\nnonsense"})).await;
    assert_eq!(r["d"]["code"], "bad_sdp");
    let r = bgw.request("b3", "voice.answer", json!({"sdp": "v=0"})).await;
    assert_eq!(r["d"]["code"], "bad_sdp");
    let r = bgw.request("b4", "voice.join", json!({"channel_id": lounge, "sdp": "x".repeat(40_000)})).await;
    assert_eq!(r["d"]["code"], "bad_sdp");
    let r = bgw.request("b5", "voice.state", json!({"muted": "yes"})).await;
    assert_eq!(r["d"]["code"], "invalid_request");
    // Garbage on the UDP port.
    let port = d.voice_port();
    let junk = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    for _ in 0..50 {
        let _ = junk.send_to(&[0x17; 120], ("127.0.0.1", port));
    }
    let (a0, b0) = (a.from(2), b.from(1));
    run((&mut agw, &mut a), (&mut bgw, &mut b), Duration::from_secs(1)).await;
    assert!(a.from(2) > a0 + 20 && b.from(1) > b0 + 20, "media still flows after bad input");

    // Mute is enforced by the server and shown to everyone.
    let r = bgw.request("m", "voice.state", json!({"muted": true})).await;
    assert_eq!(r["d"]["muted"], true);
    run((&mut agw, &mut a), (&mut bgw, &mut b), Duration::from_millis(300)).await;
    let a0 = a.from(2);
    run((&mut agw, &mut a), (&mut bgw, &mut b), Duration::from_secs(1)).await;
    assert!(a.from(2) <= a0 + 1, "a muted person is not forwarded ({} -> {})", a0, a.from(2));
    // Carol's socket may be behind on a loaded machine: wait (up to 10 s) for the state that
    // shows bob muted, rather than for a quiet moment.
    let mut saw_muted = false;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !saw_muted && tokio::time::Instant::now() < deadline {
        if let Some(f) = cgw.next_within(Duration::from_millis(500)).await {
            if f["t"] == "voice.state" {
                saw_muted = f["d"]["participants"].as_array().is_some_and(|p| p.iter().any(|p| p["muted"] == true));
            }
        }
    }
    if !saw_muted && cgw.close.is_some() {
        // Her socket outlived its heartbeat on a slow run (this test sends none): a new one
        // must show the same room state in `ready`.
        let (_c2, ready) = carol.gateway(None).await;
        saw_muted = ready["d"]["voice"].as_array().is_some_and(|rooms| {
            rooms.iter().any(|r| r["participants"].as_array().is_some_and(|p| p.iter().any(|p| p["muted"] == true)))
        });
    }
    assert!(saw_muted, "carol never saw bob muted (socket closed: {:?})", cgw.close);

    // Leaving removes bob everywhere; a fresh socket's `ready` shows the room as it is.
    let r = bgw.request("l", "voice.leave", json!({})).await;
    assert_eq!(r["op"], "reply", "{r}");
    let (_, ready) = carol.gateway(None).await;
    let rooms = ready["d"]["voice"].as_array().expect("voice rooms in ready").clone();
    assert_eq!(rooms.len(), 1);
    assert_eq!(rooms[0]["participants"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn without_udp_a_client_reaches_the_room_over_ice_tcp_on_the_voice_port() {
    let d = Daemon::start();
    let admin = d.admin().await;
    let bob = d.member(&admin, "bob").await;
    let lounge = voice_channel(&admin, "lounge", 0).await;
    let (mut agw, _) = admin.gateway(None).await;
    let (mut bgw, _) = bob.gateway(None).await;
    let mut a = join(&mut agw, &lounge, 1).await;
    // Bob has no UDP: only an active TCP candidate, like a browser behind a UDP-blocking firewall.
    let (mut b, offer, pending) = Peer::with(2, true).await;
    let r = bgw.request("join", "voice.join", json!({"channel_id": lounge, "sdp": offer})).await;
    assert_eq!(r["op"], "reply", "{r}");
    let answer = r["d"]["sdp"].as_str().expect("answer sdp").to_owned();
    let tcp = tcp_candidates(&answer);
    assert!(!tcp.is_empty() && tcp.iter().all(|c| c.port() == d.voice_port()), "passive TCP candidates on the voice port number: {tcp:?}");
    b.accept_answer(pending, &answer);
    b.connect_tcp(&answer).await;

    // Junk on the TCP port: a connection of garbage frames and one that lies about a length
    // and hangs up. Neither disturbs anyone.
    let port = d.voice_port();
    let mut junk = TcpStream::connect(("127.0.0.1", port)).await.expect("connect");
    for _ in 0..50 {
        junk.write_all(&[0x00, 0x10, 0x17, 0x17, 0x17, 0x17, 0x17, 0x17, 0x17, 0x17, 0x17, 0x17, 0x17, 0x17, 0x17, 0x17, 0x17, 0x17]).await.expect("junk");
    }
    let mut liar = TcpStream::connect(("127.0.0.1", port)).await.expect("connect");
    liar.write_all(&[0xff, 0xff, 1, 2, 3]).await.expect("junk");
    drop(liar);

    run((&mut agw, &mut a), (&mut bgw, &mut b), Duration::from_secs(4)).await;
    assert!(a.connected && b.connected, "ICE + DTLS, over UDP for the admin and TCP for bob");
    assert!(a.from(2) > 20, "admin hears bob (who only has TCP): {:?}", a.received);
    assert!(b.from(1) > 20, "bob hears admin over TCP: {:?}", b.received);
    let (a0, b0) = (a.from(2), b.from(1));
    run((&mut agw, &mut a), (&mut bgw, &mut b), Duration::from_secs(1)).await;
    assert!(a.from(2) > a0 + 20 && b.from(1) > b0 + 20, "media keeps flowing both ways");
    drop(junk);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_joins_cannot_overfill_a_room() {
    let d = Daemon::start();
    let admin = d.admin().await;
    let room = voice_channel(&admin, "duo", 2).await;
    let mut people = Vec::new();
    for i in 0..6 {
        let c = d.member(&admin, &format!("p{i}")).await;
        let (gw, _) = c.gateway(None).await;
        let (_, offer, _) = Peer::new(i as u8 + 1).await;
        people.push((c, gw, offer));
    }
    // Everyone asks at the same moment.
    let answers = futures_util::future::join_all(people.iter_mut().map(|(_, gw, offer)| {
        let room = room.clone();
        let offer = offer.clone();
        async move { gw.request("j", "voice.join", json!({"channel_id": room, "sdp": offer})).await }
    }))
    .await;
    let joined = answers.iter().filter(|r| r["op"] == "reply").count();
    let full = answers.iter().filter(|r| r["d"]["code"] == "voice_room_full").count();
    let codes: Vec<&Value> = answers.iter().map(|r| &r["d"]["code"]).collect();
    assert_eq!((joined, full), (2, 4), "codes: {codes:?}");
}
