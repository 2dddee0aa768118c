//! The shell: look up once, vet, connect to the vetted address, speak HTTP/1.1 (TLS for https),
//! follow redirects through the same checks, cap time and size.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use bytes::Bytes;
use http::header::{
    ACCEPT, ACCEPT_ENCODING, CONNECTION, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, HOST,
    LOCATION, RANGE, USER_AGENT,
};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use url::{Host, Position, Url};

use crate::edges::{BoxFuture, Connect, OwnAddrs, Resolve, SystemOwnAddrs, SystemResolver, TcpConnector};
use crate::error::{Reason, Refused};
use crate::policy::{vet_addrs, vet_url_ports, Policy, Ports, Scheme, Target};

/// At most this many vetted addresses are tried, one after the other, before `connect_failed`.
const MAX_CONNECT_ATTEMPTS: usize = 4;
/// hyper's read buffer, which caps the response head.
const MAX_HEAD_BYTES: usize = 64 * 1024;

/// What the caller accepts back.
#[derive(Clone, Debug)]
pub struct GetOptions {
    /// Media types accepted (`"text/html"`, `"image/*"`, `"*/*"`), compared without parameters.
    /// Also sent as `Accept`. Empty accepts anything.
    pub accept: Vec<String>,
    /// Body cap in bytes.
    pub max_bytes: usize,
    /// Past the cap: `false` refuses `too_large`; `true` keeps the first `max_bytes`, stops
    /// reading and sets [`Response::truncated`] (for HTML, where only the head matters).
    pub truncate: bool,
}

/// A successful fetch.
#[derive(Clone, Debug)]
pub struct Response {
    /// The URL finally fetched, after redirects.
    pub url: Url,
    pub status: u16,
    /// The media type, lowercase, without parameters (`"text/html"`).
    pub content_type: String,
    /// The `charset` parameter of `Content-Type`, if any, lowercase.
    pub charset: Option<String>,
    pub body: Vec<u8>,
    /// The body went past `max_bytes` and was cut (only with `truncate`).
    pub truncated: bool,
}

/// The only way the daemon fetches URLs. Cheap to share (`Arc` it); holds no connections.
pub struct Fetcher {
    policy: Policy,
    resolver: Arc<dyn Resolve>,
    connector: Arc<dyn Connect>,
    own: Arc<dyn OwnAddrs>,
    /// `None` only if rustls refused the default protocol versions, which would be a build bug;
    /// https is then refused `tls_failed` instead of panicking.
    tls: Option<Arc<ClientConfig>>,
}

impl std::fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetcher").field("policy", &self.policy).finish_non_exhaustive()
    }
}

enum Hop {
    Done(Response),
    Redirect(Url),
}

impl Fetcher {
    /// A production fetcher: system resolver, plain TCP, the box's interfaces, webpki roots.
    pub fn new(policy: Policy) -> Self {
        Fetcher {
            policy,
            resolver: Arc::new(SystemResolver),
            connector: Arc::new(TcpConnector),
            own: Arc::new(SystemOwnAddrs),
            tls: default_tls_config(),
        }
    }

    /// Replace the name lookup (tests).
    pub fn with_resolver(mut self, resolver: Arc<dyn Resolve>) -> Self {
        self.resolver = resolver;
        self
    }

    /// Replace the TCP connect (tests).
    pub fn with_connector(mut self, connector: Arc<dyn Connect>) -> Self {
        self.connector = connector;
        self
    }

    /// Replace the source of the box's own addresses (tests).
    pub fn with_own_addrs(mut self, own: Arc<dyn OwnAddrs>) -> Self {
        self.own = own;
        self
    }

