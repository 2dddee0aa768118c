//! The box's own names and addresses: which `Host` the API answers to (DNS rebinding), and which
//! addresses link previews must never fetch (the router's admin page through NAT loopback).
//!
//! A DNS-rebinding page is served from the attacker's name, then that name is pointed at the
//! box: the browser sends `Host: attacker.example` and an `Origin` that matches it. So the API
//! answers only requests whose `Host` is one of the box's names (`localhost`, its host name and
//! `HOST.local`, `spot.local`, the configured public origin) or one of its addresses (loopback,
//! the address the request came in on, its interfaces, the configured public address).

use crate::{AppState, LocalAddr};
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chat::Error;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Interface addresses and the host name are read again after this long.
const REFRESH: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Default)]
struct Snapshot {
    names: Vec<String>,
    addrs: Vec<IpAddr>,
}

/// What the box calls itself; refreshed every few seconds (DHCP, a new host name from setup).
#[derive(Default)]
pub struct Identity {
    cache: Mutex<Option<(Instant, Snapshot)>>,
}

/// The host part of a `Host` header value (`name`, `name:port`, `[v6]:port`), lower-cased.
pub fn host_part(host: &str) -> Option<String> {
    let host = host.trim();
    let bare = if let Some(rest) = host.strip_prefix('[') {
        rest.split_once(']').map(|(h, _)| h)?
    } else {
        match host.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') && p.chars().all(|c| c.is_ascii_digit()) => h,
            Some(_) if host.matches(':').count() > 1 => host,
            Some(_) => return None,
            None => host,
        }
    };
    let bare = bare.trim_end_matches('.');
    (!bare.is_empty()).then(|| bare.to_ascii_lowercase())
}

impl Identity {
    fn snapshot(&self, state: &AppState) -> Snapshot {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((at, s)) = cache.as_ref() {
            if at.elapsed() < REFRESH {
                return s.clone();
            }
        }
        let mut names = vec!["localhost".to_owned(), "spot.local".to_owned()];
        if let Ok(h) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
            let h = h.trim().to_ascii_lowercase();
            if !h.is_empty() {
                names.push(format!("{h}.local"));
                names.push(h);
            }
        }
        if let Some(h) = state.cfg.public_origin.as_deref().and_then(|o| o.split_once("://")).and_then(|(_, h)| host_part(h)) {
            names.push(h);
        }
        let mut addrs: Vec<IpAddr> = if_addrs::get_if_addrs().map(|v| v.into_iter().map(|i| i.ip()).collect()).unwrap_or_default();
        addrs.extend(state.cfg.public_address);
        let s = Snapshot { names, addrs };
        *cache = Some((Instant::now(), s.clone()));
        s
    }

    /// Is `host` (a `Host` header's host part) this box?
    pub fn is_own_host(&self, state: &AppState, host: &str, local: IpAddr) -> bool {
        if let Ok(ip) = host.parse::<IpAddr>() {
            return ip.is_loopback() || ip == local || to_canonical(ip) == to_canonical(local) || self.snapshot(state).addrs.contains(&ip);
        }
        self.snapshot(state).names.iter().any(|n| n == host)
    }

    /// Addresses link previews must not fetch besides the interfaces': the configured public
    /// address and what the public origin's name resolves to.
    pub async fn public_addrs(&self, state: &AppState) -> Vec<IpAddr> {
        let mut out: Vec<IpAddr> = state.cfg.public_address.into_iter().collect();
        if let Some(h) = state.cfg.public_origin.as_deref().and_then(|o| o.split_once("://")).and_then(|(_, h)| host_part(h)) {
            match h.parse::<IpAddr>() {
                Ok(ip) => out.push(ip),
                Err(_) => {
                    if let Ok(Ok(addrs)) = tokio::time::timeout(Duration::from_secs(3), tokio::net::lookup_host((h.as_str(), 0))).await {
                        out.extend(addrs.map(|a| a.ip()));
                    }
                }
            }
        }
        out
    }
}

