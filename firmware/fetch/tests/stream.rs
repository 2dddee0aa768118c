//! Streaming media GETs (`Fetcher::get_stream`) against a real server on 127.0.0.1:0, served
//! as public hosts through the faked edges (like `ssrf.rs`: the resolver answers fixed
//! addresses, the connector sends every dial to the local server and records the address it
//! was asked for). The server is hand-written over raw TCP so it can misbehave: stall, send a
//! huge head, answer `ICY 200 OK`, or stream for ever.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fetch::{Allowlist, BoxFuture, Connect, Fetcher, GetOptions, Policy, Ports, Reason, Resolve, StreamOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const PUBLIC: &str = "93.184.216.34";
const LAN: &str = "192.168.1.20";

#[derive(Default)]
struct Server {
    /// Every request head, lowercase header names.
    seen: Mutex<Vec<(String, HashMap<String, String>)>>,
    /// An endless stream noticed that its reader hung up.
    endless_closed: AtomicBool,
}

async fn start_server() -> (SocketAddr, Arc<Server>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = Arc::new(Server::default());
    let s = server.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(serve(stream, s.clone()));
        }
    });
    (addr, server)
}

async fn serve(mut stream: TcpStream, server: Arc<Server>) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte).await.unwrap_or(0) == 0 || head.len() > 65536 {
            return;
        }
        head.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let mut lines = text.split("\r\n");
    let path = lines.next().unwrap_or_default().split(' ').nth(1).unwrap_or_default().to_owned();
    let headers: HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    server.seen.lock().unwrap().push((path.clone(), headers));
    let audio = "HTTP/1.1 200 OK\r\ncontent-type: audio/mpeg\r\n";
    let (p, query) = path.split_once('?').unwrap_or((path.as_str(), ""));
    match p {
        "/song.mp3" => {
            let _ = stream.write_all(format!("{audio}content-length: 5\r\n\r\nhello").as_bytes()).await;
        }
        // Ten chunks 150 ms apart: longer than the head timeout, never idle for long.
        "/slow" => {
            let _ = stream.write_all(format!("{audio}\r\n").as_bytes()).await;
            for i in 0..10u8 {
                tokio::time::sleep(Duration::from_millis(150)).await;
                if stream.write_all(&[b'0' + i; 100]).await.is_err() {
                    return;
                }
            }
        }
        "/stall" => {
            let _ = stream.write_all(format!("{audio}\r\nfirst").as_bytes()).await;
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
        "/slow-head" => tokio::time::sleep(Duration::from_secs(3600)).await,
        "/huge-head" => {
            let big = "x".repeat(40 * 1024);
            let _ = stream.write_all(format!("{audio}x-big: {big}\r\n\r\n").as_bytes()).await;
        }
        // SHOUTcast v1: an `ICY` status line, metadata every 8 bytes.
        "/icy" => {
            let _ = stream
                .write_all(b"ICY 200 OK\r\nicy-name: Test FM\r\nicy-metaint: 8\r\ncontent-type: audio/mpeg\r\n\r\n12345678\x00abcdefgh")
                .await;
        }
        "/endless" => {
            let _ = stream.write_all(format!("{audio}\r\n").as_bytes()).await;
            loop {
                if stream.write_all(&[0u8; 4096]).await.is_err() {
                    server.endless_closed.store(true, Ordering::SeqCst);
                    return;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        "/page" => {
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: 6\r\n\r\n<html>").await;
        }
        "/redirect" => {
            let to = query.strip_prefix("to=").unwrap_or_default();
            let _ = stream.write_all(format!("HTTP/1.1 302 Found\r\nlocation: {to}\r\ncontent-length: 0\r\n\r\n").as_bytes()).await;
        }
        _ => {
            let _ = stream.write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n").await;
        }
    }
}

#[derive(Default)]
struct FakeDns(HashMap<String, Vec<IpAddr>>);

impl Resolve for FakeDns {
    fn resolve<'a>(&'a self, host: &'a str) -> BoxFuture<'a, io::Result<Vec<IpAddr>>> {
        let answer = self.0.get(host).cloned().ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "NXDOMAIN"));
        Box::pin(async move { answer })
    }
}

/// Sends every dial to the test server and records the address asked for.
struct Dialer {
    to: SocketAddr,
    dialled: Mutex<Vec<SocketAddr>>,
}

impl Connect for Dialer {
    fn connect(&self, addr: SocketAddr) -> BoxFuture<'_, io::Result<TcpStream>> {
        self.dialled.lock().unwrap().push(addr);
        let to = self.to;
        Box::pin(async move { TcpStream::connect(to).await })
    }
}

struct Env {
    fetcher: Fetcher,
    server: Arc<Server>,
    dial: Arc<Dialer>,
}

