//! The box's network policy: Ethernet, the setup access point, joining, joined, lost and the
//! fallback back to the access point. Sans-IO like the SFU: the caller passes `now` (ms on a
//! monotonic clock), feeds [`Event`]s, carries out the [`Action`]s from [`Policy::poll`] and
//! calls `handle(now, Event::Timeout)` at [`Policy::next_timeout`].
//!
//! The same code drives the real radio (`spot-helper`'s iw/hostapd/wpa_supplicant backend)
//! and its simulator.

use crate::proto::{Mode, NetError};
use crate::validate::{Psk, Ssid};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// "30 seconds", "a minute", "3 minutes" (rounded to the nearest minute past one).
pub fn span_words(ms: u64) -> String {
    let secs = ms.div_ceil(1000);
    match secs {
        0..=59 => format!("{secs} second{}", if secs == 1 { "" } else { "s" }),
        60..=89 => "a minute".to_string(),
        _ => format!("{} minutes", (secs + 30) / 60),
    }
}

#[cfg(test)]
mod tests;

/// What the board has, from its data in `board/` (and what the helper finds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BoardCaps {
    pub wifi: bool,
    pub ethernet: bool,
    /// The radio can serve the setup access point while it is a client (a second interface).
    pub ap_sta_concurrent: bool,
}

/// A Wi-Fi network to join, and what is saved after a successful join.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    pub ssid: Ssid,
    /// `None`: an open network.
    pub psk: Option<Psk>,
    /// Not broadcast: scan for it by name.
    pub hidden: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// An Ethernet link came up or went down (any wired interface).
    EthernetLink(bool),
    WifiJoinRequested(Credentials),
    WifiForget,
    /// Associated and authenticated (wpa_supplicant: CTRL-EVENT-CONNECTED).
    WifiAssociated,
    /// The Wi-Fi interface got (true) or lost (false) a usable address.
    WifiAddress(bool),
    /// The network refused the password (4-way handshake or SAE failure).
    WifiAuthFailed,
    /// A scan did not find the network.
    WifiNotFound,
    WifiDisconnected,
    ApStarted,
    ApFailed,
    /// How many clients are on the setup access point.
    ApClients(usize),
    /// `now` reached [`Policy::next_timeout`].
    Timeout,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Scan now and keep the result: scans are cheap before the access point takes the radio.
    Scan,
    StartAp,
    StopAp,
    /// Join this network (replacing any other); progress comes back as events.
    Join(Credentials),
    /// Leave the Wi-Fi network (radio idle, or the access point only).
    Leave,
    /// Persist these credentials: they have just worked.
    SaveWifi(Credentials),
    ForgetWifi,
}

/// How long things may take, in ms. `Default` is what the box uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Timing {
    /// At boot: how long to wait for an Ethernet link before using Wi-Fi.
    pub eth_grace_ms: u64,
    /// A cable blip shorter than this does not bring up Wi-Fi.
    pub eth_down_grace_ms: u64,
    /// A whole join attempt.
    pub join_timeout_ms: u64,
    /// From association to an address (DHCP).
    pub address_timeout_ms: u64,
    /// "Not found" counts only after this long (the first scans may miss a network).
    pub not_found_ms: u64,
    /// A joined network gone this long brings back the setup access point.
    pub lost_fallback_ms: u64,
    /// While the access point is up with a known network: how often to try that network.
    pub retry_interval_ms: u64,
    /// Clients on the access point postpone a retry, but not for longer than this.
    pub retry_postpone_max_ms: u64,
    /// After the access point failed to start: when to try again.
    pub ap_restart_ms: u64,
}

impl Default for Timing {
    fn default() -> Timing {
        Timing {
            eth_grace_ms: 20_000,
            eth_down_grace_ms: 5_000,
            join_timeout_ms: 45_000,
            address_timeout_ms: 20_000,
            not_found_ms: 12_000,
            lost_fallback_ms: 180_000,
            retry_interval_ms: 120_000,
            retry_postpone_max_ms: 600_000,
            ap_restart_ms: 15_000,
        }
    }
}

