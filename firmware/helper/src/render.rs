//! The config files the helper writes for Debian's tools, as pure functions of validated
//! values. Nothing a person typed is written as text: SSIDs and passwords go in as hex (or
//! as the derived key), so quotes, newlines and `}` in them are just bytes.

use hmac::{Hmac, Mac};
use setup::net::Credentials;
use setup::validate::{Country, Ssid};
use sha1::Sha1;

/// The setup access point's own network.
pub const AP_ADDRESS: &str = "192.168.4.1";
pub const AP_PREFIX: u8 = 24;
pub const DHCP_RANGE: (&str, &str) = ("192.168.4.10", "192.168.4.200");

/// An interface name from the environment, checked before it goes into any file or argument.
pub fn iface_ok(name: &str) -> bool {
    (1..=15).contains(&name.len())
        && !name.starts_with('-')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The WPA2 pre-shared key: PBKDF2-HMAC-SHA1(passphrase, ssid, 4096 rounds, 32 bytes).
pub fn wpa_psk(passphrase: &str, ssid: &Ssid) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (block, chunk) in out.chunks_mut(20).enumerate() {
        let mac = |data: &[&[u8]]| {
            let mut m = Hmac::<Sha1>::new_from_slice(passphrase.as_bytes()).expect("HMAC takes any key length");
            for d in data {
                m.update(d);
            }
            m.finalize().into_bytes()
        };
        let index = (block as u32 + 1).to_be_bytes();
        let mut u = mac(&[ssid.as_bytes(), &index]);
        let mut t = u;
        for _ in 1..4096 {
            u = mac(&[&u]);
            t.iter_mut().zip(u.iter()).for_each(|(a, b)| *a ^= b);
        }
        chunk.copy_from_slice(&t[..chunk.len()]);
    }
    out
}

/// wpa_supplicant's config: one network, WPA2/WPA3-Personal (or open).
pub fn wpa_supplicant_conf(ctrl_dir: &str, creds: &Credentials, country: Option<&Country>) -> String {
    let mut s = String::from("# Written by spot-helper. SSID and secrets are hex: no character in them is special.\n");
    s += &format!("ctrl_interface=DIR={ctrl_dir}\nupdate_config=0\n");
    if let Some(c) = country {
        s += &format!("country={c}\n");
    }
    // Both SAE password element methods: WPA3 access points may offer either.
    s += "sae_pwe=2\nnetwork={\n";
    s += &format!("\tssid={}\n", creds.ssid.to_hex());
    if creds.hidden {
        s += "\tscan_ssid=1\n";
    }
    match &creds.psk {
        None => s += "\tkey_mgmt=NONE\n",
        Some(psk) if psk.is_raw_key() => {
            // The key itself: WPA2 only (SAE needs the passphrase).
            s += &format!("\tkey_mgmt=WPA-PSK WPA-PSK-SHA256\n\tpsk={}\n\tieee80211w=1\n", psk.as_str());
        }
        Some(psk) => {
            s += "\tkey_mgmt=WPA-PSK WPA-PSK-SHA256 SAE\n";
            s += &format!("\tpsk={}\n", hex(&wpa_psk(psk.as_str(), &creds.ssid)));
            s += &format!("\tsae_password={}\n", hex(psk.as_str().as_bytes()));
            s += "\tieee80211w=1\n";
        }
    }
    s += "}\n";
    s
}

/// hostapd's config for the open setup access point on channel 6.
pub fn hostapd_conf(iface: &str, ctrl_dir: &str, ssid: &Ssid, country: Option<&Country>) -> String {
    let mut s = String::from("# Written by spot-helper: the open setup access point.\n");
    s += &format!("interface={iface}\ndriver=nl80211\nctrl_interface={ctrl_dir}\n");
    s += &format!("ssid2={}\nutf8_ssid=1\n", ssid.to_hex());
    if let Some(c) = country.filter(|c| !c.is_world()) {
        s += &format!("country_code={c}\nieee80211d=1\n");
    }
    s += "hw_mode=g\nchannel=6\nieee80211n=1\nwmm_enabled=1\nauth_algs=1\nignore_broadcast_ssid=0\n";
    // Phones on the setup network talk to the box, not to each other.
    s += "ap_isolate=1\nmax_num_sta=8\n";
    s
}

