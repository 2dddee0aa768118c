//! The real hardware edge: Debian's hostapd, wpa_supplicant, dnsmasq (as our children, in
//! the foreground, their output read as events), `iw`, `ip`, systemd-networkd (one
//! .network file in /run for the Wi-Fi interface: DHCP as a client, the fixed address as the
//! access point), and /sys/class/net for Ethernet carrier.

use crate::backend::Backend;
use crate::cmd::{self, Daemon, Line, Tag};
use crate::lines::{hostapd_event, parse_ip_addr, wpa_event};
use crate::{iw, render};
use anyhow::{bail, Result};
use setup::net::{Action, BoardCaps, Credentials, Event};
use setup::proto::Network;
use setup::validate::{Country, Hostname, Ssid};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::time::Duration;

/// From the environment (the unit's `EnvironmentFile=/etc/spot/board.env`, board data).
#[derive(Debug, Clone)]
pub struct Config {
    /// `SPOT_HELPER_WLAN` (wlan0): the Wi-Fi client interface.
    pub wlan: String,
    /// `SPOT_HELPER_AP_WLAN` (same as wlan): a different one means AP and client at once.
    pub ap_wlan: String,
    /// `SPOT_HELPER_WIFI` yes|no|auto, `SPOT_HELPER_ETHERNET` yes|no|auto.
    pub wifi: Option<bool>,
    pub ethernet: Option<bool>,
    /// `SPOT_HELPER_POWERSAVE_OFF=yes`: the Pi's brcmfmac drops packets with power save on.
    pub powersave_off: bool,
    /// `SPOT_HELPER_RUN` (/run/spot-helper): generated configs, control sockets.
    pub run: PathBuf,
    /// `SPOT_HELPER_NETWORKD` (/run/systemd/network).
    pub networkd: PathBuf,
}

fn tri(name: &str) -> Result<Option<bool>> {
    match std::env::var(name).unwrap_or_default().as_str() {
        "" | "auto" => Ok(None),
        "yes" => Ok(Some(true)),
        "no" => Ok(Some(false)),
        v => bail!("{name}={v:?}: expected yes, no or auto"),
    }
}

impl Config {
    pub fn from_env() -> Result<Config> {
        let var = |n: &str, d: &str| std::env::var(n).ok().filter(|v| !v.is_empty()).unwrap_or_else(|| d.to_owned());
        let wlan = var("SPOT_HELPER_WLAN", "wlan0");
        let ap_wlan = var("SPOT_HELPER_AP_WLAN", &wlan);
        for i in [&wlan, &ap_wlan] {
            if !render::iface_ok(i) {
                bail!("interface name {i:?} is not valid");
            }
        }
        Ok(Config {
            wlan,
            ap_wlan,
            wifi: tri("SPOT_HELPER_WIFI")?,
            ethernet: tri("SPOT_HELPER_ETHERNET")?,
            powersave_off: tri("SPOT_HELPER_POWERSAVE_OFF")? == Some(true),
            run: var("SPOT_HELPER_RUN", "/run/spot-helper").into(),
            networkd: var("SPOT_HELPER_NETWORKD", "/run/systemd/network").into(),
        })
    }
}

const NET: &str = "/sys/class/net";

/// Where the HTTPS announcement for avahi lives (made by tmpfiles, 0755).
const MDNS_DIR: &str = "/run/spot-mdns";

pub struct RealBackend {
    cfg: Config,
    caps: BoardCaps,
    ap_ssid: Ssid,
    tx: Sender<Line>,
    rx: Receiver<Line>,
    generation: u64,
    hostapd: Option<Daemon>,
    dnsmasq: Option<Daemon>,
    wpa: Option<Daemon>,
    sta: Option<Credentials>,
    wpa_restart_at: Option<u64>,
    ap_clients: usize,
    ethernet: bool,
    wifi_address: bool,
    next_address_poll: u64,
    addresses: Vec<String>,
    next_signal_poll: u64,
    signal: Option<i32>,
    last_scan: Vec<Network>,
    country: Option<Country>,
}

