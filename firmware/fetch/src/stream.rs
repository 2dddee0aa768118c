//! Long-lived streaming GETs for media (a song, an internet radio station, a Jellyfin track):
//! [`Fetcher::get_stream`]. The same guard as every fetch — one lookup per hop, every address
//! vetted, redirects re-checked from the top, `identity` only — but shaped for a body that may
//! flow for hours:
//!
//! - **No total timeout on the body.** `head_timeout` caps everything up to the response head
//!   (lookups, connects, TLS, redirects); after that only `idle_timeout` applies: a body that
//!   sends nothing for that long ends `timeout`.
//! - **A cap on the response head** (`max_head_bytes`, `too_large`), so a hostile server cannot
//!   make the box buffer headers.
//! - **Caller headers** (`Icy-MetaData: 1`, a media server's token), checked; the ones the
//!   fetch owns (`Host`, `Connection`, framing) cannot be set.
//! - **[`Ports::Media`]** by default: ports from 1024 on for public addresses (see there).
//! - **SHOUTcast v1's `ICY 200 OK`** status line is read as `HTTP/1.0 200 OK`.
//!
//! The body comes chunk by chunk from [`BodyStream::next_chunk`]; dropping the `BodyStream`
//! closes the connection at once (the connection task is aborted), so a caller that stops
//! listening leaks nothing.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::header::{
    HeaderMap, HeaderName, HeaderValue, ACCEPT, ACCEPT_ENCODING, CONNECTION, CONTENT_ENCODING, CONTENT_LENGTH,
    CONTENT_TYPE, HOST, LOCATION, USER_AGENT,
};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use url::{Position, Url};

use crate::error::{Reason, Refused};
use crate::fetcher::{accepts, host_header, parse_content_type, AbortOnDrop, Fetcher, Io};
use crate::policy::Ports;

/// hyper refuses a read buffer under 8 KiB.
const MIN_HEAD_BYTES: usize = 8 * 1024;
/// Caller headers at most.
const MAX_HEADERS: usize = 16;

/// What a streaming GET asks for and accepts.
#[derive(Clone, Debug)]
pub struct StreamOptions {
    /// Media types accepted (`"audio/*"`, `"application/ogg"`), compared without parameters;
    /// also sent as `Accept`. Empty accepts anything.
    pub accept: Vec<String>,
    /// Extra request headers (`("Icy-MetaData", "1")`).
    pub headers: Vec<(String, String)>,
    /// The port rule; [`Ports::Media`] by default.
    pub ports: Ports,
    /// Everything up to the response head, redirects included.
    pub head_timeout: Duration,
    /// The longest silence of the body once it flows.
    pub idle_timeout: Duration,
    /// The response head's cap (status line and headers), at least 8 KiB.
    pub max_head_bytes: usize,
}

impl Default for StreamOptions {
    fn default() -> Self {
        StreamOptions {
            accept: Vec::new(),
            headers: Vec::new(),
            ports: Ports::Media,
            head_timeout: Duration::from_secs(15),
            idle_timeout: Duration::from_secs(20),
            max_head_bytes: 16 * 1024,
        }
    }
}

/// The response head of a streaming GET.
#[derive(Clone, Debug)]
pub struct StreamHead {
    /// The URL finally fetched, after redirects.
    pub url: Url,
    pub status: u16,
    /// The media type, lowercase, without parameters.
    pub content_type: String,
    pub charset: Option<String>,
    /// `Content-Length`, if the server said.
    pub content_length: Option<u64>,
    /// Every response header (`icy-metaint`, `icy-name` ...).
    pub headers: HeaderMap,
}

impl StreamHead {
    /// A header as text (`None` if absent or not visible ASCII... or UTF-8 in practice).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| std::str::from_utf8(v.as_bytes()).ok()).map(str::trim)
    }
}

/// The body of a streaming GET. Dropping it closes the connection.
pub struct BodyStream {
    body: Incoming,
    idle: Duration,
    url: String,
    received: u64,
    _conn: AbortOnDrop,
}

impl std::fmt::Debug for BodyStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BodyStream").field("url", &self.url).field("received", &self.received).finish_non_exhaustive()
    }
}

impl BodyStream {
    /// The next chunk; `Ok(None)` at the end of the body. `timeout` after `idle_timeout`
    /// without a byte, `http_error` when the server breaks off.
    pub async fn next_chunk(&mut self) -> Result<Option<Bytes>, Refused> {
        loop {
            let frame = match tokio::time::timeout(self.idle, self.body.frame()).await {
                Err(_) => {
                    return Err(Refused::new(Reason::Timeout, &self.url, format!("nothing received for {:?}", self.idle)))
                }
                Ok(None) => return Ok(None),
                Ok(Some(Err(e))) => return Err(Refused::new(Reason::HttpError, &self.url, format!("reading body: {e}"))),
                Ok(Some(Ok(frame))) => frame,
            };
            if let Ok(data) = frame.into_data() {
                if data.is_empty() {
                    continue;
                }
                self.received += data.len() as u64;
                return Ok(Some(data));
            }
        }
    }