/// The policy's part of the helper's `Status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct View {
    pub mode: Mode,
    pub ethernet: bool,
    /// Joined or being joined.
    pub ssid: Option<String>,
    pub saved_ssid: Option<String>,
    /// Whether the setup access point is up (or being started).
    pub ap_up: bool,
    pub last_error: Option<NetError>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Asked for by a person: saved on success.
    New,
    /// The saved network (at boot, after Ethernet, after a failed `New`).
    Known,
    /// A periodic try of the saved network from the access point.
    Retry,
}

#[derive(Debug, Clone)]
struct Join {
    creds: Credentials,
    kind: Kind,
    started: u64,
    associated_at: Option<u64>,
    ever_associated: bool,
    saw_not_found: bool,
    /// Success must not clear the error that made us come here (a failed `New`).
    keep_error: bool,
}

#[derive(Debug, Clone)]
enum State {
    /// Boot: waiting for Ethernet until the deadline (`None`: not started yet).
    Starting { until: Option<u64> },
    Ethernet { down_since: Option<u64> },
    Ap { restart_at: Option<u64>, retry_at: Option<u64>, postponed_since: Option<u64> },
    Joining(Join),
    Wifi,
    Lost { since: u64, reason: &'static str },
}

pub struct Policy {
    caps: BoardCaps,
    timing: Timing,
    saved: Option<Credentials>,
    ap_ssid: String,
    state: State,
    ethernet_up: bool,
    /// What we asked the radio for (actions issued), so each is issued once.
    ap_running: bool,
    sta_running: bool,
    ap_clients: usize,
    /// The Wi-Fi interface has an address (last WifiAddress); reset by each Join.
    has_address: bool,
    last_error: Option<NetError>,
    out: VecDeque<Action>,
}

impl Policy {
    pub fn new(caps: BoardCaps, saved: Option<Credentials>, ap_ssid: impl Into<String>) -> Policy {
        Policy::with_timing(caps, saved, ap_ssid, Timing::default())
    }

    pub fn with_timing(caps: BoardCaps, saved: Option<Credentials>, ap_ssid: impl Into<String>, timing: Timing) -> Policy {
        Policy {
            caps,
            timing,
            saved,
            ap_ssid: ap_ssid.into(),
            state: State::Starting { until: None },
            ethernet_up: false,
            ap_running: false,
            sta_running: false,
            ap_clients: 0,
            has_address: false,
            last_error: None,
            out: VecDeque::new(),
        }
    }

    pub fn ap_ssid(&self) -> &str {
        &self.ap_ssid
    }

    pub fn saved(&self) -> Option<&Credentials> {
        self.saved.as_ref()
    }

    pub fn poll(&mut self) -> Option<Action> {
        self.out.pop_front()
    }

    /// When to call `handle(now, Event::Timeout)`. `Some(0)` before the first event: the
    /// first call starts the boot clock.
    pub fn next_timeout(&self) -> Option<u64> {
        let t = &self.timing;
        match &self.state {
            State::Starting { until } => Some(until.unwrap_or(0)),
            State::Ethernet { down_since } => down_since.map(|d| d + t.eth_down_grace_ms),
            State::Ap { restart_at, retry_at, .. } => match (restart_at, retry_at) {
                (Some(a), Some(b)) => Some(*a.min(b)),
                (a, b) => a.or(*b),
            },
            State::Joining(j) => {
                let overall = j.started + t.join_timeout_ms;
                Some(j.associated_at.map_or(overall, |a| overall.min(a + t.address_timeout_ms)))
            }
            State::Wifi => None,
            State::Lost { since, .. } => Some(since + t.lost_fallback_ms),
        }
    }

