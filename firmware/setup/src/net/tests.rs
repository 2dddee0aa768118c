//! Every transition of the policy, on a fake clock.

use super::*;
use Action::*;
use Event::*;

const PI4: BoardCaps = BoardCaps { wifi: true, ethernet: true, ap_sta_concurrent: false };
const ZERO2W: BoardCaps = BoardCaps { wifi: true, ethernet: false, ap_sta_concurrent: false };

fn creds(ssid: &str, psk: Option<&str>) -> Credentials {
    Credentials {
        ssid: Ssid::new(ssid).expect("ssid"),
        psk: psk.map(|p| Psk::new(p).expect("psk")),
        hidden: false,
    }
}

/// A policy on a fake clock that records what it asked for.
struct Sim {
    p: Policy,
    now: u64,
}

impl Sim {
    fn new(caps: BoardCaps, saved: Option<Credentials>) -> Sim {
        let mut sim = Sim { p: Policy::new(caps, saved, "Spot-Setup-1A2B"), now: 0 };
        sim.p.handle(0, Timeout);
        sim
    }
    fn ev(&mut self, e: Event) -> Vec<Action> {
        self.p.handle(self.now, e);
        self.drain()
    }
    fn drain(&mut self) -> Vec<Action> {
        std::iter::from_fn(|| self.p.poll()).collect()
    }
    /// Advance the clock by `ms`, firing every timeout on the way, like the helper's loop.
    fn advance(&mut self, ms: u64) -> Vec<Action> {
        let end = self.now + ms;
        let mut out = self.drain();
        while let Some(t) = self.p.next_timeout().filter(|t| *t <= end) {
            self.now = t.max(self.now);
            self.p.handle(self.now, Timeout);
            out.extend(self.drain());
        }
        self.now = end;
        out
    }
    fn mode(&self) -> Mode {
        self.p.view().mode
    }
    fn error_code(&self) -> Option<String> {
        self.p.view().last_error.map(|e| e.code)
    }
    /// Join goes through: associated, then an address.
    fn joins(&mut self) -> Vec<Action> {
        let mut a = self.ev(WifiAssociated);
        self.now += 1500;
        a.extend(self.ev(WifiAddress(true)));
        a
    }
}

#[test]
fn boot_waits_for_ethernet_then_opens_the_access_point() {
    let mut s = Sim::new(PI4, None);
    assert_eq!(s.mode(), Mode::Starting);
    assert_eq!(s.p.next_timeout(), Some(20_000));
    assert_eq!(s.advance(19_999), vec![]);
    assert_eq!(s.mode(), Mode::Starting);
    assert_eq!(s.advance(1), vec![Scan, StartAp]);
    assert_eq!(s.mode(), Mode::AccessPoint);
    assert!(s.p.view().ap_up);
    assert_eq!(s.p.next_timeout(), None, "no known network: nothing to retry");
}

#[test]
fn ethernet_at_boot_wins() {
    let mut s = Sim::new(PI4, Some(creds("Home", Some("password1"))));
    s.now = 3_000;
    assert_eq!(s.ev(EthernetLink(true)), vec![]);
    assert_eq!(s.mode(), Mode::Ethernet);
    assert!(s.p.view().ethernet);
    assert_eq!(s.advance(60_000), vec![], "the radio stays idle");
}

#[test]
fn a_board_without_ethernet_does_not_wait() {
    let mut s = Sim::new(ZERO2W, None);
    assert_eq!(s.advance(0), vec![Scan, StartAp]);
    assert_eq!(s.mode(), Mode::AccessPoint);
}

#[test]
fn a_board_without_wifi_waits_for_a_cable() {
    let caps = BoardCaps { wifi: false, ethernet: true, ap_sta_concurrent: false };
    let mut s = Sim::new(caps, None);
    assert_eq!(s.advance(30_000), vec![]);
    assert_eq!(s.mode(), Mode::Ethernet);
    assert!(!s.p.view().ethernet);
    assert_eq!(s.ev(WifiJoinRequested(creds("Home", None))), vec![], "no radio to join with");
    assert_eq!(s.ev(EthernetLink(true)), vec![]);
    assert!(s.p.view().ethernet);
}