/// dnsmasq for the access point: DHCP, and DNS that answers every name with the box so
/// every OS's captive-portal probe lands on the wizard. No upstream, this interface only.
pub fn dnsmasq_conf(iface: &str) -> String {
    let (lo, hi) = DHCP_RANGE;
    format!(
        "# Written by spot-helper: DHCP and DNS for the setup access point.\n\
         interface={iface}\nbind-dynamic\nexcept-interface=lo\n\
         no-resolv\nno-hosts\nno-poll\n\
         address=/#/{AP_ADDRESS}\n\
         dhcp-range={lo},{hi},255.255.255.0,10m\n\
         dhcp-option=option:router,{AP_ADDRESS}\ndhcp-option=option:dns-server,{AP_ADDRESS}\n\
         dhcp-authoritative\nleasefile-ro\n\
         user=nobody\ngroup=nogroup\npid-file=\nlog-facility=-\n"
    )
}

/// systemd-networkd for the Wi-Fi interface as a client: DHCP (like 20-wired.network).
pub fn networkd_client(iface: &str) -> String {
    format!(
        "# Written by spot-helper: the Wi-Fi client.\n[Match]\nName={iface}\n\n[Network]\nDHCP=yes\n\
         MulticastDNS=no\nLLMNR=no\n\n[DHCPv4]\nUseDomains=yes\n"
    )
}

/// systemd-networkd for the interface serving the access point: the box's fixed address.
pub fn networkd_ap(iface: &str) -> String {
    format!(
        "# Written by spot-helper: the setup access point.\n[Match]\nName={iface}\n\n[Network]\n\
         Address={AP_ADDRESS}/{AP_PREFIX}\nConfigureWithoutCarrier=yes\nLinkLocalAddressing=no\n\
         IPv6AcceptRA=no\nMulticastDNS=no\nLLMNR=no\n"
    )
}

/// `Spot-Setup-XXXX` from the last two bytes of the MAC (`b8:27:eb:12:1a:2b` → `1A2B`).
pub fn ap_ssid(mac: &str) -> Ssid {
    let parts: Vec<&str> = mac.trim().split(':').collect();
    let ok = parts.len() == 6 && parts.iter().all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit()));
    let tail = if ok { format!("{}{}", parts[4], parts[5]).to_ascii_uppercase() } else { "0000".into() };
    Ssid::new(&format!("Spot-Setup-{tail}")).expect("always short and clean")
}