    pub fn view(&self) -> View {
        let saved_ssid = self.saved.as_ref().map(|c| c.ssid.to_string());
        let (mode, ssid) = match &self.state {
            State::Starting { .. } => (Mode::Starting, None),
            State::Ethernet { .. } => (Mode::Ethernet, None),
            State::Ap { .. } => (Mode::AccessPoint, None),
            // A background retry with the access point still up is not worth a mode change.
            State::Joining(j) if j.kind == Kind::Retry && self.ap_running => {
                (Mode::AccessPoint, Some(j.creds.ssid.to_string()))
            }
            State::Joining(j) => (Mode::Joining, Some(j.creds.ssid.to_string())),
            State::Wifi | State::Lost { .. } => {
                let mode = if matches!(self.state, State::Wifi) { Mode::Wifi } else { Mode::Lost };
                (mode, saved_ssid.clone())
            }
        };
        View { mode, ethernet: self.ethernet_up, ssid, saved_ssid, ap_up: self.ap_running, last_error: self.last_error.clone() }
    }

    pub fn handle(&mut self, now: u64, event: Event) {
        if let State::Starting { until: until @ None } = &mut self.state {
            let grace = if self.caps.ethernet { self.timing.eth_grace_ms } else { 0 };
            *until = Some(now + grace);
        }
        // Facts first, whatever the state.
        match event {
            Event::EthernetLink(up) => self.ethernet_up = up,
            Event::ApClients(n) => self.ap_clients = n,
            Event::WifiAddress(a) => self.has_address = a,
            _ => {}
        }
        match event {
            Event::EthernetLink(true) => self.on_ethernet_up(),
            Event::EthernetLink(false) => {
                if let State::Ethernet { down_since } = &mut self.state {
                    *down_since = Some(now);
                }
            }
            Event::WifiJoinRequested(creds) => {
                if self.caps.wifi {
                    self.start_join(now, creds, Kind::New, false);
                }
            }
            Event::WifiForget => self.forget(now),
            Event::ApStarted => {
                if self.last_error.as_ref().is_some_and(|e| e.code == "radio") {
                    self.last_error = None;
                }
            }
            Event::ApFailed => self.on_ap_failed(now),
            Event::Timeout => self.on_timeout(now),
            Event::ApClients(_) => {}
            wifi => self.on_wifi(now, wifi),
        }
    }

    fn on_ethernet_up(&mut self) {
        match &mut self.state {
            State::Ethernet { down_since } => *down_since = None,
            // A person's join finishes first (its credentials get tested and saved).
            State::Joining(j) if j.kind == Kind::New => {}
            _ => self.go_ethernet(),
        }
    }

    fn on_ap_failed(&mut self, now: u64) {
        self.ap_running = false;
        self.error("radio", "The setup access point could not be started; trying again.".into());
        if let State::Ap { restart_at, .. } = &mut self.state {
            *restart_at = Some(now + self.timing.ap_restart_ms);
        }
    }

