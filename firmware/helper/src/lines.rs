//! Reading the output of the radio tools: wpa_supplicant's and hostapd's event lines, and
//! `ip -j addr`. Pure functions, so hostile names in the lines can be tested.

use setup::net::Event;

/// The event of a wpa_supplicant output line (`wlan0: CTRL-EVENT-...`). Only the first word
/// names the event, and `reason=` is the last field: an SSID cannot fake either.
pub fn wpa_event(line: &str, with_password: bool) -> Option<Event> {
    let body = line.split_once(": ").map_or(line, |(_, b)| b);
    match body.split_whitespace().next()? {
        "CTRL-EVENT-CONNECTED" => Some(Event::WifiAssociated),
        "CTRL-EVENT-DISCONNECTED" => Some(Event::WifiDisconnected),
        "CTRL-EVENT-NETWORK-NOT-FOUND" => Some(Event::WifiNotFound),
        "CTRL-EVENT-SSID-TEMP-DISABLED" => {
            let reason = body.rsplit(" reason=").next()?.split_whitespace().next()?;
            // WPA2: a failed 4-way handshake; WPA3 (SAE): a failed authentication.
            (reason == "WRONG_KEY" || (with_password && reason == "AUTH_FAILED")).then_some(Event::WifiAuthFailed)
        }
        _ => None,
    }
}

/// The event name of a hostapd output line (`wlan0: AP-ENABLED`).
pub fn hostapd_event(line: &str) -> Option<&str> {
    let body = line.split_once(": ").map_or(line, |(_, b)| b);
    body.split_whitespace().next().filter(|w| w.starts_with("AP-"))
}

/// `ip -j addr`: (interface, address) of global scope.
pub fn parse_ip_addr(json: &str) -> Vec<(String, String)> {
    let v: serde_json::Value = serde_json::from_str(json).unwrap_or_default();
    let mut out = vec![];
    for link in v.as_array().into_iter().flatten() {
        let name = link["ifname"].as_str().unwrap_or_default();
        for a in link["addr_info"].as_array().into_iter().flatten() {
            if let (Some(local), Some("global")) = (a["local"].as_str(), a["scope"].as_str()) {
                out.push((name.to_owned(), local.to_owned()));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wpa_supplicant_lines() {
        let l = |s: &str| wpa_event(s, true);
        assert_eq!(l("wlan0: CTRL-EVENT-CONNECTED - Connection to 00:11:22:33:44:55 completed [id=0 id_str=]"), Some(Event::WifiAssociated));
        assert_eq!(l("wlan0: CTRL-EVENT-DISCONNECTED bssid=00:11:22:33:44:55 reason=3 locally_generated=1"), Some(Event::WifiDisconnected));
        assert_eq!(l("wlan0: CTRL-EVENT-NETWORK-NOT-FOUND"), Some(Event::WifiNotFound));
        assert_eq!(l("wlan0: CTRL-EVENT-SSID-TEMP-DISABLED id=0 ssid=\"Home\" auth_failures=1 duration=10 reason=WRONG_KEY"), Some(Event::WifiAuthFailed));
        assert_eq!(l("wlan0: CTRL-EVENT-SSID-TEMP-DISABLED id=0 ssid=\"Home\" auth_failures=1 duration=10 reason=AUTH_FAILED"), Some(Event::WifiAuthFailed));
        assert_eq!(wpa_event("wlan0: CTRL-EVENT-SSID-TEMP-DISABLED id=0 ssid=\"Cafe\" auth_failures=1 duration=10 reason=AUTH_FAILED", false), None);
        assert_eq!(l("wlan0: CTRL-EVENT-SSID-TEMP-DISABLED id=0 ssid=\"Home\" auth_failures=1 duration=10 reason=CONN_FAILED"), None);
        // A network named to look like an event changes nothing.
        assert_eq!(l("wlan0: Trying to associate with SSID 'CTRL-EVENT-CONNECTED'"), None);
        assert_eq!(l("wlan0: CTRL-EVENT-SSID-TEMP-DISABLED id=0 ssid=\"x reason=WRONG_KEY\" auth_failures=1 duration=10 reason=CONN_FAILED"), None);
        assert_eq!(l("Successfully initialized wpa_supplicant"), None);
    }

    #[test]
    fn hostapd_lines() {
        assert_eq!(hostapd_event("wlan0: AP-ENABLED "), Some("AP-ENABLED"));
        assert_eq!(hostapd_event("wlan0: AP-STA-CONNECTED 02:00:00:00:01:00"), Some("AP-STA-CONNECTED"));
        assert_eq!(hostapd_event("wlan0: interface state UNINITIALIZED->ENABLED"), None);
    }

    #[test]
    fn ip_addresses() {
        let json = r#"[{"ifindex":1,"ifname":"lo","addr_info":[{"family":"inet","local":"127.0.0.1","prefixlen":8,"scope":"host"}]},
            {"ifindex":2,"ifname":"end0","addr_info":[{"family":"inet","local":"192.168.1.23","prefixlen":24,"scope":"global"},
            {"family":"inet6","local":"fe80::1","prefixlen":64,"scope":"link"},{"family":"inet6","local":"2001:db8::23","prefixlen":64,"scope":"global"}]},
            {"ifindex":3,"ifname":"wlan0","addr_info":[]}]"#;
        assert_eq!(
            parse_ip_addr(json),
            vec![("end0".to_owned(), "192.168.1.23".to_owned()), ("end0".to_owned(), "2001:db8::23".to_owned())]
        );
        assert!(parse_ip_addr("not json").is_empty());
    }
}