    /// Replace the TLS client configuration (tests with their own CA). Use a config built on the
    /// ring provider to keep the static build free of C.
    pub fn with_tls_config(mut self, config: Arc<ClientConfig>) -> Self {
        self.tls = Some(config);
        self
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// GET `url` under the policy. Every refusal is logged once (`tracing::info!` with `url` and
    /// `reason`) and returned.
    pub async fn get(&self, url: &str, opts: &GetOptions) -> Result<Response, Refused> {
        self.get_inner(url, opts, self.policy.total_timeout, None, None).await
    }

    /// GET `url` under the same policy, handing the body to `sink` as it arrives instead of
    /// buffering it (a large download: an update bundle), within `total` instead of the
    /// policy's total timeout. `Response::body` stays empty. `max_bytes` still caps the body
    /// (`too_large`, never truncated); a `sink` error ends the fetch as `aborted`.
    pub async fn get_streaming(
        &self,
        url: &str,
        opts: &GetOptions,
        total: std::time::Duration,
        sink: &mut (dyn FnMut(&[u8]) -> Result<(), String> + Send),
    ) -> Result<Response, Refused> {
        let opts = GetOptions { truncate: false, ..opts.clone() };
        self.get_inner(url, &opts, total, Some(sink), None).await
    }

    /// [`Self::get_streaming`] of the `len` bytes from `start` on only (`Range: bytes=`, a
    /// resumed or partial download). The answer must be 206 with exactly that `Content-Range`
    /// (`bad_range` otherwise) and exactly `len` bytes (`too_large` past them, `http_error`
    /// short of them); a server that sends the whole file (200) is `range_ignored`, before
    /// any byte reaches `sink`. `len` is also the body cap.
    pub async fn get_range_streaming(
        &self,
        url: &str,
        opts: &GetOptions,
        (start, len): (u64, u64),
        total: std::time::Duration,
        sink: &mut (dyn FnMut(&[u8]) -> Result<(), String> + Send),
    ) -> Result<Response, Refused> {
        if len == 0 || start.checked_add(len).is_none() || len > usize::MAX as u64 {
            return Err(Refused::new(Reason::BadRange, url, format!("no range of {len} bytes from {start}")));
        }
        let opts = GetOptions { truncate: false, max_bytes: len as usize, ..opts.clone() };
        self.get_inner(url, &opts, total, Some(sink), Some((start, len))).await
    }

    async fn get_inner(
        &self,
        url: &str,
        opts: &GetOptions,
        total: std::time::Duration,
        sink: Option<&mut Sink<'_>>,
        range: Option<(u64, u64)>,
    ) -> Result<Response, Refused> {
        let result = match tokio::time::timeout(total, self.follow(url, opts, sink, range)).await {
            Ok(r) => r,
            Err(_) => Err(Refused::new(
                Reason::Timeout,
                url,
                format!("not done within {total:?}"),
            )),
        };
        if let Err(refused) = &result {
            refused.log(url);
        }
        result
    }

    async fn follow(&self, url: &str, opts: &GetOptions, mut sink: Option<&mut Sink<'_>>, range: Option<(u64, u64)>) -> Result<Response, Refused> {
        let mut url = Url::parse(url).map_err(|e| Refused::new(Reason::BadUrl, url, e.to_string()))?;
        let mut redirects = 0;
        loop {
            match self.hop(&url, opts, sink.as_deref_mut(), range).await? {
                Hop::Done(response) => return Ok(response),
                Hop::Redirect(next) => {
                    if redirects >= self.policy.max_redirects {
                        return Err(Refused::new(
                            Reason::TooManyRedirects,
                            next.as_str(),
                            format!("more than {} redirects", self.policy.max_redirects),
                        ));
                    }
                    redirects += 1;
                    url = next;
                }
            }
        }
    }

    /// One request: vet, look up once, vet the answers, connect to a vetted address, exchange.
    async fn hop(&self, url: &Url, opts: &GetOptions, sink: Option<&mut Sink<'_>>, range: Option<(u64, u64)>) -> Result<Hop, Refused> {
        let io = self.connect_url(url, Ports::Web).await?;
        exchange(io, url, opts, &self.policy.user_agent, sink, range).await
    }

    /// Vet `url` under `ports`, look its name up once, vet the answers, connect to a vetted
    /// address (and do TLS for https). Every fetch of every hop comes through here.
    pub(crate) async fn connect_url(&self, url: &Url, ports: Ports) -> Result<Box<dyn Io>, Refused> {
        let allowlist = &self.policy.allowlist;
        let target = vet_url_ports(url, allowlist, ports)?;
        let addrs: Vec<IpAddr> = match &target.host {
            Host::Ipv4(ip) => vec![IpAddr::V4(*ip)],
            Host::Ipv6(ip) => vec![IpAddr::V6(*ip)],
            Host::Domain(name) => self
                .resolver
                .resolve(name)
                .await
                .map_err(|e| Refused::new(Reason::DnsFailed, url.as_str(), format!("{name}: {e}")))?,
        };
        // Fail closed: without the list we cannot tell a public IPv6 of the box from anyone's.
        let own = self.own.own_addrs().map_err(|e| {
            Refused::new(Reason::OwnAddress, url.as_str(), format!("cannot list the box's addresses: {e}"))
        })?;
        let vetted = vet_addrs(url, &target, &addrs, &own, allowlist)?;
        let tcp = self.connect_vetted(url, &vetted, target.port).await?;
        Ok(match target.scheme {
            Scheme::Http => Box::new(tcp),
            Scheme::Https => Box::new(self.tls_handshake(url, &target, tcp).await?),
        })
    }

    async fn connect_vetted(&self, url: &Url, vetted: &[IpAddr], port: u16) -> Result<TcpStream, Refused> {
        let mut last = Refused::new(Reason::ConnectFailed, url.as_str(), "no address to connect to");
        for ip in vetted.iter().take(MAX_CONNECT_ATTEMPTS) {
            let addr = SocketAddr::new(*ip, port);
            match tokio::time::timeout(self.policy.connect_timeout, self.connector.connect(addr)).await {
                Ok(Ok(stream)) => return Ok(stream),
                Ok(Err(e)) => {
                    last = Refused::new(Reason::ConnectFailed, url.as_str(), format!("{addr}: {e}"))
                }
                Err(_) => {
                    last =
                        Refused::new(Reason::Timeout, url.as_str(), format!("connect to {addr} timed out"));
                }
            }
        }
        Err(last)
    }

    async fn tls_handshake(
        &self,
        url: &Url,
        target: &Target,
        tcp: TcpStream,
    ) -> Result<tokio_rustls::client::TlsStream<TcpStream>, Refused> {
        let refuse = |reason, detail: String| Refused::new(reason, url.as_str(), detail);
        let config = self.tls.clone().ok_or_else(|| refuse(Reason::TlsFailed, "TLS unavailable".into()))?;
        // SNI and certificate check use the name from the URL, never the address.
        let name = match &target.host {
            Host::Domain(d) => ServerName::try_from(d.trim_end_matches('.').to_owned())
                .map_err(|e| refuse(Reason::TlsFailed, format!("server name: {e}")))?,
            Host::Ipv4(ip) => ServerName::IpAddress(IpAddr::V4(*ip).into()),
            Host::Ipv6(ip) => ServerName::IpAddress(IpAddr::V6(*ip).into()),
        };
        let connector = tokio_rustls::TlsConnector::from(config);
        match tokio::time::timeout(self.policy.connect_timeout, connector.connect(name, tcp)).await {
            Ok(Ok(stream)) => Ok(stream),
            Ok(Err(e)) => Err(refuse(Reason::TlsFailed, e.to_string())),
            Err(_) => Err(refuse(Reason::Timeout, "TLS handshake timed out".into())),
        }
    }
}

/// Allow `Arc<Fake>` to be handed in while the test keeps its own handle.
impl<T: Resolve + ?Sized> Resolve for Arc<T> {
    fn resolve<'a>(&'a self, host: &'a str) -> BoxFuture<'a, std::io::Result<Vec<IpAddr>>> {
        (**self).resolve(host)
    }
}

impl<T: Connect + ?Sized> Connect for Arc<T> {
    fn connect(&self, addr: SocketAddr) -> BoxFuture<'_, std::io::Result<TcpStream>> {
        (**self).connect(addr)
    }
}

