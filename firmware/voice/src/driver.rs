//! The thin IO shell around [`Sfu`]: one tokio task owns the core, the sockets and the clock.
//! Signalling comes in as [`Command`]s with a reply channel; what the core wants said to a
//! client (offers, speaking, disconnects) goes out as [`SfuEvent`]s.
//!
//! One UDP port for everything (a home router needs one forward at most). When bound to the
//! unspecified address we open that port once per local address instead of once on `0.0.0.0`,
//! because ICE needs to know which of our addresses a datagram arrived on and a wildcard socket
//! does not say. The box's addresses are looked at again every [`ADDRESS_POLL`]: `sockets`
//! opens the port on new ones and closes it on vanished ones, and the core is told with
//! [`Sfu::set_addresses`], so Wi-Fi joined after boot or a late DHCP lease or IPv6
//! address is heard, not only what was there at start.
//!
//! ICE-TCP (RFC 6544) for networks that block UDP: the same port number on TCP, on the same
//! addresses, announced as passive candidates. Browsers connect to it; each connection carries
//! RFC 4571 frames (a 2-byte big-endian length, then one STUN/DTLS/RTP packet), which `tcp`
//! de-frames into [`SfuInput::Receive`] with [`Protocol::Tcp`] and frames on the way
//! out. The core sees packets either way and stays sans-IO.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

mod sockets;
mod tcp;

pub use sockets::{AddressSource, SystemAddresses};
use sockets::Sockets;

use crate::{ParticipantId, Protocol, RoomId, Sfu, SfuConfig, SfuEvent, SfuInput, SfuOutput, VoiceError};

#[derive(Debug, Clone)]
pub struct DriverConfig {
    /// Where to listen, e.g. `0.0.0.0:50000` (every address of the box) or `127.0.0.1:0`.
    pub listen: SocketAddr,
    /// Announced to clients as well (a forwarded port on the router's public address).
    pub public_address: Option<SocketAddr>,
}

pub enum Command {
    Join {
        participant: ParticipantId,
        room: RoomId,
        label: String,
        sdp: String,
        reply: oneshot::Sender<Result<String, VoiceError>>,
    },
    Offer { participant: ParticipantId, sdp: String, reply: oneshot::Sender<Result<String, VoiceError>> },
    Answer { participant: ParticipantId, sdp: String, reply: oneshot::Sender<Result<(), VoiceError>> },
    Candidate { participant: ParticipantId, candidate: String, reply: oneshot::Sender<Result<(), VoiceError>> },
    Mute { participant: ParticipantId, muted: bool, deafened: bool, reply: oneshot::Sender<Result<(), VoiceError>> },
    Leave { participant: ParticipantId, reply: oneshot::Sender<Result<(), VoiceError>> },
    Addresses { reply: oneshot::Sender<Result<Addresses, VoiceError>> },
    /// A local sender (the DJ): see [`Sfu::add_local`].
    AddLocal { participant: ParticipantId, room: RoomId, label: String, reply: oneshot::Sender<Result<(), VoiceError>> },
    RemoveLocal { participant: ParticipantId, reply: oneshot::Sender<Result<(), VoiceError>> },
    MuteLocal { participant: ParticipantId, muted: bool, reply: oneshot::Sender<Result<(), VoiceError>> },
}

/// One frame of a local sender's Opus, as [`Handle::send_local`] queues it.
pub struct LocalMedia {
    pub participant: ParticipantId,
    pub opus: Vec<u8>,
    pub samples: u32,
    pub level: i8,
}

/// Local frames queued for the driver: a few hundred ms. A sender that runs ahead of a busy
/// driver loses frames (told by `send_local`), never blocks its audio thread.
const LOCAL_QUEUE: usize = 16;

/// Cheap to clone; every method is one round trip to the driver task.
#[derive(Clone)]
pub struct Handle {
    tx: mpsc::Sender<Command>,
    local: mpsc::Sender<LocalMedia>,
    /// The addresses the UDP sockets were bound to at start (the port a router should
    /// forward; it stays the same as addresses come and go, see [`Handle::addresses`]).
    pub local_addrs: Vec<SocketAddr>,
    /// The addresses the ICE-TCP listeners were bound to at start (normally the same port
    /// number; empty if TCP could not be opened, which leaves voice on UDP only).
    pub tcp_addrs: Vec<SocketAddr>,
}