#[test]
fn saved_network_is_joined_at_boot() {
    let home = creds("Home", Some("password1"));
    let mut s = Sim::new(ZERO2W, Some(home.clone()));
    assert_eq!(s.advance(0), vec![Join(home)]);
    assert_eq!(s.mode(), Mode::Joining);
    assert_eq!(s.p.view().ssid.as_deref(), Some("Home"));
    assert_eq!(s.joins(), vec![], "already saved: not saved again");
    assert_eq!(s.mode(), Mode::Wifi);
    assert_eq!(s.p.view().ssid.as_deref(), Some("Home"));
}

#[test]
fn join_from_the_access_point_saves_only_after_success() {
    let mut s = Sim::new(ZERO2W, None);
    s.advance(0);
    let home = creds("Home \"Net\"\n", Some("password1"));
    assert_eq!(s.ev(WifiJoinRequested(home.clone())), vec![StopAp, Join(home.clone())]);
    assert_eq!(s.mode(), Mode::Joining);
    assert_eq!(s.ev(WifiAssociated), vec![], "associated is not enough: no address yet");
    assert_eq!(s.ev(WifiAddress(true)), vec![SaveWifi(home.clone())]);
    assert_eq!(s.mode(), Mode::Wifi);
    assert_eq!(s.p.saved(), Some(&home));
    assert!(s.p.view().last_error.is_none());
}

#[test]
fn wrong_password_brings_the_access_point_back_with_the_reason() {
    let mut s = Sim::new(ZERO2W, None);
    s.advance(0);
    let home = creds("Home", Some("wrongpass"));
    s.ev(WifiJoinRequested(home));
    assert_eq!(s.ev(WifiAuthFailed), vec![Leave, Scan, StartAp]);
    assert_eq!(s.mode(), Mode::AccessPoint);
    let err = s.p.view().last_error.expect("an error");
    assert_eq!(err.code, "wrong_password");
    assert!(err.message.contains("“Home”"), "{}", err.message);
    assert_eq!(s.p.saved(), None, "failed credentials are never saved");
    assert_eq!(s.p.next_timeout(), None, "nothing known to retry");
}

#[test]
fn not_found_needs_a_few_seconds_of_scans() {
    let mut s = Sim::new(ZERO2W, None);
    s.advance(0);
    s.ev(WifiJoinRequested(creds("Far", Some("password1"))));
    s.now += 3_000;
    assert_eq!(s.ev(WifiNotFound), vec![], "the first scans may miss it");
    s.now += 10_000;
    assert_eq!(s.ev(WifiNotFound), vec![Leave, Scan, StartAp]);
    assert_eq!(s.error_code().as_deref(), Some("not_found"));
}

#[test]
fn no_address_after_association() {
    let mut s = Sim::new(ZERO2W, None);
    s.advance(0);
    s.ev(WifiJoinRequested(creds("NoDhcp", None)));
    s.advance(1_000);
    s.ev(WifiAssociated);
    assert_eq!(s.advance(19_999), vec![]);
    assert_eq!(s.advance(1), vec![Leave, Scan, StartAp]);
    assert_eq!(s.error_code().as_deref(), Some("no_address"));
}

#[test]
fn overall_timeout() {
    let mut s = Sim::new(ZERO2W, None);
    s.advance(0);
    s.ev(WifiJoinRequested(creds("Slow", Some("password1"))));
    assert_eq!(s.advance(44_999), vec![]);
    assert_eq!(s.advance(1), vec![Leave, Scan, StartAp]);
    assert_eq!(s.error_code().as_deref(), Some("timeout"));
    // Associating and dropping again, then running out of time, is a missing address.
    s.ev(WifiJoinRequested(creds("Flaky", Some("password1"))));
    s.advance(2_000);
    s.ev(WifiAssociated);
    s.advance(1_000);
    s.ev(WifiDisconnected);
    s.advance(45_000);
    assert_eq!(s.error_code().as_deref(), Some("no_address"));
    // Only "not found" scans until the end: not found.
    s.ev(WifiJoinRequested(creds("Gone", Some("password1"))));
    s.ev(WifiNotFound);
    s.advance(45_000);
    assert_eq!(s.error_code().as_deref(), Some("not_found"));
}

#[test]
fn open_network_refusal_says_it_needs_a_password() {
    let mut s = Sim::new(ZERO2W, None);
    s.advance(0);
    s.ev(WifiJoinRequested(creds("Cafe", None)));
    s.ev(WifiAuthFailed);
    let err = s.p.view().last_error.expect("error");
    assert!(err.message.contains("needs a password"), "{}", err.message);
}