/// An address an invite link can start with, and where it comes from (the admin page says which).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LinkBase {
    /// `scheme://host[:port]`, no trailing slash.
    pub url: String,
    /// `public_origin` (configured), `mdns` (`HOST.local`), `lan` (an interface address) or
    /// `browser` (the address the admin's page used).
    pub kind: &'static str,
    /// Only this machine can open it (`localhost`, 127.0.0.1, ::1).
    pub loopback: bool,
}

/// What the box knows about itself when it builds invite links.
pub struct LinkFacts<'a> {
    pub public_origin: Option<&'a str>,
    pub tls: bool,
    pub listen: SocketAddr,
    pub host_name: Option<&'a str>,
    /// An mDNS responder (avahi) is running, so `HOST.local` resolves on the LAN.
    pub mdns: bool,
    pub addrs: &'a [IpAddr],
    /// The `Host` the admin's request came with.
    pub request_host: Option<&'a str>,
}

/// The addresses an invite link can start with, best first: the configured public origin, then
/// (only when the box listens beyond loopback) its mDNS name and LAN addresses, then the
/// address the admin's browser used. Friends can use none of them when the first is loopback.
pub fn link_bases(f: &LinkFacts) -> Vec<LinkBase> {
    let scheme = if f.tls { "https" } else { "http" };
    let port = f.listen.port();
    let suffix = if (f.tls && port == 443) || (!f.tls && port == 80) { String::new() } else { format!(":{port}") };
    let mut out: Vec<LinkBase> = Vec::new();
    let push = |out: &mut Vec<LinkBase>, url: String, kind: &'static str| {
        let loopback = host_part(url.split_once("://").map_or("", |(_, h)| h)).is_some_and(|h| is_loopback_name(&h));
        if !out.iter().any(|b| b.url.eq_ignore_ascii_case(&url)) {
            out.push(LinkBase { url, kind, loopback });
        }
    };
    if let Some(o) = f.public_origin {
        push(&mut out, o.trim_end_matches('/').to_owned(), "public_origin");
    }
    let beyond_loopback = !f.listen.ip().is_loopback();
    if beyond_loopback {
        if let Some(h) = f.host_name.map(str::trim).filter(|h| !h.is_empty() && f.mdns) {
            push(&mut out, format!("{scheme}://{}.local{suffix}", h.to_ascii_lowercase()), "mdns");
        }
        for ip in f.addrs {
            let usable = match ip {
                IpAddr::V4(v4) => !v4.is_loopback() && !v4.is_link_local() && !v4.is_unspecified(),
                IpAddr::V6(_) => false,
            };
            if usable && (f.listen.ip().is_unspecified() || f.listen.ip() == *ip) {
                push(&mut out, format!("{scheme}://{ip}{suffix}"), "lan");
            }
        }
    }
    if let Some(h) = f.request_host.filter(|h| host_part(h).is_some()) {
        push(&mut out, format!("{scheme}://{}", h.trim().to_ascii_lowercase()), "browser");
    }
    if out.is_empty() {
        push(&mut out, format!("{scheme}://localhost{suffix}"), "browser");
    }
    out
}

fn is_loopback_name(h: &str) -> bool {
    h == "localhost" || h.ends_with(".localhost") || h.parse::<IpAddr>().is_ok_and(|ip| to_canonical(ip).is_loopback())
}

impl Identity {
    /// [`link_bases`] for this box, as it is now.
    pub fn link_bases(&self, state: &AppState, request_host: Option<&str>) -> Vec<LinkBase> {
        let host_name = std::fs::read_to_string("/proc/sys/kernel/hostname").ok();
        let addrs: Vec<IpAddr> = if_addrs::get_if_addrs().map(|v| v.into_iter().map(|i| i.ip()).collect()).unwrap_or_default();
        let listen = state.listen.get().copied().unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 80)));
        link_bases(&LinkFacts {
            public_origin: state.cfg.public_origin.as_deref(),
            tls: state.cfg.tls,
            listen,
            host_name: host_name.as_deref(),
            mdns: std::path::Path::new("/run/avahi-daemon/pid").exists(),
            addrs: &addrs,
            request_host,
        })
    }
}

