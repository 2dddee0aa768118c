//! The SSRF guard against a real server. Every test starts an HTTP server on 127.0.0.1:0, answers
//! names from a fake resolver, and uses a connector that sends *every* dial, whatever address was
//! vetted, to that server. So a removed or broken guard turns a refusal into a successful fetch
//! and the test fails; and the connector's log shows exactly which addresses were dialled.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::convert::Infallible;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use fetch::{
    fetch_image, page_preview, Allowlist, BoxFuture, Connect, Fetcher, GetOptions, Policy, Reason, Resolve,
};
use hyper::body::{Body, Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};

/// The "public" address test names resolve to; the connector sends it to the local server.
const PUBLIC: &str = "93.184.216.34";
/// The box's own public addresses (injected).
const OWN: &str = "93.184.216.40";
const OWN6: &str = "2a01:4f8::40";

const PAGE: &str = r#"<!doctype html><html><head>
<meta charset="utf-8">
<title>Fallback title</title>
<meta name="description" content="plain description">
<meta property="og:title" content="Caf&eacute; &amp; Bar &#8211; &quot;Spot&quot;">
<meta property="og:description" content="  A   page
 about &lt;things&gt; &#x1F600;  ">
<meta property="og:site_name" content="Example &amp; Co">
<meta property="og:image" content="img/og.png?a=1&amp;b=2">
</head><body>hello</body></html>"#;

const PLAIN_PAGE: &str = "<html><head><TITLE>Just a title &amp;c.</TITLE>\
<meta name=description content=\"Only &quot;meta&quot; here\"></head><body></body></html>";

const PNG: &[u8] = b"\x89PNG\r\n\x1a\nnot really a png";

// ---------------------------------------------------------------------------------------------
// The test server.

/// What the server saw of one request.
#[derive(Clone, Debug)]
struct Seen {
    host: String,
    path: String,
    user_agent: String,
    accept_encoding: String,
}

enum TestBody {
    Full(Option<Bytes>),
    /// `left` bytes of 'x' in 64 KiB chunks.
    Chunks {
        left: usize,
    },
    /// Headers sent, body never comes.
    Stall,
}

impl Body for TestBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            TestBody::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            TestBody::Chunks { left } if *left == 0 => Poll::Ready(None),
            TestBody::Chunks { left } => {
                let n = (*left).min(64 * 1024);
                *left -= n;
                Poll::Ready(Some(Ok(Frame::data(Bytes::from(vec![b'x'; n])))))
            }
            TestBody::Stall => Poll::Pending,
        }
    }
}

fn reply(status: u16, headers: &[(&str, &str)], body: TestBody) -> hyper::Response<TestBody> {
    let mut b = hyper::Response::builder().status(status);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(body).unwrap()
}

fn full(s: impl Into<Bytes>) -> TestBody {
    TestBody::Full(Some(s.into()))
}

async fn handle(
    req: hyper::Request<Incoming>,
    seen: Arc<Mutex<Vec<Seen>>>,
) -> Result<hyper::Response<TestBody>, Infallible> {
    let header =
        |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let path = req.uri().path().to_owned();
    seen.lock().unwrap().push(Seen {
        host: header("host"),
        path: path.clone(),
        user_agent: header("user-agent"),
        accept_encoding: header("accept-encoding"),
    });
    let html = [("content-type", "text/html; charset=utf-8")];
    let r = match path.as_str() {
        "/redirect" => {
            let query = req.uri().query().unwrap_or_default();
            let to = url::form_urlencoded::parse(query.as_bytes())
                .find(|(k, _)| k == "to")
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default();
            reply(302, &[("location", to.as_str())], full(""))
        }
        p if p.starts_with("/chain/") => {
            let n: u32 = p["/chain/".len()..].parse().unwrap();
            if n == 0 {
                reply(200, &html, full(PAGE))
            } else {
                let next = format!("/chain/{}", n - 1);
                reply(301, &[("location", next.as_str())], full(""))
            }
        }
        "/plain" => reply(200, &html, full(PLAIN_PAGE)),
        "/xhtml" => reply(200, &[("content-type", "application/xhtml+xml")], full(PAGE)),
        "/image.png" => reply(200, &[("content-type", "image/png")], full(PNG)),
        "/svg" => reply(200, &[("content-type", "image/svg+xml")], full("<svg/>")),
        "/text" => reply(200, &[("content-type", "text/plain")], full(PAGE)),
        "/no-content-type" => reply(200, &[], full(PAGE)),
        "/gzip" => reply(200, &[("content-type", "text/html"), ("content-encoding", "gzip")], full(PAGE)),
        "/big" => reply(200, &[("content-type", "image/png")], TestBody::Chunks { left: 3 << 20 }),
        "/big-cl" => reply(
            200,
            &[("content-type", "image/png"), ("content-length", "3145728")],
            TestBody::Chunks { left: 3 << 20 },
        ),
        "/big-page" => {
            let mut page = PAGE.replace("</body>", "");
            page.push_str(&"<p>filler</p>".repeat(100_000));
            reply(200, &html, full(page))
        }
        "/stall" => reply(200, &html, TestBody::Stall),
        "/slow-head" => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            reply(200, &html, full(PAGE))
        }
        "/status/404" => reply(404, &html, full(PAGE)),
        "/bad-redirect" => reply(302, &[], full(PAGE)),
        // Everything else, /page and /latest/meta-data/ included, is a good page: a request the
        // guard lets through by mistake succeeds.
        _ => reply(200, &html, full(PAGE)),
    };
    Ok(r)
}