fn default_tls_config() -> Option<Arc<ClientConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .ok()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Some(Arc::new(config))
}

/// A connected stream, plain or TLS.
pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Io for T {}

/// Aborts the spawned hyper connection task when the exchange ends (or is dropped by a timeout),
/// so a stalled server never keeps a socket open.
pub(crate) struct AbortOnDrop(pub(crate) JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// `Host` header: the name from the URL, with the port when it is not the scheme's default.
pub(crate) fn host_header(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_owned(),
    }
}

/// `"text/html; charset=UTF-8"` → (`"text/html"`, `Some("utf-8")`).
pub(crate) fn parse_content_type(value: &str) -> (String, Option<String>) {
    let mut parts = value.split(';');
    let mime = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
    let charset = parts.find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim().eq_ignore_ascii_case("charset").then(|| v.trim().trim_matches('"').to_ascii_lowercase())
    });
    (mime, charset)
}

pub(crate) fn accepts(patterns: &[String], mime: &str) -> bool {
    let Some((kind, sub)) = mime.split_once('/') else { return false };
    if kind.is_empty() || sub.is_empty() {
        return false;
    }
    patterns.is_empty()
        || patterns.iter().any(|p| {
            p == "*/*"
                || p.eq_ignore_ascii_case(mime)
                || p.strip_suffix("/*").is_some_and(|k| k.eq_ignore_ascii_case(kind))
        })
}

