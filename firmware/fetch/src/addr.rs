//! The address classifier: is this IP public unicast, and if not, what is it? Pure, no IO.
//!
//! IPv4 follows the IANA special-purpose registry. IPv6 is an allowlist: only global unicast
//! (`2000::/3`) can pass, minus the special blocks inside it; everything outside `2000::/3` is
//! named where it has a name (so logs say *why*) and refused either way. Addresses that embed an
//! IPv4 address are refused outright, except IPv4-mapped (`::ffff:a.b.c.d`), which is the same
//! socket as `a.b.c.d` and is judged as that.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// What kind of non-public address an IP is. See [`classify`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NonPublic {
    /// `0.0.0.0`, `::`: "any address"; connecting to it reaches the box itself.
    Unspecified,
    /// `0.0.0.0/8` (besides `0.0.0.0`): "this network".
    ThisNetwork,
    /// `127.0.0.0/8`, `::1`.
    Loopback,
    /// RFC 1918: `10/8`, `172.16/12`, `192.168/16`.
    Private,
    /// `100.64.0.0/10`, carrier-grade NAT (RFC 6598).
    SharedCgnat,
    /// `169.254/16` (cloud metadata lives at 169.254.169.254), `fe80::/10`.
    LinkLocal,
    /// `192.0.0.0/24` (IETF protocol assignments), `2001::/23` outside Teredo.
    IetfProtocol,
    /// `192.0.2/24`, `198.51.100/24`, `203.0.113/24`, `2001:db8::/32`, `3fff::/20`.
    Documentation,
    /// `198.18.0.0/15`, `2001:2::/48`.
    Benchmarking,
    /// `192.88.99.0/24` (6to4 relay anycast, deprecated).
    Relay6to4,
    /// `224/4`, `ff00::/8`.
    Multicast,
    /// `255.255.255.255`.
    Broadcast,
    /// `240/4` (minus broadcast), and IPv6 outside `2000::/3` without a more specific name.
    Reserved,
    /// `::/96` (deprecated IPv4-compatible).
    Ipv4Compatible,
    /// `64:ff9b::/96`, `64:ff9b:1::/48` (NAT64 would translate to any IPv4, private included).
    Nat64,
    /// `100::/64` (discard-only).
    DiscardOnly,
    /// `2001::/32` (Teredo tunnels embed an IPv4 address).
    Teredo,
    /// `2002::/16` (6to4 tunnels embed an IPv4 address).
    SixToFour,
    /// `5f00::/16` (SRv6 SIDs, RFC 9602).
    Srv6,
    /// `fc00::/7`, unique local.
    UniqueLocal,
    /// `fec0::/10`, deprecated site-local.
    SiteLocal,
}

impl NonPublic {
    /// A short stable name for logs.
    pub const fn as_str(self) -> &'static str {
        match self {
            NonPublic::Unspecified => "unspecified",
            NonPublic::ThisNetwork => "this_network",
            NonPublic::Loopback => "loopback",
            NonPublic::Private => "private",
            NonPublic::SharedCgnat => "shared_cgnat",
            NonPublic::LinkLocal => "link_local",
            NonPublic::IetfProtocol => "ietf_protocol",
            NonPublic::Documentation => "documentation",
            NonPublic::Benchmarking => "benchmarking",
            NonPublic::Relay6to4 => "6to4_relay",
            NonPublic::Multicast => "multicast",
            NonPublic::Broadcast => "broadcast",
            NonPublic::Reserved => "reserved",
            NonPublic::Ipv4Compatible => "ipv4_compatible",
            NonPublic::Nat64 => "nat64",
            NonPublic::DiscardOnly => "discard_only",
            NonPublic::Teredo => "teredo",
            NonPublic::SixToFour => "6to4",
            NonPublic::Srv6 => "srv6",
            NonPublic::UniqueLocal => "unique_local",
            NonPublic::SiteLocal => "site_local",
        }
    }

    /// Whether an admin allowlist entry may let this class through. "Any address", multicast and
    /// broadcast are never a LAN service (and `0.0.0.0` would reach the box itself), so no entry,
    /// not even `0.0.0.0/0`, opens them.
    pub const fn allowlistable(self) -> bool {
        !matches!(
            self,
            NonPublic::Unspecified | NonPublic::ThisNetwork | NonPublic::Multicast | NonPublic::Broadcast
        )
    }
}