#[test]
fn lost_network_falls_back_to_the_access_point_and_keeps_retrying() {
    let home = creds("Home", Some("password1"));
    let mut s = Sim::new(ZERO2W, Some(home.clone()));
    s.advance(0);
    s.joins();
    s.advance(60_000);
    assert_eq!(s.ev(WifiDisconnected), vec![]);
    assert_eq!(s.mode(), Mode::Lost);
    assert_eq!(s.p.view().ssid.as_deref(), Some("Home"));
    assert_eq!(s.advance(179_999), vec![], "wpa_supplicant retries by itself meanwhile");
    assert_eq!(s.advance(1), vec![Leave, Scan, StartAp]);
    assert_eq!(s.mode(), Mode::AccessPoint);
    assert_eq!(s.error_code().as_deref(), Some("not_found"));
    assert!(s.p.view().last_error.expect("e").message.contains("3 minutes"));
    assert_eq!(s.p.saved(), Some(&home), "still known");

    // Every two minutes the access point steps aside for a try.
    assert_eq!(s.advance(120_000), vec![StopAp, Join(home.clone())]);
    assert_eq!(s.mode(), Mode::Joining);
    // The try fails: back to the access point, same error, next try scheduled.
    assert_eq!(s.advance(45_000), vec![Leave, Scan, StartAp]);
    assert_eq!(s.error_code().as_deref(), Some("not_found"));
    assert!(s.p.view().last_error.expect("e").message.contains("3 minutes"), "the first words stay");
    assert_eq!(s.advance(120_000), vec![StopAp, Join(home.clone())]);
    // Now it is back.
    assert_eq!(s.joins(), vec![]);
    assert_eq!(s.mode(), Mode::Wifi);
    assert!(s.p.view().last_error.is_none());
}

#[test]
fn a_short_loss_recovers_without_the_access_point() {
    let mut s = Sim::new(ZERO2W, Some(creds("Home", Some("password1"))));
    s.advance(0);
    s.joins();
    s.ev(WifiDisconnected);
    s.advance(30_000);
    // Reassociated; the address survived the gap.
    assert_eq!(s.ev(WifiAssociated), vec![]);
    assert_eq!(s.mode(), Mode::Wifi);
    // Lost again, this time the address went too and comes back later.
    s.ev(WifiAddress(false));
    assert_eq!(s.mode(), Mode::Lost);
    s.ev(WifiAssociated);
    assert_eq!(s.mode(), Mode::Lost, "no address yet");
    s.ev(WifiAddress(true));
    assert_eq!(s.mode(), Mode::Wifi);
    assert_eq!(s.advance(600_000), vec![]);
}

#[test]
fn changed_home_password_is_named_on_fallback() {
    let mut s = Sim::new(ZERO2W, Some(creds("Home", Some("password1"))));
    s.advance(0);
    s.joins();
    s.ev(WifiDisconnected);
    s.ev(WifiAuthFailed);
    s.advance(180_000);
    assert_eq!(s.error_code().as_deref(), Some("wrong_password"));
}

#[test]
fn retries_wait_for_people_on_the_access_point_but_not_forever() {
    let home = creds("Home", Some("password1"));
    let mut s = Sim::new(ZERO2W, Some(home.clone()));
    s.advance(0);
    s.ev(WifiNotFound);
    s.advance(45_000);
    assert_eq!(s.mode(), Mode::AccessPoint);
    s.ev(ApStarted);
    s.ev(ApClients(1));
    assert_eq!(s.advance(120_000), vec![], "someone is on the setup network: postponed");
    assert_eq!(s.advance(120_000 * 4), vec![]);
    // Ten minutes of postponing: try anyway, or a phone that auto-joins would pin the box.
    let a = s.advance(120_000);
    assert_eq!(a, vec![StopAp, Join(home)]);
}

