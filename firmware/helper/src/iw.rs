//! Reading `iw dev IFACE scan` and `iw dev IFACE link` output.
//!
//! iw prints an SSID byte by byte: printable ASCII as is, a space as is unless first or last,
//! everything else (backslash, bytes of UTF-8 characters, NUL) as `\xNN`. Hidden networks show
//! an empty SSID or one of NULs: they are left out (the wizard has "hidden network" entry).

use setup::proto::{Network, Security};

/// Networks from a scan, one per SSID (the strongest BSS), strongest first.
pub fn parse_scan(text: &str) -> Vec<Network> {
    let mut out: Vec<Network> = Vec::new();
    let mut cur: Option<Bss> = None;
    let mut section = "";
    for line in text.lines() {
        if line.starts_with("BSS ") {
            finish(cur.take(), &mut out);
            cur = Some(Bss::default());
            section = "";
            continue;
        }
        let Some(bss) = cur.as_mut() else { continue };
        // One tab: a field of the BSS; two or more: part of the field above (RSN, WPA, ...).
        if let Some(field) = line.strip_prefix('\t').filter(|l| !l.starts_with('\t')) {
            let (key, value) = field.split_once(':').unwrap_or((field, ""));
            let value = value.trim_start_matches([' ', '\t']);
            section = match key {
                "RSN" => "RSN",
                "WPA" => "WPA",
                _ => "",
            };
            match key {
                "freq" => bss.freq = value.trim().parse::<f64>().map(|f| f as u32).unwrap_or(0),
                "signal" => bss.signal = value.split_whitespace().next().and_then(|v| v.parse::<f64>().ok()).map(|s| s as i32),
                "SSID" => bss.ssid = Some(unescape(field.strip_prefix("SSID:").unwrap_or("").strip_prefix(' ').unwrap_or(""))),
                "capability" => bss.privacy = value.split_whitespace().any(|w| w == "Privacy"),
                "RSN" => bss.rsn = true,
                "WPA" => bss.wpa = true,
                _ => {}
            }
            if let Some(auth) = value.trim().strip_prefix("* Authentication suites:") {
                bss.add_suites(section, auth);
            }
        } else if let Some(auth) = line.trim_start().strip_prefix("* Authentication suites:") {
            bss.add_suites(section, auth);
        }
    }
    finish(cur, &mut out);
    out.sort_by(|a, b| b.signal_dbm.cmp(&a.signal_dbm).then_with(|| a.ssid.cmp(&b.ssid)));
    out
}