/// `None` if `ip` is public unicast; otherwise what it is.
pub fn classify(ip: IpAddr) -> Option<NonPublic> {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn in_v4(ip: Ipv4Addr, net: [u8; 4], prefix: u32) -> bool {
    let mask = if prefix == 0 { 0 } else { u32::MAX << (32 - prefix) };
    (u32::from(ip) & mask) == (u32::from(Ipv4Addr::from(net)) & mask)
}

fn in_v6(ip: Ipv6Addr, net: [u16; 8], prefix: u32) -> bool {
    let mask = if prefix == 0 { 0 } else { u128::MAX << (128 - prefix) };
    let n = Ipv6Addr::new(net[0], net[1], net[2], net[3], net[4], net[5], net[6], net[7]);
    (u128::from(ip) & mask) == (u128::from(n) & mask)
}

/// Classify an IPv4 address.
pub fn classify_v4(ip: Ipv4Addr) -> Option<NonPublic> {
    use NonPublic::*;
    // Most specific first: broadcast sits inside 240/4, 0.0.0.0 inside 0/8.
    const TABLE: &[([u8; 4], u32, NonPublic)] = &[
        ([0, 0, 0, 0], 32, Unspecified),
        ([255, 255, 255, 255], 32, Broadcast),
        ([0, 0, 0, 0], 8, ThisNetwork),
        ([10, 0, 0, 0], 8, Private),
        ([100, 64, 0, 0], 10, SharedCgnat),
        ([127, 0, 0, 0], 8, Loopback),
        ([169, 254, 0, 0], 16, LinkLocal),
        ([172, 16, 0, 0], 12, Private),
        ([192, 0, 0, 0], 24, IetfProtocol),
        ([192, 0, 2, 0], 24, Documentation),
        ([192, 88, 99, 0], 24, Relay6to4),
        ([192, 168, 0, 0], 16, Private),
        ([198, 18, 0, 0], 15, Benchmarking),
        ([198, 51, 100, 0], 24, Documentation),
        ([203, 0, 113, 0], 24, Documentation),
        ([224, 0, 0, 0], 4, Multicast),
        ([240, 0, 0, 0], 4, Reserved),
    ];
    TABLE.iter().find(|(net, prefix, _)| in_v4(ip, *net, *prefix)).map(|(_, _, class)| *class)
}

/// Classify an IPv6 address. IPv4-mapped addresses are judged as the IPv4 address they carry.
pub fn classify_v6(ip: Ipv6Addr) -> Option<NonPublic> {
    use NonPublic::*;
    if let Some(v4) = ip.to_ipv4_mapped() {
        return classify_v4(v4);
    }
    const TABLE: &[([u16; 8], u32, NonPublic)] = &[
        ([0, 0, 0, 0, 0, 0, 0, 0], 128, Unspecified),
        ([0, 0, 0, 0, 0, 0, 0, 1], 128, Loopback),
        ([0, 0, 0, 0, 0, 0, 0, 0], 96, Ipv4Compatible),
        ([0x64, 0xff9b, 0, 0, 0, 0, 0, 0], 96, Nat64),
        ([0x64, 0xff9b, 1, 0, 0, 0, 0, 0], 48, Nat64),
        ([0x100, 0, 0, 0, 0, 0, 0, 0], 64, DiscardOnly),
        ([0x2001, 0, 0, 0, 0, 0, 0, 0], 32, Teredo),
        ([0x2001, 2, 0, 0, 0, 0, 0, 0], 48, Benchmarking),
        ([0x2001, 0, 0, 0, 0, 0, 0, 0], 23, IetfProtocol),
        ([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32, Documentation),
        ([0x2002, 0, 0, 0, 0, 0, 0, 0], 16, SixToFour),
        ([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20, Documentation),
        ([0x5f00, 0, 0, 0, 0, 0, 0, 0], 16, Srv6),
        ([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7, UniqueLocal),
        ([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10, LinkLocal),
        ([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10, SiteLocal),
        ([0xff00, 0, 0, 0, 0, 0, 0, 0], 8, Multicast),
    ];
    if let Some((_, _, class)) = TABLE.iter().find(|(net, prefix, _)| in_v6(ip, *net, *prefix)) {
        return Some(*class);
    }
    // Only 2000::/3 is allocated as global unicast; the rest is reserved by IANA.
    if !in_v6(ip, [0x2000, 0, 0, 0, 0, 0, 0, 0], 3) {
        return Some(Reserved);
    }
    None
}

/// `ip` as the socket it really is: `::ffff:a.b.c.d` becomes `a.b.c.d`.
pub fn canonical(ip: IpAddr) -> IpAddr {
    ip.to_canonical()
}

/// A CIDR block, e.g. `10.0.0.0/8` or `fd00::/8`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl Cidr {
    /// Parse `addr/prefix`; host bits may be set (`10.1.2.3/8` means `10.0.0.0/8`).
    pub fn parse(s: &str) -> Option<Cidr> {
        let (addr, prefix) = s.split_once('/')?;
        // `[fd00::]/8` is how some people write it (and what the admin page accepts).
        let addr = addr.trim();
        let addr = addr.strip_prefix('[').and_then(|a| a.strip_suffix(']')).unwrap_or(addr);
        let addr: IpAddr = addr.parse().ok()?;
        let prefix = prefix.trim();
        if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_digit()) || prefix.len() > 3 {
            return None;
        }
        let prefix: u8 = prefix.parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if prefix > max {
            return None;
        }
        // Addresses are compared canonicalised, so `::ffff:10.0.0.0/104` is kept as `10.0.0.0/8`.
        if let IpAddr::V6(v6) = addr {
            if let (Some(v4), true) = (v6.to_ipv4_mapped(), prefix >= 96) {
                return Some(Cidr { addr: IpAddr::V4(v4), prefix: prefix - 96 });
            }
        }
        Some(Cidr { addr, prefix })
    }

    /// Whether `ip` (canonicalised) is inside the block.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let o = net.octets();
                in_v4(ip, o, u32::from(self.prefix))
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => in_v6(ip, net.segments(), u32::from(self.prefix)),
            _ => false,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn c(s: &str) -> Option<NonPublic> {
        classify(s.parse().unwrap_or_else(|_| panic!("bad test ip {s}")))
    }

    #[test]
    fn every_v4_range() {
        use NonPublic::*;
        let cases: &[(&str, Option<NonPublic>)] = &[
            ("0.0.0.0", Some(Unspecified)),
            ("0.1.2.3", Some(ThisNetwork)),
            ("0.255.255.255", Some(ThisNetwork)),
            ("10.0.0.0", Some(Private)),
            ("10.255.255.255", Some(Private)),
            ("11.0.0.0", None),
            ("100.63.255.255", None),
            ("100.64.0.1", Some(SharedCgnat)),
            ("100.127.255.255", Some(SharedCgnat)),
            ("100.128.0.0", None),
            ("126.255.255.255", None),
            ("127.0.0.1", Some(Loopback)),
            ("127.255.255.254", Some(Loopback)),
            ("128.0.0.0", None),
            ("169.253.255.255", None),
            ("169.254.169.254", Some(LinkLocal)),
            ("169.255.0.0", None),
            ("172.15.255.255", None),
            ("172.16.0.1", Some(Private)),
            ("172.31.255.255", Some(Private)),
            ("172.32.0.0", None),
            ("192.0.0.8", Some(IetfProtocol)),
            ("192.0.1.1", None),
            ("192.0.2.1", Some(Documentation)),
            ("192.88.99.1", Some(Relay6to4)),
            ("192.167.255.255", None),
            ("192.168.1.1", Some(Private)),
            ("192.169.0.0", None),
            ("198.17.255.255", None),
            ("198.18.0.1", Some(Benchmarking)),
            ("198.19.255.255", Some(Benchmarking)),
            ("198.20.0.0", None),
            ("198.51.100.7", Some(Documentation)),
            ("203.0.113.9", Some(Documentation)),
            ("203.0.114.0", None),
            ("223.255.255.255", None),
            ("224.0.0.1", Some(Multicast)),
            ("239.255.255.255", Some(Multicast)),
            ("240.0.0.1", Some(Reserved)),
            ("254.255.255.255", Some(Reserved)),
            ("255.255.255.254", Some(Reserved)),
            ("255.255.255.255", Some(Broadcast)),
            ("1.1.1.1", None),
            ("8.8.8.8", None),
            ("93.184.216.34", None),
        ];
        for (ip, want) in cases {
            assert_eq!(c(ip), *want, "{ip}");
        }
    }

    #[test]
    fn every_v6_range() {
        use NonPublic::*;
        let cases: &[(&str, Option<NonPublic>)] = &[
            ("::", Some(Unspecified)),
            ("::1", Some(Loopback)),
            ("::2", Some(Ipv4Compatible)),
            ("::7f00:1", Some(Ipv4Compatible)),
            ("::808:808", Some(Ipv4Compatible)),
            // IPv4-mapped: judged as the embedded IPv4.
            ("::ffff:127.0.0.1", Some(Loopback)),
            ("::ffff:7f00:1", Some(Loopback)),
            ("::ffff:10.0.0.1", Some(Private)),
            ("::ffff:169.254.169.254", Some(LinkLocal)),
            ("::ffff:0.0.0.0", Some(Unspecified)),
            ("::ffff:8.8.8.8", None),
            // IPv4-translated (RFC 2765) sits outside 2000::/3.
            ("::ffff:0:808:808", Some(Reserved)),
            ("64:ff9b::7f00:1", Some(Nat64)),
            ("64:ff9b::808:808", Some(Nat64)),
            ("64:ff9b:1::1", Some(Nat64)),
            ("100::1", Some(DiscardOnly)),
            ("100::ffff:ffff:ffff:ffff", Some(DiscardOnly)),
            ("100:0:0:1::", Some(Reserved)),
            ("2001::1", Some(Teredo)),
            ("2001:0:4136:e378:8000:63bf:3fff:fdd2", Some(Teredo)),
            ("2001:2::1", Some(Benchmarking)),
            ("2001:10::1", Some(IetfProtocol)),
            ("2001:1ff:ffff::1", Some(IetfProtocol)),
            ("2001:200::1", None),
            ("2001:db8::1", Some(Documentation)),
            ("2001:db9::1", None),
            ("2002:7f00:1::", Some(SixToFour)),
            ("2002:808:808::1", Some(SixToFour)),
            ("2003::1", None),
            ("2606:4700:4700::1111", None),
            ("2a00:1450:4001:80b::200e", None),
            ("3fff::1", Some(Documentation)),
            ("3fff:fff::1", Some(Documentation)),
            ("3fff:1000::1", None),
            ("4000::1", Some(Reserved)),
            ("5f00::1", Some(Srv6)),
            ("fc00::1", Some(UniqueLocal)),
            ("fd12:3456::1", Some(UniqueLocal)),
            ("fe80::1", Some(LinkLocal)),
            ("febf::1", Some(LinkLocal)),
            ("fec0::1", Some(SiteLocal)),
            ("feff::1", Some(SiteLocal)),
            ("ff02::1", Some(Multicast)),
            ("ff0e::1", Some(Multicast)),
            ("1::1", Some(Reserved)),
            ("e000::1", Some(Reserved)),
        ];
        for (ip, want) in cases {
            assert_eq!(c(ip), *want, "{ip}");
        }
    }

    #[test]
    fn only_any_multicast_broadcast_resist_the_allowlist() {
        assert!(!NonPublic::Unspecified.allowlistable());
        assert!(!NonPublic::ThisNetwork.allowlistable());
        assert!(!NonPublic::Multicast.allowlistable());
        assert!(!NonPublic::Broadcast.allowlistable());
        assert!(NonPublic::Loopback.allowlistable());
        assert!(NonPublic::Private.allowlistable());
        assert!(NonPublic::UniqueLocal.allowlistable());
    }

    #[test]
    fn cidr() {
        let net = Cidr::parse("10.0.0.0/8").unwrap();
        assert!(net.contains("10.1.2.3".parse().unwrap()));
        assert!(net.contains("::ffff:10.1.2.3".parse().unwrap()), "mapped is canonicalised");
        assert!(!net.contains("11.0.0.0".parse().unwrap()));
        assert!(!net.contains("::1".parse().unwrap()));
        let host = Cidr::parse("192.168.1.10/32").unwrap();
        assert!(host.contains("192.168.1.10".parse().unwrap()));
        assert!(!host.contains("192.168.1.11".parse().unwrap()));
        let all = Cidr::parse("0.0.0.0/0").unwrap();
        assert!(all.contains("8.8.8.8".parse().unwrap()));
        let v6 = Cidr::parse("fd00::/8").unwrap();
        assert!(v6.contains("fd12::1".parse().unwrap()));
        assert!(!v6.contains("fe80::1".parse().unwrap()));
        let mapped = Cidr::parse("::ffff:10.0.0.0/104").unwrap();
        assert_eq!(mapped, Cidr::parse("10.0.0.0/8").unwrap());
        assert!(Cidr::parse("fd00::/0").unwrap().contains("2001:db8::1".parse().unwrap()));
        for bad in
            ["10.0.0.0/33", "fd00::/129", "10.0.0.0/", "10.0.0.0/x", "nas/8", "10.0.0/8", "10.0.0.0/+8"]
        {
            assert_eq!(Cidr::parse(bad), None, "{bad}");
        }
    }
}