    fn on_timeout(&mut self, now: u64) {
        let t = self.timing;
        match &mut self.state {
            State::Starting { until } => {
                if until.is_some_and(|u| now >= u) {
                    self.leave_ethernet(now);
                }
            }
            State::Ethernet { down_since } => {
                if down_since.is_some_and(|d| now >= d + t.eth_down_grace_ms) {
                    self.leave_ethernet(now);
                }
            }
            State::Ap { restart_at, retry_at, postponed_since } => {
                if restart_at.is_some_and(|r| now >= r) {
                    *restart_at = None;
                    self.ensure_ap_up();
                    return;
                }
                if !retry_at.is_some_and(|r| now >= r) {
                    return;
                }
                let first = *postponed_since.get_or_insert(now);
                if self.ap_clients > 0 && now - first < t.retry_postpone_max_ms {
                    // Someone is on the setup access point (changing the network?): wait.
                    *retry_at = Some(now + t.retry_interval_ms);
                } else if let Some(saved) = self.saved.clone() {
                    self.start_join(now, saved, Kind::Retry, true);
                }
            }
            State::Joining(j) => {
                let ssid = j.creds.ssid.to_string();
                if j.associated_at.is_some_and(|a| now >= a + t.address_timeout_ms) {
                    self.join_failed(now, "no_address", format!("Joined “{ssid}” but got no address from it (DHCP did not answer)."));
                } else if now >= j.started + t.join_timeout_ms {
                    let (code, words) = if j.saw_not_found && !j.ever_associated {
                        ("not_found", format!("The Wi-Fi network “{ssid}” was not found. Is it in range, and is the name exact?"))
                    } else if j.ever_associated {
                        ("no_address", format!("Joined “{ssid}” but got no address from it (DHCP did not answer)."))
                    } else {
                        ("timeout", format!("Joining “{ssid}” took too long."))
                    };
                    self.join_failed(now, code, words);
                }
            }
            State::Wifi => {}
            State::Lost { since, reason } => {
                if now >= *since + t.lost_fallback_ms {
                    let ssid = self.saved.as_ref().map(|c| c.ssid.to_string()).unwrap_or_default();
                    let gone = span_words(t.lost_fallback_ms);
                    let words = if *reason == "wrong_password" {
                        format!("The Wi-Fi network “{ssid}” no longer accepts the password; the setup access point is back.")
                    } else {
                        format!("The Wi-Fi network “{ssid}” has been out of reach for {gone}; the setup access point is back (the box keeps trying “{ssid}”).")
                    };
                    let code = *reason;
                    self.error(code, words);
                    self.go_ap(now);
                }
            }
        }
    }

    fn on_wifi(&mut self, now: u64, event: Event) {
        match (&mut self.state, event) {
            (State::Joining(j), Event::WifiAssociated) => {
                j.associated_at = Some(now);
                j.ever_associated = true;
            }
            (State::Joining(_), Event::WifiAddress(true)) => self.join_succeeded(now),
            (State::Joining(j), Event::WifiAuthFailed) => {
                let ssid = j.creds.ssid.to_string();
                let words = if j.creds.psk.is_some() {
                    format!("The password for “{ssid}” was not accepted.")
                } else {
                    format!("“{ssid}” needs a password.")
                };
                self.join_failed(now, "wrong_password", words);
            }
            (State::Joining(j), Event::WifiNotFound) => {
                j.saw_not_found = true;
                if !j.ever_associated && now >= j.started + self.timing.not_found_ms {
                    let words = format!("The Wi-Fi network “{}” was not found. Is it in range, and is the name exact?", j.creds.ssid);
                    self.join_failed(now, "not_found", words);
                }
            }
            (State::Joining(j), Event::WifiDisconnected) => j.associated_at = None,
            (State::Wifi, Event::WifiDisconnected | Event::WifiAddress(false)) => {
                self.state = State::Lost { since: now, reason: "not_found" };
            }
            (State::Wifi | State::Lost { .. }, Event::WifiAuthFailed) => {
                if let State::Wifi = self.state {
                    self.state = State::Lost { since: now, reason: "wrong_password" };
                } else if let State::Lost { reason, .. } = &mut self.state {
                    *reason = "wrong_password";
                }
            }
            (State::Lost { .. }, Event::WifiAddress(true)) => self.state = State::Wifi,
            // Back on the network with the address kept through the gap.
            (State::Lost { .. }, Event::WifiAssociated) if self.has_address => self.state = State::Wifi,
            // Stale radio events after a Leave, or while on Ethernet / the access point.
            _ => {}
        }
    }

    /// Where to go without Ethernet: the saved network, or the setup access point.
    fn leave_ethernet(&mut self, now: u64) {
        if self.ethernet_up {
            self.go_ethernet();
        } else if !self.caps.wifi {
            // Nothing else to use: wait for a cable.
            self.state = State::Ethernet { down_since: None };
        } else if let Some(saved) = self.saved.clone() {
            self.start_join(now, saved, Kind::Known, false);
        } else {
            self.go_ap(now);
        }
    }