impl Handle {
    async fn call<T>(&self, make: impl FnOnce(oneshot::Sender<Result<T, VoiceError>>) -> Command) -> Result<T, VoiceError> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(make(tx)).await.map_err(|_| VoiceError::Unavailable)?;
        rx.await.map_err(|_| VoiceError::Unavailable)?
    }

    pub async fn join(&self, participant: ParticipantId, room: RoomId, label: String, sdp: String) -> Result<String, VoiceError> {
        self.call(|reply| Command::Join { participant, room, label, sdp, reply }).await
    }
    pub async fn offer(&self, participant: ParticipantId, sdp: String) -> Result<String, VoiceError> {
        self.call(|reply| Command::Offer { participant, sdp, reply }).await
    }
    pub async fn answer(&self, participant: ParticipantId, sdp: String) -> Result<(), VoiceError> {
        self.call(|reply| Command::Answer { participant, sdp, reply }).await
    }
    pub async fn candidate(&self, participant: ParticipantId, candidate: String) -> Result<(), VoiceError> {
        self.call(|reply| Command::Candidate { participant, candidate, reply }).await
    }
    pub async fn set_state(&self, participant: ParticipantId, muted: bool, deafened: bool) -> Result<(), VoiceError> {
        self.call(|reply| Command::Mute { participant, muted, deafened, reply }).await
    }
    pub async fn leave(&self, participant: ParticipantId) -> Result<(), VoiceError> {
        self.call(|reply| Command::Leave { participant, reply }).await
    }
    /// The addresses the port is open on now (they follow the box's).
    pub async fn addresses(&self) -> Result<Addresses, VoiceError> {
        self.call(|reply| Command::Addresses { reply }).await
    }
    pub async fn add_local(&self, participant: ParticipantId, room: RoomId, label: String) -> Result<(), VoiceError> {
        self.call(|reply| Command::AddLocal { participant, room, label, reply }).await
    }
    pub async fn remove_local(&self, participant: ParticipantId) -> Result<(), VoiceError> {
        self.call(|reply| Command::RemoveLocal { participant, reply }).await
    }
    pub async fn mute_local(&self, participant: ParticipantId, muted: bool) -> Result<(), VoiceError> {
        self.call(|reply| Command::MuteLocal { participant, muted, reply }).await
    }
    /// Queues one frame of a local sender's audio without waiting (callable from any thread,
    /// the DJ's audio thread included). False: the queue was full or the driver is gone, and
    /// the frame was dropped.
    pub fn send_local(&self, frame: LocalMedia) -> bool {
        self.local.try_send(frame).is_ok()
    }
}

/// How often the box's addresses are looked at. `getifaddrs` is one netlink dump (well under a
/// millisecond on a Pi), so polling costs nothing measurable and needs no netlink code of our
/// own; a new address is usable within this long, well inside a browser's re-join.
pub const ADDRESS_POLL: Duration = Duration::from_secs(2);

/// The addresses the port is open on right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Addresses {
    pub udp: Vec<SocketAddr>,
    pub tcp: Vec<SocketAddr>,
}

/// Opens the port on the box's addresses (following them as they change, when `listen` is the
/// unspecified address) and starts the driver task. Events go to `events`.
pub async fn start(config: DriverConfig, events: mpsc::UnboundedSender<SfuEvent>) -> std::io::Result<Handle> {
    start_with(config, SystemAddresses, ADDRESS_POLL, events).await
}

/// [`start`] with the addresses taken from `source`, asked every `poll` (tests move them). A
/// specific `listen` address ignores `source`: that one address is all there is.
pub async fn start_with(
    config: DriverConfig,
    source: impl AddressSource,
    poll: Duration,
    events: mpsc::UnboundedSender<SfuEvent>,
) -> std::io::Result<Handle> {
    let listen = config.listen;
    let mut source: Box<dyn AddressSource> = if listen.ip().is_unspecified() {
        Box::new(source)
    } else {
        Box::new(move || vec![listen.ip()])
    };
    let (net_tx, net_rx) = mpsc::channel::<Net>(1024);
    let mut sockets = Sockets::new(listen.port(), net_tx);
    sockets.sync(&sockets::usable(listen, source.addresses()?));
    let local_addrs = sockets.udp_addrs();
    if local_addrs.is_empty() {
        // Nothing at all could be opened (the port is taken, or the box has no address yet):
        // voice is off, chat is not.
        let none = || std::io::Error::new(std::io::ErrorKind::AddrNotAvailable, "no address to open the voice port on");
        return Err(sockets.take_error().unwrap_or_else(none));
    }
    let tcp_addrs = sockets.tcp_addrs();
    let sfu = Sfu::new(
        SfuConfig {
            host_candidates: local_addrs.clone(),
            tcp_candidates: tcp_addrs.clone(),
            public_address: config.public_address,
        },
        Instant::now(),
    );
    let (tx, rx) = mpsc::channel(64);
    let (local, local_rx) = mpsc::channel(LOCAL_QUEUE);
    let watch = Watch { source, listen, poll };
    tokio::spawn(run(sfu, sockets, watch, net_rx, Inputs { commands: rx, local: local_rx }, events));
    Ok(Handle { tx, local, local_addrs, tcp_addrs })
}

/// What the loop needs to follow the box's addresses.
struct Watch {
    source: Box<dyn AddressSource>,
    listen: SocketAddr,
    poll: Duration,
}

/// What the callers send the loop.
struct Inputs {
    commands: mpsc::Receiver<Command>,
    local: mpsc::Receiver<LocalMedia>,
}

/// What the socket tasks tell the loop.
enum Net {
    Packet { proto: Protocol, local: SocketAddr, peer: SocketAddr, data: Vec<u8> },
    TcpOpen { local: SocketAddr, peer: SocketAddr, tx: mpsc::Sender<Vec<u8>> },
    TcpClosed { local: SocketAddr, peer: SocketAddr },
}

