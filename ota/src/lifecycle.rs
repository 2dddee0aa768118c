//! The update's life on the box, without IO: fed what happened ("bytes arrived", "slot written",
//! "booted", "health ok/failed") and the time; answers with what to do (commit, give up,
//! reboot, record the outcome) and the status the admin page shows.
//!
//! ```text
//!  Idle ──InstallStarted──▶ Installing ──SlotWritten──▶ Staged ──(restart)──▶ … boot …
//!   ▲                           │ InstallFailed                                  │
//!   └───────────────────────────┘                     Booted{trial} ──▶ Trial ───┤
//!                                                                                │
//!   Trial: Healthy heartbeats for `healthy_for` after the first one ─▶ Commit ─▶ Idle
//!          HealthFailed, or no heartbeat within `ready_within` ─▶ GiveUp + Reboot ─▶ Idle
//! ```
//!
//! The daemon sends a heartbeat only once it reached READY with its migrations done, so a
//! daemon that crash-loops or never starts sends none and the trial runs out. The commit itself
//! is [`crate::bootstate::Change::Commit`], applied by the helper when this says `Commit`.

use serde::Serialize;

use crate::bootstate::Slot;
use crate::version::Version;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// A trial boot's daemon must report healthy within this many seconds of the helper
    /// starting.
    pub ready_within: u64,
    /// ... and stay healthy this long (heartbeats no further apart than `beat_gap`).
    pub healthy_for: u64,
    pub beat_gap: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config { ready_within: 300, healthy_for: 60, beat_gap: 30 }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    InstallStarted { version: Version, total: u64 },
    /// Bytes verified and written so far (or copied from the running slot).
    BytesArrived { done: u64, total: u64 },
    SlotWritten { slot: Slot, version: Version },
    InstallFailed { code: String, message: String },
    /// The helper started: the slot it runs from, whether it is on trial, and the trial the
    /// boot script gave up on since the last start (its version and why), if any.
    Booted { slot: Slot, version: Version, trial: bool, gave_up: Option<(Version, String)> },
    /// The daemon is READY, its migrations done (sent every few seconds).
    Healthy,
    HealthFailed { why: String },
    /// Only the time passed (`handle`'s `now`).
    Tick,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Commit the trial slot (`bootstate::Change::Commit`), then raise the version floor.
    Commit { slot: Slot, version: Version },
    /// Give the trial up (`bootstate::Change::GiveUp`) and reboot into the primary slot.
    GiveUp { slot: Slot, why: String },
    /// Append to the update history.
    Record(Outcome),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    Staged { version: Version },
    InstallFailed { code: String, message: String },
    Committed { version: Version },
    RolledBack { version: Version, why: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum Phase {
    Idle,
    Installing { version: Version, done: u64, total: u64, started: u64 },
    /// Written and staged: boots on the next restart.
    Staged { version: Version, slot: Slot },
    /// Running a new slot on trial.
    Trial { version: Version, slot: Slot, since: u64, healthy_since: Option<u64>, last_beat: Option<u64> },
}

/// What the progress bar shows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Status {
    #[serde(flatten)]
    pub phase: Phase,
    /// Bytes per second over the install so far.
    pub speed: Option<u64>,
    /// Seconds left at that speed.
    pub eta: Option<u64>,
    /// Seconds until a trial commits if it stays healthy.
    pub commit_in: Option<u64>,
}

pub struct Lifecycle {
    cfg: Config,
    phase: Phase,
}

impl Lifecycle {
    pub fn new(cfg: Config) -> Self {
        Lifecycle { cfg, phase: Phase::Idle }
    }

    pub fn phase(&self) -> &Phase {
        &self.phase
    }