    fn go_ethernet(&mut self) {
        self.ensure_ap_down();
        self.ensure_sta_down();
        self.state = State::Ethernet { down_since: None };
    }

    fn go_ap(&mut self, now: u64) {
        self.ensure_sta_down();
        let retry_at = self.saved.as_ref().map(|_| now + self.timing.retry_interval_ms);
        self.state = State::Ap { restart_at: None, retry_at, postponed_since: None };
        self.ensure_ap_up();
    }

    fn start_join(&mut self, now: u64, creds: Credentials, kind: Kind, keep_error: bool) {
        if self.ethernet_up && kind != Kind::New {
            self.go_ethernet();
            return;
        }
        if !self.caps.ap_sta_concurrent {
            self.ensure_ap_down();
        }
        if kind == Kind::New {
            self.last_error = None;
        }
        self.out.push_back(Action::Join(creds.clone()));
        self.sta_running = true;
        self.has_address = false;
        self.state = State::Joining(Join {
            creds,
            kind,
            started: now,
            associated_at: None,
            ever_associated: false,
            saw_not_found: false,
            keep_error,
        });
    }

    fn join_succeeded(&mut self, _now: u64) {
        let State::Joining(j) = std::mem::replace(&mut self.state, State::Wifi) else { return };
        if j.kind == Kind::New {
            self.out.push_back(Action::SaveWifi(j.creds.clone()));
            self.saved = Some(j.creds);
        }
        // The network is back: old words are stale, except those of the person's failed try
        // that brought us back to the known network.
        if !(j.keep_error && j.kind == Kind::Known) {
            self.last_error = None;
        }
        self.ensure_ap_down();
        if self.ethernet_up {
            self.go_ethernet();
        }
    }

    fn join_failed(&mut self, now: u64, code: &str, words: String) {
        // A retry (or a return to the known network) keeps the error that sent us there,
        // unless it learnt something new: the password is wrong now.
        let keep = matches!(&self.state, State::Joining(j) if j.keep_error) && self.last_error.is_some();
        if !keep || code == "wrong_password" {
            self.error(code, words);
        }
        self.join_failed_quietly(now);
    }

    fn join_failed_quietly(&mut self, now: u64) {
        let State::Joining(j) = &self.state else { return };
        let (kind, tried) = (j.kind, j.creds.ssid.clone());
        self.ensure_sta_down();
        if self.ethernet_up {
            self.go_ethernet();
            return;
        }
        // A person tried another network and it failed: go back to the one that worked, so
        // a box reached over the home network stays reachable there.
        match self.saved.clone() {
            Some(saved) if kind == Kind::New && saved.ssid != tried => self.start_join(now, saved, Kind::Known, true),
            _ => self.go_ap(now),
        }
    }

    fn forget(&mut self, now: u64) {
        if self.saved.take().is_some() {
            self.out.push_back(Action::ForgetWifi);
        }
        self.last_error = None;
        match self.state {
            State::Starting { .. } | State::Ethernet { .. } => {}
            State::Ap { .. } => self.go_ap(now),
            State::Joining(_) | State::Wifi | State::Lost { .. } => {
                self.ensure_sta_down();
                self.leave_ethernet(now);
            }
        }
    }

    fn error(&mut self, code: &str, message: String) {
        self.last_error = Some(NetError { code: code.into(), message });
    }

    fn ensure_ap_up(&mut self) {
        if !self.ap_running {
            if !self.sta_running {
                self.out.push_back(Action::Scan);
            }
            self.out.push_back(Action::StartAp);
            self.ap_running = true;
        }
    }

    fn ensure_ap_down(&mut self) {
        if self.ap_running {
            self.out.push_back(Action::StopAp);
            self.ap_running = false;
        }
    }

    fn ensure_sta_down(&mut self) {
        if self.sta_running {
            self.out.push_back(Action::Leave);
            self.sta_running = false;
        }
    }
}
