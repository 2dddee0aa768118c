//! The one thread that owns the policy, the backend and the saved state. Socket threads send
//! it validated [`Command`]s through a bounded queue and wait for the reply, so concurrent
//! clients are serialised here (the queue is the mutex); `Status` is answered from a snapshot
//! it publishes after every step, so polling never waits behind a scan.

use crate::backend::Backend;
use crate::system::Store;
use setup::net::{Action, Credentials, Event, Policy, Timing};
use setup::proto::{Mode, Network, Reply, Security, Status};
use setup::validate::{Country, Hostname, Timezone};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How often the backend is polled (process output, carrier, addresses).
const TICK_MS: u64 = 250;

#[derive(Debug)]
pub enum Command {
    Scan,
    Join(Credentials),
    Forget,
    Country(Country),
    Hostname(Hostname),
    Timezone(Timezone),
    AdvertiseHttps(Option<u16>),
    FactoryReset,
    Reboot,
    DataFix(setup::proto::DataAction),
}

pub struct Call {
    pub cmd: Command,
    pub reply: SyncSender<Reply>,
}

pub type Snapshot = Arc<Mutex<Status>>;

pub struct Driver {
    policy: Policy,
    backend: Box<dyn Backend>,
    store: Store,
    snapshot: Snapshot,
    start: Instant,
    last_scan: Vec<Network>,
    country: Option<Country>,
}

impl Driver {
    /// Applies what the data partition says (host name, country) before anything else, and
    /// publishes the first status.
    pub fn new(mut backend: Box<dyn Backend>, store: Store, timing: Timing) -> Driver {
        if let Some(h) = store.hostname() {
            if let Err(e) = backend.set_hostname(&h) {
                eprintln!("spot-helper: host name {h}: {e}");
            }
        }
        if let Some(tz) = store.timezone() {
            eprintln!("spot-helper: time zone {tz}");
        }
        let country = store.country();
        if let Some(c) = &country {
            if let Err(e) = backend.set_country(c) {
                eprintln!("spot-helper: country {c}: {e}");
            }
        }
        let policy = Policy::with_timing(backend.caps(), store.wifi(), backend.ap_ssid().to_string(), timing);
        let snapshot = Arc::new(Mutex::new(placeholder()));
        let mut d = Driver { policy, backend, store, snapshot, start: Instant::now(), last_scan: vec![], country };
        d.publish();
        d
    }

    pub fn snapshot(&self) -> Snapshot {
        self.snapshot.clone()
    }

