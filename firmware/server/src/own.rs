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
use std::net::IpAddr;
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
    use super::host_part;

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