type Seens = Arc<Mutex<Vec<Seen>>>;

async fn serve<S>(stream: S, seen: Seens)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |req| handle(req, seen.clone()));
    let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
}

/// Plain HTTP server on 127.0.0.1:0.
async fn start_server(seen: Seens) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(serve(stream, seen.clone()));
        }
    });
    addr
}

/// HTTPS server on 127.0.0.1:0 with a certificate for `secure.test` from a fresh test CA;
/// returns its address and a client config (ring) that trusts the CA and nothing else.
async fn start_tls_server(seen: Seens) -> (SocketAddr, Arc<rustls::ClientConfig>) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf =
        CertificateParams::new(vec!["secure.test".to_owned()]).unwrap().signed_by(&leaf_key, &*ca).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into());
    let server = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![leaf.der().clone()], key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let seen = seen.clone();
            tokio::spawn(async move {
                if let Ok(tls) = acceptor.accept(stream).await {
                    serve(tls, seen).await;
                }
            });
        }
    });
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.der().clone()).unwrap();
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    (addr, Arc::new(client))
}

// ---------------------------------------------------------------------------------------------
// Faked edges.

/// A resolver with fixed answers per name. A name with several answer sets gives them in turn
/// (the last one sticks), like a rebinding DNS server. Every call is counted.
#[derive(Default)]
struct FakeDns {
    answers: Mutex<HashMap<String, Vec<Vec<IpAddr>>>>,
    calls: Mutex<Vec<String>>,
}

impl FakeDns {
    fn set(&self, name: &str, answers: &[&[&str]]) {
        let sets = answers.iter().map(|set| set.iter().map(|ip| ip.parse().unwrap()).collect()).collect();
        self.answers.lock().unwrap().insert(name.to_owned(), sets);
    }

    fn calls_for(&self, name: &str) -> usize {
        self.calls.lock().unwrap().iter().filter(|n| *n == name).count()
    }
}

impl Resolve for FakeDns {
    fn resolve<'a>(&'a self, host: &'a str) -> BoxFuture<'a, io::Result<Vec<IpAddr>>> {
        // Like getaddrinfo: case-insensitive, a trailing dot is the root.
        let key = host.trim_end_matches('.').to_ascii_lowercase();
        self.calls.lock().unwrap().push(key.clone());
        let answer = match self.answers.lock().unwrap().get_mut(&key) {
            Some(sets) if sets.len() > 1 => Ok(sets.remove(0)),
            Some(sets) => Ok(sets[0].clone()),
            None => Err(io::Error::new(io::ErrorKind::NotFound, "NXDOMAIN")),
        };
        Box::pin(async move { answer })
    }
}

/// Sends every dial to the test server (port 443 to the TLS one) and records what was dialled.
struct Dialer {
    plain: SocketAddr,
    tls: Option<SocketAddr>,
    dialled: Mutex<Vec<SocketAddr>>,
}

impl Dialer {
    fn dialled(&self) -> Vec<SocketAddr> {
        self.dialled.lock().unwrap().clone()
    }
}

impl Connect for Dialer {
    fn connect(&self, addr: SocketAddr) -> BoxFuture<'_, io::Result<TcpStream>> {
        self.dialled.lock().unwrap().push(addr);
        let to = match (addr.port(), self.tls) {
            (443, Some(tls)) => tls,
            _ => self.plain,
        };
        Box::pin(async move { TcpStream::connect(to).await })
    }
}

/// A connect that never completes.
struct Blackhole;

impl Connect for Blackhole {
    fn connect(&self, _: SocketAddr) -> BoxFuture<'_, io::Result<TcpStream>> {
        Box::pin(std::future::pending())
    }
}

/// A connect that is refused.
struct Refusing;

impl Connect for Refusing {
    fn connect(&self, _: SocketAddr) -> BoxFuture<'_, io::Result<TcpStream>> {
        Box::pin(async { Err(io::Error::new(io::ErrorKind::ConnectionRefused, "refused")) })
    }
}

/// A resolver that never answers.
struct SlowDns;

