//! Issue 9: the voice port follows the box's addresses. The driver runs on real sockets with a
//! fake address list (any 127/8 address is local on Linux, so no root is needed): an address
//! that appears is opened, announced and heard through; one that vanishes is closed, and the
//! sessions that used it are told, so their clients re-join.
#![allow(clippy::unwrap_used)]

use std::io::ErrorKind;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use str0m::change::{SdpAnswer, SdpPendingOffer};
use str0m::media::{Direction, MediaKind};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::mpsc;
use voice::driver::{self, AddressSource, DriverConfig, Handle};
use voice::{ParticipantId, RoomId, SfuEvent};

const POLL: Duration = Duration::from_millis(50);
const ROOM: RoomId = RoomId(1);

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// The driver on `0.0.0.0:0` (follow every address, ephemeral port) with the addresses a test
/// moves.
struct Spot {
    handle: Handle,
    addrs: Arc<Mutex<Vec<IpAddr>>>,
    events: mpsc::UnboundedReceiver<SfuEvent>,
    seen: Vec<SfuEvent>,
}

impl Spot {
    async fn start(ips: &[&str]) -> Spot {
        let addrs = Arc::new(Mutex::new(ips.iter().map(|s| ip(s)).collect::<Vec<_>>()));
        let list = addrs.clone();
        let (tx, events) = mpsc::unbounded_channel();
        let config = DriverConfig { listen: "0.0.0.0:0".parse().unwrap(), public_address: None };
        let handle = driver::start_with(config, move || list.lock().unwrap().clone(), POLL, tx).await.unwrap();
        Spot { handle, addrs, events, seen: Vec::new() }
    }

    fn set(&self, ips: &[&str]) {
        *self.addrs.lock().unwrap() = ips.iter().map(|s| ip(s)).collect();
    }

    fn port(&self) -> u16 {
        self.handle.local_addrs[0].port()
    }

    /// Waits (a few polls at most) until the port is open on `ip` or not, as `open` says.
    async fn wait_open(&self, ip: &str, open: bool) -> driver::Addresses {
        let end = Instant::now() + Duration::from_secs(3);
        loop {
            let a = self.handle.addresses().await.unwrap();
            if a.udp.iter().any(|s| s.ip().to_string() == ip) == open {
                return a;
            }
            assert!(Instant::now() < end, "the port on {ip} never became open={open}: {a:?}");
            tokio::time::sleep(POLL).await;
        }
    }

    fn drain(&mut self) {
        while let Ok(e) = self.events.try_recv() {
            self.seen.push(e);
        }
    }

    fn saw(&mut self, e: &SfuEvent) -> bool {
        self.drain();
        self.seen.contains(e)
    }
}

/// A str0m client on a real UDP socket of its own.
struct Peer {
    rtc: Rtc,
    socket: UdpSocket,
    addr: SocketAddr,
    connected: bool,
}

impl Peer {
    async fn new() -> (Peer, String, SdpPendingOffer) {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        let mut rtc = Rtc::builder().clear_codecs().enable_opus(true, false).build(Instant::now());
        rtc.add_local_candidate(Candidate::host(addr, "udp").unwrap());
        let mut api = rtc.sdp_api();
        api.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None);
        let (offer, pending) = api.apply().unwrap();
        (Peer { rtc, socket, addr, connected: false }, offer.to_sdp_string(), pending)
    }

    /// Joins as `id` and returns the box's whole answer; the peer is given only the candidates
    /// on `via`, so whatever connects goes through that address.
    async fn join(b: &Spot, id: u64, via: &str) -> (Peer, String) {
        let (mut peer, offer, pending) = Peer::new().await;
        let answer = b.handle.join(ParticipantId(id), ROOM, format!("u{id}"), offer).await.unwrap();
        let only_via: String = answer
            .lines()
            .filter(|l| !l.starts_with("a=candidate:") || l.contains(&format!(" {via} ")))
            .map(|l| format!("{l}\r\n"))
            .collect();
        peer.rtc.sdp_api().accept_answer(pending, SdpAnswer::from_sdp_string(&only_via).unwrap()).unwrap();
        (peer, answer)
    }

    /// Runs the peer for `d` of real time.
    async fn pump(&mut self, d: Duration) {
        let end = Instant::now() + d;
        let mut buf = vec![0u8; 2000];
        while Instant::now() < end {
            let timeout = loop {
                match self.rtc.poll_output().unwrap() {
                    Output::Timeout(t) => break t,
                    Output::Transmit(t) => {
                        let _ = self.socket.send_to(&t.contents, t.destination).await;
                    }
                    Output::Event(Event::Connected) => self.connected = true,
                    Output::Event(_) => {}
                }
            };
            let wait = timeout.min(end).saturating_duration_since(Instant::now()).max(Duration::from_millis(1));
            match tokio::time::timeout(wait, self.socket.recv_from(&mut buf)).await {
                Ok(Ok((n, source))) => {
                    let Ok(contents) = buf[..n].try_into() else { continue };
                    let r = Receive { proto: Protocol::Udp, source, destination: self.addr, contents };
                    let _ = self.rtc.handle_input(Input::Receive(Instant::now(), r));
                }
                _ => {
                    let _ = self.rtc.handle_input(Input::Timeout(Instant::now()));
                }
            }
        }
    }
}

