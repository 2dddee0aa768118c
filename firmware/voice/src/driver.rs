//! The thin IO shell around [`Sfu`]: one tokio task owns the core, the sockets and the clock.
//! Signalling comes in as [`Command`]s with a reply channel; what the core wants said to a
//! client (offers, speaking, disconnects) goes out as [`SfuEvent`]s.
//!
//! One UDP port for everything (a home router needs one forward at most). When bound to the
//! unspecified address we open that port once per local address instead of once on `0.0.0.0`,
//! because ICE needs to know which of our addresses a datagram arrived on and a wildcard socket
//! does not say.
//!
//! ICE-TCP (RFC 6544) for networks that block UDP: the same port number on TCP, on the same
//! addresses, announced as passive candidates. Browsers connect to it; each connection carries
//! RFC 4571 frames (a 2-byte big-endian length, then one STUN/DTLS/RTP packet), which this
//! module de-frames into [`SfuInput::Receive`] with [`Protocol::Tcp`] and frames on the way
//! out. The core sees packets either way and stays sans-IO.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{mpsc, oneshot};

use crate::{ParticipantId, Protocol, RoomId, Sfu, SfuConfig, SfuEvent, SfuInput, SfuOutput, VoiceError};

/// Most ICE-TCP connections open at once (a browser opens one per candidate pair it tries).
const MAX_TCP_CONNS: usize = 256;
/// An ICE-TCP connection that carries nothing this long is closed: a live one has media or,
/// at least, ICE consent checks every few seconds.
const TCP_IDLE: Duration = Duration::from_secs(30);
/// Packets queued for one TCP connection before more are dropped (as a full UDP buffer would).
const TCP_QUEUE: usize = 512;

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
    /// The addresses the UDP sockets are bound to (the port a router should forward).
    pub local_addrs: Vec<SocketAddr>,
    /// The addresses the ICE-TCP listeners are bound to (normally the same port number; empty
    /// if TCP could not be opened, which leaves voice on UDP only).
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
    let ips = bind_addrs(config.listen);
    for ip in &ips {
        match UdpSocket::bind(SocketAddr::new(*ip, port)).await {
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
    let listeners = bind_tcp(&local_addrs, config.listen.port() == 0).await;
    let tcp_addrs: Vec<SocketAddr> = listeners.iter().filter_map(|l| l.local_addr().ok()).collect();
    tracing::info!(udp = ?local_addrs, tcp = ?tcp_addrs, "voice: sockets open");
    let sfu = Sfu::new(
        SfuConfig {
            host_candidates: local_addrs.clone(),
            tcp_candidates: tcp_addrs.clone(),
            public_address: config.public_address,
        },
        Instant::now(),
    );
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(run(sfu, sockets, listeners, rx, events));
    Ok(Handle { tx, local_addrs, tcp_addrs })
}

/// The ICE-TCP listeners: the UDP port's number on each UDP address. TCP is a fallback, so a
/// port that cannot be opened costs that fallback only (with an ephemeral UDP port, any free
/// TCP port will do: the candidates say which).
async fn bind_tcp(udp: &[SocketAddr], ephemeral: bool) -> Vec<TcpListener> {
    let mut out = Vec::new();
    let mut tcp_port = None;
    for a in udp {
        let want = tcp_port.unwrap_or(a.port());
        let mut r = TcpListener::bind(SocketAddr::new(a.ip(), want)).await;
        if r.is_err() && ephemeral && tcp_port.is_none() {
            r = TcpListener::bind(SocketAddr::new(a.ip(), 0)).await;
        }
        match r {
            Ok(l) => {
                tcp_port = tcp_port.or(l.local_addr().ok().map(|a| a.port()));
                out.push(l);
            }
            Err(e) => tracing::warn!(addr = %a, "voice: cannot open the TCP fallback port on this address: {e}"),
        }
    }
    out
}

/// What the socket tasks tell the loop.
enum Net {
    Packet { proto: Protocol, local: SocketAddr, peer: SocketAddr, data: Vec<u8> },
    TcpOpen { local: SocketAddr, peer: SocketAddr, tx: mpsc::Sender<Vec<u8>> },
    TcpClosed { local: SocketAddr, peer: SocketAddr },
}

async fn accept_tcp(listener: TcpListener, net: mpsc::Sender<Net>, open: Arc<AtomicUsize>) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::debug!("voice: tcp accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        if net.is_closed() {
            return;
        }
        if open.load(Ordering::Relaxed) >= MAX_TCP_CONNS {
            tracing::debug!(%peer, "voice: too many tcp connections; refused");
            continue;
        }
        let Ok(local) = stream.local_addr() else { continue };
        let _ = stream.set_nodelay(true);
        open.fetch_add(1, Ordering::Relaxed);
        let (net, open) = (net.clone(), open.clone());
        tokio::spawn(async move {
            serve_tcp(stream, local, peer, &net).await;
            let _ = net.send(Net::TcpClosed { local, peer }).await;
            open.fetch_sub(1, Ordering::Relaxed);
        });
    }
}

