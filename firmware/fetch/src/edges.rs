//! The three edges a fetch touches besides the HTTP exchange: name lookup, TCP connect, and the
//! box's own addresses. Production implementations here; tests inject fakes.

use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;

use tokio::net::TcpStream;

/// A boxed, sendable future (the traits are object-safe so a `Fetcher` holds `Arc<dyn ..>`).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Name lookup. Called at most once per URL hop; the answers are vetted, then connected to as-is.
pub trait Resolve: Send + Sync {
    fn resolve<'a>(&'a self, host: &'a str) -> BoxFuture<'a, io::Result<Vec<IpAddr>>>;
}

/// TCP connect to an already vetted address. Must not resolve anything.
pub trait Connect: Send + Sync {
    fn connect(&self, addr: SocketAddr) -> BoxFuture<'_, io::Result<TcpStream>>;
}

/// The box's own addresses, asked on every fetch (DHCP and SLAAC change them).
pub trait OwnAddrs: Send + Sync {
    fn own_addrs(&self) -> io::Result<Vec<IpAddr>>;
}

/// The system resolver (getaddrinfo through tokio's blocking pool).
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemResolver;

impl Resolve for SystemResolver {
    fn resolve<'a>(&'a self, host: &'a str) -> BoxFuture<'a, io::Result<Vec<IpAddr>>> {
        Box::pin(async move {
            let addrs = tokio::net::lookup_host((host, 0u16)).await?;
            Ok(addrs.map(|a| a.ip()).collect())
        })
    }
}

/// Plain `TcpStream::connect` to the given socket address.
#[derive(Clone, Copy, Debug, Default)]
pub struct TcpConnector;

impl Connect for TcpConnector {
    fn connect(&self, addr: SocketAddr) -> BoxFuture<'_, io::Result<TcpStream>> {
        Box::pin(async move {
            let stream = TcpStream::connect(addr).await?;
            // Small requests, one response: don't wait on Nagle.
            stream.set_nodelay(true)?;
            Ok(stream)
        })
    }
}

/// The addresses on the box's interfaces, loopback included (`if-addrs`).
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemOwnAddrs;

impl OwnAddrs for SystemOwnAddrs {
    fn own_addrs(&self) -> io::Result<Vec<IpAddr>> {
        Ok(if_addrs::get_if_addrs()?.into_iter().map(|i| i.ip()).collect())
    }
}

/// The interfaces' addresses plus known others (the box's public address behind NAT).
#[derive(Clone, Debug, Default)]
pub struct SystemAndExtra(pub Vec<IpAddr>);

impl OwnAddrs for SystemAndExtra {
    fn own_addrs(&self) -> io::Result<Vec<IpAddr>> {
        let mut v = SystemOwnAddrs.own_addrs()?;
        v.extend(self.0.iter().copied());
        Ok(v)
    }
}

/// A fixed set, for tests and for callers that know better.
impl OwnAddrs for Vec<IpAddr> {
    fn own_addrs(&self) -> io::Result<Vec<IpAddr>> {
        Ok(self.clone())
    }
}