/// avahi's static service file for the web app over HTTPS (the port is the only input).
pub fn avahi_https(port: u16) -> String {
    format!(
        "<?xml version=\"1.0\" standalone='no'?>\n<!DOCTYPE service-group SYSTEM \"avahi-service.dtd\">\n\
         <service-group>\n  <name replace-wildcards=\"yes\">Spot box on %h</name>\n  <service>\n    \
         <type>_https._tcp</type>\n    <port>{port}</port>\n  </service>\n</service-group>\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use setup::validate::Psk;

    fn creds(ssid: &str, psk: Option<&str>) -> Credentials {
        Credentials { ssid: Ssid::new(ssid).expect("ssid"), psk: psk.map(|p| Psk::new(p).expect("psk")), hidden: false }
    }

    #[test]
    fn psk_matches_the_ieee_802_11i_test_vectors() {
        let v = wpa_psk("password", &Ssid::new("IEEE").expect("ssid"));
        assert_eq!(hex(&v), "f42c6fc52df0ebef9ebb4b90b38a5f902e83fe1b135a70e23aed762e9710a12e");
        let v = wpa_psk("ThisIsAPassword", &Ssid::new("ThisIsASSID").expect("ssid"));
        assert_eq!(hex(&v), "0dc0d6eb90555ed6419756b9a15ec3e3209b63df707dd508d14581f8982721af");
    }

    /// Every line of the file is a known key with a plain value; a hostile SSID or password
    /// cannot add a line, a second network block, or a quote.
    fn assert_inert(conf: &str, hostile: &[&str]) {
        for h in hostile {
            assert!(!conf.contains(h), "{h:?} appears verbatim in:\n{conf}");
        }
        assert!(!conf.contains('"'), "no quoted strings at all:\n{conf}");
        assert_eq!(conf.matches("network={").count(), 1, "{conf}");
    }

    #[test]
    fn hostile_ssids_and_passwords_stay_hex_in_wpa_supplicant_conf() {
        let ssid = "x\"\n}\nnetwork={\nssid=\"evil\"\n#";
        let psk = "p\"; } network={ $(reboot) `id`";
        let c = creds(ssid, Some(psk));
        let conf = wpa_supplicant_conf("/run/spot-helper/wpa", &c, Country::new("DE").ok().as_ref());
        assert_inert(&conf, &["evil", "$(reboot)", "`id`"]);
        assert!(conf.contains(&format!("\tssid={}\n", c.ssid.to_hex())));
        assert!(conf.contains("country=DE\n"));
        assert!(conf.contains("key_mgmt=WPA-PSK WPA-PSK-SHA256 SAE\n"));
        assert!(conf.contains(&format!("\tsae_password={}\n", hex(psk.as_bytes()))));
        let lines: Vec<&str> = conf.lines().collect();
        assert_eq!(lines.len(), 12, "{conf}");
        for l in &lines[1..] {
            let key = l.trim_start().split('=').next().unwrap_or_default();
            assert!(
                ["ctrl_interface", "update_config", "country", "sae_pwe", "network", "ssid", "key_mgmt", "psk", "sae_password", "ieee80211w", "}"].contains(&key),
                "unexpected line {l:?}"
            );
        }
    }

    #[test]
    fn open_hidden_and_raw_key_networks() {
        let mut c = creds("Cafe", None);
        c.hidden = true;
        let conf = wpa_supplicant_conf("/r", &c, None);
        assert!(conf.contains("\tscan_ssid=1\n\tkey_mgmt=NONE\n"));
        assert!(!conf.contains("country="));
        let raw = "ab".repeat(32);
        let conf = wpa_supplicant_conf("/r", &creds("Home", Some(&raw)), None);
        assert!(conf.contains(&format!("\tpsk={raw}\n")));
        assert!(!conf.contains("SAE"), "SAE cannot use a raw key");
    }

    #[test]
    fn hostapd_and_dnsmasq() {
        let ssid = ap_ssid("b8:27:eb:12:1a:2b\n");
        assert_eq!(ssid.as_str(), "Spot-Setup-1A2B");
        let conf = hostapd_conf("wlan0", "/run/spot-helper/hostapd", &ssid, Country::new("DE").ok().as_ref());
        assert!(conf.contains(&format!("ssid2={}\n", ssid.to_hex())));
        assert!(conf.contains("country_code=DE\n") && conf.contains("channel=6\n"));
        assert!(!conf.contains("wpa="), "the setup network is open");
        let world = hostapd_conf("wlan0", "/r", &ssid, Country::new("00").ok().as_ref());
        assert!(!world.contains("country_code"));
        // A hostile name (not one the helper makes, but the renderer must not care).
        let evil = Ssid::new("a\nwpa=2\nwpa_passphrase=x").expect("valid ssid");
        let h = hostapd_conf("wlan0", "/r", &evil, None);
        assert!(!h.contains("wpa") && !h.contains('"'), "{h}");
        assert_eq!(h.lines().count(), conf.lines().count() - 2, "same lines, less the country");
        let d = dnsmasq_conf("wlan0");
        for want in ["interface=wlan0\n", "address=/#/192.168.4.1\n", "no-resolv\n", "dhcp-range=192.168.4.10,192.168.4.200,", "bind-dynamic\n"] {
            assert!(d.contains(want), "{want} in {d}");
        }
        assert!(networkd_ap("wlan0").contains("Address=192.168.4.1/24\n"));
        assert!(networkd_client("wlan1").contains("Name=wlan1\n"));
        assert_eq!(ap_ssid("garbage").as_str(), "Spot-Setup-0000");
    }

    #[test]
    fn interface_names() {
        assert!(iface_ok("wlan0") && iface_ok("end0") && iface_ok("wlx00c0ca123456"));
        for bad in ["", "-i", "wlan0\n", "a b", "../x", "wlan0;reboot", "abcdefghijklmnop"] {
            assert!(!iface_ok(bad), "{bad:?}");
        }
    }
}