    /// Body bytes handed out so far.
    pub fn received(&self) -> u64 {
        self.received
    }
}

enum Hop {
    Done(Box<(StreamHead, BodyStream)>),
    Redirect(Url),
}

impl Fetcher {
    /// Open a streaming GET of `url`: the head once it arrived (within `head_timeout`), and
    /// the body to read chunk by chunk (each within `idle_timeout`). Refusals are logged once.
    pub async fn get_stream(&self, url: &str, opts: &StreamOptions) -> Result<(StreamHead, BodyStream), Refused> {
        let result = match tokio::time::timeout(opts.head_timeout, self.follow_stream(url, opts)).await {
            Ok(r) => r,
            Err(_) => Err(Refused::new(Reason::Timeout, url, format!("no answer within {:?}", opts.head_timeout))),
        };
        if let Err(refused) = &result {
            refused.log(url);
        }
        result
    }

    async fn follow_stream(&self, url: &str, opts: &StreamOptions) -> Result<(StreamHead, BodyStream), Refused> {
        let headers = request_headers(url, &opts.headers)?;
        let mut url = Url::parse(url).map_err(|e| Refused::new(Reason::BadUrl, url, e.to_string()))?;
        let mut redirects = 0;
        loop {
            let io = self.connect_url(&url, opts.ports).await?;
            match stream_exchange(io, &url, opts, &headers, &self.policy().user_agent).await? {
                Hop::Done(done) => return Ok(*done),
                Hop::Redirect(next) => {
                    let max = self.policy().max_redirects;
                    if redirects >= max {
                        return Err(Refused::new(Reason::TooManyRedirects, next.as_str(), format!("more than {max} redirects")));
                    }
                    redirects += 1;
                    url = next;
                }
            }
        }
    }
}

/// The caller's headers, checked: valid names and values, none the fetch owns, a few at most.
fn request_headers(url: &str, headers: &[(String, String)]) -> Result<Vec<(HeaderName, HeaderValue)>, Refused> {
    let bad = |detail: String| Refused::new(Reason::BadUrl, url, detail);
    if headers.len() > MAX_HEADERS {
        return Err(bad(format!("more than {MAX_HEADERS} request headers")));
    }
    headers
        .iter()
        .map(|(k, v)| {
            let name = HeaderName::from_bytes(k.as_bytes()).map_err(|_| bad(format!("bad request header name {k:?}")))?;
            let owned = ["host", "connection", "content-length", "transfer-encoding", "accept-encoding", "upgrade", "te"];
            if owned.contains(&name.as_str()) {
                return Err(bad(format!("request header {k:?} is the fetch's own")));
            }
            let value = HeaderValue::from_str(v).map_err(|_| bad(format!("bad value for request header {k:?}")))?;
            Ok((name, value))
        })
        .collect()
}

async fn stream_exchange(
    io: Box<dyn Io>,
    url: &Url,
    opts: &StreamOptions,
    headers: &[(HeaderName, HeaderValue)],
    user_agent: &str,
) -> Result<Hop, Refused> {
    let refuse = |reason, detail: String| Refused::new(reason, url.as_str(), detail);
    let cap = opts.max_head_bytes.max(MIN_HEAD_BYTES);
    let (mut sender, conn) = hyper::client::conn::http1::Builder::new()
        .max_buf_size(cap)
        .handshake::<_, Empty<Bytes>>(TokioIo::new(IcyStatus::new(io)))
        .await
        .map_err(|e| refuse(Reason::HttpError, e.to_string()))?;
    let conn = AbortOnDrop(tokio::spawn(async move {
        let _ = conn.await;
    }));
    let accept = if opts.accept.is_empty() { "*/*".to_owned() } else { opts.accept.join(", ") };
    let mut request = http::Request::get(&url[Position::BeforePath..Position::AfterQuery])
        .header(HOST, host_header(url))
        .header(USER_AGENT, user_agent)
        .header(ACCEPT, accept)
        .header(ACCEPT_ENCODING, "identity")
        .header(CONNECTION, "close");
    for (k, v) in headers {
        request = request.header(k, v);
    }
    let request = request.body(Empty::new()).map_err(|e| refuse(Reason::BadUrl, format!("cannot build request: {e}")))?;
    let response = sender.send_request(request).await.map_err(|e| {
        if e.is_parse_too_large() {
            refuse(Reason::TooLarge, format!("response head over {cap} bytes"))
        } else {
            refuse(Reason::HttpError, e.to_string())
        }
    })?;
    let status = response.status();
    if matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308) {
        let location = response
            .headers()
            .get(LOCATION)
            .and_then(|l| std::str::from_utf8(l.as_bytes()).ok())
            .ok_or_else(|| refuse(Reason::BadRedirect, format!("{status} without a readable Location")))?;
        let next = url.join(location.trim()).map_err(|e| refuse(Reason::BadRedirect, format!("Location {location:?}: {e}")))?;
        return Ok(Hop::Redirect(next));
    }
    if !status.is_success() {
        return Err(refuse(Reason::HttpStatus, format!("status {status}")));
    }
    let headers = response.headers();
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
    let content_length = headers.get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse().ok());
    let (parts, body) = response.into_parts();
    let head = StreamHead { url: url.clone(), status: status.as_u16(), content_type, charset, content_length, headers: parts.headers };
    let body = BodyStream { body, idle: opts.idle_timeout, url: url.to_string(), received: 0, _conn: conn };
    Ok(Hop::Done(Box::new((head, body))))
}

