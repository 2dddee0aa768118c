//! The voice port on each of the box's addresses, following them as they come and go: a UDP
//! socket and an ICE-TCP listener per address, opened when the address appears (Wi-Fi joined
//! after boot, a late DHCP lease, an IPv6 address after duplicate detection) and closed when it
//! leaves. Where the addresses come from is an edge ([`AddressSource`]) so tests can move them.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::{tcp, Net};
use crate::Protocol;

/// Where the driver learns the box's addresses; asked again every poll. Any
/// `FnMut() -> Vec<IpAddr>` is one (a test's list); [`SystemAddresses`] is the real one.
pub trait AddressSource: Send + 'static {
    /// The addresses now. An error keeps the sockets as they are (a failed look-up is not
    /// the network going away).
    fn addresses(&mut self) -> std::io::Result<Vec<IpAddr>>;
}

impl<F: FnMut() -> Vec<IpAddr> + Send + 'static> AddressSource for F {
    fn addresses(&mut self) -> std::io::Result<Vec<IpAddr>> {
        Ok(self())
    }
}

/// The box's interfaces (`getifaddrs`).
pub struct SystemAddresses;

impl AddressSource for SystemAddresses {
    fn addresses(&mut self) -> std::io::Result<Vec<IpAddr>> {
        Ok(if_addrs::get_if_addrs()?.into_iter().map(|i| i.ip()).collect())
    }
}

/// The addresses worth opening the port on, for a socket asked to listen on `listen`.
pub(super) fn usable(listen: SocketAddr, ips: Vec<IpAddr>) -> Vec<IpAddr> {
    let mut ips: Vec<IpAddr> = ips
        .into_iter()
        // Link-local IPv6 needs a scope id per interface; browsers on the LAN also have a
        // routable or private address, so they are left out.
        .filter(|ip| match ip {
            IpAddr::V4(v) => !v.is_link_local() && !v.is_unspecified(),
            IpAddr::V6(v) => (v.segments()[0] & 0xffc0) != 0xfe80 && !v.is_unspecified(),
        })
        .filter(|ip| listen.is_ipv4() == ip.is_ipv4() || listen.is_ipv6())
        .collect();
    ips.sort();
    ips.dedup();
    ips
}

/// The port open on one address. Dropping it closes the sockets (its tasks are aborted, and
/// they hold the last references).
struct Local {
    udp: Arc<UdpSocket>,
    udp_addr: SocketAddr,
    reader: JoinHandle<()>,
    tcp: Option<(SocketAddr, JoinHandle<()>)>,
}

impl Drop for Local {
    fn drop(&mut self) {
        self.reader.abort();
        if let Some((_, t)) = &self.tcp {
            t.abort();
        }
    }
}

pub(super) struct Sockets {
    /// The UDP port: the configured one, or the one the first socket got when that was 0.
    port: u16,
    /// The ICE-TCP port, once one listener is open (any free one will do with an ephemeral UDP
    /// port: the candidates say which; otherwise the UDP port's number).
    tcp_port: Option<u16>,
    ephemeral: bool,
    open: HashMap<IpAddr, Local>,
    /// Addresses whose port could not be opened (yet): retried every sync, logged once.
    failed: HashSet<(Protocol, IpAddr)>,
    /// Why the last UDP socket could not be opened, for a start that opened none.
    last_error: Option<std::io::Error>,
    net: mpsc::Sender<Net>,
    tcp_conns: Arc<AtomicUsize>,
}