impl RealBackend {
    pub fn new(cfg: Config) -> Result<RealBackend> {
        fs::create_dir_all(&cfg.run)?;
        // brcmfmac loads its firmware a few seconds into boot: give wlan0 time to appear.
        let wait = match cfg.wifi {
            Some(false) => 0,
            Some(true) => 30,
            None => 10,
        };
        let mut wifi = false;
        for _ in 0..wait * 4 {
            if Path::new(NET).join(&cfg.wlan).exists() {
                wifi = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        if cfg.wifi == Some(true) && !wifi {
            eprintln!("spot-helper: {} never appeared: no Wi-Fi (missing firmware?)", cfg.wlan);
        }
        let ethernet = cfg.ethernet.unwrap_or_else(|| !wired_interfaces().is_empty());
        let concurrent = wifi && cfg.ap_wlan != cfg.wlan;
        let mac = fs::read_to_string(Path::new(NET).join(&cfg.wlan).join("address")).unwrap_or_default();
        let (tx, rx) = channel();
        Ok(RealBackend {
            caps: BoardCaps { wifi, ethernet, ap_sta_concurrent: concurrent },
            ap_ssid: render::ap_ssid(&mac),
            cfg,
            tx,
            rx,
            generation: 0,
            hostapd: None,
            dnsmasq: None,
            wpa: None,
            sta: None,
            wpa_restart_at: None,
            ap_clients: 0,
            ethernet: false,
            wifi_address: false,
            next_address_poll: 0,
            addresses: vec![],
            next_signal_poll: 0,
            signal: None,
            last_scan: vec![],
            country: None,
        })
    }

    fn path(&self, name: &str) -> PathBuf {
        self.cfg.run.join(name)
    }

    fn spawn(&mut self, tag: Tag, prog: &str, args: &[&str]) -> Option<Daemon> {
        self.generation += 1;
        cmd::spawn(tag, self.generation, prog, args, &self.tx).map_err(|e| eprintln!("spot-helper: {e}")).ok()
    }

    /// The networkd file for an interface: DHCP client, the access point's address, or none.
    fn networkd(&self, iface: &str, text: Option<String>) {
        let file = self.cfg.networkd.join(format!("30-spot-{iface}.network"));
        let res = match text {
            Some(t) => fs::create_dir_all(&self.cfg.networkd).map_err(Into::into).and_then(|_| crate::system::write_atomic_public(&file, t.as_bytes())),
            None => fs::remove_file(&file).or_else(|e| if e.kind() == std::io::ErrorKind::NotFound { Ok(()) } else { Err(e) }).map_err(Into::into),
        };
        if let Err(e) = res {
            eprintln!("spot-helper: {}: {e}", file.display());
        }
        // networkd may not run yet early at boot; it reads the file when it starts.
        for args in [vec!["reload"], vec!["reconfigure", iface]] {
            if let Err(e) = cmd::run("networkctl", &args, 10) {
                eprintln!("spot-helper: {e}");
            }
        }
    }

    fn stop_ap(&mut self) {
        if let Some(d) = self.dnsmasq.take() {
            cmd::stop(d, None);
        }
        if let Some(d) = self.hostapd.take() {
            cmd::stop(d, Some(&self.path("hostapd").join(&self.cfg.ap_wlan)));
        }
        self.ap_clients = 0;
    }

    fn stop_wpa(&mut self) {
        if let Some(d) = self.wpa.take() {
            cmd::stop(d, Some(&self.path("wpa").join(&self.cfg.wlan)));
        }
    }

    fn start_wpa(&mut self) {
        let Some(c) = self.sta.clone() else { return };
        let conf = self.path("wpa_supplicant.conf");
        let ctrl = self.path("wpa");
        let text = render::wpa_supplicant_conf(&ctrl.to_string_lossy(), &c, self.country.as_ref());
        if let Err(e) = crate::system::write_atomic(&conf, text.as_bytes()) {
            eprintln!("spot-helper: {}: {e}", conf.display());
            return;
        }
        let wlan = self.cfg.wlan.clone();
        self.wpa = self.spawn(Tag::Wpa, "wpa_supplicant", &["-i", &wlan, "-D", "nl80211", "-c", &conf.to_string_lossy()]);
    }

    fn start_ap(&mut self) -> Vec<Event> {
        self.stop_ap();
        let ap = self.cfg.ap_wlan.clone();
        if ap != self.cfg.wlan && !Path::new(NET).join(&ap).exists() {
            let _ = cmd::run("iw", &["dev", &self.cfg.wlan, "interface", "add", &ap, "type", "__ap"], 10);
        }
        self.networkd(&ap, Some(render::networkd_ap(&ap)));
        let conf = self.path("hostapd.conf");
        let text = render::hostapd_conf(&ap, &self.path("hostapd").to_string_lossy(), &self.ap_ssid, self.country.as_ref());
        if crate::system::write_atomic(&conf, text.as_bytes()).is_err() {
            return vec![Event::ApFailed];
        }
        self.hostapd = self.spawn(Tag::Hostapd, "hostapd", &[&conf.to_string_lossy()]);
        if self.hostapd.is_none() {
            return vec![Event::ApFailed];
        }
        vec![]
    }

    fn start_dnsmasq(&mut self) {
        let conf = self.path("dnsmasq.conf");
        if crate::system::write_atomic(&conf, render::dnsmasq_conf(&self.cfg.ap_wlan).as_bytes()).is_ok() {
            let arg = format!("--conf-file={}", conf.display());
            self.dnsmasq = self.spawn(Tag::Dnsmasq, "dnsmasq", &["--keep-in-foreground", &arg]);
        }
    }

    fn on_line(&mut self, now: u64, tag: Tag, generation: u64, line: Option<String>, ev: &mut Vec<Event>) {
        let current = match tag {
            Tag::Hostapd => self.hostapd.as_ref(),
            Tag::Wpa => self.wpa.as_ref(),
            Tag::Dnsmasq => self.dnsmasq.as_ref(),
        }
        .is_some_and(|d| d.generation == generation);
        if !current {
            return;
        }
        let Some(line) = line else {
            eprintln!("spot-helper: {tag:?} exited");
            match tag {
                Tag::Hostapd => {
                    self.hostapd = None;
                    self.stop_ap();
                    ev.push(Event::ApFailed);
                }
                Tag::Wpa => {
                    self.wpa = None;
                    self.wpa_restart_at = Some(now + 5_000);
                    ev.push(Event::WifiDisconnected);
                }
                // The access point without DHCP is no use: let the policy restart it.
                Tag::Dnsmasq => {
                    self.stop_ap();
                    ev.push(Event::ApFailed);
                }
            }
            return;
        };
        eprintln!("{}: {line}", format!("{tag:?}").to_lowercase());
        match tag {
            Tag::Wpa => {
                let e = wpa_event(&line, self.sta.as_ref().is_some_and(|c| c.psk.is_some()));
                if e == Some(Event::WifiAssociated) && self.cfg.powersave_off {
                    let _ = cmd::run("iw", &["dev", &self.cfg.wlan, "set", "power_save", "off"], 5);
                }
                ev.extend(e);
            }
            Tag::Hostapd => match hostapd_event(&line) {
                Some("AP-ENABLED") => {
                    ev.push(Event::ApStarted);
                    self.start_dnsmasq();
                }
                Some("AP-DISABLED") => ev.push(Event::ApFailed),
                Some("AP-STA-CONNECTED") => {
                    self.ap_clients += 1;
                    ev.push(Event::ApClients(self.ap_clients));
                }
                Some("AP-STA-DISCONNECTED") => {
                    self.ap_clients = self.ap_clients.saturating_sub(1);
                    ev.push(Event::ApClients(self.ap_clients));
                }
                _ => {}
            },
            Tag::Dnsmasq => {}
        }
    }
}

/// sethostname(2) through `hostname` (an Essential package): the workspace has no `unsafe`,
/// and `hostnamectl --transient` is ignored while /etc/hostname (read-only, "spot") holds a
/// static name. avahi is told over D-Bus (what avahi-set-host-name does), with a restart as
/// the fallback (a no-op while it is not running yet, early at boot).
pub fn apply_hostname(name: &Hostname) -> Result<(), String> {
    cmd::run("hostname", &[name.as_str()], 5)?;
    let avahi = ["call", "org.freedesktop.Avahi", "/", "org.freedesktop.Avahi.Server", "SetHostName", "s", name.as_str()];
    if cmd::run("busctl", &avahi, 5).is_err() {
        let _ = cmd::run("systemctl", &["try-restart", "avahi-daemon.service"], 20);
    }
    Ok(())
}

/// Physical wired interfaces: Ethernet type, a device behind it, not a radio.
fn wired_interfaces() -> Vec<String> {
    let Ok(dir) = fs::read_dir(NET) else { return vec![] };
    dir.flatten()
        .filter(|e| {
            let p = e.path();
            fs::read_to_string(p.join("type")).is_ok_and(|t| t.trim() == "1")
                && p.join("device").exists()
                && !p.join("wireless").exists()
                && !p.join("phy80211").exists()
        })
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

fn carrier(iface: &str) -> bool {
    let p = Path::new(NET).join(iface);
    let up = fs::read_to_string(p.join("carrier")).is_ok_and(|c| c.trim() == "1");
    up && fs::read_to_string(p.join("operstate")).is_ok_and(|s| matches!(s.trim(), "up" | "unknown"))
}

impl Backend for RealBackend {
    fn caps(&self) -> BoardCaps {
        self.caps
    }

    fn ap_ssid(&self) -> Ssid {
        self.ap_ssid.clone()
    }

    fn act(&mut self, _now: u64, action: &Action) -> Vec<Event> {
        match action {
            Action::StartAp => return self.start_ap(),
            Action::StopAp => {
                self.stop_ap();
                let ap = self.cfg.ap_wlan.clone();
                if ap != self.cfg.wlan || self.sta.is_none() {
                    self.networkd(&ap, None);
                }
            }
            Action::Join(c) => {
                self.stop_wpa();
                self.sta = Some(c.clone());
                self.wifi_address = false;
                self.next_address_poll = 0;
                let wlan = self.cfg.wlan.clone();
                self.networkd(&wlan, Some(render::networkd_client(&wlan)));
                self.start_wpa();
            }
            Action::Leave => {
                self.stop_wpa();
                self.sta = None;
                self.signal = None;
                let wlan = self.cfg.wlan.clone();
                if wlan != self.cfg.ap_wlan || self.hostapd.is_none() {
                    self.networkd(&wlan, None);
                }
                if std::mem::take(&mut self.wifi_address) {
                    return vec![Event::WifiAddress(false)];
                }
            }
            // The driver does these (scans through `scan`, the saved file itself).
            Action::Scan | Action::SaveWifi(_) | Action::ForgetWifi => {}
        }
        vec![]
    }

    fn poll(&mut self, now: u64) -> Vec<Event> {
        let mut ev = vec![];
        while let Ok((tag, generation, line)) = self.rx.try_recv() {
            self.on_line(now, tag, generation, line, &mut ev);
        }
        if self.wpa_restart_at.is_some_and(|t| now >= t) {
            self.wpa_restart_at = None;
            if self.sta.is_some() && self.wpa.is_none() {
                self.start_wpa();
            }
        }
        let eth = wired_interfaces().iter().any(|i| carrier(i));
        if eth != self.ethernet {
            self.ethernet = eth;
            ev.push(Event::EthernetLink(eth));
        }
        if now >= self.next_address_poll {
            // Quicker while waiting for DHCP.
            let joining = self.sta.is_some() && !self.wifi_address;
            self.next_address_poll = now + if joining { 1_000 } else { 3_000 };
            if let Ok(json) = cmd::run("ip", &["-j", "addr", "show"], 5) {
                let all = parse_ip_addr(&json);
                self.addresses = all.iter().filter(|(i, _)| i != "lo").map(|(_, a)| a.clone()).collect();
                let has = self.sta.is_some() && all.iter().any(|(i, _)| *i == self.cfg.wlan);
                if has != self.wifi_address {
                    self.wifi_address = has;
                    ev.push(Event::WifiAddress(has));
                }
            }
        }
        if self.sta.is_some() && now >= self.next_signal_poll {
            self.next_signal_poll = now + 5_000;
            self.signal = cmd::run("iw", &["dev", &self.cfg.wlan, "link"], 5).ok().and_then(|t| iw::parse_link_signal(&t));
        }
        ev
    }

    fn scan(&mut self, ap_up: bool) -> Result<Vec<Network>, String> {
        let wlan = self.cfg.wlan.clone();
        let _ = cmd::run("ip", &["link", "set", "dev", &wlan, "up"], 5);
        // Serving the access point on the same radio: only drivers that allow it scan.
        let mut args = vec!["dev", wlan.as_str(), "scan"];
        if ap_up && self.cfg.ap_wlan == self.cfg.wlan {
            args.push("ap-force");
        }
        // "Device or resource busy" while wpa_supplicant scans: once more, then the last scan.
        let res = cmd::run("iw", &args, 15).or_else(|_| {
            std::thread::sleep(Duration::from_millis(1500));
            cmd::run("iw", &args, 15)
        });
        match res {
            Ok(text) => {
                self.last_scan = iw::parse_scan(&text);
                Ok(self.last_scan.clone())
            }
            Err(_) if !self.last_scan.is_empty() => Ok(self.last_scan.clone()),
            Err(e) => Err(e),
        }
    }

    fn addresses(&self) -> Vec<String> {
        self.addresses.clone()
    }

    fn signal(&self) -> Option<i32> {
        self.signal
    }

    fn set_country(&mut self, country: &Country) -> Result<(), String> {
        self.country = Some(country.clone());
        cmd::run("iw", &["reg", "set", country.as_str()], 5).map(|_| ())
    }

    fn set_hostname(&mut self, name: &Hostname) -> Result<(), String> {
        apply_hostname(name)
    }

    fn hostname(&self) -> String {
        fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_owned()).unwrap_or_default()
    }

    fn advertise_https(&mut self, port: Option<u16>) -> Result<(), String> {
        // The image links /etc/avahi/services/spot-https.service here (the root is read-only);
        // avahi runs as its own user, so the directory (tmpfiles) and the file are world-readable.
        let file = Path::new(MDNS_DIR).join("spot-https.service");
        match port {
            Some(p) => {
                crate::system::write_atomic_public(&file, crate::render::avahi_https(p).as_bytes()).map_err(|e| e.to_string())?;
            }
            None => {
                let _ = std::fs::remove_file(&file);
            }
        }
        // avahi re-reads its static services on reload (SIGHUP).
        cmd::run("systemctl", &["try-reload-or-restart", "avahi-daemon.service"], 20).map(|_| ()).map_err(|e| e.to_string())
    }

    fn start_data_fix(&mut self, action: setup::proto::DataAction) -> Result<(), String> {
        // The unit name is one of two fixed strings, never text from the request.
        let unit = format!("spot-data-fix@{}.service", action.as_str());
        cmd::run("systemctl", &["start", "--no-block", &unit], 20).map(|_| ())
    }

    fn reboot(&mut self) -> Result<(), String> {
        std::thread::spawn(|| {
            std::thread::sleep(Duration::from_secs(1));
            if let Err(e) = cmd::run("systemctl", &["reboot"], 30) {
                eprintln!("spot-helper: {e}");
            }
        });
        Ok(())
    }
}
