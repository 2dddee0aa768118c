//! The daemon ↔ helper protocol: one JSON object per line each way, one request per
//! connection. The socket (`/run/spot-helper/helper.sock`, mode 0660, group `spot`) is the
//! only way in; the helper validates every field again with [`crate::validate`].

use serde::{Deserialize, Serialize};

/// Where the helper listens on the image.
pub const SOCKET: &str = "/run/spot-helper/helper.sock";
/// Longest request line the helper reads (a Wi-Fi join is ~200 bytes).
pub const MAX_REQUEST: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
    /// The network's state (cheap; the daemon polls it).
    Status,
    /// Scan for Wi-Fi networks (may return the last scan when the radio serves the setup AP).
    WifiScan,
    /// Join a Wi-Fi network; progress and the outcome show in `Status`.
    WifiJoin { ssid: String, psk: Option<String>, hidden: bool },
    /// Forget the Wi-Fi network and return to Ethernet or the setup access point.
    WifiForget,
    /// The Wi-Fi regulatory domain, ISO 3166-1 alpha-2 (`DE`, `US`, `00` for world).
    SetCountry { country: String },
    /// Host name (also the mDNS name `NAME.local`).
    SetHostname { name: String },
    /// IANA time zone, e.g. `Europe/Berlin`.
    SetTimezone { tz: String },
    /// Announce the web app over mDNS as `_https._tcp` on this port too (`None`: HTTP only).
    AdvertiseHttps { port: Option<u16> },
    /// Wipe the data partition and reboot into first-run setup.
    FactoryReset,
    /// Reboot the box.
    Reboot,
    /// With the data partition missing, damaged or full (spot-data-check.service found it so):
    /// repair it or make a new one, then reboot. Refused when the partition is fine.
    DataFix { action: DataAction },
    /// Updates: the slots, the install in progress, the history.
    OtaStatus,
    /// Install the bundle the daemon saved as `OTA_INCOMING/<name>` (a bare file name; the
    /// helper checks its signature and everything else again). Progress shows in `OtaStatus`.
    OtaInstall { name: String },
    /// A bundle from the update feed, of which `OTA_INCOMING/<name>` holds the header (the
    /// rest may be holes): the helper checks it as for an install and answers, from the running
    /// slot's chunks, the byte ranges of the file it still needs (`Reply::OtaPlan`).
    OtaPlan { name: String },
    /// Install `OTA_INCOMING/<name>` holding the header and the ranges `OtaPlan` named (a
    /// sparse file): the other chunks are copied from the running slot.
    OtaInstallDelta { name: String },
    /// The daemon is READY with its migrations done (sent every few seconds): what commits a
    /// slot on trial once it stayed so long enough.
    OtaHealthy,
    /// Boot the other slot (which must hold a complete system) from the next restart on.
    OtaRollback,
}

/// Where the daemon puts an uploaded bundle for the helper (`OtaInstall`), on the image: in
/// its data directory (`--data-dir /data/spot`), as `ota/incoming/NAME`.
pub const OTA_INCOMING: &str = "/data/spot/ota/incoming";

/// Both root slots.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OtaSlot {
    /// `A` or `B`.
    pub name: String,
    /// Empty when the slot holds nothing.
    pub version: String,
    /// `good` (a complete system) or `empty` (never written, or being written).
    pub state: String,
    /// The box runs from it.
    pub running: bool,
    /// It is the committed slot (booted unless a trial is pending).
    pub primary: bool,
    /// Boots next, on trial.
    pub trial: bool,
}

/// What the updater is doing (`ota::lifecycle::Status`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OtaPhase {
    /// `idle`, `installing`, `staged` (restart to boot it) or `trial` (running it, not
    /// committed yet).
    pub phase: String,
    pub version: Option<String>,
    /// Installing: bytes verified and written, of `total`.
    pub done: Option<u64>,
    pub total: Option<u64>,
    /// Bytes per second, seconds left.
    pub speed: Option<u64>,
    pub eta: Option<u64>,
    /// Trial: seconds until it commits if it stays healthy.
    pub commit_in: Option<u64>,
}

/// One entry of the update history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OtaRecord {
    /// Seconds since the epoch.
    pub at: u64,
    /// `staged`, `install_failed`, `committed`, `rolled_back`.
    pub outcome: String,
    pub version: Option<String>,
    /// install_failed: the stable error code (`bad_signature`, `downgrade`, ...).
    pub code: Option<String>,
    /// Why, in words (install_failed, rolled_back).
    pub message: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OtaReport {
    pub board: String,
    /// The running system's version.
    pub version: String,
    /// No update installs below this version (raised on each commit).
    pub floor: String,
    pub slots: Vec<OtaSlot>,
    pub status: OtaPhase,
    /// Newest first.
    pub history: Vec<OtaRecord>,
}

/// What a box lacks of a bundle (`OtaPlan`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OtaPlanReport {
    /// The bundle's version (checked: signature, board, floor, downgrade).
    pub version: String,
    /// Byte ranges of the bundle file still needed, `[offset, length]`, sorted and merged.
    pub ranges: Vec<[u64; 2]>,
    /// Bytes in `ranges`.
    pub wanted: u64,
    /// Bytes of the new system copied from the running slot instead.
    pub local: u64,
}

/// What the data-problem page may ask for; the helper maps each to one fixed unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DataAction {
    /// `e2fsck -fy`: keeps what can be saved.
    Repair,
    /// A new, empty file system: the box starts over with first-run setup.
    Erase,
}

