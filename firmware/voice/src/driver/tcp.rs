//! ICE-TCP (RFC 6544) connections: RFC 4571 frames (a 2-byte big-endian length, then one
//! STUN/DTLS/RTP packet) de-framed into [`Net::Packet`]s for the loop, and the loop's packets
//! framed on the way out.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use super::Net;
use crate::Protocol;

/// Most ICE-TCP connections open at once (a browser opens one per candidate pair it tries).
const MAX_TCP_CONNS: usize = 256;
/// An ICE-TCP connection that carries nothing this long is closed: a live one has media or,
/// at least, ICE consent checks every few seconds.
const TCP_IDLE: Duration = Duration::from_secs(30);
/// Packets queued for one TCP connection before more are dropped (as a full UDP buffer would).
const TCP_QUEUE: usize = 512;

/// Accepts on one listener until the task is aborted (its address left the box).
pub(super) async fn accept_tcp(listener: TcpListener, net: mpsc::Sender<Net>, open: Arc<AtomicUsize>) {
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
