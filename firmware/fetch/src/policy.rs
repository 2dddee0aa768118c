//! What may be fetched: the [`Policy`] the caller builds from settings, the admin [`Allowlist`],
//! and the pure checks on a URL ([`vet_url`]) and on the addresses its name resolved to
//! ([`vet_addrs`]). No IO here.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::time::Duration;

use url::{Host, Url};

use crate::addr::{canonical, classify, Cidr};
use crate::error::{Reason, Refused};

/// Everything the caller decides. Built from the admin settings; `Default` is the production
/// setting with an empty allowlist.
#[derive(Clone, Debug)]
pub struct Policy {
    /// LAN services the admin lets through (see [`AllowEntry`]).
    pub allowlist: Allowlist,
    /// Cap on each TCP connect and on the TLS handshake.
    pub connect_timeout: Duration,
    /// Cap on the whole fetch: every lookup, connect, redirect and the body.
    pub total_timeout: Duration,
    /// Redirects followed at most; one more is refused `too_many_redirects`.
    pub max_redirects: usize,
    /// The `User-Agent` header.
    pub user_agent: String,
}

/// The `User-Agent` sent by default.
pub const USER_AGENT: &str = "SpotBox/0.1 (+link preview)";

impl Default for Policy {
    fn default() -> Self {
        Policy {
            allowlist: Allowlist::default(),
            connect_timeout: Duration::from_secs(5),
            total_timeout: Duration::from_secs(15),
            max_redirects: 3,
            user_agent: USER_AGENT.to_owned(),
        }
    }
}

impl Policy {
    /// The default policy with this allowlist.
    pub fn with_allowlist(allowlist: Allowlist) -> Self {
        Policy { allowlist, ..Policy::default() }
    }
}

/// One admin allowlist entry.
///
/// - `"host"`: that host name (or IP literal) on ports 80 and 443, whatever it resolves to
///   (private addresses and the box's own included).
/// - `"host:port"`: the same, and also on that port. `"[fd00::5]:8080"` for IPv6.
/// - `"10.0.0.0/8"`, `"fd00::/8"`: any host that resolves into the block, on ports 80 and 443.
///   A CIDR entry does **not** open the box's own addresses: reaching a service on the box itself
///   needs an explicit `host` or `host:port` entry.
///
/// Nothing opens "any address" (`0.0.0.0/8`, `::`), multicast or broadcast.
/// Host names are normalised like URLs (lowercase, IDNA, odd IPv4 forms, trailing dot ignored), so
/// `"NAS.lan."` and `"nas.lan"` are the same entry; `:80` is the default port and adds nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AllowEntry {
    Host { host: String, port: Option<u16> },
    Cidr(Cidr),
}

/// A malformed allowlist entry (for the settings API to reject).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("bad allowlist entry {0:?}: expected \"host\", \"host:port\" or a CIDR like \"10.0.0.0/8\"")]
pub struct BadAllowEntry(pub String);

impl FromStr for AllowEntry {
    type Err = BadAllowEntry;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BadAllowEntry(s.to_owned());
        let t = s.trim();
        if t.is_empty() {
            return Err(bad());
        }
        if t.contains('/') {
            return Cidr::parse(t).map(AllowEntry::Cidr).ok_or_else(bad);
        }
        // Anything a URL would read as more than host[:port] is a mistake, not an entry.
        if t.ends_with(':')
            || t.chars().any(|c| c.is_whitespace() || matches!(c, '@' | '?' | '#' | '\\' | '%'))
        {
            return Err(bad());
        }
        // A bare IPv6 address (`fd00::5`) is a host; with a port it needs brackets.
        let authority = if t.parse::<std::net::Ipv6Addr>().is_ok() { format!("[{t}]") } else { t.to_owned() };
        let url = Url::parse(&format!("http://{authority}/")).map_err(|_| bad())?;
        let host = url.host_str().ok_or_else(bad)?;
        if url.port() == Some(0) {
            return Err(bad());
        }
        Ok(AllowEntry::Host { host: host_key(host), port: url.port() })
    }
}