    pub fn handle(&mut self, now: u64, ev: Event) -> Vec<Action> {
        let mut out = vec![];
        match (&mut self.phase, ev) {
            (Phase::Idle | Phase::Staged { .. }, Event::InstallStarted { version, total }) => {
                self.phase = Phase::Installing { version, done: 0, total, started: now };
            }
            (Phase::Installing { done, total, .. }, Event::BytesArrived { done: d, total: t }) => {
                *done = d.min(t);
                *total = t;
            }
            (Phase::Installing { .. }, Event::SlotWritten { slot, version }) => {
                out.push(Action::Record(Outcome::Staged { version }));
                self.phase = Phase::Staged { version, slot };
            }
            (phase, Event::InstallFailed { code, message }) => {
                // Also refused before it started (signature, board, version): recorded too.
                // A slot staged earlier stays staged unless this install had begun to replace it.
                out.push(Action::Record(Outcome::InstallFailed { code, message }));
                if matches!(phase, Phase::Installing { .. }) {
                    self.phase = Phase::Idle;
                }
            }
            (_, Event::Booted { slot, version, trial, gave_up }) => {
                if let Some((failed, why)) = gave_up {
                    // The boot script ran the trial out: we run the old slot again.
                    out.push(Action::Record(Outcome::RolledBack { version: failed, why }));
                }
                self.phase = if trial {
                    Phase::Trial { version, slot, since: now, healthy_since: None, last_beat: None }
                } else {
                    Phase::Idle
                };
            }
            (Phase::Trial { healthy_since, last_beat, .. }, Event::Healthy) => {
                if let Some(last) = *last_beat {
                    if now.saturating_sub(last) > self.cfg.beat_gap {
                        // A gap: the daemon went away in between (a restart); the window
                        // starts over.
                        *healthy_since = None;
                    }
                }
                healthy_since.get_or_insert(now);
                *last_beat = Some(now);
                out.extend(self.due(now));
            }
            (Phase::Trial { slot, version, .. }, Event::HealthFailed { why }) => {
                out.extend(give_up(*slot, *version, why));
                self.phase = Phase::Idle;
            }
            (Phase::Trial { .. }, Event::Tick) => out.extend(self.due(now)),
            _ => {}
        }
        out
    }

    /// A trial's decision at `now`, if one is due.
    fn due(&mut self, now: u64) -> Vec<Action> {
        let Phase::Trial { version, slot, since, healthy_since, last_beat } = self.phase.clone() else {
            return vec![];
        };
        match (healthy_since, last_beat) {
            (Some(h), Some(b)) if now.saturating_sub(b) <= self.cfg.beat_gap && now.saturating_sub(h) >= self.cfg.healthy_for => {
                self.phase = Phase::Idle;
                vec![Action::Commit { slot, version }, Action::Record(Outcome::Committed { version })]
            }
            _ if now.saturating_sub(since) >= self.cfg.ready_within + self.cfg.healthy_for => {
                self.phase = Phase::Idle;
                let why = match last_beat {
                    None => format!("the new system's server never became ready within {} seconds", self.cfg.ready_within),
                    Some(_) => "the new system's server did not stay healthy (it stopped or kept restarting)".to_string(),
                };
                give_up(slot, version, why)
            }
            _ if healthy_since.is_none() && now.saturating_sub(since) >= self.cfg.ready_within => {
                self.phase = Phase::Idle;
                give_up(slot, version, format!("the new system's server never became ready within {} seconds", self.cfg.ready_within))
            }
            _ => vec![],
        }
    }

    pub fn status(&self, now: u64) -> Status {
        let (mut speed, mut eta, mut commit_in) = (None, None, None);
        match &self.phase {
            Phase::Installing { done, total, started, .. } => {
                let secs = now.saturating_sub(*started);
                if secs > 0 && *done > 0 {
                    let s = done / secs;
                    speed = Some(s);
                    eta = (s > 0).then(|| total.saturating_sub(*done).div_ceil(s));
                }
            }
            Phase::Trial { healthy_since: Some(h), .. } => {
                commit_in = Some((h + self.cfg.healthy_for).saturating_sub(now));
            }
            _ => {}
        }
        Status { phase: self.phase.clone(), speed, eta, commit_in }
    }
}

fn give_up(slot: Slot, version: Version, why: String) -> Vec<Action> {
    vec![Action::Record(Outcome::RolledBack { version, why: why.clone() }), Action::GiveUp { slot, why }]
}

#[cfg(test)]
mod tests {
    use super::*;

    const V2: Version = Version(0, 2, 0);

    fn trial() -> Lifecycle {
        let mut l = Lifecycle::new(Config::default());
        assert!(l.handle(1000, Event::Booted { slot: Slot::B, version: V2, trial: true, gave_up: None }).is_empty());
        l
    }

    #[test]
    fn install_progress_speed_and_staging() {
        let mut l = Lifecycle::new(Config::default());
        l.handle(100, Event::InstallStarted { version: V2, total: 1000 });
        l.handle(110, Event::BytesArrived { done: 400, total: 1000 });
        let s = l.status(110);
        assert_eq!((s.speed, s.eta), (Some(40), Some(15)));
        let acts = l.handle(120, Event::SlotWritten { slot: Slot::B, version: V2 });
        assert_eq!(acts, vec![Action::Record(Outcome::Staged { version: V2 })]);
        assert_eq!(l.phase(), &Phase::Staged { version: V2, slot: Slot::B });
    }

