//! Captive-portal probes. While the box serves its setup access point, its DNS answers every
//! name with the box, so each OS's connectivity check lands here. Answering with a redirect
//! (instead of the "success" body the OS expects) makes the phone open the wizard by itself;
//! once setup is complete the box answers with the expected body, so the phone stops
//! nagging and keeps the connection.

/// The operating systems (and browsers) whose probes we know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Os {
    Android,
    Apple,
    Windows,
    ChromeOs,
    Firefox,
    /// Linux desktops (NetworkManager / GNOME, KDE).
    Linux,
}

/// A known probe: its host and path, and the answer that means "you are online".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    pub os: Os,
    pub host: &'static str,
    /// Path prefix (`*` at the end: any path below), or exact path.
    pub path: &'static str,
    pub success: Success,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Success {
    pub status: u16,
    pub content_type: &'static str,
    pub body: &'static str,
}

const NO_CONTENT: Success = Success { status: 204, content_type: "text/plain", body: "" };
const APPLE: Success = Success {
    status: 200,
    content_type: "text/html",
    body: "<HTML><HEAD><TITLE>Success</TITLE></HEAD><BODY>Success</BODY></HTML>",
};
const MSFT: Success = Success { status: 200, content_type: "text/plain", body: "Microsoft Connect Test" };
const NCSI: Success = Success { status: 200, content_type: "text/plain", body: "Microsoft NCSI" };
const FIREFOX: Success = Success { status: 200, content_type: "text/plain", body: "success\n" };
const FIREFOX_CANONICAL: Success = Success {
    status: 200,
    content_type: "text/html",
    body: "<meta http-equiv=\"refresh\" content=\"0;url=https://support.mozilla.org/kb/captive-portal\"/>",
};
const NM: Success = Success { status: 200, content_type: "text/plain", body: "NetworkManager is online\n" };

/// Every probe we answer. Android and ChromeOS use several Google hosts; Apple varies the
/// path under captive.apple.com; Windows 10/11 and older Windows use different hosts.
pub const PROBES: &[Probe] = &[
    Probe { os: Os::Android, host: "connectivitycheck.gstatic.com", path: "/generate_204", success: NO_CONTENT },
    Probe { os: Os::Android, host: "connectivitycheck.android.com", path: "/generate_204", success: NO_CONTENT },
    Probe { os: Os::Android, host: "www.google.com", path: "/gen_204", success: NO_CONTENT },
    Probe { os: Os::Android, host: "play.googleapis.com", path: "/generate_204", success: NO_CONTENT },
    Probe { os: Os::ChromeOs, host: "clients3.google.com", path: "/generate_204", success: NO_CONTENT },
    Probe { os: Os::ChromeOs, host: "clients1.google.com", path: "/generate_204", success: NO_CONTENT },
    Probe { os: Os::ChromeOs, host: "www.gstatic.com", path: "/generate_204", success: NO_CONTENT },
    Probe { os: Os::Apple, host: "captive.apple.com", path: "*", success: APPLE },
    Probe { os: Os::Apple, host: "www.apple.com", path: "/library/test/success.html", success: APPLE },
    Probe { os: Os::Apple, host: "www.appleiphonecell.com", path: "*", success: APPLE },
    Probe { os: Os::Apple, host: "www.itools.info", path: "*", success: APPLE },
    Probe { os: Os::Apple, host: "www.ibook.info", path: "*", success: APPLE },
    Probe { os: Os::Apple, host: "www.airport.us", path: "*", success: APPLE },
    Probe { os: Os::Apple, host: "www.thinkdifferent.us", path: "*", success: APPLE },
    Probe { os: Os::Windows, host: "www.msftconnecttest.com", path: "/connecttest.txt", success: MSFT },
    Probe { os: Os::Windows, host: "ipv6.msftconnecttest.com", path: "/connecttest.txt", success: MSFT },
    Probe { os: Os::Windows, host: "www.msftconnecttest.com", path: "/redirect", success: MSFT },
    Probe { os: Os::Windows, host: "www.msftncsi.com", path: "/ncsi.txt", success: NCSI },
    Probe { os: Os::Firefox, host: "detectportal.firefox.com", path: "/success.txt", success: FIREFOX },
    Probe { os: Os::Firefox, host: "detectportal.firefox.com", path: "/canonical.html", success: FIREFOX_CANONICAL },
    Probe { os: Os::Linux, host: "nmcheck.gnome.org", path: "/check_network_status.txt", success: NM },
    Probe { os: Os::Linux, host: "network-test.debian.org", path: "/nm", success: NM },
    Probe { os: Os::Linux, host: "networkcheck.kde.org", path: "*", success: NM },
];