#[test]
fn ethernet_at_any_time_takes_over() {
    let mut s = Sim::new(ZERO2W, None);
    s.advance(0);
    assert_eq!(s.ev(EthernetLink(true)), vec![StopAp]);
    assert_eq!(s.mode(), Mode::Ethernet);
    // From a joined network: the radio goes idle.
    let mut s = Sim::new(ZERO2W, Some(creds("Home", Some("password1"))));
    s.advance(0);
    s.joins();
    assert_eq!(s.ev(EthernetLink(true)), vec![Leave]);
    assert_eq!(s.mode(), Mode::Ethernet);
    // From a boot-time join of the known network: abandoned.
    let mut s = Sim::new(ZERO2W, Some(creds("Home", Some("password1"))));
    s.advance(0);
    assert_eq!(s.ev(EthernetLink(true)), vec![Leave]);
    // From Lost.
    let mut s = Sim::new(ZERO2W, Some(creds("Home", Some("password1"))));
    s.advance(0);
    s.joins();
    s.ev(WifiDisconnected);
    assert_eq!(s.ev(EthernetLink(true)), vec![Leave]);
    assert_eq!(s.advance(600_000), vec![]);
}

#[test]
fn cable_unplugged_uses_wifi_after_a_grace() {
    let home = creds("Home", Some("password1"));
    let mut s = Sim::new(PI4, Some(home.clone()));
    s.ev(EthernetLink(true));
    s.advance(60_000);
    assert_eq!(s.ev(EthernetLink(false)), vec![]);
    assert_eq!(s.advance(2_000), vec![]);
    assert_eq!(s.ev(EthernetLink(true)), vec![], "a blip");
    assert_eq!(s.advance(60_000), vec![]);
    s.ev(EthernetLink(false));
    assert_eq!(s.advance(5_000), vec![Join(home)]);
    // Unplugged with nothing known: the setup access point.
    let mut s = Sim::new(PI4, None);
    s.ev(EthernetLink(true));
    s.ev(EthernetLink(false));
    assert_eq!(s.advance(5_000), vec![Scan, StartAp]);
}

#[test]
fn a_join_asked_for_on_ethernet_is_tested_saved_and_left() {
    let mut s = Sim::new(PI4, None);
    s.ev(EthernetLink(true));
    let home = creds("Home", Some("password1"));
    assert_eq!(s.ev(WifiJoinRequested(home.clone())), vec![Join(home.clone())]);
    assert_eq!(s.mode(), Mode::Joining);
    assert_eq!(s.joins(), vec![SaveWifi(home.clone()), Leave]);
    assert_eq!(s.mode(), Mode::Ethernet);
    assert_eq!(s.p.view().saved_ssid.as_deref(), Some("Home"));
    // A failure on Ethernet stays on Ethernet, with the error.
    s.ev(WifiJoinRequested(creds("Other", Some("password2"))));
    assert_eq!(s.ev(WifiAuthFailed), vec![Leave]);
    assert_eq!(s.mode(), Mode::Ethernet);
    assert_eq!(s.error_code().as_deref(), Some("wrong_password"));
    assert_eq!(s.p.saved(), Some(&home));
}

#[test]
fn a_cable_during_a_persons_join_lets_it_finish() {
    let mut s = Sim::new(ZERO2W, None);
    s.advance(0);
    let home = creds("Home", Some("password1"));
    s.ev(WifiJoinRequested(home.clone()));
    assert_eq!(s.ev(EthernetLink(true)), vec![]);
    assert_eq!(s.mode(), Mode::Joining);
    assert_eq!(s.joins(), vec![SaveWifi(home), Leave]);
    assert_eq!(s.mode(), Mode::Ethernet);
}

#[test]
fn changing_network_and_failing_goes_back_to_the_old_one() {
    let home = creds("Home", Some("password1"));
    let mut s = Sim::new(ZERO2W, Some(home.clone()));
    s.advance(0);
    s.joins();
    let other = creds("Other", Some("password2"));
    assert_eq!(s.ev(WifiJoinRequested(other.clone())), vec![Join(other)]);
    assert_eq!(s.ev(WifiAuthFailed), vec![Leave, Join(home.clone())]);
    assert_eq!(s.mode(), Mode::Joining);
    assert_eq!(s.joins(), vec![]);
    assert_eq!(s.mode(), Mode::Wifi);
    assert_eq!(s.error_code().as_deref(), Some("wrong_password"), "the person is told why");
    assert_eq!(s.p.saved(), Some(&home));
}