/// Pumps the peers until every one is connected and the box said so for each.
async fn connect(b: &mut Spot, peers: &mut [(u64, &mut Peer)]) {
    let end = Instant::now() + Duration::from_secs(5);
    loop {
        for (_, p) in peers.iter_mut() {
            p.pump(Duration::from_millis(20)).await;
        }
        let done = peers
            .iter()
            .all(|(id, p)| p.connected && b.saw(&SfuEvent::Connected { participant: ParticipantId(*id) }));
        if done {
            return;
        }
        assert!(Instant::now() < end, "not connected: {:?}", b.seen);
    }
}

fn has_candidate(sdp: &str, proto: &str, addr: &str) -> bool {
    sdp.lines()
        .any(|l| l.starts_with("a=candidate:") && l.contains(&format!(" {proto} ")) && l.contains(&format!(" {addr} ")))
}

#[tokio::test]
async fn an_address_that_appears_after_start_is_opened_announced_and_heard_through() {
    let mut b = Spot::start(&["127.0.0.1"]).await;
    let port = b.port();
    let (_, before) = Peer::join(&b, 1, "127.0.0.1").await;
    assert!(!has_candidate(&before, "udp", "127.0.0.2"), "{before}");

    b.set(&["127.0.0.1", "127.0.0.2"]);
    let now = b.wait_open("127.0.0.2", true).await;
    let udp2 = SocketAddr::new(ip("127.0.0.2"), port);
    assert!(now.udp.contains(&udp2), "the same port number on the new address: {now:?}");
    let tcp2 = *now.tcp.iter().find(|a| a.ip() == ip("127.0.0.2")).expect("an ICE-TCP listener on the new address");

    // (b) an answer made now carries the new address, for UDP and ICE-TCP.
    let (mut peer, answer) = Peer::join(&b, 2, "127.0.0.2").await;
    assert!(has_candidate(&answer, "udp", &format!("127.0.0.2 {port} typ host")), "{answer}");
    assert!(has_candidate(&answer, "tcp", &format!("127.0.0.2 {} typ host", tcp2.port())), "{answer}");
    // (a) a real client that knows only that candidate gets through to the SFU.
    connect(&mut b, &mut [(2, &mut peer)]).await;
    TcpStream::connect(tcp2).await.expect("the ICE-TCP listener on the new address accepts");
}