/// The host without a port, lower-case, without a trailing dot.
pub fn bare_host(host: &str) -> String {
    let h = host.trim();
    let h = if let Some(rest) = h.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        match h.rsplit_once(':') {
            Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) && !name.contains(':') => name,
            _ => h,
        }
    };
    h.trim_end_matches('.').to_ascii_lowercase()
}

/// The probe a request is, if any (by `Host` and path).
pub fn probe(host: &str, path: &str) -> Option<&'static Probe> {
    let host = bare_host(host);
    PROBES.iter().find(|p| {
        p.host == host
            && match p.path {
                "*" => true,
                exact => path == exact || path.strip_prefix(exact).is_some_and(|r| r.starts_with('?')),
            }
    })
}

/// Is `host` one of the OS connectivity-check hosts (whatever the path)?
pub fn is_probe_host(host: &str) -> bool {
    let host = bare_host(host);
    PROBES.iter().any(|p| p.host == host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_os_probe_is_recognised_with_its_success_answer() {
        let cases = [
            ("connectivitycheck.gstatic.com", "/generate_204", Os::Android, 204, ""),
            ("www.google.com", "/gen_204", Os::Android, 204, ""),
            ("clients3.google.com", "/generate_204", Os::ChromeOs, 204, ""),
            ("captive.apple.com", "/hotspot-detect.html", Os::Apple, 200, "Success"),
            ("captive.apple.com", "/", Os::Apple, 200, "Success"),
            ("www.apple.com", "/library/test/success.html", Os::Apple, 200, "Success"),
            ("www.msftconnecttest.com", "/connecttest.txt", Os::Windows, 200, "Microsoft Connect Test"),
            ("www.msftncsi.com", "/ncsi.txt", Os::Windows, 200, "Microsoft NCSI"),
            ("detectportal.firefox.com", "/success.txt", Os::Firefox, 200, "success"),
            ("detectportal.firefox.com", "/canonical.html", Os::Firefox, 200, "captive-portal"),
            ("nmcheck.gnome.org", "/check_network_status.txt", Os::Linux, 200, "NetworkManager is online"),
        ];
        for (host, path, os, status, body) in cases {
            let p = probe(host, path).unwrap_or_else(|| panic!("{host}{path} not recognised"));
            assert_eq!(p.os, os, "{host}{path}");
            assert_eq!(p.success.status, status, "{host}{path}");
            assert!(p.success.body.contains(body), "{host}{path}");
        }
    }

    #[test]
    fn hosts_with_ports_case_and_dots_match_and_others_do_not() {
        assert!(probe("ConnectivityCheck.GSTATIC.com.:80", "/generate_204").is_some());
        assert!(probe("detectportal.firefox.com", "/success.txt?ipv4").is_some());
        assert!(probe("connectivitycheck.gstatic.com", "/generate_2045").is_none());
        assert!(probe("spot.local", "/generate_204").is_none());
        assert!(probe("evil.example", "/hotspot-detect.html").is_none());
        assert!(is_probe_host("www.msftconnecttest.com"));
        assert!(!is_probe_host("192.168.4.1"));
        assert_eq!(bare_host("[fe80::1]:8080"), "fe80::1");
        assert_eq!(bare_host("fe80::1"), "fe80::1");
        assert_eq!(bare_host("Spot.Local:80"), "spot.local");
    }
}