fn to_canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Middleware on `/api`: refuse requests addressed to a name that is not the box's.
pub async fn host_guard(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let local = req.extensions().get::<LocalAddr>().map_or(IpAddr::from([127, 0, 0, 1]), |l| l.0.ip());
    // HTTP/2 carries the host in the URI's authority; HTTP/1.1 in `Host` (always sent by browsers,
    // and rebinding needs a browser: a request without one is not a rebinding attack).
    let given = req.uri().authority().map(|a| a.as_str().to_owned()).or_else(|| req.headers().get(header::HOST).and_then(|h| h.to_str().ok()).map(str::to_owned));
    if let Some(given) = given {
        let ok = host_part(&given).is_some_and(|h| state.identity.is_own_host(&state, &h, local));
        if !ok {
            tracing::info!(host = %given.chars().take(100).collect::<String>(), "request for another host name refused");
            return crate::error::ApiError(Error::forbidden(
                "unknown_host",
                "This box does not answer to that name. Open it by its own address or name (e.g. http://spot.local).",
            ))
            .into_response();
        }
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::{host_part, link_bases, LinkFacts};
    use std::net::IpAddr;

    fn facts<'a>(listen: &str, addrs: &'a [IpAddr], request_host: Option<&'a str>) -> LinkFacts<'a> {
        LinkFacts { public_origin: None, tls: false, listen: listen.parse().expect("addr"), host_name: Some("spot\n"), mdns: true, addrs, request_host }
    }
    fn urls(f: &LinkFacts) -> Vec<(String, &'static str, bool)> {
        link_bases(f).into_iter().map(|b| (b.url, b.kind, b.loopback)).collect()
    }

    #[test]
    fn invite_links_name_an_address_friends_can_reach() {
        let addrs: Vec<IpAddr> = vec!["127.0.0.1".parse().unwrap(), "192.168.1.20".parse().unwrap(), "169.254.3.3".parse().unwrap(), "fe80::1".parse().unwrap()];
        // The quick start: listening on every address, the admin on localhost.
        assert_eq!(
            urls(&facts("0.0.0.0:8080", &addrs, Some("localhost:8080"))),
            vec![
                ("http://spot.local:8080".into(), "mdns", false),
                ("http://192.168.1.20:8080".into(), "lan", false),
                ("http://localhost:8080".into(), "browser", true)
            ]
        );
        // No mDNS responder: the LAN address comes first.
        let mut f = facts("0.0.0.0:80", &addrs, Some("127.0.0.1"));
        f.mdns = false;
        assert_eq!(urls(&f)[0], ("http://192.168.1.20".into(), "lan", false));
        // A configured public origin wins; TLS on 443 has no port.
        let mut f = facts("0.0.0.0:443", &addrs, None);
        f.tls = true;
        f.public_origin = Some("https://chat.example.org");
        assert_eq!(urls(&f)[0], ("https://chat.example.org".into(), "public_origin", false));
        assert_eq!(urls(&f)[1], ("https://spot.local".into(), "mdns", false));
        // Listening on loopback only: nothing but loopback, said so.
        assert_eq!(urls(&facts("127.0.0.1:9000", &addrs, Some("127.0.0.1:9000"))), vec![("http://127.0.0.1:9000".into(), "browser", true)]);
        assert_eq!(urls(&facts("127.0.0.1:9000", &addrs, None)), vec![("http://localhost:9000".into(), "browser", true)]);
    }

    #[test]
    fn host_parts() {
        assert_eq!(host_part("Spot.Local:8080").as_deref(), Some("spot.local"));
        assert_eq!(host_part("spot.local.").as_deref(), Some("spot.local"));
        assert_eq!(host_part("[::1]:443").as_deref(), Some("::1"));
        assert_eq!(host_part("fe80::1").as_deref(), Some("fe80::1"));
        assert_eq!(host_part("10.0.0.2").as_deref(), Some("10.0.0.2"));
        assert_eq!(host_part("evil.example:x"), None);
        assert_eq!(host_part(""), None);
        assert_eq!(host_part("[::1"), None);
    }
}