/// One ICE-TCP connection until either side ends it: RFC 4571 frames in, frames out.
async fn serve_tcp(stream: TcpStream, local: SocketAddr, peer: SocketAddr, net: &mpsc::Sender<Net>) {
    let (mut rd, mut wr) = stream.into_split();
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(TCP_QUEUE);
    if net.send(Net::TcpOpen { local, peer, tx }).await.is_err() {
        return;
    }
    let writer = async move {
        let mut buf = Vec::with_capacity(2048);
        while let Some(p) = rx.recv().await {
            let Ok(len) = u16::try_from(p.len()) else { continue };
            buf.clear();
            buf.extend_from_slice(&len.to_be_bytes());
            buf.extend_from_slice(&p);
            if wr.write_all(&buf).await.is_err() {
                return;
            }
        }
    };
    let reader = async {
        let mut len = [0u8; 2];
        loop {
            match tokio::time::timeout(TCP_IDLE, rd.read_exact(&mut len)).await {
                Ok(Ok(_)) => {}
                _ => return,
            }
            let mut data = vec![0u8; usize::from(u16::from_be_bytes(len))];
            match tokio::time::timeout(TCP_IDLE, rd.read_exact(&mut data)).await {
                Ok(Ok(_)) => {}
                _ => return,
            }
            if data.is_empty() {
                continue;
            }
            if net.send(Net::Packet { proto: Protocol::Tcp, local, peer, data }).await.is_err() {
                return;
            }
        }
    };
    tokio::select! {
        _ = writer => {}
        _ = reader => {}
    }
}

async fn run(
    mut sfu: Sfu,
    sockets: Vec<UdpSocket>,
    listeners: Vec<TcpListener>,
    mut commands: mpsc::Receiver<Command>,
    events: mpsc::UnboundedSender<SfuEvent>,
) {
    let (net_tx, mut net_rx) = mpsc::channel::<Net>(1024);
    let sockets = Arc::new(sockets);
    // Looked up once: a getsockname per datagram would be a syscall on the hot path.
    let addrs: Vec<Option<SocketAddr>> = sockets.iter().map(|s| s.local_addr().ok()).collect();
    // One reader per socket feeding the loop; the loop alone touches the SFU.
    for (i, local) in addrs.iter().enumerate() {
        let Some(local) = *local else { continue };
        let sockets = sockets.clone();
        let tx = net_tx.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 2000];
            loop {
                match sockets[i].recv_from(&mut buf).await {
                    Ok((n, peer)) => {
                        let p = Net::Packet { proto: Protocol::Udp, local, peer, data: buf[..n].to_vec() };
                        if tx.send(p).await.is_err() {
                            return;
                        }
                    }
                    // ICMP errors from a peer that went away surface here on Linux; not fatal.
                    Err(e) => tracing::debug!("voice: recv failed: {e}"),
                }
            }
        });
    }
    let open = Arc::new(AtomicUsize::new(0));
    for l in listeners {
        tokio::spawn(accept_tcp(l, net_tx.clone(), open.clone()));
    }
    drop(net_tx);
    // The open ICE-TCP connections, by (our address, their address).
    let mut tcp: HashMap<(SocketAddr, SocketAddr), mpsc::Sender<Vec<u8>>> = HashMap::new();
    loop {
        // Flush everything the core has to say, then sleep until its deadline or an input.
        let deadline = loop {
            match sfu.poll_output() {
                SfuOutput::Timeout(t) => break t,
                SfuOutput::Transmit { proto: Protocol::Udp, source, destination, contents } => {
                    let i = addrs.iter().position(|a| *a == Some(source)).unwrap_or(0);
                    if let Some(s) = sockets.get(i) {
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
                }
            }
            n = net_rx.recv() => {
                let Some(n) = n else { return };
                match n {
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
                        tcp.insert((local, peer), tx);
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
        }
    }
}
