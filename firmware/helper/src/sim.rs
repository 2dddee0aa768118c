//! The simulated hardware edge: `spot-helper serve --simulate FILE.json`, for tests and the
//! browser e2e on machines without Wi-Fi. FILE lists the networks "in range"; the file is
//! read again whenever it changes, so a test can take a network away (the box loses it),
//! bring it back, or plug a cable (`"ethernet": true`).
//!
//! ```json
//! {"networks": [{"ssid": "Home", "signal_dbm": -48, "security": "wpa2", "frequency": 2437,
//!                "password": "correct horse"}],
//!  "ethernet": false, "join_ms": 1500, "address": "192.168.50.23"}
//! ```
//!
//! It renders the same config files as the real backend into `STATE/sim-run/`, so tests see
//! exactly what the radio tools would have been given.

use crate::backend::Backend;
use crate::render;
use serde::Deserialize;
use setup::net::{Action, BoardCaps, Credentials, Event, Timing};
use setup::proto::{Network, Security};
use setup::validate::{Country, Hostname, Ssid};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimNetwork {
    pub ssid: String,
    #[serde(default = "default_signal")]
    pub signal_dbm: i32,
    #[serde(default = "default_security")]
    pub security: Security,
    #[serde(default = "default_freq")]
    pub frequency: u32,
    /// The password that works (none for open networks).
    #[serde(default)]
    pub password: Option<String>,
    /// Not in scans; joinable only as a hidden network.
    #[serde(default)]
    pub hidden: bool,
    /// `false`: associates but never gives an address.
    #[serde(default = "yes")]
    pub dhcp: bool,
}

fn default_signal() -> i32 {
    -55
}
fn default_security() -> Security {
    Security::Wpa2
}
fn default_freq() -> u32 {
    2437
}
fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimFile {
    #[serde(default)]
    pub networks: Vec<SimNetwork>,
    #[serde(default)]
    pub ethernet: bool,
    #[serde(default = "yes")]
    pub wifi: bool,
    #[serde(default)]
    pub ap_sta_concurrent: bool,
    /// How long a join takes (association at half of it).
    #[serde(default = "default_join_ms")]
    pub join_ms: u64,
    #[serde(default = "default_address")]
    pub address: String,
    #[serde(default = "default_mac")]
    pub mac: String,
    /// hostapd fails to start (to test the radio error).
    #[serde(default)]
    pub ap_fails: bool,
    /// Policy timings for quick tests (e.g. `{"eth_grace_ms": 0, "lost_fallback_ms": 5000}`).
    #[serde(default)]
    pub timing: Option<Timing>,
}

fn default_join_ms() -> u64 {
    1500
}
fn default_address() -> String {
    "192.168.50.23".into()
}
fn default_mac() -> String {
    "b8:27:eb:12:1a:2b".into()
}

pub fn read(path: &Path) -> anyhow::Result<SimFile> {
    let text = std::fs::read_to_string(path)?;
    Ok(serde_json::from_str(&text)?)
}

struct Sta {
    creds: Credentials,
    since: u64,
    associated: bool,
    addressed: bool,
    /// Next "not found" report (wpa_supplicant reports after each fruitless scan).
    next_not_found: u64,
}

pub struct SimBackend {
    path: PathBuf,
    mtime: Option<SystemTime>,
    file: SimFile,
    run: PathBuf,
    ethernet: bool,
    ap: Option<u64>,
    ap_started: bool,
    sta: Option<Sta>,
    country: Option<Country>,
    hostname: String,
}

impl SimBackend {
    pub fn new(path: &Path, state: &Path) -> anyhow::Result<SimBackend> {
        let file = read(path)?;
        let run = state.join("sim-run");
        std::fs::create_dir_all(&run)?;
        Ok(SimBackend {
            path: path.to_owned(),
            mtime: std::fs::metadata(path).and_then(|m| m.modified()).ok(),
            file,
            run,
            ethernet: false,
            ap: None,
            ap_started: false,
            sta: None,
            country: None,
            hostname: "spot".into(),
        })
    }

    pub fn timing(&self) -> Option<Timing> {
        self.file.timing
    }

    fn reload(&mut self) {
        let mtime = std::fs::metadata(&self.path).and_then(|m| m.modified()).ok();
        if mtime == self.mtime {
            return;
        }
        self.mtime = mtime;
        match read(&self.path) {
            Ok(f) => self.file = f,
            // Half-written by the test: try again next tick.
            Err(_) => self.mtime = None,
        }
    }

    fn network(&self, ssid: &Ssid) -> Option<&SimNetwork> {
        self.file.networks.iter().find(|n| n.ssid == ssid.as_str())
    }

    fn write(&self, name: &str, text: &str) {
        if let Err(e) = crate::system::write_atomic(&self.run.join(name), text.as_bytes()) {
            eprintln!("spot-helper (simulated): writing {name}: {e}");
        }
    }
}

impl Backend for SimBackend {
    fn caps(&self) -> BoardCaps {
        BoardCaps { wifi: self.file.wifi, ethernet: true, ap_sta_concurrent: self.file.ap_sta_concurrent }
    }

    fn ap_ssid(&self) -> Ssid {
        render::ap_ssid(&self.file.mac)
    }

