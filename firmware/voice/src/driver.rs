//! The thin IO shell around [`Sfu`]: one tokio task owns the core, the UDP sockets and the
//! clock. Signalling comes in as [`Command`]s with a reply channel; what the core wants said to
//! a client (offers, speaking, disconnects) goes out as [`SfuEvent`]s.
//!
//! One UDP port for everything (a home router needs one forward at most). When bound to the
//! unspecified address we open that port once per local address instead of once on `0.0.0.0`,
//! because ICE needs to know which of our addresses a datagram arrived on and a wildcard socket
//! does not say.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};

use crate::{ParticipantId, RoomId, Sfu, SfuConfig, SfuEvent, SfuInput, SfuOutput, VoiceError};

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
}

/// Cheap to clone; every method is one round trip to the driver task.
#[derive(Clone)]
pub struct Handle {
    tx: mpsc::Sender<Command>,
    /// The addresses the sockets are bound to (the port a router should forward).
    pub local_addrs: Vec<SocketAddr>,
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
}

/// The addresses to open the port on: the one given, or every usable address of the box.
fn bind_addrs(listen: SocketAddr) -> Vec<IpAddr> {
    if !listen.ip().is_unspecified() {
        return vec![listen.ip()];
    }
    let mut ips: Vec<IpAddr> = if_addrs::get_if_addrs()
        .unwrap_or_default()
        .into_iter()
        .map(|i| i.ip())
        // Link-local IPv6 needs a scope id per interface; browsers on the LAN also have a
        // routable or private address, so they are left out.
        .filter(|ip| match ip {
            IpAddr::V4(v) => !v.is_link_local(),
            IpAddr::V6(v) => (v.segments()[0] & 0xffc0) != 0xfe80,
        })
        .filter(|ip| listen.is_ipv4() == ip.is_ipv4() || listen.is_ipv6())
        .collect();
    ips.sort();
    ips.dedup();
    ips
}

/// Binds the sockets and starts the driver task. Events go to `events`.
pub async fn start(config: DriverConfig, events: mpsc::UnboundedSender<SfuEvent>) -> std::io::Result<Handle> {
    let mut port = config.listen.port();
    let mut sockets = Vec::new();
    for ip in bind_addrs(config.listen) {
        match UdpSocket::bind(SocketAddr::new(ip, port)).await {
            Ok(s) => {
                // With port 0 the first socket picks the port; the others share it.
                port = s.local_addr()?.port();
                sockets.push(s);
            }
            Err(e) if !sockets.is_empty() || ip.is_loopback() => {
                tracing::warn!(%ip, port, "voice: cannot open the port on this address: {e}");
            }
            Err(e) => return Err(e),
        }
    }
    if sockets.is_empty() {
        return Err(std::io::Error::new(std::io::ErrorKind::AddrNotAvailable, "no address to open the voice port on"));
    }
    let local_addrs: Vec<SocketAddr> = sockets.iter().filter_map(|s| s.local_addr().ok()).collect();
    let sfu = Sfu::new(SfuConfig { host_candidates: local_addrs.clone(), public_address: config.public_address }, Instant::now());
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(run(sfu, sockets, rx, events));
    Ok(Handle { tx, local_addrs })
}

async fn run(
    mut sfu: Sfu,
    sockets: Vec<UdpSocket>,
    mut commands: mpsc::Receiver<Command>,
    events: mpsc::UnboundedSender<SfuEvent>,
) {
    let (dgram_tx, mut dgram_rx) = mpsc::channel::<(usize, SocketAddr, Vec<u8>)>(1024);
    let sockets = std::sync::Arc::new(sockets);
    // One reader per socket feeding the loop; the loop alone touches the SFU.
    for i in 0..sockets.len() {
        let sockets = sockets.clone();
        let tx = dgram_tx.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 2000];
            loop {
                match sockets[i].recv_from(&mut buf).await {
                    Ok((n, from)) => {
                        if tx.send((i, from, buf[..n].to_vec())).await.is_err() {
                            return;
                        }
                    }
                    // ICMP errors from a peer that went away surface here on Linux; not fatal.
                    Err(e) => tracing::debug!("voice: recv failed: {e}"),
                }
            }
        });
    }
    drop(dgram_tx);
    // Looked up once: a getsockname per datagram would be a syscall on the hot path.
    let addrs: Vec<Option<SocketAddr>> = sockets.iter().map(|s| s.local_addr().ok()).collect();
    loop {
        // Flush everything the core has to say, then sleep until its deadline or an input.
        let deadline = loop {
            match sfu.poll_output() {
                SfuOutput::Timeout(t) => break t,
                SfuOutput::Transmit { source, destination, contents } => {
                    let i = addrs.iter().position(|a| *a == Some(source)).unwrap_or(0);
                    if let Some(s) = sockets.get(i) {
                        let _ = s.try_send_to(&contents, destination);
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
                }
            }
            d = dgram_rx.recv() => {
                let Some((i, source, contents)) = d else { return };
                let Some(destination) = addrs[i] else { continue };
                sfu.handle_input(SfuInput::Receive { now: Instant::now(), source, destination, contents: &contents });
            }
            _ = tokio::time::sleep_until(deadline.into()) => {
                sfu.handle_input(SfuInput::Timeout(Instant::now()));
            }
        }
    }
}