/// Reads `ICY 200 OK` (SHOUTcast v1's status line) as `HTTP/1.0 200 OK`; passes anything else
/// through untouched. Only the first bytes of a connection are looked at.
struct IcyStatus<T> {
    inner: T,
    /// The first bytes, while deciding; then what is left to hand out of the rewritten start.
    start: Vec<u8>,
    at: usize,
    decided: bool,
}

impl<T> IcyStatus<T> {
    fn new(inner: T) -> Self {
        IcyStatus { inner, start: Vec::new(), at: 0, decided: false }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for IcyStatus<T> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        while !this.decided {
            let mut tmp = [0u8; 4];
            let need = 4 - this.start.len();
            let mut rb = ReadBuf::new(&mut tmp[..need]);
            match Pin::new(&mut this.inner).poll_read(cx, &mut rb) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Ready(Ok(())) => {
                    let got = rb.filled();
                    if got.is_empty() {
                        this.decided = true;
                        break;
                    }
                    this.start.extend_from_slice(got);
                    if this.start.len() == 4 || !b"ICY ".starts_with(&this.start) {
                        if this.start == b"ICY " {
                            this.start = b"HTTP/1.0 ".to_vec();
                        }
                        this.decided = true;
                    }
                }
            }
        }
        if this.at < this.start.len() {
            let n = buf.remaining().min(this.start.len() - this.at);
            buf.put_slice(&this.start[this.at..this.at + n]);
            this.at += n;
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for IcyStatus<T> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    async fn read_all(input: &'static [u8]) -> Vec<u8> {
        // One byte at a time: the prefix check must work across tiny reads.
        let (mut a, b) = tokio::io::duplex(1);
        tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            let _ = a.write_all(input).await;
        });
        let mut out = Vec::new();
        IcyStatus::new(b).read_to_end(&mut out).await.unwrap();
        out
    }

    #[tokio::test]
    async fn icy_status_lines_read_as_http() {
        assert_eq!(read_all(b"ICY 200 OK\r\n\r\nabc").await, b"HTTP/1.0 200 OK\r\n\r\nabc");
        assert_eq!(read_all(b"HTTP/1.1 200 OK\r\n\r\nICY ").await, b"HTTP/1.1 200 OK\r\n\r\nICY ");
        assert_eq!(read_all(b"IC").await, b"IC");
        assert_eq!(read_all(b"ICX 200").await, b"ICX 200");
    }

    #[test]
    fn request_headers_are_checked() {
        let h = |k: &str, v: &str| request_headers("http://x/", &[(k.to_owned(), v.to_owned())]).map_err(|e| e.reason);
        assert!(h("Icy-MetaData", "1").is_ok());
        assert!(h("X-Emby-Token", "abc").is_ok());
        for owned in ["Host", "connection", "Transfer-Encoding", "content-length", "accept-encoding"] {
            assert_eq!(h(owned, "x").unwrap_err(), Reason::BadUrl, "{owned}");
        }
        assert_eq!(h("bad header", "x").unwrap_err(), Reason::BadUrl);
        assert_eq!(h("X-A", "a\r\nHost: evil").unwrap_err(), Reason::BadUrl);
        let many: Vec<_> = (0..17).map(|i| (format!("X-{i}"), "1".to_owned())).collect();
        assert!(request_headers("http://x/", &many).is_err());
    }
}