    #[test]
    fn a_failed_install_is_recorded_and_leaves_nothing_pending() {
        let mut l = Lifecycle::new(Config::default());
        l.handle(100, Event::InstallStarted { version: V2, total: 1000 });
        let acts = l.handle(101, Event::InstallFailed { code: "tampered_block".into(), message: "bad".into() });
        assert!(matches!(&acts[..], [Action::Record(Outcome::InstallFailed { code, .. })] if code == "tampered_block"));
        assert_eq!(l.phase(), &Phase::Idle);
        // Refused before it began: recorded, and the staged slot stays staged.
        l.handle(110, Event::InstallStarted { version: V2, total: 10 });
        l.handle(111, Event::SlotWritten { slot: Slot::B, version: V2 });
        let acts = l.handle(120, Event::InstallFailed { code: "wrong_key".into(), message: "no".into() });
        assert_eq!(acts.len(), 1);
        assert_eq!(l.phase(), &Phase::Staged { version: V2, slot: Slot::B });
    }

    #[test]
    fn commits_only_after_staying_healthy_for_the_window() {
        let mut l = trial();
        for t in (1010..1070).step_by(5) {
            assert!(l.handle(t, Event::Healthy).is_empty(), "committed early at {t}");
        }
        assert_eq!(l.status(1060).commit_in, Some(10));
        let acts = l.handle(1070, Event::Healthy);
        assert_eq!(acts[0], Action::Commit { slot: Slot::B, version: V2 });
        assert_eq!(l.phase(), &Phase::Idle);
        // Nothing more happens after the commit.
        assert!(l.handle(5000, Event::Tick).is_empty());
    }

    #[test]
    fn a_daemon_that_never_gets_ready_is_given_up() {
        let mut l = trial();
        assert!(l.handle(1299, Event::Tick).is_empty());
        let acts = l.handle(1300, Event::Tick);
        assert!(matches!(&acts[..], [Action::Record(Outcome::RolledBack { .. }), Action::GiveUp { slot: Slot::B, why }] if why.contains("never became ready")));
    }

    #[test]
    fn a_crash_loop_restarts_the_window_and_is_given_up() {
        let mut l = trial();
        // Healthy for 40 s, then restarts every 50 s: never 60 s in one go.
        let mut t = 1010;
        let mut gave_up = None;
        while t < 2000 && gave_up.is_none() {
            for dt in (0..40).step_by(5) {
                for a in l.handle(t + dt, Event::Healthy) {
                    assert!(!matches!(a, Action::Commit { .. }), "a crash-looping daemon was committed");
                    if let Action::GiveUp { why, .. } = a {
                        gave_up = Some((t + dt, why));
                    }
                }
            }
            for a in l.handle(t + 45, Event::Tick) {
                if let Action::GiveUp { why, .. } = a {
                    gave_up = Some((t + 45, why));
                }
            }
            t += 90;
        }
        let (at, why) = gave_up.expect("given up");
        assert!(at <= 1000 + 360 + 90, "gave up only at {at}");
        assert!(why.contains("did not stay healthy"), "{why}");
    }

    #[test]
    fn a_failed_health_check_gives_up_at_once() {
        let mut l = trial();
        l.handle(1010, Event::Healthy);
        let acts = l.handle(1011, Event::HealthFailed { why: "migration 12 failed".into() });
        assert_eq!(acts[1], Action::GiveUp { slot: Slot::B, why: "migration 12 failed".into() });
    }

    #[test]
    fn a_fallback_by_the_boot_script_is_recorded_once_booted() {
        let mut l = Lifecycle::new(Config::default());
        let gave_up = Some((V2, "3 boots".to_string()));
        let acts = l.handle(5, Event::Booted { slot: Slot::A, version: Version(0, 1, 0), trial: false, gave_up });
        assert_eq!(acts, vec![Action::Record(Outcome::RolledBack { version: V2, why: "3 boots".into() })]);
        assert_eq!(l.phase(), &Phase::Idle);
        // Heartbeats of a committed system change nothing.
        assert!(l.handle(10, Event::Healthy).is_empty());
    }
}
