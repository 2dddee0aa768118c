//! The candidates the SFU announces, from the addresses the driver has open (pure: the
//! addresses are handed in, never looked up).

use std::net::SocketAddr;

use str0m::net::TcpType;
use str0m::Candidate;

use super::SfuConfig;

/// The candidates every answer carries: UDP hosts, passive TCP hosts, and the public address
/// (for each protocol) as server-reflexive on a host of the same IP family.
pub(super) fn local_candidates(config: &SfuConfig) -> Vec<Candidate> {
    let mut out = Vec::new();
    for addr in &config.host_candidates {
        if let Ok(c) = Candidate::host(*addr, "udp") {
            out.push(c);
        }
    }
    for addr in &config.tcp_candidates {
        if let Ok(c) = Candidate::builder().tcp().host(*addr).tcptype(TcpType::Passive).build() {
            out.push(c);
        }
    }
    if let Some(public) = config.public_address {
        let same_family = |a: &&SocketAddr| a.is_ipv4() == public.is_ipv4();
        if let Some(c) = config
            .host_candidates
            .iter()
            .find(same_family)
            .and_then(|b| Candidate::server_reflexive(public, *b, "udp").ok())
        {
            out.push(c);
        }
        if let Some(c) = config.tcp_candidates.iter().find(same_family).and_then(|b| {
            Candidate::builder()
                .tcp()
                .server_reflexive(public, *b)
                .tcptype(TcpType::Passive)
                .build()
                .ok()
        }) {
            out.push(c);
        }
    }
    out
}