/// Where a streamed body goes.
type Sink<'s> = dyn FnMut(&[u8]) -> Result<(), String> + Send + 's;

/// `Content-Range: bytes A-B/TOTAL` (or `/*`) → (A, B, TOTAL).
pub(crate) fn parse_content_range(value: &str) -> Option<(u64, u64, Option<u64>)> {
    let rest = value.trim().strip_prefix("bytes")?.trim_start();
    let (span, total) = rest.split_once('/')?;
    let (a, b) = span.trim().split_once('-')?;
    let (a, b): (u64, u64) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
    let total = match total.trim() {
        "*" => None,
        t => Some(t.parse().ok()?),
    };
    (a <= b && total.is_none_or(|t| b < t)).then_some((a, b, total))
}

async fn exchange<T>(
    io: T,
    url: &Url,
    opts: &GetOptions,
    user_agent: &str,
    sink: Option<&mut Sink<'_>>,
    range: Option<(u64, u64)>,
) -> Result<Hop, Refused>
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let refuse = |reason, detail: String| Refused::new(reason, url.as_str(), detail);
    let (mut sender, conn) = hyper::client::conn::http1::Builder::new()
        .max_buf_size(MAX_HEAD_BYTES)
        .handshake::<_, Empty<Bytes>>(TokioIo::new(io))
        .await
        .map_err(|e| refuse(Reason::HttpError, e.to_string()))?;
    let _conn = AbortOnDrop(tokio::spawn(async move {
        let _ = conn.await;
    }));

    let accept = if opts.accept.is_empty() { "*/*".to_owned() } else { opts.accept.join(", ") };
    let mut request = http::Request::get(&url[Position::BeforePath..Position::AfterQuery]);
    if let Some((start, len)) = range {
        request = request.header(RANGE, format!("bytes={start}-{}", start + len - 1));
    }
    let request = request
        .header(HOST, host_header(url))
        .header(USER_AGENT, user_agent)
        .header(ACCEPT, accept)
        .header(ACCEPT_ENCODING, "identity")
        .header(CONNECTION, "close")
        .body(Empty::new())
        .map_err(|e| refuse(Reason::BadUrl, format!("cannot build request: {e}")))?;
    let response =
        sender.send_request(request).await.map_err(|e| refuse(Reason::HttpError, e.to_string()))?;

    let status = response.status();
    if matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308) {
        // Not `to_str`: some servers send raw UTF-8 in Location, which `join` percent-encodes.
        let location = response
            .headers()
            .get(LOCATION)
            .and_then(|l| std::str::from_utf8(l.as_bytes()).ok())
            .ok_or_else(|| refuse(Reason::BadRedirect, format!("{status} without a readable Location")))?;
        let next = url
            .join(location.trim())
            .map_err(|e| refuse(Reason::BadRedirect, format!("Location {location:?}: {e}")))?;
        return Ok(Hop::Redirect(next));
    }
    if !status.is_success() {
        return Err(refuse(Reason::HttpStatus, format!("status {status}")));
    }
    let headers = response.headers();
    if let Some((start, len)) = range {
        if status.as_u16() != 206 {
            return Err(refuse(Reason::RangeIgnored, format!("status {status} to a Range request")));
        }
        let asked = (start, start + len - 1);
        match headers.get(CONTENT_RANGE).and_then(|v| v.to_str().ok()).and_then(parse_content_range) {
            Some((a, b, _)) if (a, b) == asked => {}
            _ => {
                let got = headers.get(CONTENT_RANGE).and_then(|v| v.to_str().ok()).unwrap_or("none");
                return Err(refuse(Reason::BadRange, format!("Content-Range {got:?} for bytes {}-{}", asked.0, asked.1)));
            }
        }
    }
    if let Some(enc) = headers.get(CONTENT_ENCODING) {
        let enc = enc.to_str().unwrap_or("?").trim();
        if !enc.is_empty() && !enc.eq_ignore_ascii_case("identity") {
            return Err(refuse(Reason::BadContentEncoding, format!("Content-Encoding {enc:?}")));
        }
    }
    let (content_type, charset) = match headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) {
        Some(v) => parse_content_type(v),
        None => return Err(refuse(Reason::BadContentType, "no Content-Type".into())),
    };
    if !accepts(&opts.accept, &content_type) {
        return Err(refuse(Reason::BadContentType, format!("{content_type:?} not in {:?}", opts.accept)));
    }
    let declared =
        headers.get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<u64>().ok());
    if let (Some(len), false) = (declared, opts.truncate) {
        if len > opts.max_bytes as u64 {
            return Err(refuse(Reason::TooLarge, format!("Content-Length {len} > {}", opts.max_bytes)));
        }
    }
    let mut streamed = 0u64;
    let (body, truncated) = match (range, sink) {
        (Some((_, len)), Some(sink)) => {
            let mut counting = |b: &[u8]| {
                streamed += b.len() as u64;
                sink(b)
            };
            let r = read_capped(response.into_body(), opts, &refuse, Some(&mut counting)).await?;
            if streamed != len {
                return Err(refuse(Reason::HttpError, format!("the range ended after {streamed} of {len} bytes")));
            }
            r
        }
        (_, sink) => read_capped(response.into_body(), opts, &refuse, sink).await?,
    };
    Ok(Hop::Done(Response {
        url: url.clone(),
        status: status.as_u16(),
        content_type,
        charset,
        body,
        truncated,
    }))
}