async fn env(allow: &[&str]) -> Env {
    let (addr, server) = start_server().await;
    let mut dns = FakeDns::default();
    for (name, ip) in [("radio.test", PUBLIC), ("lan.test", LAN), ("private.test", "10.0.0.7")] {
        dns.0.insert(name.to_owned(), vec![ip.parse().unwrap()]);
    }
    let dial = Arc::new(Dialer { to: addr, dialled: Mutex::default() });
    let own: Vec<IpAddr> = ["127.0.0.1", "::1", "192.168.1.2"].iter().map(|s| s.parse().unwrap()).collect();
    let fetcher = Fetcher::new(Policy::with_allowlist(Allowlist::parse(allow).unwrap()))
        .with_resolver(Arc::new(dns))
        .with_connector(dial.clone())
        .with_own_addrs(Arc::new(own));
    Env { fetcher, server, dial }
}

fn audio() -> StreamOptions {
    StreamOptions { accept: vec!["audio/*".into(), "application/ogg".into()], ..StreamOptions::default() }
}

impl Env {
    fn dialled(&self) -> Vec<String> {
        self.dial.dialled.lock().unwrap().iter().map(|a| a.to_string()).collect()
    }
}

#[tokio::test]
async fn a_body_flows_longer_than_the_head_timeout_while_it_is_never_idle() {
    let e = env(&[]).await;
    let opts = StreamOptions { head_timeout: Duration::from_millis(500), idle_timeout: Duration::from_millis(600), ..audio() };
    let start = Instant::now();
    let (head, mut body) = e.fetcher.get_stream("http://radio.test:8000/slow", &opts).await.unwrap();
    assert_eq!(head.content_type, "audio/mpeg");
    assert_eq!(head.content_length, None);
    let mut got = Vec::new();
    while let Some(chunk) = body.next_chunk().await.unwrap() {
        got.extend_from_slice(&chunk);
    }
    assert_eq!(got.len(), 1000);
    assert_eq!(body.received(), 1000);
    assert!(start.elapsed() > Duration::from_millis(1200), "the body outlived the head timeout");
    assert_eq!(e.dialled(), [format!("{PUBLIC}:8000")]);
}