impl Resolve for SlowDns {
    fn resolve<'a>(&'a self, _: &'a str) -> BoxFuture<'a, io::Result<Vec<IpAddr>>> {
        Box::pin(std::future::pending())
    }
}

struct Env {
    server: SocketAddr,
    seen: Seens,
    dns: Arc<FakeDns>,
    dial: Arc<Dialer>,
    tls_client: Arc<rustls::ClientConfig>,
}

fn own_addrs() -> Vec<IpAddr> {
    ["127.0.0.1", "::1", "192.168.1.2", OWN, OWN6].iter().map(|s| s.parse().unwrap()).collect()
}

async fn env() -> Env {
    let seen = Seens::default();
    let server = start_server(seen.clone()).await;
    let (tls, tls_client) = start_tls_server(seen.clone()).await;
    let dns = Arc::new(FakeDns::default());
    for name in ["example.test", "a.test", "b.test", "c.test", "secure.test", "other.test"] {
        dns.set(name, &[&[PUBLIC]]);
    }
    dns.set("internal.test", &[&["10.0.0.5"]]);
    dns.set("localhost", &[&["127.0.0.1", "::1"]]);
    dns.set("metadata.test", &[&["169.254.169.254"]]);
    dns.set("mixed.test", &[&[PUBLIC, "192.168.1.1"]]);
    dns.set("mixed6.test", &[&[PUBLIC, "fd00::1"]]);
    dns.set("mapped.test", &[&["::ffff:10.0.0.1"]]);
    dns.set("nat64.test", &[&["64:ff9b::a00:1"]]);
    dns.set("cgnat.test", &[&["100.64.0.1"]]);
    dns.set("self.test", &[&[OWN]]);
    dns.set("self6.test", &[&[OWN6]]);
    dns.set("nas.lan", &[&["192.168.1.20"]]);
    // Rebinding: public at the check, loopback right after.
    dns.set("rebind.test", &[&[PUBLIC], &["127.0.0.1"]]);
    let dial = Arc::new(Dialer { plain: server, tls: Some(tls), dialled: Mutex::default() });
    Env { server, seen, dns, dial, tls_client }
}

fn policy() -> Policy {
    Policy {
        connect_timeout: Duration::from_secs(2),
        total_timeout: Duration::from_secs(5),
        ..Policy::default()
    }
}

fn fetcher_with(env: &Env, policy: Policy) -> Fetcher {
    Fetcher::new(policy)
        .with_resolver(env.dns.clone())
        .with_connector(env.dial.clone())
        .with_own_addrs(Arc::new(own_addrs()))
        .with_tls_config(env.tls_client.clone())
}

fn fetcher(env: &Env) -> Fetcher {
    fetcher_with(env, policy())
}

fn html_opts() -> GetOptions {
    GetOptions { accept: vec!["text/html".into()], max_bytes: 1 << 20, truncate: false }
}

fn redirect_to(from_host: &str, to: &str) -> String {
    let to: String = url::form_urlencoded::byte_serialize(to.as_bytes()).collect();
    format!("http://{from_host}/redirect?to={to}")
}

fn public_dial(port: u16) -> SocketAddr {
    SocketAddr::new(PUBLIC.parse().unwrap(), port)
}

// ---------------------------------------------------------------------------------------------
// Bypass attempts: one table, every case refused with its reason, no forbidden address dialled.