/// The signal of the joined network from `iw dev IFACE link` ("Not connected." otherwise).
pub fn parse_link_signal(text: &str) -> Option<i32> {
    text.lines()
        .find_map(|l| l.trim().strip_prefix("signal:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<f64>().ok())
        .map(|v| v as i32)
}

#[derive(Default)]
struct Bss {
    ssid: Option<Vec<u8>>,
    freq: u32,
    signal: Option<i32>,
    privacy: bool,
    rsn: bool,
    wpa: bool,
    psk: bool,
    sae: bool,
    other: bool,
}

impl Bss {
    fn add_suites(&mut self, section: &str, suites: &str) {
        if section.is_empty() {
            return;
        }
        for s in suites.split_whitespace() {
            match s {
                "PSK" | "PSK/SHA-256" | "FT/PSK" => self.psk = true,
                "SAE" | "FT/SAE" | "SAE-EXT-KEY" => self.sae = true,
                _ => self.other = true,
            }
        }
    }

    fn security(&self) -> Security {
        match (self.psk, self.sae) {
            (true, true) => Security::Wpa2Wpa3,
            (false, true) => Security::Wpa3,
            // WPA (version 1) with a password is joined the same way.
            (true, false) => Security::Wpa2,
            // 802.1X, OWE, or Privacy without RSN/WPA (WEP).
            _ if self.rsn || self.wpa || self.privacy || self.other => Security::Unsupported,
            _ => Security::Open,
        }
    }
}

fn finish(bss: Option<Bss>, out: &mut Vec<Network>) {
    let Some(bss) = bss else { return };
    let Some(raw) = bss.ssid.as_ref().filter(|s| !s.is_empty() && s.iter().any(|b| *b != 0)) else { return };
    // Our SSIDs are UTF-8 (they travel as JSON text); others cannot be chosen anyway.
    let Ok(ssid) = String::from_utf8(raw.clone()) else { return };
    if ssid.contains('\0') || ssid.len() > 32 {
        return;
    }
    let net = Network { ssid, signal_dbm: bss.signal.unwrap_or(-100), security: bss.security(), frequency: bss.freq };
    match out.iter_mut().find(|n| n.ssid == net.ssid) {
        Some(old) if old.signal_dbm >= net.signal_dbm => {}
        Some(old) => *old = net,
        None => out.push(net),
    }
}

/// `\xNN` escapes back to bytes; anything else is taken as is.
fn unescape(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1] == b'x' {
            let digit = |c: u8| (c as char).to_digit(16);
            if let (Some(h), Some(l)) = (digit(b[i + 2]), digit(b[i + 3])) {
                out.push((h * 16 + l) as u8);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCAN: &str = include_str!("../tests/fixtures/iw-scan-mixed.txt");

    #[test]
    fn mixed_scan() {
        let nets = parse_scan(SCAN);
        let got: Vec<(&str, i32, Security, u32)> = nets.iter().map(|n| (n.ssid.as_str(), n.signal_dbm, n.security, n.frequency)).collect();
        assert_eq!(
            got,
            vec![
                ("Home Net", -41, Security::Wpa2, 2437),
                ("Café \"Ü\\\"", -55, Security::Wpa2Wpa3, 5180),
                ("Neighbour WPA3", -63, Security::Wpa3, 2462),
                (" spaced ", -70, Security::Open, 2412),
                ("Office", -72, Security::Unsupported, 2412),
                ("OldRouter", -80, Security::Unsupported, 2437),
                ("Legacy WPA", -85, Security::Wpa2, 2422),
            ]
        );
    }

    #[test]
    fn hidden_and_broken_ssids_are_left_out() {
        let text = "BSS 00:00:00:00:00:01(on wlan0)\n\tfreq: 2412\n\tsignal: -30.00 dBm\n\tSSID: \n\
                    BSS 00:00:00:00:00:02(on wlan0)\n\tfreq: 2412\n\tsignal: -30.00 dBm\n\tSSID: \\x00\\x00\\x00\\x00\n\
                    BSS 00:00:00:00:00:03(on wlan0)\n\tfreq: 2412\n\tsignal: -30.00 dBm\n\tSSID: \\xff\\xfe\n\
                    BSS 00:00:00:00:00:04(on wlan0)\n\tfreq: 2412\n\tsignal: -30.00 dBm\n\
                    BSS 00:00:00:00:00:05(on wlan0)\n\tfreq: 2412\n\tsignal: -30.00 dBm\n\tSSID: a\\x00b\n\
                    BSS 00:00:00:00:00:06(on wlan0)\n\tSSID: trailing\\x";
        let nets = parse_scan(text);
        assert_eq!(nets.iter().map(|n| n.ssid.as_str()).collect::<Vec<_>>(), vec!["trailing\\x"]);
        assert_eq!(nets[0].signal_dbm, -100, "no signal line");
        assert!(parse_scan("").is_empty());
        assert!(parse_scan("command failed: Device or resource busy (-16)\n").is_empty());
    }

    #[test]
    fn link_signal() {
        let link = "Connected to 00:11:22:33:44:55 (on wlan0)\n\tSSID: Home\n\tfreq: 2437\n\tRX: 1 bytes\n\tsignal: -47 dBm\n\ttx bitrate: 65.0 MBit/s\n";
        assert_eq!(parse_link_signal(link), Some(-47));
        assert_eq!(parse_link_signal("Not connected.\n"), None);
    }
}