#[test]
fn forget() {
    let home = creds("Home", Some("password1"));
    let mut s = Sim::new(ZERO2W, Some(home));
    s.advance(0);
    s.joins();
    assert_eq!(s.ev(WifiForget), vec![ForgetWifi, Leave, Scan, StartAp]);
    assert_eq!(s.mode(), Mode::AccessPoint);
    assert_eq!(s.p.saved(), None);
    assert_eq!(s.p.next_timeout(), None, "nothing to retry");
    // Forgetting on Ethernet keeps Ethernet; forgetting nothing saves nothing.
    let mut s = Sim::new(PI4, Some(creds("Home", Some("password1"))));
    s.ev(EthernetLink(true));
    assert_eq!(s.ev(WifiForget), vec![ForgetWifi]);
    assert_eq!(s.ev(WifiForget), vec![]);
    assert_eq!(s.mode(), Mode::Ethernet);
    // Forgetting in the fallback access point stops the retries.
    let mut s = Sim::new(ZERO2W, Some(creds("Home", Some("password1"))));
    s.advance(0);
    s.advance(45_000);
    assert!(s.p.next_timeout().is_some());
    assert_eq!(s.ev(WifiForget), vec![ForgetWifi]);
    assert_eq!(s.p.next_timeout(), None);
    assert!(s.p.view().last_error.is_none());
}

#[test]
fn access_point_failure_is_retried_and_reported() {
    let mut s = Sim::new(ZERO2W, None);
    s.advance(0);
    assert_eq!(s.ev(ApFailed), vec![]);
    assert_eq!(s.error_code().as_deref(), Some("radio"));
    assert!(!s.p.view().ap_up);
    assert_eq!(s.advance(15_000), vec![Scan, StartAp]);
    s.ev(ApStarted);
    assert!(s.p.view().last_error.is_none());
}

#[test]
fn with_concurrency_the_access_point_stays_up_during_retries() {
    let caps = BoardCaps { wifi: true, ethernet: false, ap_sta_concurrent: true };
    let home = creds("Home", Some("password1"));
    let mut s = Sim::new(caps, Some(home.clone()));
    assert_eq!(s.advance(0), vec![Join(home.clone())]);
    s.advance(45_000);
    assert_eq!(s.mode(), Mode::AccessPoint);
    assert_eq!(s.advance(120_000), vec![Join(home.clone())], "no StopAp");
    assert_eq!(s.mode(), Mode::AccessPoint, "a background retry");
    assert_eq!(s.joins(), vec![StopAp]);
    assert_eq!(s.mode(), Mode::Wifi);
    // A person's join keeps the access point up until it worked.
    let mut s = Sim::new(caps, None);
    s.advance(0);
    let other = creds("Other", Some("password2"));
    assert_eq!(s.ev(WifiJoinRequested(other.clone())), vec![Join(other.clone())]);
    assert_eq!(s.mode(), Mode::Joining);
    assert_eq!(s.ev(WifiAuthFailed), vec![Leave]);
    assert_eq!(s.mode(), Mode::AccessPoint);
    assert!(s.p.view().ap_up);
}

#[test]
fn stale_radio_events_change_nothing() {
    let mut s = Sim::new(ZERO2W, None);
    s.advance(0);
    for e in [WifiAssociated, WifiAddress(true), WifiAuthFailed, WifiNotFound, WifiDisconnected, ApStarted] {
        assert_eq!(s.ev(e), vec![]);
        assert_eq!(s.mode(), Mode::AccessPoint);
    }
    let mut s = Sim::new(PI4, None);
    s.ev(EthernetLink(true));
    for e in [WifiAssociated, WifiAddress(true), WifiAuthFailed, WifiDisconnected, ApFailed, Timeout] {
        assert_eq!(s.ev(e), vec![]);
        assert_eq!(s.mode(), Mode::Ethernet);
    }
}

#[test]
fn a_new_request_replaces_a_join_in_progress() {
    let mut s = Sim::new(ZERO2W, None);
    s.advance(0);
    s.ev(WifiJoinRequested(creds("Typo", Some("password1"))));
    s.advance(5_000);
    let right = creds("Home", Some("password1"));
    assert_eq!(s.ev(WifiJoinRequested(right.clone())), vec![Join(right.clone())]);
    assert_eq!(s.advance(44_000), vec![], "the clock restarted with the new join");
    assert_eq!(s.joins(), vec![SaveWifi(right)]);
}

#[test]
fn spans_read_as_people_say_them() {
    assert_eq!(span_words(30_000), "30 seconds");
    assert_eq!(span_words(1_000), "1 second");
    assert_eq!(span_words(60_000), "a minute");
    assert_eq!(span_words(180_000), "3 minutes");
    assert_eq!(span_words(150_000), "3 minutes");
}