impl fmt::Display for AllowEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AllowEntry::Host { host, port: Some(p) } => write!(f, "{host}:{p}"),
            AllowEntry::Host { host, port: None } => f.write_str(host),
            AllowEntry::Cidr(c) => write!(f, "{}/{}", c.addr, c.prefix),
        }
    }
}

/// The admin allowlist. Empty by default.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Allowlist {
    entries: Vec<AllowEntry>,
}

impl Allowlist {
    /// Parse every entry; the first bad one is the error.
    pub fn parse<I, S>(entries: I) -> Result<Self, BadAllowEntry>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let entries = entries.into_iter().map(|e| e.as_ref().parse()).collect::<Result<_, _>>()?;
        Ok(Allowlist { entries })
    }

    pub fn entries(&self) -> &[AllowEntry] {
        &self.entries
    }

    /// Some entry names this host (on this port, or with no port and the port is 80/443).
    fn names_host(&self, host: &str, port: u16) -> bool {
        self.entries.iter().any(|e| match e {
            AllowEntry::Host { host: h, port: p } => {
                *h == host && p.map_or(is_standard_port(port), |p| p == port)
            }
            AllowEntry::Cidr(_) => false,
        })
    }

    fn cidr_contains(&self, ip: IpAddr) -> bool {
        self.entries.iter().any(|e| matches!(e, AllowEntry::Cidr(c) if c.contains(ip)))
    }
}

fn is_standard_port(port: u16) -> bool {
    port == 80 || port == 443
}

/// How an allowlist host key compares: lowercase (the `url` crate already did it), no trailing dot.
fn host_key(host: &str) -> String {
    host.strip_suffix('.').unwrap_or(host).to_owned()
}

/// Which ports a fetch may use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Ports {
    /// 80 and 443, and what an allowlist `host:port` entry names (link previews, updates).
    #[default]
    Web,
    /// Also any port from 1024 on, but only to public addresses (internet radio lives on 8000,
    /// 8080, 8443 ...). Below 1024 only 80/443: those are the well-known services (SSH, SMTP,
    /// IMAP ...) a request could be smuggled into. A LAN or own address on another port still
    /// needs a `host:port` allowlist entry (a CIDR entry opens 80/443 only, as always).
    Media,
}

/// The lowest port [`Ports::Media`] opens on public addresses.
pub const MEDIA_MIN_PORT: u16 = 1024;

/// The scheme of a vetted URL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

/// A URL that passed [`vet_url`]: what to look up (or not) and where to connect.
#[derive(Clone, Debug)]
pub struct Target {
    pub scheme: Scheme,
    /// The host as parsed and normalised by the `url` crate.
    pub host: Host<String>,
    pub port: u16,
    /// An allowlist `host` / `host:port` entry names this host and port.
    pub host_allowed: bool,
    /// The port is allowed only by [`Ports::Media`]: every address must be public.
    pub public_only: bool,
}

/// Check a URL before any lookup: scheme, userinfo, host, port (80/443 or allowlisted).
pub fn vet_url(url: &Url, allowlist: &Allowlist) -> Result<Target, Refused> {
    vet_url_ports(url, allowlist, Ports::Web)
}