    fn act(&mut self, now: u64, action: &Action) -> Vec<Event> {
        match action {
            Action::StartAp => {
                let conf = render::hostapd_conf("wlan0", "/run/spot-helper/hostapd", &self.ap_ssid(), self.country.as_ref());
                self.write("hostapd.conf", &conf);
                self.write("dnsmasq.conf", &render::dnsmasq_conf("wlan0"));
                self.ap = Some(now);
                self.ap_started = false;
            }
            Action::StopAp => {
                self.ap = None;
                self.ap_started = false;
            }
            Action::Join(c) => {
                self.write("wpa_supplicant.conf", &render::wpa_supplicant_conf("/run/spot-helper/wpa", c, self.country.as_ref()));
                self.sta = Some(Sta { creds: c.clone(), since: now, associated: false, addressed: false, next_not_found: now + 3000 });
            }
            Action::Leave => {
                let had = self.sta.take().is_some_and(|s| s.addressed);
                if had {
                    return vec![Event::WifiAddress(false)];
                }
            }
            Action::Scan | Action::SaveWifi(_) | Action::ForgetWifi => {}
        }
        vec![]
    }

    fn poll(&mut self, now: u64) -> Vec<Event> {
        self.reload();
        let mut ev = vec![];
        if self.file.ethernet != self.ethernet {
            self.ethernet = self.file.ethernet;
            ev.push(Event::EthernetLink(self.ethernet));
        }
        if let Some(since) = self.ap {
            if !self.ap_started && now >= since + 300 {
                if self.file.ap_fails {
                    self.ap = None;
                    ev.push(Event::ApFailed);
                } else {
                    self.ap_started = true;
                    ev.push(Event::ApStarted);
                }
            }
        }
        let join_ms = self.file.join_ms;
        let Some(sta) = self.sta.as_ref() else { return ev };
        let net = self.network(&sta.creds.ssid).filter(|n| !n.hidden || sta.creds.hidden).cloned();
        let sta = self.sta.as_mut().expect("checked above");
        let Some(net) = net else {
            // Gone (or never there); coming back takes a whole join.
            sta.since = now;
            if sta.associated {
                sta.associated = false;
                ev.push(Event::WifiDisconnected);
            }
            if sta.addressed {
                sta.addressed = false;
                ev.push(Event::WifiAddress(false));
            }
            if now >= sta.next_not_found {
                sta.next_not_found = now + 3000;
                ev.push(Event::WifiNotFound);
            }
            return ev;
        };
        let password_ok = match (&net.password, &sta.creds.psk) {
            (None, None) => true,
            (Some(want), Some(given)) => want == given.as_str(),
            _ => false,
        };
        if !sta.associated && now >= sta.since + join_ms / 2 {
            if password_ok {
                sta.associated = true;
                ev.push(Event::WifiAssociated);
            } else if now >= sta.since + join_ms {
                // wpa_supplicant retries after a temporary disable; report once per try.
                sta.since = now + 10_000;
                ev.push(Event::WifiAuthFailed);
            }
        }
        if sta.associated && !sta.addressed && net.dhcp && now >= sta.since + join_ms {
            sta.addressed = true;
            ev.push(Event::WifiAddress(true));
        }
        ev
    }

    fn scan(&mut self, _ap_up: bool) -> Result<Vec<Network>, String> {
        self.reload();
        std::thread::sleep(std::time::Duration::from_millis(300));
        let mut nets: Vec<Network> = self
            .file
            .networks
            .iter()
            .filter(|n| !n.hidden)
            .map(|n| Network { ssid: n.ssid.clone(), signal_dbm: n.signal_dbm, security: n.security, frequency: n.frequency })
            .collect();
        nets.sort_by_key(|n| std::cmp::Reverse(n.signal_dbm));
        Ok(nets)
    }

    fn addresses(&self) -> Vec<String> {
        let mut a = vec![];
        if self.ethernet {
            a.push("10.0.2.15".to_owned());
        }
        if self.sta.as_ref().is_some_and(|s| s.addressed) {
            a.push(self.file.address.clone());
        }
        if self.ap_started {
            a.push(render::AP_ADDRESS.to_owned());
        }
        a
    }

    fn signal(&self) -> Option<i32> {
        let sta = self.sta.as_ref().filter(|s| s.associated)?;
        self.network(&sta.creds.ssid).map(|n| n.signal_dbm)
    }

    fn set_country(&mut self, country: &Country) -> Result<(), String> {
        self.country = Some(country.clone());
        Ok(())
    }

    fn set_hostname(&mut self, name: &Hostname) -> Result<(), String> {
        self.hostname = name.to_string();
        Ok(())
    }

    fn hostname(&self) -> String {
        self.hostname.clone()
    }

    fn advertise_https(&mut self, port: Option<u16>) -> Result<(), String> {
        let file = self.run.join("spot-https.service");
        match port {
            Some(p) => std::fs::write(&file, crate::render::avahi_https(p)).map_err(|e| e.to_string()),
            None => {
                let _ = std::fs::remove_file(&file);
                Ok(())
            }
        }
    }

    fn start_data_fix(&mut self, action: setup::proto::DataAction) -> Result<(), String> {
        eprintln!("spot-helper (simulated): data fix {} started", action.as_str());
        std::fs::write(self.run.join("data-fix"), action.as_str()).map_err(|e| e.to_string())
    }

    fn reboot(&mut self) -> Result<(), String> {
        eprintln!("spot-helper (simulated): reboot requested");
        let _ = std::fs::write(self.run.join("rebooted"), b"yes\n");
        Ok(())
    }
}