async fn read_capped(
    mut body: Incoming,
    opts: &GetOptions,
    refuse: &impl Fn(Reason, String) -> Refused,
    mut sink: Option<&mut Sink<'_>>,
) -> Result<(Vec<u8>, bool), Refused> {
    let mut buf: Vec<u8> = Vec::new();
    let mut streamed = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| refuse(Reason::HttpError, format!("reading body: {e}")))?;
        let Ok(data) = frame.into_data() else { continue };
        if let Some(sink) = sink.as_deref_mut() {
            streamed += data.len();
            if streamed > opts.max_bytes {
                return Err(refuse(Reason::TooLarge, format!("body over {} bytes", opts.max_bytes)));
            }
            sink(&data).map_err(|e| refuse(Reason::Aborted, e))?;
            continue;
        }
        let room = opts.max_bytes - buf.len();
        if data.len() > room {
            if opts.truncate {
                buf.extend_from_slice(&data[..room]);
                return Ok((buf, true));
            }
            return Err(refuse(Reason::TooLarge, format!("body over {} bytes", opts.max_bytes)));
        }
        buf.extend_from_slice(&data);
    }
    Ok((buf, false))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// The server spawns fetches and shares one `Fetcher`: both must stay possible.
    #[test]
    fn fetcher_is_shareable_and_its_futures_are_send() {
        fn send_sync<T: Send + Sync>(_: &T) {}
        fn send<T: Send>(_: T) {}
        let f = Fetcher::new(Policy::default());
        send_sync(&f);
        let opts = GetOptions { accept: vec![], max_bytes: 1, truncate: false };
        send(f.get("http://example.com/", &opts));
        send(crate::page_preview(&f, "http://example.com/"));
        send(crate::fetch_image(&f, "http://example.com/", 1));
    }

    #[test]
    fn content_ranges() {
        assert_eq!(parse_content_range("bytes 0-99/1000"), Some((0, 99, Some(1000))));
        assert_eq!(parse_content_range("bytes  4096-8191/*"), Some((4096, 8191, None)));
        for bad in ["bytes 10-9/100", "bytes 0-100/100", "items 0-1/2", "bytes */100", "bytes 0-1", "bytes a-b/c", "", "bytes -5/10"] {
            assert_eq!(parse_content_range(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn content_types() {
        assert_eq!(
            parse_content_type("Text/HTML; Charset=\"UTF-8\""),
            ("text/html".into(), Some("utf-8".into()))
        );
        assert_eq!(parse_content_type("image/png"), ("image/png".into(), None));
        let html = vec!["text/html".to_owned(), "application/xhtml+xml".to_owned()];
        assert!(accepts(&html, "text/html"));
        assert!(accepts(&html, "application/xhtml+xml"));
        assert!(!accepts(&html, "text/plain"));
        let img = vec!["image/*".to_owned()];
        assert!(accepts(&img, "image/png"));
        assert!(!accepts(&img, "imagex/png"));
        assert!(!accepts(&img, "text/html"));
        assert!(!accepts(&img, "image"));
        assert!(!accepts(&img, ""));
        assert!(accepts(&[], "application/octet-stream"));
    }
}
