//! The HTTP connection loop: the router on hyper, as `axum::serve` does, plus what it cannot
//! set — a header read timeout (hyper has one, but only with a timer, which `axum::serve` does
//! not give it). A client that never finishes its request head, or leaves a keep-alive
//! connection idle, is dropped after `header_timeout`. Shutdown is graceful like axum's: stop
//! accepting, let requests in flight finish, then return.

use crate::Peer;
use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tower::ServiceExt;

/// The box's own address a connection came in on (for [`Peer`]).
pub trait LocalAddr {
    fn local(&self) -> SocketAddr;
}

impl LocalAddr for TcpStream {
    fn local(&self) -> SocketAddr {
        self.local_addr().unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    }
}

impl LocalAddr for tokio_rustls::server::TlsStream<TcpStream> {
    fn local(&self) -> SocketAddr {
        self.get_ref().0.local()
    }
}

/// Serve `app` on `listener` until `stop` turns true, then wait for open connections to end.
/// Requests carry `ConnectInfo<Peer>` and `ConnectInfo<SocketAddr>` (the remote address).
pub async fn serve<L>(mut listener: L, app: Router, header_timeout: Duration, mut stop: watch::Receiver<bool>)
where
    L: axum::serve::Listener<Addr = SocketAddr>,
    L::Io: LocalAddr,
{
    // Each connection holds a receiver; `closed()` resolves once the last one is dropped.
    let (open_tx, open_rx) = watch::channel(());
    loop {
        let (io, remote) = tokio::select! {
            conn = listener.accept() => conn,
            _ = stop.wait_for(|v| *v) => break,
        };
        let peer = Peer(remote, io.local());
        let app = app.clone();
        let mut stop = stop.clone();
        let open = open_rx.clone();
        tokio::spawn(async move {
            let _open = open;
            let svc = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                req.extensions_mut().insert(ConnectInfo(remote));
                app.clone().oneshot(req)
            });
            let mut builder = Builder::new(TokioExecutor::new());
            builder.http1().timer(TokioTimer::new()).header_read_timeout(header_timeout);
            // As axum::serve: WebSockets over HTTP/2 need the CONNECT protocol.
            builder.http2().enable_connect_protocol();
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), svc);
            let mut conn = std::pin::pin!(conn);
            tokio::select! {
                res = conn.as_mut() => {
                    if let Err(e) = res {
                        tracing::debug!(%remote, error = %e, "connection ended with an error");
                    }
                    return;
                }
                _ = stop.wait_for(|v| *v) => conn.as_mut().graceful_shutdown(),
            }
            if let Err(e) = conn.await {
                tracing::debug!(%remote, error = %e, "connection ended with an error");
            }
        });
    }
    drop(open_rx);
    drop(listener);
    open_tx.closed().await;
}