/// [`vet_url`] under a port rule.
pub fn vet_url_ports(url: &Url, allowlist: &Allowlist, ports: Ports) -> Result<Target, Refused> {
    let refuse = |reason, detail: String| Refused::new(reason, url.as_str(), detail);
    let scheme = match url.scheme() {
        "http" => Scheme::Http,
        "https" => Scheme::Https,
        other => return Err(refuse(Reason::SchemeNotAllowed, format!("scheme {other:?}"))),
    };
    if !url.username().is_empty() || url.password().is_some() {
        return Err(refuse(Reason::UserinfoNotAllowed, "URL carries a user name or password".into()));
    }
    let host = match url.host() {
        Some(h) => h.to_owned(),
        None => return Err(refuse(Reason::BadUrl, "no host".into())),
    };
    let port = match url.port_or_known_default() {
        Some(p) => p,
        None => return Err(refuse(Reason::BadUrl, "no port".into())),
    };
    let key = url.host_str().map(host_key).unwrap_or_default();
    let host_allowed = allowlist.names_host(&key, port);
    let public_only = !is_standard_port(port) && !host_allowed;
    if public_only && !(ports == Ports::Media && port >= MEDIA_MIN_PORT) {
        return Err(refuse(Reason::PortNotAllowed, format!("port {port}")));
    }
    Ok(Target { scheme, host, port, host_allowed, public_only })
}