fn bypass_cases() -> Vec<(String, &'static str)> {
    let mut cases: Vec<(String, &'static str)> = [
        // Loopback in every spelling WHATWG accepts.
        ("http://127.0.0.1/page", "private_address"),
        ("http://2130706433/page", "private_address"),
        ("http://0177.0.0.1/page", "private_address"),
        ("http://0x7f.0.0.1/page", "private_address"),
        ("http://0x7f000001/page", "private_address"),
        ("http://127.1/page", "private_address"),
        ("http://127.000.000.001/page", "private_address"),
        ("http://127.0.0.1./page", "private_address"),
        ("http://%31%32%37.0.0.1/page", "private_address"),
        ("http://\u{ff11}\u{ff12}\u{ff17}.\u{ff10}.\u{ff10}.\u{ff11}/page", "private_address"),
        ("http://[::1]/page", "private_address"),
        ("http://[::ffff:127.0.0.1]/page", "private_address"),
        ("http://[::ffff:7f00:1]/page", "private_address"),
        ("http://[0:0:0:0:0:ffff:7f00:1]/page", "private_address"),
        ("http://[::127.0.0.1]/page", "private_address"),
        ("http://[64:ff9b::7f00:1]/page", "private_address"),
        ("http://[64:ff9b:1::7f00:1]/page", "private_address"),
        ("http://[2002:7f00:1::]/page", "private_address"),
        ("http://[2001::7f00:1]/page", "private_address"),
        ("http://[fe80::1%25eth0]/page", "bad_url"),
        ("http://[fe80::1]/page", "private_address"),
        ("http://[fc00::1]/page", "private_address"),
        ("http://[fd12:3456::1]/page", "private_address"),
        ("http://[fec0::1]/page", "private_address"),
        ("http://[100::1]/page", "private_address"),
        ("http://[ff02::1]/page", "private_address"),
        ("http://[::]/page", "private_address"),
        ("http://0.0.0.0/page", "private_address"),
        ("http://0/page", "private_address"),
        // Cloud metadata and other non-public IPv4.
        ("http://169.254.169.254/latest/meta-data/", "private_address"),
        ("http://0251.0376.0251.0376/latest/meta-data/", "private_address"),
        ("http://0xa9fea9fe/latest/meta-data/", "private_address"),
        ("http://169.254.43518/latest/meta-data/", "private_address"),
        ("http://[::ffff:169.254.169.254]/latest/meta-data/", "private_address"),
        ("http://100.64.0.1/page", "private_address"),
        ("http://10.1/page", "private_address"),
        ("http://172.16.0.1/page", "private_address"),
        ("http://192.168.0.1/page", "private_address"),
        ("http://192.0.2.1/page", "private_address"),
        ("http://198.18.0.1/page", "private_address"),
        ("http://240.0.0.1/page", "private_address"),
        ("http://224.0.0.1/page", "private_address"),
        ("http://255.255.255.255/page", "private_address"),
        // The box itself, by public address.
        ("http://93.184.216.40/page", "own_address"),
        ("http://[2a01:4f8::40]/page", "own_address"),
        ("http://self.test/page", "own_address"),
        ("http://self6.test/page", "own_address"),
        // Names that resolve somewhere they must not.
        ("http://internal.test/page", "private_address"),
        ("http://localhost/page", "private_address"),
        ("http://LOCALHOST/page", "private_address"),
        ("http://localhost./page", "private_address"),
        (
            "http://\u{24db}\u{24de}\u{24d2}\u{24d0}\u{24db}\u{24d7}\u{24de}\u{24e2}\u{24e3}/page",
            "private_address",
        ),
        ("http://metadata.test/latest/meta-data/", "private_address"),
        ("http://mixed.test/page", "private_address"),
        ("http://mixed6.test/page", "private_address"),
        ("http://mapped.test/page", "private_address"),
        ("http://nat64.test/page", "private_address"),
        ("http://cgnat.test/page", "private_address"),
        ("http://nosuch.test/page", "dns_failed"),
        // Schemes.
        ("file:///etc/passwd", "scheme_not_allowed"),
        ("ftp://example.test/page", "scheme_not_allowed"),
        ("gopher://example.test:70/_GET%20/page", "scheme_not_allowed"),
        ("data:text/html,<title>x</title>", "scheme_not_allowed"),
        ("javascript:alert(1)", "scheme_not_allowed"),
        ("ws://example.test/page", "scheme_not_allowed"),
        // Ports.
        ("http://example.test:22/page", "port_not_allowed"),
        ("http://example.test:8080/page", "port_not_allowed"),
        ("http://example.test:6379/page", "port_not_allowed"),
        ("https://example.test:8443/page", "port_not_allowed"),
        ("http://93.184.216.34:25/page", "port_not_allowed"),
        // Userinfo.
        ("http://public@127.0.0.1/page", "userinfo_not_allowed"),
        ("http://example.test@127.0.0.1/page", "userinfo_not_allowed"),
        ("http://user:pass@example.test/page", "userinfo_not_allowed"),
        ("http://127.0.0.1#@example.test/page", "private_address"),
        ("http://127.0.0.1:80\\@example.test/page", "private_address"),
        // Not URLs.
        ("http://", "bad_url"),
        ("not a url", "bad_url"),
        ("http://exa mple.test/", "bad_url"),
    ]
    .into_iter()
    .map(|(u, r)| (u.to_owned(), r))
    .collect();
    // Redirects from a good public page to somewhere bad: each hop is checked from the top.
    for (to, reason) in [
        ("http://127.0.0.1/page", "private_address"),
        ("http://2130706433/page", "private_address"),
        ("http://[::1]/page", "private_address"),
        ("http://169.254.169.254/latest/meta-data/", "private_address"),
        ("http://internal.test/page", "private_address"),
        ("http://self.test/page", "own_address"),
        ("file:///etc/passwd", "scheme_not_allowed"),
        ("gopher://127.0.0.1:6379/_INFO", "scheme_not_allowed"),
        ("ftp://example.test/", "scheme_not_allowed"),
        ("http://example.test:6379/page", "port_not_allowed"),
        ("http://public@example.test/page", "userinfo_not_allowed"),
    ] {
        cases.push((redirect_to("example.test", to), reason));
    }
    // A redirect to a redirect to loopback.
    cases.push((redirect_to("a.test", &redirect_to("b.test", "http://127.0.0.1/page")), "private_address"));
    // Relative and scheme-relative Locations are resolved, then checked.
    cases.push(("http://example.test/redirect?to=//127.0.0.1/page".to_owned(), "private_address"));
    // One redirect too many.
    cases.push(("http://example.test/chain/4".to_owned(), "too_many_redirects"));
    cases
}