impl DataAction {
    pub fn as_str(self) -> &'static str {
        match self {
            DataAction::Repair => "repair",
            DataAction::Erase => "erase",
        }
    }
}

impl Request {
    /// Strict parsing for the helper: serde's internally tagged enums let unit variants
    /// (`status`, `reboot`, ...) carry any extra field, so every field given must also be one
    /// the request itself has.
    pub fn parse(line: &str) -> Result<Request, String> {
        let value: serde_json::Value = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
        let given: Vec<String> = match &value {
            serde_json::Value::Object(m) => m.keys().cloned().collect(),
            _ => return Err("a request is a JSON object".into()),
        };
        let req: Request = serde_json::from_value(value).map_err(|e| e.to_string())?;
        let known = serde_json::to_value(&req).map_err(|e| e.to_string())?;
        if let Some(extra) = given.iter().find(|k| known.get(k.as_str()).is_none()) {
            return Err(format!("unknown field `{extra}`"));
        }
        Ok(req)
    }
}

/// How the box is connected right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Starting up: waiting a short while for an Ethernet link.
    Starting,
    /// Connected by cable.
    Ethernet,
    /// Serving the setup access point `Spot-Setup-XXXX`.
    AccessPoint,
    /// Joining a Wi-Fi network (the access point may be down meanwhile).
    Joining,
    /// Joined a Wi-Fi network.
    Wifi,
    /// The known Wi-Fi network is gone; the setup access point comes back after a while.
    Lost,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Security {
    Open,
    Wpa2,
    Wpa3,
    /// WPA2/WPA3 transition mode.
    Wpa2Wpa3,
    /// WEP or enterprise (802.1X): shown, not joinable.
    Unsupported,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Network {
    pub ssid: String,
    /// dBm, e.g. -52.
    pub signal_dbm: i32,
    pub security: Security,
    /// MHz.
    pub frequency: u32,
}

/// Why the last join (or the known network) failed, with a stable code and words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetError {
    /// `wrong_password`, `not_found`, `no_address`, `timeout`, `unsupported_security`, `radio`.
    pub code: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    pub mode: Mode,
    /// Whether this board has Wi-Fi (a radio the helper can use).
    pub wifi: bool,
    /// Whether an Ethernet link is up.
    pub ethernet: bool,
    /// The Wi-Fi network joined or being joined.
    pub ssid: Option<String>,
    /// Signal of the joined network, dBm.
    pub signal_dbm: Option<i32>,
    /// The setup access point's name (`Spot-Setup-XXXX`), whether or not it is up.
    pub ap_ssid: String,
    /// The box's addresses on every interface but loopback, e.g. `192.168.1.23`.
    pub addresses: Vec<String>,
    pub hostname: String,
    pub country: Option<String>,
    pub last_error: Option<NetError>,
    /// The saved Wi-Fi network (joined or not), so Admin → Network can name it.
    #[serde(default)]
    pub saved_ssid: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Reply {
    Status { ok: bool, status: Status },
    Ota { ok: bool, ota: OtaReport },
    OtaPlan { ok: bool, plan: OtaPlanReport },
    Networks { ok: bool, networks: Vec<Network> },
    // Before `Done`: untagged tries in order, and `{"ok":false,"error":..}` also fits `Done`.
    Error { ok: bool, error: HelperError },
    Done { ok: bool },
}

/// A refused or failed request. `code` is stable: `bad_request`, `invalid_argument`,
/// `unsupported`, `busy`, `failed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HelperError {
    pub code: String,
    pub message: String,
}

impl Reply {
    pub fn error(code: &str, message: impl Into<String>) -> Reply {
        Reply::Error { ok: false, error: HelperError { code: code.into(), message: message.into() } }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_read_back_as_what_was_sent() {
        let plan = OtaPlanReport { version: "0.2.0".into(), ranges: vec![[4096, 70_000]], wanted: 70_000, local: 1 << 20 };
        for r in [Reply::Done { ok: true }, Reply::error("invalid_argument", "The Wi-Fi name must be 1 to 32 bytes long."), Reply::OtaPlan { ok: true, plan }] {
            let line = serde_json::to_string(&r).expect("json");
            assert_eq!(serde_json::from_str::<Reply>(&line).expect("parse"), r, "{line}");
        }
    }

    #[test]
    fn requests_refuse_unknown_fields_and_wrong_types() {
        let ok = Request::parse(r#"{"cmd":"wifi_join","ssid":"a","psk":null,"hidden":false}"#).expect("ok");
        assert!(matches!(ok, Request::WifiJoin { .. }));
        assert_eq!(Request::parse(r#"{"cmd":"wifi_join","ssid":"a","hidden":true}"#).ok(), Some(Request::WifiJoin { ssid: "a".into(), psk: None, hidden: true }));
        assert_eq!(Request::parse(r#"{"cmd":"status"}"#), Ok(Request::Status));
        assert!(Request::parse("[1]").is_err());
        assert!(Request::parse("\"status\"").is_err());
        for bad in [
            r#"{"cmd":"wifi_join","ssid":"a","psk":null,"hidden":false,"x":1}"#,
            r#"{"cmd":"wifi_join","ssid":"a","psk":null,"hidden":"no"}"#,
            r#"{"cmd":"wifi_join","ssid":1,"psk":null,"hidden":false}"#,
            r#"{"cmd":"format_disk"}"#,
            r#"{"cmd":"status","x":1}"#,
            r#"{"cmd":"reboot","now":true}"#,
            r#"{"cmd":"set_country","country":"DE","also":"x"}"#,
        ] {
            assert!(Request::parse(bad).is_err(), "{bad}");
        }
    }
}