/// Check every address the host resolved to (or its literal). All must pass, or the fetch is
/// refused: a name answering one public and one private address is a rebinding attempt.
/// Returns the canonical addresses to connect to, deduplicated, in the resolver's order.
pub fn vet_addrs(
    url: &Url,
    target: &Target,
    addrs: &[IpAddr],
    own: &[IpAddr],
    allowlist: &Allowlist,
) -> Result<Vec<IpAddr>, Refused> {
    let refuse = |reason, detail: String| Refused::new(reason, url.as_str(), detail);
    if addrs.is_empty() {
        return Err(refuse(Reason::DnsFailed, "no addresses".into()));
    }
    let mut vetted: Vec<IpAddr> = Vec::with_capacity(addrs.len());
    for &raw in addrs {
        let ip = canonical(raw);
        let class = classify(ip);
        if let (true, Some(class)) = (target.public_only, class) {
            // A media port opens public addresses only; a LAN server there is the admin's call.
            return Err(refuse(
                Reason::PortNotAllowed,
                format!("{raw} is {} and port {} is open on public addresses only", class.as_str(), target.port),
            ));
        }
        if let Some(class) = class {
            let allowed = class.allowlistable() && (target.host_allowed || allowlist.cidr_contains(ip));
            if !allowed {
                return Err(refuse(Reason::PrivateAddress, format!("{raw} is {}", class.as_str())));
            }
        }
        // The box's own addresses (a public IPv6 on the Pi included) are never reached by a CIDR
        // entry; only an entry that names the host opens them.
        if !target.host_allowed && own.iter().any(|o| canonical(*o) == ip) {
            return Err(refuse(Reason::OwnAddress, format!("{raw} is one of the box's addresses")));
        }
        if !vetted.contains(&ip) {
            vetted.push(ip);
        }
    }
    Ok(vetted)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn entry(s: &str) -> AllowEntry {
        s.parse().unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn entries_parse_and_normalise() {
        assert_eq!(entry("nas.lan"), AllowEntry::Host { host: "nas.lan".into(), port: None });
        assert_eq!(entry(" NAS.Lan. "), AllowEntry::Host { host: "nas.lan".into(), port: None });
        assert_eq!(entry("nas.lan:8080"), AllowEntry::Host { host: "nas.lan".into(), port: Some(8080) });
        assert_eq!(entry("nas.lan:80"), AllowEntry::Host { host: "nas.lan".into(), port: None });
        assert_eq!(entry("127.0.0.1:9000"), AllowEntry::Host { host: "127.0.0.1".into(), port: Some(9000) });
        assert_eq!(entry("2130706433"), AllowEntry::Host { host: "127.0.0.1".into(), port: None });
        assert_eq!(entry("[fd00::5]:8080"), AllowEntry::Host { host: "[fd00::5]".into(), port: Some(8080) });
        assert_eq!(entry("FD00::5"), AllowEntry::Host { host: "[fd00::5]".into(), port: None });
        assert_eq!(entry("[fd00::]/8"), AllowEntry::Cidr(Cidr::parse("fd00::/8").unwrap()));
        assert_eq!(entry("10.0.0.0/8"), AllowEntry::Cidr(Cidr::parse("10.0.0.0/8").unwrap()));
        assert_eq!(entry("10.0.0.0/8").to_string(), "10.0.0.0/8");
        assert_eq!(entry("nas.lan:8080").to_string(), "nas.lan:8080");
        for bad in [
            "",
            " ",
            "user@nas",
            "nas/x",
            "http://nas",
            "nas:99999",
            "nas lan",
            "nas?x",
            "10.0.0.0/40",
            "nas:",
            "%6e%61%73",
            "nas:0",
            "[fd00::5]x",
            "[nas.lan]/8",
        ] {
            assert!(bad.parse::<AllowEntry>().is_err(), "{bad:?} should be refused");
        }
        let list = Allowlist::parse(["nas.lan", "10.0.0.0/8"]).unwrap();
        assert_eq!(list.entries().len(), 2);
        assert!(Allowlist::parse(["nas.lan", "x@y"]).is_err());
    }

    fn vet(url: &str, list: &Allowlist) -> Result<Target, Reason> {
        vet_url(&Url::parse(url).unwrap(), list).map_err(|e| e.reason)
    }

    #[test]
    fn ports_and_hosts() {
        let none = Allowlist::default();
        assert!(vet("http://example.com/", &none).is_ok());
        assert!(vet("https://example.com/", &none).is_ok());
        assert!(vet("http://example.com:443/", &none).is_ok());
        assert_eq!(vet("http://example.com:8080/", &none).unwrap_err(), Reason::PortNotAllowed);
        assert_eq!(vet("ftp://example.com/", &none).unwrap_err(), Reason::SchemeNotAllowed);
        assert_eq!(vet("http://a:b@example.com/", &none).unwrap_err(), Reason::UserinfoNotAllowed);
        let list = Allowlist::parse(["nas.lan:8080", "box.lan"]).unwrap();
        let t = vet("http://NAS.lan.:8080/", &list).unwrap();
        assert!(t.host_allowed);
        assert_eq!(vet("http://nas.lan:8081/", &list).unwrap_err(), Reason::PortNotAllowed);
        assert!(!vet("http://nas.lan/", &list).unwrap().host_allowed, "a port entry names only that port");
        assert!(vet("http://box.lan/", &list).unwrap().host_allowed);
        assert_eq!(vet("http://box.lan:8080/", &list).unwrap_err(), Reason::PortNotAllowed);
    }

    #[test]
    fn media_ports_open_high_ports_to_public_addresses_only() {
        let none = Allowlist::default();
        let media = |u: &str, l: &Allowlist| vet_url_ports(&Url::parse(u).unwrap(), l, Ports::Media).map_err(|e| e.reason);
        assert_eq!(vet("http://radio.test:8000/", &none).unwrap_err(), Reason::PortNotAllowed, "web fetches keep 80/443");
        let t = media("http://radio.test:8000/", &none).unwrap();
        assert!(t.public_only && !t.host_allowed);
        assert!(media("http://radio.test:1024/", &none).is_ok());
        assert!(!media("https://radio.test/", &none).unwrap().public_only);
        for low in [22, 25, 110, 143, 445, 587, 1023] {
            assert_eq!(media(&format!("http://radio.test:{low}/"), &none).unwrap_err(), Reason::PortNotAllowed, "{low}");
        }
        let ip = |s: &str| -> IpAddr { s.parse().unwrap() };
        let url = Url::parse("http://radio.test:8000/").unwrap();
        let cidr = Allowlist::parse(["192.168.0.0/16"]).unwrap();
        let t = vet_url_ports(&url, &cidr, Ports::Media).unwrap();
        let v = |addrs: &[IpAddr]| vet_addrs(&url, &t, addrs, &[ip("93.184.216.40")], &cidr).map_err(|e| e.reason);
        assert_eq!(v(&[ip("93.184.216.34")]), Ok(vec![ip("93.184.216.34")]));
        assert_eq!(v(&[ip("192.168.1.20")]), Err(Reason::PortNotAllowed), "a CIDR entry opens no media port");
        assert_eq!(v(&[ip("127.0.0.1")]), Err(Reason::PortNotAllowed));
        assert_eq!(v(&[ip("93.184.216.34"), ip("10.0.0.1")]), Err(Reason::PortNotAllowed));
        assert_eq!(v(&[ip("93.184.216.40")]), Err(Reason::OwnAddress), "never the box itself");
        let named = Allowlist::parse(["192.168.1.20:8096"]).unwrap();
        let jf = Url::parse("http://192.168.1.20:8096/Items").unwrap();
        let t = vet_url_ports(&jf, &named, Ports::Media).unwrap();
        assert!(t.host_allowed && !t.public_only);
        assert_eq!(vet_addrs(&jf, &t, &[ip("192.168.1.20")], &[], &named).map_err(|e| e.reason), Ok(vec![ip("192.168.1.20")]));
        let t = vet_url_ports(&jf, &none, Ports::Media).unwrap();
        assert_eq!(vet_addrs(&jf, &t, &[ip("192.168.1.20")], &[], &none).map_err(|e| e.reason), Err(Reason::PortNotAllowed));
    }

    #[test]
    fn addresses() {
        let url = Url::parse("http://x.test/").unwrap();
        let ip = |s: &str| -> IpAddr { s.parse().unwrap() };
        let none = Allowlist::default();
        let t = vet_url(&url, &none).unwrap();
        let own = [ip("93.184.216.40"), ip("127.0.0.1")];
        let v = |addrs: &[IpAddr], list: &Allowlist, t: &Target| {
            vet_addrs(&url, t, addrs, &own, list).map_err(|e| e.reason)
        };
        assert_eq!(v(&[ip("93.184.216.34")], &none, &t), Ok(vec![ip("93.184.216.34")]));
        assert_eq!(
            v(&[ip("::ffff:93.184.216.34"), ip("93.184.216.34")], &none, &t),
            Ok(vec![ip("93.184.216.34")])
        );
        assert_eq!(v(&[], &none, &t), Err(Reason::DnsFailed));
        assert_eq!(v(&[ip("93.184.216.34"), ip("10.0.0.1")], &none, &t), Err(Reason::PrivateAddress));
        assert_eq!(v(&[ip("93.184.216.40")], &none, &t), Err(Reason::OwnAddress));
        let cidr = Allowlist::parse(["10.0.0.0/8", "93.184.216.0/24", "0.0.0.0/0"]).unwrap();
        assert_eq!(v(&[ip("10.0.0.1")], &cidr, &t), Ok(vec![ip("10.0.0.1")]));
        assert_eq!(v(&[ip("93.184.216.40")], &cidr, &t), Err(Reason::OwnAddress), "CIDR never opens own");
        assert_eq!(
            v(&[ip("0.0.0.0")], &cidr, &t),
            Err(Reason::PrivateAddress),
            "0/0 never opens any-address"
        );
        assert_eq!(v(&[ip("224.0.0.1")], &cidr, &t), Err(Reason::PrivateAddress));
        assert_eq!(v(&[ip("192.168.1.1")], &cidr, &t), Ok(vec![ip("192.168.1.1")]));
        let named = Allowlist::parse(["x.test"]).unwrap();
        let tn = vet_url(&url, &named).unwrap();
        assert_eq!(
            v(&[ip("127.0.0.1"), ip("93.184.216.40")], &named, &tn),
            Ok(vec![ip("127.0.0.1"), ip("93.184.216.40")])
        );
        assert_eq!(v(&[ip("::")], &named, &tn), Err(Reason::PrivateAddress));
    }
}