#[tokio::test]
async fn a_stalled_body_ends_at_the_idle_timeout_and_a_stalled_head_at_the_head_timeout() {
    let e = env(&[]).await;
    let opts = StreamOptions { idle_timeout: Duration::from_millis(300), ..audio() };
    let (_, mut body) = e.fetcher.get_stream("http://radio.test/stall", &opts).await.unwrap();
    assert_eq!(&body.next_chunk().await.unwrap().unwrap()[..], b"first");
    let start = Instant::now();
    let err = body.next_chunk().await.unwrap_err();
    assert_eq!(err.reason, Reason::Timeout, "{err}");
    assert!(start.elapsed() >= Duration::from_millis(280) && start.elapsed() < Duration::from_secs(3));

    let opts = StreamOptions { head_timeout: Duration::from_millis(300), ..audio() };
    let start = Instant::now();
    let err = e.fetcher.get_stream("http://radio.test/slow-head", &opts).await.unwrap_err();
    assert_eq!(err.reason, Reason::Timeout, "{err}");
    assert!(start.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn a_huge_response_head_is_refused_too_large() {
    let e = env(&[]).await;
    let err = e.fetcher.get_stream("http://radio.test/huge-head", &audio()).await.unwrap_err();
    assert_eq!(err.reason, Reason::TooLarge, "{err}");
    // The same head under a bigger cap is fine: the cap is what refused it.
    let opts = StreamOptions { max_head_bytes: 64 * 1024, ..audio() };
    assert!(e.fetcher.get_stream("http://radio.test/huge-head", &opts).await.is_ok());
}

#[tokio::test]
async fn media_ports_open_public_addresses_and_a_lan_server_needs_its_allowlist_entry() {
    let e = env(&[]).await;
    assert!(e.fetcher.get_stream("http://radio.test:8000/song.mp3", &audio()).await.is_ok());
    assert!(e.fetcher.get_stream("https://radio.test:8443/song.mp3", &audio()).await.is_err(), "TLS to a plain server");
    for low in ["http://radio.test:22/", "http://radio.test:25/", "http://radio.test:1023/"] {
        let err = e.fetcher.get_stream(low, &audio()).await.unwrap_err();
        assert_eq!(err.reason, Reason::PortNotAllowed, "{low}: {err}");
    }
    // Web fetches keep 80/443, and a caller may ask for that rule on a stream too.
    let web = GetOptions { accept: vec![], max_bytes: 100, truncate: false };
    assert_eq!(e.fetcher.get("http://radio.test:8000/song.mp3", &web).await.unwrap_err().reason, Reason::PortNotAllowed);
    let strict = StreamOptions { ports: Ports::Web, ..audio() };
    assert_eq!(e.fetcher.get_stream("http://radio.test:8000/song.mp3", &strict).await.unwrap_err().reason, Reason::PortNotAllowed);
    // A LAN media server (Jellyfin on 8096) is refused without an entry, by name or address.
    for lan in ["http://lan.test:8096/Items", "http://192.168.1.20:8096/Items", "http://127.0.0.1:8096/", "http://192.168.1.2:8000/"] {
        let err = e.fetcher.get_stream(lan, &audio()).await.unwrap_err();
        assert_eq!(err.reason, Reason::PortNotAllowed, "{lan}: {err}");
    }
    assert_eq!(e.dialled(), [format!("{PUBLIC}:8000"), format!("{PUBLIC}:8443")], "nothing else was dialled");

    // With its `host:port` entry it works; a CIDR entry does not open the port.
    let e = env(&["192.168.1.20:8096", "lan.test:8000", "192.168.0.0/16"]).await;
    assert!(e.fetcher.get_stream("http://192.168.1.20:8096/song.mp3", &audio()).await.is_ok());
    assert!(e.fetcher.get_stream("http://lan.test:8000/song.mp3", &audio()).await.is_ok());
    assert_eq!(e.fetcher.get_stream("http://192.168.1.21:8096/song.mp3", &audio()).await.unwrap_err().reason, Reason::PortNotAllowed);
    assert_eq!(e.fetcher.get_stream("http://lan.test:8096/song.mp3", &audio()).await.unwrap_err().reason, Reason::PortNotAllowed);
    assert_eq!(e.dialled(), [format!("{LAN}:8096"), format!("{LAN}:8000")]);
}

#[tokio::test]
async fn every_redirect_hop_is_vetted_again() {
    let e = env(&[]).await;
    for (to, reason) in [
        ("http://lan.test:8096/song.mp3", Reason::PortNotAllowed),
        ("http://private.test/song.mp3", Reason::PrivateAddress),
        ("http://10.0.0.1/song.mp3", Reason::PrivateAddress),
        ("http://127.0.0.1:9000/song.mp3", Reason::PortNotAllowed),
        ("file:///etc/passwd", Reason::SchemeNotAllowed),
    ] {
        let err = e.fetcher.get_stream(&format!("http://radio.test:8000/redirect?to={to}"), &audio()).await.unwrap_err();
        assert_eq!(err.reason, reason, "{to}: {err}");
        assert_eq!(err.url, to, "the refused hop is named");
    }
    let (head, _) = e.fetcher.get_stream("http://radio.test/redirect?to=http://radio.test:8000/song.mp3", &audio()).await.unwrap();
    assert_eq!(head.url.as_str(), "http://radio.test:8000/song.mp3");
    assert!(e.dialled().iter().all(|a| a.starts_with(PUBLIC)), "only the public host was dialled: {:?}", e.dialled());
}

#[tokio::test]
async fn the_icy_header_is_sent_and_an_icy_status_line_is_read() {
    let e = env(&[]).await;
    let opts = StreamOptions { headers: vec![("Icy-MetaData".into(), "1".into())], ..audio() };
    let (head, mut body) = e.fetcher.get_stream("http://radio.test:8000/icy", &opts).await.unwrap();
    assert_eq!(head.header("icy-name"), Some("Test FM"));
    assert_eq!(head.header("icy-metaint"), Some("8"));
    let mut got = Vec::new();
    while let Ok(Some(c)) = body.next_chunk().await {
        got.extend_from_slice(&c);
    }
    assert_eq!(got, b"12345678\x00abcdefgh", "the body is untouched: stripping metadata is the caller's");
    let seen = e.server.seen.lock().unwrap().clone();
    let (path, headers) = seen.last().unwrap();
    assert_eq!(path, "/icy");
    assert_eq!(headers.get("icy-metadata").map(String::as_str), Some("1"));
    assert_eq!(headers.get("accept-encoding").map(String::as_str), Some("identity"));
    assert_eq!(headers.get("host").map(String::as_str), Some("radio.test:8000"));
}

#[tokio::test]
async fn only_accepted_types_stream_and_dropping_the_body_closes_the_connection() {
    let e = env(&[]).await;
    let err = e.fetcher.get_stream("http://radio.test/page", &audio()).await.unwrap_err();
    assert_eq!(err.reason, Reason::BadContentType, "{err}");
    let err = e.fetcher.get_stream("http://radio.test/nothing", &audio()).await.unwrap_err();
    assert_eq!(err.reason, Reason::HttpStatus, "{err}");

    let (_, mut body) = e.fetcher.get_stream("http://radio.test:8000/endless", &audio()).await.unwrap();
    for _ in 0..5 {
        body.next_chunk().await.unwrap().unwrap();
    }
    assert!(!e.server.endless_closed.load(Ordering::SeqCst));
    drop(body);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !e.server.endless_closed.load(Ordering::SeqCst) {
        assert!(Instant::now() < deadline, "the connection outlived its body");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
