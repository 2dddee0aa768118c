//! The one error type: every way a fetch can be refused, each with a stable reason code.

use std::fmt;

/// Why a fetch was refused. [`Reason::code`] is stable: callers may store it, show it or map it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Reason {
    /// The URL does not parse (WHATWG rules), e.g. an IPv6 literal with a zone id.
    BadUrl,
    /// Not `http` or `https` (`file:`, `ftp:`, `gopher:`, `data:`, `javascript:` ...).
    SchemeNotAllowed,
    /// The URL carries a user name or password (`http://public@127.0.0.1/`).
    UserinfoNotAllowed,
    /// A port other than 80 or 443 that no `host:port` allowlist entry names.
    PortNotAllowed,
    /// The name did not resolve (or resolved to nothing).
    DnsFailed,
    /// An address that is not public unicast (private, loopback, link-local, CGNAT, multicast,
    /// reserved, NAT64, 6to4, ...) and is not allowlisted. One such answer refuses the name.
    PrivateAddress,
    /// One of the box's own interface addresses.
    OwnAddress,
    /// TCP connect failed on every vetted address.
    ConnectFailed,
    /// TLS handshake failed (bad certificate, wrong name, no TLS) or TLS is unavailable.
    TlsFailed,
    /// The connect cap or the total cap ran out.
    Timeout,
    /// The server broke HTTP/1 (bad response, connection reset mid-body).
    HttpError,
    /// A status other than 2xx or a followed redirect.
    HttpStatus,
    /// A redirect without a usable `Location`.
    BadRedirect,
    /// More redirects than the policy allows.
    TooManyRedirects,
    /// The `Content-Type` is missing or not one the caller accepts.
    BadContentType,
    /// A `Content-Encoding` other than identity (we ask for identity and decompress nothing).
    BadContentEncoding,
    /// The body is larger than the cap.
    TooLarge,
    /// The caller's sink refused the body (a streamed download that failed its own checks or
    /// could not be written).
    Aborted,
    /// A ranged GET answered with the whole file (200): the server does not do `Range`. Nothing
    /// of the body was read; the caller may fetch it whole instead.
    RangeIgnored,
    /// A ranged GET answered 206 with a `Content-Range` other than the range asked for.
    BadRange,
}

impl Reason {
    /// The stable, snake_case reason code.
    pub const fn code(self) -> &'static str {
        match self {
            Reason::BadUrl => "bad_url",
            Reason::SchemeNotAllowed => "scheme_not_allowed",
            Reason::UserinfoNotAllowed => "userinfo_not_allowed",
            Reason::PortNotAllowed => "port_not_allowed",
            Reason::DnsFailed => "dns_failed",
            Reason::PrivateAddress => "private_address",
            Reason::OwnAddress => "own_address",
            Reason::ConnectFailed => "connect_failed",
            Reason::TlsFailed => "tls_failed",
            Reason::Timeout => "timeout",
            Reason::HttpError => "http_error",
            Reason::HttpStatus => "http_status",
            Reason::BadRedirect => "bad_redirect",
            Reason::TooManyRedirects => "too_many_redirects",
            Reason::BadContentType => "bad_content_type",
            Reason::BadContentEncoding => "bad_content_encoding",
            Reason::TooLarge => "too_large",
            Reason::Aborted => "aborted",
            Reason::RangeIgnored => "range_ignored",
            Reason::BadRange => "bad_range",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A refused fetch: the reason, the URL that was refused (the redirect hop, not necessarily the
/// URL the caller asked for) and a human detail for logs.
#[derive(Clone, Debug, thiserror::Error)]
#[error("fetch of {url} refused ({reason}): {detail}")]
pub struct Refused {
    pub reason: Reason,
    pub url: String,
    pub detail: String,
}

impl Refused {
    pub(crate) fn new(reason: Reason, url: impl Into<String>, detail: impl Into<String>) -> Self {
        Refused { reason, url: url.into(), detail: detail.into() }
    }

    /// Shorthand for `self.reason.code()`.
    pub fn code(&self) -> &'static str {
        self.reason.code()
    }

    /// Log the refusal. Called once per refusal, at the public boundary.
    pub(crate) fn log(&self, requested: &str) {
        tracing::info!(
            url = %requested,
            hop = %self.url,
            reason = self.reason.code(),
            detail = %self.detail,
            "fetch refused"
        );
    }
}