async fn run(
    mut sfu: Sfu,
    mut sockets: Sockets,
    mut watch: Watch,
    mut net_rx: mpsc::Receiver<Net>,
    Inputs { mut commands, mut local }: Inputs,
    events: mpsc::UnboundedSender<SfuEvent>,
) {
    let mut poll = tokio::time::interval(watch.poll);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The open ICE-TCP connections, by (our address, their address).
    let mut tcp: HashMap<(SocketAddr, SocketAddr), mpsc::Sender<Vec<u8>>> = HashMap::new();
    loop {
        // Flush everything the core has to say, then sleep until its deadline or an input.
        let deadline = loop {
            match sfu.poll_output() {
                SfuOutput::Timeout(t) => break t,
                // From the socket on `source`; dropped if that address has left the box.
                SfuOutput::Transmit { proto: Protocol::Udp, source, destination, contents } => {
                    if let Some(s) = sockets.udp(source) {
                        let _ = s.try_send_to(&contents, destination);
                    }
                }
                // ICE-TCP: only over a connection the peer opened (our candidates are passive);
                // checks towards a browser's active candidate (port 9) go nowhere, by design.
                SfuOutput::Transmit { source, destination, contents, .. } => {
                    if let Some(c) = tcp.get(&(source, destination)) {
                        let _ = c.try_send(contents);
                    }
                }
                SfuOutput::Event(e) => {
                    let _ = events.send(e);
                }
            }
        };
        tokio::select! {
            c = commands.recv() => {
                let Some(c) = c else { return };
                let now = Instant::now();
                match c {
                    Command::Join { participant, room, label, sdp, reply } => {
                        let _ = reply.send(sfu.join(now, participant, room, &label, &sdp));
                    }
                    Command::Offer { participant, sdp, reply } => {
                        let _ = reply.send(sfu.offer(now, participant, &sdp));
                    }
                    Command::Answer { participant, sdp, reply } => {
                        let _ = reply.send(sfu.answer(now, participant, &sdp));
                    }
                    Command::Candidate { participant, candidate, reply } => {
                        let _ = reply.send(sfu.add_candidate(participant, &candidate));
                    }
                    Command::Mute { participant, muted, deafened, reply } => {
                        let r = sfu.set_muted(now, participant, muted).and_then(|_| sfu.set_deafened(participant, deafened));
                        let _ = reply.send(r);
                    }
                    Command::Leave { participant, reply } => {
                        let _ = reply.send(sfu.leave(now, participant));
                    }
                    Command::Addresses { reply } => {
                        let _ = reply.send(Ok(Addresses { udp: sockets.udp_addrs(), tcp: sockets.tcp_addrs() }));
                    }
                    Command::AddLocal { participant, room, label, reply } => {
                        let _ = reply.send(sfu.add_local(now, participant, room, &label));
                    }
                    Command::RemoveLocal { participant, reply } => {
                        let _ = reply.send(sfu.remove_local(now, participant));
                    }
                    Command::MuteLocal { participant, muted, reply } => {
                        let _ = reply.send(sfu.set_local_muted(now, participant, muted));
                    }
                }
            }
            Some(m) = local.recv() => {
                let frame = crate::LocalFrame { opus: &m.opus, samples: m.samples, level: m.level };
                // A frame for a sender removed meanwhile is simply dropped.
                let _ = sfu.send_local(Instant::now(), m.participant, frame);
            }
            n = net_rx.recv() => {
                let Some(n) = n else { return };
                match n {
                    // Queued before its socket closed: dropped, as the socket would have.
                    Net::Packet { proto, local, .. } if !sockets.is_open(proto, local) => {}
                    Net::Packet { proto, local, peer, data } => {
                        sfu.handle_input(SfuInput::Receive {
                            now: Instant::now(),
                            proto,
                            source: peer,
                            destination: local,
                            contents: &data,
                        });
                    }
                    Net::TcpOpen { local, peer, tx } => {
                        if sockets.is_open(Protocol::Tcp, local) {
                            tcp.insert((local, peer), tx);
                        }
                    }
                    Net::TcpClosed { local, peer } => {
                        // Only if it is still that connection (its queue is gone with it).
                        if tcp.get(&(local, peer)).is_some_and(|c| c.is_closed()) {
                            tcp.remove(&(local, peer));
                        }
                    }
                }
            }
            _ = tokio::time::sleep_until(deadline.into()) => {
                sfu.handle_input(SfuInput::Timeout(Instant::now()));
            }
            _ = poll.tick() => {
                let Ok(ips) = watch.source.addresses() else { continue };
                if sockets.sync(&sockets::usable(watch.listen, ips)) {
                    // A connection on a closed listener goes with it (its writer sees the
                    // queue end); the core re-plans its candidates and drops sessions on it.
                    tcp.retain(|(local, _), _| sockets.is_open(Protocol::Tcp, *local));
                    sfu.set_addresses(Instant::now(), sockets.udp_addrs(), sockets.tcp_addrs());
                }
            }
        }
    }
}
