//! The hardware edge (RAUC-style): everything that touches the radio, the links and the host.
//! [`crate::real`] drives Debian's tools; [`crate::sim`] fakes them for tests and the browser
//! e2e on machines without Wi-Fi. The policy (`setup::net`) and the request handling above
//! this trait are the same for both.

use setup::net::{Action, BoardCaps, Event};
use setup::proto::Network;
use setup::validate::{Country, Hostname, Ssid};

pub trait Backend: Send {
    fn caps(&self) -> BoardCaps;
    /// The setup access point's name (`Spot-Setup-XXXX`).
    fn ap_ssid(&self) -> Ssid;
    /// Carry out a radio action (`Scan`, `StartAp`, `StopAp`, `Join`, `Leave`); returns what
    /// is already known (e.g. `ApFailed` when hostapd would not start).
    fn act(&mut self, now: u64, action: &Action) -> Vec<Event>;
    /// What happened since the last call (called every tick, ~4 times a second).
    fn poll(&mut self, now: u64) -> Vec<Event>;
    /// Networks in range; with the access point up this may be the scan taken before it.
    fn scan(&mut self, ap_up: bool) -> Result<Vec<Network>, String>;
    /// The box's addresses, loopback and link-local left out.
    fn addresses(&self) -> Vec<String>;
    /// Signal of the joined network, dBm.
    fn signal(&self) -> Option<i32>;
    fn set_country(&mut self, country: &Country) -> Result<(), String>;
    fn set_hostname(&mut self, name: &Hostname) -> Result<(), String>;
    fn hostname(&self) -> String;
    /// Announce (or stop announcing) `_https._tcp` over mDNS.
    fn advertise_https(&mut self, port: Option<u16>) -> Result<(), String>;
    /// Reboot soon (after the reply has gone out).
    fn reboot(&mut self) -> Result<(), String>;
    /// Start `spot-data-fix@ACTION.service` (the data-problem page's repair or erase).
    fn start_data_fix(&mut self, action: setup::proto::DataAction) -> Result<(), String>;
}