#[tokio::test]
async fn an_address_that_vanishes_is_closed_and_its_sessions_are_told() {
    let mut b = Spot::start(&["127.0.0.1"]).await;
    let port = b.port();
    b.set(&["127.0.0.1", "127.0.0.2"]);
    let now = b.wait_open("127.0.0.2", true).await;
    let tcp2 = *now.tcp.iter().find(|a| a.ip() == ip("127.0.0.2")).unwrap();
    let (mut stays, _) = Peer::join(&b, 1, "127.0.0.1").await;
    let (mut goes, _) = Peer::join(&b, 2, "127.0.0.2").await;
    connect(&mut b, &mut [(1, &mut stays), (2, &mut goes)]).await;
    let mut ice_tcp = TcpStream::connect(tcp2).await.unwrap();
    let udp2 = SocketAddr::new(ip("127.0.0.2"), port);
    assert_eq!(std::net::UdpSocket::bind(udp2).unwrap_err().kind(), ErrorKind::AddrInUse, "open while the address is there");

    b.set(&["127.0.0.1"]);
    b.wait_open("127.0.0.2", false).await;
    // (c) the sockets are closed: the test can take the port on that address itself.
    let end = Instant::now() + Duration::from_secs(2);
    while std::net::UdpSocket::bind(udp2).is_err() || std::net::TcpListener::bind(tcp2).is_err() {
        assert!(Instant::now() < end, "the port on 127.0.0.2 is still held");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // An ICE-TCP connection on it is not left half-open.
    let mut byte = [0u8; 1];
    let r = tokio::time::timeout(Duration::from_secs(2), ice_tcp.read(&mut byte)).await;
    assert!(matches!(r, Ok(Ok(0)) | Ok(Err(_))), "the connection on the vanished address is closed: {r:?}");
    // The session on it is told through the disconnect path (its client re-joins); the one on
    // 127.0.0.1 carries on.
    let gone = SfuEvent::Disconnected { participant: ParticipantId(2), room: ROOM };
    let end = Instant::now() + Duration::from_secs(2);
    while !b.saw(&gone) {
        assert!(Instant::now() < end, "participant 2 was not disconnected: {:?}", b.seen);
        tokio::time::sleep(POLL).await;
    }
    stays.pump(Duration::from_millis(300)).await;
    assert!(!b.saw(&SfuEvent::Disconnected { participant: ParticipantId(1), room: ROOM }), "{:?}", b.seen);
    // New answers offer only what is there.
    let (_, answer) = Peer::join(&b, 3, "127.0.0.1").await;
    assert!(!answer.contains(" 127.0.0.2 "), "{answer}");
    assert!(has_candidate(&answer, "udp", &format!("127.0.0.1 {port} typ host")), "{answer}");
}

#[tokio::test]
async fn an_address_whose_port_cannot_be_opened_yet_is_retried_and_not_announced_meanwhile() {
    // As an IPv6 address still in duplicate detection refuses bind() for a moment.
    let b = Spot::start(&["127.0.0.1"]).await;
    let taken = std::net::UdpSocket::bind(SocketAddr::new(ip("127.0.0.3"), b.port())).unwrap();
    b.set(&["127.0.0.1", "127.0.0.3"]);
    tokio::time::sleep(POLL * 4).await;
    let a = b.handle.addresses().await.unwrap();
    assert!(a.udp.iter().all(|s| s.ip() != ip("127.0.0.3")), "{a:?}");
    let (_, answer) = Peer::join(&b, 1, "127.0.0.1").await;
    assert!(!answer.contains(" 127.0.0.3 "), "no candidate for a port we do not hold: {answer}");
    drop(taken);
    b.wait_open("127.0.0.3", true).await;
    let (_, answer) = Peer::join(&b, 1, "127.0.0.1").await;
    assert!(has_candidate(&answer, "udp", "127.0.0.3"), "{answer}");
}

/// A look-up that fails says nothing about the network: the port stays open.
struct Flaky(Arc<Mutex<Option<Vec<IpAddr>>>>);

impl AddressSource for Flaky {
    fn addresses(&mut self) -> std::io::Result<Vec<IpAddr>> {
        self.0.lock().unwrap().clone().ok_or_else(|| std::io::Error::other("netlink hiccup"))
    }
}

#[tokio::test]
async fn a_failed_address_lookup_keeps_the_port_open() {
    let list = Arc::new(Mutex::new(Some(vec![ip("127.0.0.1"), ip("127.0.0.4")])));
    let (tx, _events) = mpsc::unbounded_channel();
    let config = DriverConfig { listen: "0.0.0.0:0".parse().unwrap(), public_address: None };
    let h = driver::start_with(config, Flaky(list.clone()), POLL, tx).await.unwrap();
    assert_eq!(h.local_addrs.len(), 2, "{:?}", h.local_addrs);
    *list.lock().unwrap() = None;
    tokio::time::sleep(POLL * 4).await;
    assert_eq!(h.addresses().await.unwrap().udp, h.local_addrs);
}

#[tokio::test]
async fn a_port_that_is_taken_everywhere_fails_start_with_the_reason() {
    let taken = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let (tx, _events) = mpsc::unbounded_channel();
    let config = DriverConfig { listen: taken.local_addr().unwrap(), public_address: None };
    let e = driver::start_with(config, Vec::new, POLL, tx).await.err().expect("no socket, no voice");
    assert_eq!(e.kind(), ErrorKind::AddrInUse, "{e}");
}