#[tokio::test]
async fn bypass_attempts_are_refused() {
    let env = env().await;
    let f = fetcher(&env);
    // Positive control: the same environment serves a good page, so every refusal below is the
    // guard's doing, not a broken test server.
    let ok = f.get("http://example.test/page", &html_opts()).await.unwrap();
    assert_eq!(ok.status, 200);
    assert_eq!(env.dial.dialled(), vec![public_dial(80)]);

    let cases = bypass_cases();
    assert!(cases.len() >= 30, "{} cases", cases.len());
    let mut failures = Vec::new();
    for (url, want) in &cases {
        env.dial.dialled.lock().unwrap().clear();
        match f.get(url, &html_opts()).await {
            Ok(r) => failures.push(format!("{url}: FETCHED {} (wanted {want})", r.url)),
            Err(e) if e.code() != *want => failures.push(format!("{url}: {} (wanted {want}): {e}", e.code())),
            Err(_) => {}
        }
        // Whatever happened, only the public test address was ever dialled.
        let bad: Vec<_> = env.dial.dialled().into_iter().filter(|a| *a != public_dial(80)).collect();
        if !bad.is_empty() {
            failures.push(format!("{url}: dialled {bad:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn dns_rebinding_cannot_swap_the_address() {
    let env = env().await;
    let f = fetcher(&env);
    let r = f.get("http://rebind.test/page", &html_opts()).await.unwrap();
    assert_eq!(r.status, 200);
    // One lookup; the connection went to the address that was checked, not to a fresh answer.
    assert_eq!(env.dns.calls_for("rebind.test"), 1);
    assert_eq!(env.dial.dialled(), vec![public_dial(80)]);
    let seen = env.seen.lock().unwrap().clone();
    assert_eq!(seen.last().map(|s| s.host.as_str()), Some("rebind.test"));

    // The next fetch of the name looks up again and is refused on the new answer.
    let e = f.get("http://rebind.test/page", &html_opts()).await.unwrap_err();
    assert_eq!(e.reason, Reason::PrivateAddress);
    assert_eq!(env.dns.calls_for("rebind.test"), 2);
    assert_eq!(env.dial.dialled(), vec![public_dial(80)], "loopback was never dialled");
}

#[tokio::test]
async fn redirect_to_the_same_rebinding_name_is_checked_again() {
    let env = env().await;
    env.dns.set("rebind2.test", &[&[PUBLIC], &["10.0.0.1"]]);
    let f = fetcher(&env);
    let e = f.get(&redirect_to("rebind2.test", "http://rebind2.test/page"), &html_opts()).await.unwrap_err();
    assert_eq!(e.reason, Reason::PrivateAddress);
    assert_eq!(e.url, "http://rebind2.test/page", "the refused hop is the redirect target");
    assert_eq!(env.dns.calls_for("rebind2.test"), 2);
    assert_eq!(env.dial.dialled(), vec![public_dial(80)]);
}

#[tokio::test]
async fn oversized_bodies_are_refused() {
    let env = env().await;
    let f = fetcher(&env);
    // Streamed without Content-Length: reading stops at the cap.
    let e = fetch_image(&f, "http://example.test/big", 1 << 20).await.unwrap_err();
    assert_eq!(e.code(), "too_large");
    // Declared too large: refused before reading.
    let e = fetch_image(&f, "http://example.test/big-cl", 1 << 20).await.unwrap_err();
    assert_eq!(e.code(), "too_large");
    let e = f.get("http://example.test/big-page", &html_opts()).await.unwrap_err();
    assert_eq!(e.code(), "too_large");
    // Control: the same bodies under a larger cap are fetched whole.
    let (bytes, _) = fetch_image(&f, "http://example.test/big", 4 << 20).await.unwrap();
    assert_eq!(bytes.len(), 3 << 20);
}

#[tokio::test]
async fn a_big_page_is_cut_for_its_preview_not_refused() {
    let env = env().await;
    let f = fetcher(&env);
    let opts = GetOptions { truncate: true, ..html_opts() };
    let r = f.get("http://example.test/big-page", &opts).await.unwrap();
    assert!(r.truncated);
    assert_eq!(r.body.len(), 1 << 20);
    let p = page_preview(&f, "http://example.test/big-page").await.unwrap();
    assert_eq!(p.title.as_deref(), Some("Café & Bar – \"Spot\""));
}

#[tokio::test]
async fn stalled_and_slow_servers_time_out() {
    let env = env().await;
    let f = fetcher_with(&env, Policy { total_timeout: Duration::from_millis(300), ..policy() });
    for url in ["http://example.test/stall", "http://example.test/slow-head"] {
        let start = Instant::now();
        let e = f.get(url, &html_opts()).await.unwrap_err();
        assert_eq!(e.code(), "timeout", "{url}");
        assert!(start.elapsed() < Duration::from_secs(2), "{url} took {:?}", start.elapsed());
    }
    let e = page_preview(&f, "http://example.test/stall").await.unwrap_err();
    assert_eq!(e.code(), "timeout");
}

#[tokio::test]
async fn slow_connects_and_lookups_time_out() {
    let env = env().await;
    let policy = Policy {
        connect_timeout: Duration::from_millis(100),
        total_timeout: Duration::from_secs(1),
        ..policy()
    };
    let f = fetcher_with(&env, policy.clone()).with_connector(Arc::new(Blackhole));
    let e = f.get("http://example.test/page", &html_opts()).await.unwrap_err();
    assert_eq!(e.code(), "timeout");
    assert!(e.detail.starts_with("connect to 93.184.216.34:80 timed out"), "the connect cap, not the total: {e}");

    let f = fetcher_with(&env, policy.clone()).with_resolver(Arc::new(SlowDns));
    assert_eq!(f.get("http://example.test/page", &html_opts()).await.unwrap_err().code(), "timeout");

    let f = fetcher_with(&env, policy).with_connector(Arc::new(Refusing));
    assert_eq!(f.get("http://example.test/page", &html_opts()).await.unwrap_err().code(), "connect_failed");
}

#[tokio::test]
async fn content_types_statuses_and_encodings() {
    let env = env().await;
    let f = fetcher(&env);
    fn code<T: std::fmt::Debug>(r: Result<T, fetch::Refused>) -> &'static str {
        r.unwrap_err().code()
    }
    assert_eq!(code(page_preview(&f, "http://example.test/image.png").await), "bad_content_type");
    assert_eq!(code(page_preview(&f, "http://example.test/text").await), "bad_content_type");
    assert_eq!(code(page_preview(&f, "http://example.test/no-content-type").await), "bad_content_type");
    assert_eq!(code(fetch_image(&f, "http://example.test/page", 1 << 20).await), "bad_content_type");
    assert_eq!(code(fetch_image(&f, "http://example.test/svg", 1 << 20).await), "bad_content_type");
    assert_eq!(code(page_preview(&f, "http://example.test/gzip").await), "bad_content_encoding");
    assert_eq!(code(page_preview(&f, "http://example.test/status/404").await), "http_status");
    assert_eq!(code(page_preview(&f, "http://example.test/bad-redirect").await), "bad_redirect");
    // Controls.
    assert!(page_preview(&f, "http://example.test/xhtml").await.is_ok());
    let (bytes, ct) = fetch_image(&f, "http://example.test/image.png", 1 << 20).await.unwrap();
    assert_eq!((bytes.as_slice(), ct.as_str()), (PNG, "image/png"));
}

#[tokio::test]
async fn refusals_are_logged_with_their_reason() {
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);
    impl io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
        type Writer = Captured;
        fn make_writer(&'a self) -> Captured {
            self.clone()
        }
    }
    // A global subscriber (a thread-local one races with other tests over tracing's per-callsite
    // interest cache); other tests' lines land here too, so ours carry unique markers.
    static CAPTURED: std::sync::OnceLock<Captured> = std::sync::OnceLock::new();
    let captured = CAPTURED
        .get_or_init(|| {
            let c = Captured::default();
            let subscriber = tracing_subscriber::fmt().with_writer(c.clone()).with_ansi(false).finish();
            let _ = tracing::subscriber::set_global_default(subscriber);
            c
        })
        .clone();

    let env = env().await;
    let f = fetcher(&env);
    f.get("http://2130706433/logged-one", &html_opts()).await.unwrap_err();
    fetch_image(&f, "http://example.test/svg?logged-two", 1 << 20).await.unwrap_err();
    f.get(&redirect_to("example.test", "http://example.test:6379/logged-three"), &html_opts()).await.unwrap_err();
    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let line = |marker: &str| -> String {
        let found: Vec<&str> = log.lines().filter(|l| l.contains("fetch refused") && l.contains(marker)).collect();
        assert_eq!(found.len(), 1, "one line per refusal ({marker}):\n{log}");
        found[0].to_owned()
    };
    let (one, two, three) = (line("logged-one"), line("logged-two"), line("logged-three"));
    assert!(one.contains("INFO"), "{one}");
    assert!(one.contains("url=http://2130706433/logged-one"), "{one}");
    assert!(one.contains("reason=\"private_address\""), "{one}");
    assert!(two.contains("reason=\"bad_content_type\""), "{two}");
    assert!(three.contains("reason=\"port_not_allowed\""), "{three}");
    assert!(three.contains("hop=http://example.test:6379/logged-three"), "{three}");
}

// ---------------------------------------------------------------------------------------------
// What must work.

#[tokio::test]
async fn preview_of_a_public_page() {
    let env = env().await;
    let f = fetcher(&env);
    let p = page_preview(&f, "http://EXAMPLE.test./sub/page#frag").await.unwrap();
    assert_eq!(p.url, "http://example.test./sub/page#frag");
    assert_eq!(p.title.as_deref(), Some("Café & Bar – \"Spot\""));
    assert_eq!(p.description.as_deref(), Some("A page about <things> 😀"));
    assert_eq!(p.site_name.as_deref(), Some("Example & Co"));
    // Relative og:image resolved against the page URL, entities decoded.
    assert_eq!(p.image_url.as_deref(), Some("http://example.test./sub/img/og.png?a=1&b=2"));
    assert_eq!(env.dial.dialled(), vec![public_dial(80)]);
    let seen = env.seen.lock().unwrap().last().cloned().unwrap();
    assert_eq!(seen.host, "example.test.", "Host is the name, not the address");
    assert_eq!(seen.path, "/sub/page", "no fragment on the wire");
    assert_eq!(seen.user_agent, "SpotBox/0.1 (+link preview)");
    assert_eq!(seen.accept_encoding, "identity");
}

#[tokio::test]
async fn preview_falls_back_to_title_meta_and_host() {
    let env = env().await;
    let f = fetcher(&env);
    let p = page_preview(&f, "http://example.test/plain").await.unwrap();
    assert_eq!(p.title.as_deref(), Some("Just a title &c."));
    assert_eq!(p.description.as_deref(), Some("Only \"meta\" here"));
    assert_eq!(p.site_name.as_deref(), Some("example.test"));
    assert_eq!(p.image_url, None);
}

#[tokio::test]
async fn https_uses_the_name_for_sni_and_the_certificate() {
    let env = env().await;
    let f = fetcher(&env);
    let p = page_preview(&f, "https://secure.test/page").await.unwrap();
    assert_eq!(p.image_url.as_deref(), Some("https://secure.test/img/og.png?a=1&b=2"));
    assert_eq!(env.dial.dialled(), vec![public_dial(443)]);
    // Same server, same address, but the certificate is not for this name.
    let e = page_preview(&f, "https://other.test/page").await.unwrap_err();
    assert_eq!(e.code(), "tls_failed");
    // The production roots do not trust the test CA.
    let prod_roots = Fetcher::new(policy()).with_resolver(env.dns.clone()).with_connector(env.dial.clone());
    assert_eq!(page_preview(&prod_roots, "https://secure.test/page").await.unwrap_err().code(), "tls_failed");
}

#[tokio::test]
async fn allowlisted_loopback_service_on_its_port() {
    let env = env().await;
    let port = env.server.port();
    let url = format!("http://127.0.0.1:{port}/page");
    // The real TCP connector this time: nothing maps the address, the allowlist opens it.
    let real = |entries: &[String]| {
        Fetcher::new(Policy::with_allowlist(Allowlist::parse(entries).unwrap()))
            .with_resolver(env.dns.clone())
            .with_own_addrs(Arc::new(own_addrs()))
    };
    let p = page_preview(&real(&[format!("127.0.0.1:{port}")]), &url).await.unwrap();
    assert_eq!(p.title.as_deref(), Some("Café & Bar – \"Spot\""));
    assert_eq!(p.site_name.as_deref(), Some("Example & Co"));
    // Without the entry, or without its port, or by CIDR only, the odd port stays shut.
    for entries in [
        vec![],
        vec!["127.0.0.1".to_owned()],
        vec!["127.0.0.0/8".to_owned()],
        vec![format!("127.0.0.2:{port}")],
    ] {
        let e = page_preview(&real(&entries), &url).await.unwrap_err();
        assert_eq!(e.code(), "port_not_allowed", "{entries:?}");
    }
}

#[tokio::test]
async fn allowlisted_lan_hosts_and_cidrs() {
    let env = env().await;
    let nas = SocketAddr::new("192.168.1.20".parse().unwrap(), 80);
    let with = |entries: &[&str]| {
        fetcher_with(&env, Policy { allowlist: Allowlist::parse(entries).unwrap(), ..policy() })
    };
    assert_eq!(page_preview(&with(&[]), "http://nas.lan/page").await.unwrap_err().code(), "private_address");
    assert!(page_preview(&with(&["nas.lan"]), "http://nas.lan/page").await.is_ok());
    assert!(page_preview(&with(&["NAS.LAN."]), "http://nas.lan/page").await.is_ok());
    assert!(page_preview(&with(&["192.168.0.0/16"]), "http://nas.lan/page").await.is_ok());
    assert_eq!(env.dial.dialled(), vec![nas, nas, nas]);
    // An entry for one host does not open another on the same network.
    assert_eq!(
        page_preview(&with(&["nas.lan"]), "http://internal.test/page").await.unwrap_err().code(),
        "private_address"
    );
    // A CIDR does not open the box's own addresses; an entry naming the host does.
    assert_eq!(
        page_preview(&with(&["192.168.0.0/16"]), "http://192.168.1.2/page").await.unwrap_err().code(),
        "own_address"
    );
    assert!(page_preview(&with(&["192.168.1.2"]), "http://192.168.1.2/page").await.is_ok());
    // Nothing opens "any address" or multicast.
    assert_eq!(
        page_preview(&with(&["0.0.0.0/0"]), "http://0.0.0.0/page").await.unwrap_err().code(),
        "private_address"
    );
    assert_eq!(
        page_preview(&with(&["224.0.0.0/4"]), "http://224.0.0.1/page").await.unwrap_err().code(),
        "private_address"
    );
}

#[tokio::test]
async fn redirect_chain_of_two_hops_to_an_allowed_host() {
    let env = env().await;
    let f = fetcher_with(&env, Policy { allowlist: Allowlist::parse(["nas.lan"]).unwrap(), ..policy() });
    let url = redirect_to("a.test", &redirect_to("b.test", "http://nas.lan/sub/page"));
    let p = page_preview(&f, &url).await.unwrap();
    assert_eq!(p.url, "http://nas.lan/sub/page");
    // og:image is relative to the final page, not the first URL.
    assert_eq!(p.image_url.as_deref(), Some("http://nas.lan/sub/img/og.png?a=1&b=2"));
    let nas = SocketAddr::new("192.168.1.20".parse().unwrap(), 80);
    assert_eq!(env.dial.dialled(), vec![public_dial(80), public_dial(80), nas]);
    let hosts: Vec<String> = env.seen.lock().unwrap().iter().map(|s| s.host.clone()).collect();
    assert_eq!(hosts, ["a.test", "b.test", "nas.lan"]);
}

#[tokio::test]
async fn a_raw_utf8_location_is_followed() {
    let env = env().await;
    let f = fetcher(&env);
    let r = f.get("http://example.test/redirect?to=/p%C3%A4ge", &html_opts()).await.unwrap();
    assert_eq!(r.url.as_str(), "http://example.test/p%C3%A4ge");
    assert_eq!(env.seen.lock().unwrap().last().unwrap().path, "/p%C3%A4ge");
}

#[tokio::test]
async fn exactly_the_redirect_limit_is_followed() {
    let env = env().await;
    let f = fetcher(&env);
    let r = f.get("http://example.test/chain/3", &html_opts()).await.unwrap();
    assert_eq!(r.url.as_str(), "http://example.test/chain/0");
    assert_eq!(
        f.get("http://example.test/chain/4", &html_opts()).await.unwrap_err().code(),
        "too_many_redirects"
    );
    let strict = fetcher_with(&env, Policy { max_redirects: 0, ..policy() });
    assert_eq!(
        strict.get("http://example.test/chain/1", &html_opts()).await.unwrap_err().code(),
        "too_many_redirects"
    );
}

#[tokio::test]
async fn streamed_bodies_go_to_the_sink_under_the_same_guard() {
    let env = env().await;
    let f = fetcher(&env);
    let opts = GetOptions { accept: vec![], max_bytes: 4 << 20, truncate: false };
    let mut got = 0usize;
    let r = f
        .get_streaming("http://example.test/big", &opts, Duration::from_secs(30), &mut |b: &[u8]| {
            got += b.len();
            Ok(())
        })
        .await
        .unwrap();
    assert_eq!((got, r.body.len()), (3 << 20, 0), "the body went to the sink, not into memory");
    // The cap holds while streaming.
    let small = GetOptions { max_bytes: 1 << 20, ..opts.clone() };
    let e = f.get_streaming("http://example.test/big", &small, Duration::from_secs(30), &mut |_: &[u8]| Ok(())).await.unwrap_err();
    assert_eq!(e.code(), "too_large");
    // A sink that gives up ends the fetch.
    let e = f
        .get_streaming("http://example.test/big", &opts, Duration::from_secs(30), &mut |_: &[u8]| Err("disk full".into()))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "aborted");
    // And the SSRF guard is the same one: a private address is refused before any byte.
    let mut any = false;
    let e = f
        .get_streaming("http://10.0.0.1/big", &opts, Duration::from_secs(30), &mut |_: &[u8]| {
            any = true;
            Ok(())
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), "private_address");
    assert!(!any);
}