    fn now(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    pub fn run(mut self, calls: Receiver<Call>) {
        loop {
            let now = self.now();
            let due = self.policy.next_timeout().map_or(TICK_MS, |t| t.saturating_sub(now));
            match calls.recv_timeout(Duration::from_millis(due.min(TICK_MS))) {
                Ok(call) => {
                    let reply = self.execute(call.cmd);
                    self.publish();
                    let _ = call.reply.send(reply);
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
            let now = self.now();
            for e in self.backend.poll(now) {
                self.feed(now, e);
            }
            if self.policy.next_timeout().is_some_and(|t| t <= now) {
                self.feed(now, Event::Timeout);
            }
            self.publish();
        }
    }

    /// Hand an event to the policy and carry out everything it asks for.
    fn feed(&mut self, now: u64, event: Event) {
        self.policy.handle(now, event);
        while let Some(action) = self.policy.poll() {
            let res = match &action {
                Action::SaveWifi(c) => self.store.save_wifi(c),
                Action::ForgetWifi => self.store.forget_wifi(),
                // Kept for `wifi_scan` while the access point holds the radio.
                Action::Scan => {
                    match self.backend.scan(false) {
                        Ok(nets) => self.last_scan = nets,
                        Err(e) => eprintln!("spot-helper: scan: {e}"),
                    }
                    Ok(())
                }
                radio => {
                    let events = self.backend.act(now, radio);
                    for e in events {
                        self.policy.handle(now, e);
                    }
                    Ok(())
                }
            };
            if let Err(e) = res {
                eprintln!("spot-helper: {action:?}: {e}");
            }
        }
    }

    fn execute(&mut self, cmd: Command) -> Reply {
        let now = self.now();
        let failed = |e: String| Reply::error("failed", e);
        match cmd {
            Command::Scan => {
                if !self.backend.caps().wifi {
                    return Reply::error("unsupported", "This box has no Wi-Fi.");
                }
                match self.backend.scan(self.policy.view().ap_up) {
                    Ok(nets) => {
                        self.last_scan = nets.clone();
                        Reply::Networks { ok: true, networks: nets }
                    }
                    Err(e) => failed(format!("The Wi-Fi scan failed: {e}")),
                }
            }
            Command::Join(mut creds) => {
                if !self.backend.caps().wifi {
                    return Reply::error("unsupported", "This box has no Wi-Fi.");
                }
                // What the last scan says about the network settles what cannot work.
                match self.last_scan.iter().find(|n| n.ssid == creds.ssid.as_str()).map(|n| n.security) {
                    Some(Security::Unsupported) => {
                        return Reply::error("unsupported", format!("“{}” uses WEP or enterprise (802.1X) security, which the box cannot join.", creds.ssid));
                    }
                    Some(Security::Open) => creds.psk = None,
                    Some(_) if creds.psk.is_none() => {
                        return Reply::error("invalid_argument", format!("“{}” needs a password.", creds.ssid));
                    }
                    _ => {}
                }
                self.feed(now, Event::WifiJoinRequested(creds));
                Reply::Done { ok: true }
            }
            Command::Forget => {
                self.feed(now, Event::WifiForget);
                Reply::Done { ok: true }
            }
            Command::Country(c) => {
                if let Err(e) = self.store.save_country(&c) {
                    return failed(e.to_string());
                }
                self.country = Some(c.clone());
                match self.backend.set_country(&c) {
                    Ok(()) => Reply::Done { ok: true },
                    Err(e) => failed(format!("Saved, but the radio did not take the country: {e}")),
                }
            }
            Command::Hostname(h) => match self.backend.set_hostname(&h) {
                Ok(()) => self.store.save_hostname(&h).map_or_else(|e| failed(e.to_string()), |_| Reply::Done { ok: true }),
                Err(e) => failed(format!("The host name could not be set: {e}")),
            },
            Command::Timezone(tz) => match self.store.zone_file(&tz) {
                Ok(file) => self.store.set_timezone(&tz, &file).map_or_else(|e| failed(e.to_string()), |_| Reply::Done { ok: true }),
                Err(e) => Reply::error("invalid_argument", e.to_string()),
            },
            Command::AdvertiseHttps(port) => self.backend.advertise_https(port).map_or_else(failed, |_| Reply::Done { ok: true }),
            Command::FactoryReset => match self.store.mark_factory_reset() {
                Ok(()) => self.backend.reboot().map_or_else(failed, |_| Reply::Done { ok: true }),
                Err(e) => failed(e.to_string()),
            },
            Command::Reboot => self.backend.reboot().map_or_else(failed, |_| Reply::Done { ok: true }),
            Command::DataFix(action) => match crate::datapart::request_fix(&crate::datapart::run_dir(), action) {
                Ok(()) => self.backend.start_data_fix(action).map_or_else(failed, |_| Reply::Done { ok: true }),
                Err((code, message)) => Reply::error(code, message),
            },
        }
    }

    fn publish(&mut self) {
        let v = self.policy.view();
        let status = Status {
            mode: v.mode,
            wifi: self.backend.caps().wifi,
            ethernet: v.ethernet,
            ssid: v.ssid,
            signal_dbm: if v.mode == Mode::Wifi { self.backend.signal() } else { None },
            ap_ssid: self.policy.ap_ssid().to_owned(),
            addresses: self.backend.addresses(),
            hostname: self.backend.hostname(),
            country: self.country.as_ref().map(|c| c.to_string()),
            last_error: v.last_error,
            saved_ssid: v.saved_ssid,
        };
        *self.snapshot.lock().unwrap_or_else(|p| p.into_inner()) = status;
    }
}

fn placeholder() -> Status {
    Status {
        mode: Mode::Starting,
        wifi: false,
        ethernet: false,
        ssid: None,
        signal_dbm: None,
        ap_ssid: String::new(),
        addresses: vec![],
        hostname: String::new(),
        country: None,
        last_error: None,
        saved_ssid: None,
    }
}