impl Sockets {
    pub(super) fn new(port: u16, net: mpsc::Sender<Net>) -> Sockets {
        Sockets {
            port,
            tcp_port: None,
            ephemeral: port == 0,
            open: HashMap::new(),
            failed: HashSet::new(),
            last_error: None,
            net,
            tcp_conns: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Opens the port on the addresses in `want` that lack it and closes it on those no longer
    /// there. Says whether the set of open addresses changed.
    pub(super) fn sync(&mut self, want: &[IpAddr]) -> bool {
        let before = (self.udp_addrs(), self.tcp_addrs());
        self.open.retain(|ip, _| want.contains(ip));
        self.failed.retain(|(_, ip)| want.contains(ip));
        for ip in want {
            if !self.open.contains_key(ip) {
                self.open_udp(*ip);
            }
            if self.open.get(ip).is_some_and(|l| l.tcp.is_none()) {
                self.open_tcp(*ip);
            }
        }
        let changed = before != (self.udp_addrs(), self.tcp_addrs());
        if changed {
            tracing::info!(udp = ?self.udp_addrs(), tcp = ?self.tcp_addrs(), "voice: sockets open");
        }
        changed
    }

    fn open_udp(&mut self, ip: IpAddr) {
        let bound = std::net::UdpSocket::bind(SocketAddr::new(ip, self.port))
            .and_then(|s| {
                s.set_nonblocking(true)?;
                UdpSocket::from_std(s)
            })
            .and_then(|s| Ok((s.local_addr()?, s)));
        let (addr, socket) = match bound {
            Ok(x) => x,
            Err(e) => {
                if self.failed.insert((Protocol::Udp, ip)) {
                    tracing::warn!(%ip, port = self.port, "voice: cannot open the port on this address (will retry): {e}");
                }
                self.last_error = Some(e);
                return;
            }
        };
        self.failed.remove(&(Protocol::Udp, ip));
        // With port 0 the first socket picks the port; the others share it.
        self.port = addr.port();
        let udp = Arc::new(socket);
        let reader = tokio::spawn(read_udp(udp.clone(), addr, self.net.clone()));
        self.open.insert(ip, Local { udp, udp_addr: addr, reader, tcp: None });
    }

    /// TCP is a fallback: a port that cannot be opened costs that fallback only.
    fn open_tcp(&mut self, ip: IpAddr) {
        let want = self.tcp_port.unwrap_or(self.port);
        let mut bound = bind_tcp(SocketAddr::new(ip, want));
        if bound.is_err() && self.ephemeral && self.tcp_port.is_none() {
            bound = bind_tcp(SocketAddr::new(ip, 0));
        }
        let (addr, listener) = match bound {
            Ok(x) => x,
            Err(e) => {
                if self.failed.insert((Protocol::Tcp, ip)) {
                    tracing::warn!(%ip, port = want, "voice: cannot open the TCP fallback port on this address (will retry): {e}");
                }
                return;
            }
        };
        self.failed.remove(&(Protocol::Tcp, ip));
        self.tcp_port = Some(addr.port());
        let task = tokio::spawn(tcp::accept_tcp(listener, self.net.clone(), self.tcp_conns.clone()));
        if let Some(l) = self.open.get_mut(&ip) {
            l.tcp = Some((addr, task));
        }
    }

    pub(super) fn take_error(&mut self) -> Option<std::io::Error> {
        self.last_error.take()
    }

    /// The UDP socket open on `addr`, if it still is.
    pub(super) fn udp(&self, addr: SocketAddr) -> Option<&UdpSocket> {
        self.open.get(&addr.ip()).filter(|l| l.udp_addr == addr).map(|l| &*l.udp)
    }

    /// Whether the port is still open on `addr` for `proto`: packets from a socket closed since
    /// they were queued are dropped, as the socket would have.
    pub(super) fn is_open(&self, proto: Protocol, addr: SocketAddr) -> bool {
        self.open.get(&addr.ip()).is_some_and(|l| match proto {
            Protocol::Udp => l.udp_addr == addr,
            _ => l.tcp.as_ref().is_some_and(|(a, _)| *a == addr),
        })
    }

    pub(super) fn udp_addrs(&self) -> Vec<SocketAddr> {
        let mut v: Vec<SocketAddr> = self.open.values().map(|l| l.udp_addr).collect();
        v.sort();
        v
    }

    pub(super) fn tcp_addrs(&self) -> Vec<SocketAddr> {
        let mut v: Vec<SocketAddr> = self.open.values().filter_map(|l| l.tcp.as_ref().map(|(a, _)| *a)).collect();
        v.sort();
        v
    }
}

fn bind_tcp(addr: SocketAddr) -> std::io::Result<(SocketAddr, TcpListener)> {
    let l = std::net::TcpListener::bind(addr)?;
    l.set_nonblocking(true)?;
    let l = TcpListener::from_std(l)?;
    Ok((l.local_addr()?, l))
}

/// One reader per socket feeding the loop (the loop alone touches the SFU), until aborted.
async fn read_udp(socket: Arc<UdpSocket>, local: SocketAddr, net: mpsc::Sender<Net>) {
    let mut buf = vec![0u8; 2000];
    loop {
        match socket.recv_from(&mut buf).await {
            Ok((n, peer)) => {
                let p = Net::Packet { proto: Protocol::Udp, local, peer, data: buf[..n].to_vec() };
                if net.send(p).await.is_err() {
                    return;
                }
            }
            // ICMP errors from a peer that went away surface here on Linux; not fatal.
            Err(e) => tracing::debug!("voice: recv failed: {e}"),
        }
    }
}
