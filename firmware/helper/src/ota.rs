//! Updates, the helper's side: the only code on the box that writes a root slot or the boot
//! state. The daemon hands over a bundle by file name (`OtaInstall`), sends heartbeats once it
//! is healthy (`OtaHealthy`), and reads `OtaStatus`; the decisions are `ota::lifecycle`'s and
//! `ota::bootstate`'s, the writes `ota::install`'s.
//!
//! Environment (defaults are the image's):
//!   SPOT_HELPER_OTA_SLOTS     "DEV_A,DEV_B"  (default: partitions 2 and 3 of the root's disk,
//!                             from `root=PARTUUID=…-0N` on the kernel command line)
//!   SPOT_HELPER_OTA_CMDLINE   file with the kernel command line (/proc/cmdline): `spot.slot=`
//!   SPOT_HELPER_BOOT          the boot partition (/boot/firmware): `spot/boot{0,1}.env`, and
//!                             the boot files' switch `spot/fw.txt` and sets `spot/fw/<ID>/`
//!                             (`ota::bootfiles`; the record is `ota-bootfiles.json` in the state)
//!   SPOT_HELPER_OTA_INCOMING  where the daemon leaves bundles (/data/spot/ota/incoming)
//!   SPOT_HELPER_OTA_ROOT      the feed's root.json the box trusts (/usr/share/spot/ota/root.json)
//!   SPOT_HELPER_OTA_BOARD     board name (SPOT_BOARD from /etc/spot/board.env)
//!   SPOT_HELPER_OTA_VERSION   the running version (default: MAJOR.MINOR.PATCH at the start of
//!                             SPOT_HELPER_OTA_RELEASE, /etc/spot-release, which the image
//!                             builder writes; else this build's)
//!   SPOT_HELPER_OTA_TIMING    JSON `ota::lifecycle::Config` (tests shorten the health window)
//!   SPOT_HELPER_OTA_DT        the device tree (/proc/device-tree): the Pi 4 bootloader EEPROM's
//!                             build date, `chosen/bootloader/build-timestamp`

use crate::driver::{Call, Command};
use anyhow::{Context, Result};
use ota::bootfiles::{self, BootStage, DirFs};
use ota::bootstate::{self, BootState, Change, DirStore, Slot, SlotState};
use ota::install::{ChunkIndex, FileJournal, FilePayload, Install, Progress, StreamPayload};
use ota::lifecycle::{Action, Config, Event, Lifecycle, Outcome, Phase};
use ota::manifest::Installed;
use ota::{Kind, Version};
use setup::proto::{OtaPhase, OtaPlanReport, OtaRecord, OtaReport, OtaSlot, Reply};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const HISTORY: usize = 50;

pub struct Paths {
    pub slots: [PathBuf; 2],
    pub boot: PathBuf,
    pub incoming: PathBuf,
    /// `/data/system`: history, floor, journal.
    pub state: PathBuf,
    pub root: PathBuf,
}

pub struct Ota {
    paths: Paths,
    board: String,
    version: Version,
    running: Slot,
    lc: Mutex<Lifecycle>,
    /// Held while an event and its actions (history, boot state) are applied, and while a
    /// report is taken: a report never shows the new phase without what came with it.
    applying: Mutex<()>,
    installing: Mutex<bool>,
    calls: SyncSender<Call>,
    /// The running slot's chunks, indexed once (it is mounted read-only and never changes
    /// while it runs) for `OtaPlan` and the delta install after it.
    index: Mutex<Option<Arc<ChunkIndex>>>,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// `spot.slot=` and the slot devices from the kernel command line.
fn from_cmdline(cmdline: &str) -> (Option<Slot>, Option<[PathBuf; 2]>) {
    let mut slot = None;
    let mut devs = None;
    for w in cmdline.split_whitespace() {
        if let Some(s) = w.strip_prefix("spot.slot=") {
            slot = Slot::parse(s);
        }
        if let Some(uuid) = w.strip_prefix("root=PARTUUID=") {
            if let Some((disk, _)) = uuid.rsplit_once('-') {
                let p = |n: u32| PathBuf::from(format!("/dev/disk/by-partuuid/{disk}-{n:02}"));
                devs = Some([p(2), p(3)]);
            }
        }
    }
    (slot, devs)
}

impl Ota {
    pub fn from_env(state: &Path, calls: SyncSender<Call>) -> Result<Arc<Ota>> {
        let cmdline_file = env("SPOT_HELPER_OTA_CMDLINE").unwrap_or_else(|| "/proc/cmdline".into());
        let cmdline = std::fs::read_to_string(&cmdline_file).unwrap_or_default();
        let (slot, devs) = from_cmdline(&cmdline);
        let slots = match env("SPOT_HELPER_OTA_SLOTS") {
            Some(v) => {
                let (a, b) = v.split_once(',').context("SPOT_HELPER_OTA_SLOTS is DEV_A,DEV_B")?;
                [PathBuf::from(a), PathBuf::from(b)]
            }
            None => devs.unwrap_or_else(|| [PathBuf::new(), PathBuf::new()]),
        };
        let release = env("SPOT_HELPER_OTA_RELEASE").unwrap_or_else(|| "/etc/spot-release".into());
        let version = env("SPOT_HELPER_OTA_VERSION")
            .or_else(|| release_version(&std::fs::read_to_string(release).unwrap_or_default()))
            .unwrap_or_else(|| env!("CARGO_PKG_VERSION").into());
        let version: Version = version.parse().map_err(|e: ota::Error| anyhow::anyhow!("SPOT_HELPER_OTA_VERSION: {e}"))?;
        let cfg: Config = match env("SPOT_HELPER_OTA_TIMING") {
            Some(t) => {
                let v: serde_json::Value = serde_json::from_str(&t).context("SPOT_HELPER_OTA_TIMING")?;
                let n = |k: &str, d: u64| v.get(k).and_then(|x| x.as_u64()).unwrap_or(d);
                let d = Config::default();
                Config { ready_within: n("ready_within", d.ready_within), healthy_for: n("healthy_for", d.healthy_for), beat_gap: n("beat_gap", d.beat_gap) }
            }
            None => Config::default(),
        };
        let paths = Paths {
            slots,
            boot: env("SPOT_HELPER_BOOT").map_or_else(|| "/boot/firmware".into(), PathBuf::from),
            incoming: env("SPOT_HELPER_OTA_INCOMING").map_or_else(|| setup::proto::OTA_INCOMING.into(), PathBuf::from),
            state: state.to_path_buf(),
            root: env("SPOT_HELPER_OTA_ROOT").map_or_else(|| "/usr/share/spot/ota/root.json".into(), PathBuf::from),
        };
        let board = env("SPOT_HELPER_OTA_BOARD").or_else(|| env("SPOT_BOARD")).unwrap_or_else(|| "unknown".into());
        let ota = Arc::new(Ota {
            paths,
            board,
            version,
            running: slot.unwrap_or(Slot::A),
            lc: Mutex::new(Lifecycle::new(cfg)),
            applying: Mutex::new(()),
            installing: Mutex::new(false),
            calls,
            index: Mutex::new(None),
        });
        ota.booted();
        let o = ota.clone();
        std::thread::Builder::new().name("ota".into()).spawn(move || loop {
            std::thread::sleep(Duration::from_secs(1));
            o.event(Event::Tick);
        })?;
        Ok(ota)
    }

    fn store(&self) -> DirStore {
        DirStore(self.paths.boot.clone())
    }

    fn boot_state(&self) -> BootState {
        match bootstate::load(&mut self.store()) {
            Ok(Some((s, _))) => s,
            _ => BootState::factory(&self.version.to_string()),
        }
    }

    /// The boot files at start, after a commit and after a give-up: the switch must name a whole
    /// set (`at_start`: mended and logged if not), and a pending set whose slot committed stays
    /// (the others are deleted) or, given up or never staged, is switched back.
    fn settle_boot_files(&self, at_start: bool) {
        let path = self.paths.state.join(bootfiles::RECORD);
        let rec = bootfiles::load_record(&path);
        let mut fs = DirFs(self.paths.boot.clone());
        if at_start {
            match bootfiles::mend(&mut fs, &[rec.current.clone(), rec.previous.clone()]) {
                Ok(Some((why, to))) => eprintln!("spot-helper: boot files: {why}; switched to {to}"),
                Ok(None) => {}
                Err(e) => eprintln!("spot-helper: checking the boot files: {e}"),
            }
        }
        match bootfiles::settle(&mut fs, &rec, &self.boot_state()) {
            Ok(Some(r)) => {
                eprintln!("spot-helper: boot files: {} (was {})", r.current, rec.current);
                if let Err(e) = bootfiles::save_record(&path, &r) {
                    eprintln!("spot-helper: saving {}: {e}", path.display());
                }
            }
            Ok(None) => {}
            Err(e) => eprintln!("spot-helper: settling the boot files: {e}"),
        }
    }

    /// The bundle's boot files, assembled next to the state and switched before staging.
    fn boot_stage<'a>(&self, fs: &'a mut DirFs, v: &ota::manifest::Verified, slot: Slot) -> ota::Result<BootStage<'a>> {
        BootStage::new(fs, v, &self.paths.state.join("ota-bootfiles.parts"), self.paths.state.join(bootfiles::RECORD), slot)
    }

    /// At start: are we on trial, and did the boot script give a trial up since last time?
    fn booted(&self) {
        self.settle_boot_files(true);
        let st = self.boot_state();
        let trial = matches!(st.trial, Some((s, _)) if s == self.running) && st.primary != self.running;
        let gave_up = st.failed.as_ref().and_then(|(slot, why)| {
            let seen = std::fs::read_to_string(self.paths.state.join("ota-failure-seen")).unwrap_or_default();
            let key = format!("{slot} {why}");
            (seen.trim() != key).then(|| {
                let _ = write_atomic(&self.paths.state.join("ota-failure-seen"), key.as_bytes());
                let v = st.versions[slot.index()].parse().unwrap_or(Version(0, 0, 0));
                (v, why.clone())
            })
        });
        self.event(Event::Booted { slot: self.running, version: self.version, trial, gave_up });
    }

    fn event(&self, ev: Event) {
        let _applying = self.applying.lock().unwrap_or_else(|p| p.into_inner());
        let actions = self.lc.lock().unwrap_or_else(|p| p.into_inner()).handle(now(), ev);
        for a in actions {
            match a {
                Action::Record(o) => self.record(o),
                Action::Commit { slot, version } => {
                    // The one commit of a slot.
                    match bootstate::apply(&mut self.store(), Change::Commit(slot), &self.version.to_string()) {
                        Ok(_) => {
                            if version > self.floor() {
                                let _ = write_atomic(&self.paths.state.join("ota-floor"), version.to_string().as_bytes());
                            }
                            eprintln!("spot-helper: update {version} in slot {slot} committed");
                            self.settle_boot_files(false);
                        }
                        Err(e) => eprintln!("spot-helper: committing slot {slot}: {e}"),
                    }
                }
                Action::GiveUp { slot, why } => {
                    eprintln!("spot-helper: giving up slot {slot}: {why}");
                    if let Err(e) = bootstate::apply(&mut self.store(), Change::GiveUp { slot, why }, &self.version.to_string()) {
                        eprintln!("spot-helper: giving up slot {slot}: {e}");
                    }
                    self.settle_boot_files(false);
                    self.reboot();
                }
            }
        }
    }

    fn reboot(&self) {
        let (tx, _rx) = sync_channel(1);
        let _ = self.calls.try_send(Call { cmd: Command::Reboot, reply: tx });
    }

    fn floor(&self) -> Version {
        std::fs::read_to_string(self.paths.state.join("ota-floor"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(Version(0, 0, 0))
    }

    fn history(&self) -> Vec<OtaRecord> {
        std::fs::read(self.paths.state.join("ota-history.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    fn record(&self, o: Outcome) {
        let (outcome, version, code, message) = match o {
            Outcome::Staged { version } => ("staged", Some(version), None, None),
            Outcome::InstallFailed { code, message } => ("install_failed", None, Some(code), Some(message)),
            Outcome::Committed { version } => ("committed", Some(version), None, None),
            Outcome::RolledBack { version, why } => ("rolled_back", Some(version), None, Some(why)),
        };
        let mut h = self.history();
        h.insert(0, OtaRecord { at: now(), outcome: outcome.into(), version: version.map(|v| v.to_string()), code, message });
        h.truncate(HISTORY);
        if let Ok(bytes) = serde_json::to_vec_pretty(&h) {
            let _ = write_atomic(&self.paths.state.join("ota-history.json"), &bytes);
        }
    }

    pub fn report(&self) -> Reply {
        let _applying = self.applying.lock().unwrap_or_else(|p| p.into_inner());
        let st = self.boot_state();
        let status = self.lc.lock().unwrap_or_else(|p| p.into_inner()).status(now());
        let (phase, version, done, total) = match &status.phase {
            Phase::Idle => ("idle", None, None, None),
            Phase::Installing { version, done, total, .. } => ("installing", Some(*version), Some(*done), Some(*total)),
            Phase::Staged { version, .. } => ("staged", Some(*version), None, None),
            Phase::Trial { version, .. } => ("trial", Some(*version), None, None),
        };
        let slots = [Slot::A, Slot::B]
            .into_iter()
            .map(|s| OtaSlot {
                name: s.to_string(),
                version: st.versions[s.index()].clone(),
                state: if st.slots[s.index()] == SlotState::Good { "good" } else { "empty" }.into(),
                running: s == self.running,
                primary: s == st.primary,
                trial: matches!(st.trial, Some((t, _)) if t == s),
            })
            .collect();
        Reply::Ota {
            ok: true,
            ota: OtaReport {
                board: self.board.clone(),
                version: self.version.to_string(),
                floor: self.floor().to_string(),
                slots,
                status: OtaPhase {
                    phase: phase.into(),
                    version: version.map(|v| v.to_string()),
                    done,
                    total,
                    speed: status.speed,
                    eta: status.eta,
                    commit_in: status.commit_in,
                },
                history: self.history(),
            },
        }
    }

    pub fn healthy(&self) -> Reply {
        self.event(Event::Healthy);
        Reply::Done { ok: true }
    }

    pub fn rollback(&self) -> Reply {
        match bootstate::apply(&mut self.store(), Change::Rollback, &self.version.to_string()) {
            Ok(_) => Reply::Done { ok: true },
            Err(e) if e.kind == Kind::Busy => Reply::error("busy", e.message),
            Err(e) => Reply::error("failed", e.message),
        }
    }

    /// Checks the name and starts the install in the background.
    pub fn install(self: &Arc<Self>, name: &str) -> Reply {
        let ok_name = !name.is_empty()
            && name.len() <= 64
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
            && !name.starts_with('.');
        if !ok_name {
            return Reply::error("invalid_argument", "A bundle is named by a plain file name.");
        }
        let path = self.paths.incoming.join(name);
        // The directory is the daemon's: a symlink there could point anywhere (a FIFO would
        // hang the installer); only a plain file is read.
        if !std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_file()) {
            return Reply::error("invalid_argument", format!("No uploaded bundle {name:?}."));
        }
        self.spawn_install(path, Ota::run_install)
    }

    /// One install at a time, in the background: `run` on `path`, which is deleted afterwards;
    /// the outcome goes to the lifecycle.
    fn spawn_install(self: &Arc<Self>, path: PathBuf, run: fn(&Ota, &Path) -> ota::Result<(Slot, Version)>) -> Reply {
        {
            let mut busy = self.installing.lock().unwrap_or_else(|p| p.into_inner());
            if *busy {
                return Reply::error("busy", "An update is being installed already.");
            }
            *busy = true;
        }
        let me = self.clone();
        let spawned = std::thread::Builder::new().name("ota-install".into()).spawn(move || {
            let res = run(&me, &path);
            let _ = std::fs::remove_file(&path);
            match res {
                Ok((slot, version)) => me.event(Event::SlotWritten { slot, version }),
                Err(e) => {
                    eprintln!("spot-helper: update failed: {e}");
                    me.event(Event::InstallFailed { code: e.code().into(), message: e.message.clone() });
                }
            }
            *me.installing.lock().unwrap_or_else(|p| p.into_inner()) = false;
        });
        match spawned {
            Ok(_) => Reply::Done { ok: true },
            Err(e) => {
                *self.installing.lock().unwrap_or_else(|p| p.into_inner()) = false;
                Reply::error("failed", format!("Could not start the install: {e}"))
            }
        }
    }

    fn run_install(&self, path: &Path) -> ota::Result<(Slot, Version)> {
        let io = |what: &str| {
            let what = what.to_string();
            move |e: std::io::Error| ota::Error::new(Kind::Io, format!("{what}: {e}"))
        };
        let mut r = std::io::BufReader::with_capacity(1 << 16, std::fs::File::open(path).map_err(io("opening the bundle"))?);
        let envelope = ota::bundle::read_header(&mut r)?;
        let root = std::fs::read(&self.paths.root).map_err(io("reading the box's update key (root.json)"))?;
        let trust = ota::feed::TrustedState::new(&root)?;
        let dt = env("SPOT_HELPER_OTA_DT").map_or_else(|| PathBuf::from("/proc/device-tree"), PathBuf::from);
        let installed = Installed { board: self.board.clone(), version: self.version, floor: self.floor(), eeprom: eeprom_date(&dt) };
        let (keys, role) = trust.targets_role();
        let v = ota::check::check_bundle(&envelope, (keys, role), &installed, None)?;
        let version = v.manifest.version;
        let total = v.manifest.payload_len;
        self.event(Event::InstallStarted { version, total });
        let st = self.boot_state();
        let target_slot = st.primary.other();
        let dev = &self.paths.slots[target_slot.index()];
        let mut target = std::fs::OpenOptions::new().read(true).write(true).open(dev).map_err(io(&format!("opening slot {target_slot}")))?;
        let mut boot = self.store();
        let mut journal = FileJournal(self.paths.state.join("ota-journal.json"));
        let mut last = 0u64;
        let mut progress = |p: Progress| {
            // A status update a second is plenty (and the lock is shared with the socket).
            let t = now();
            if t != last || p.done == p.total {
                last = t;
                self.lc.lock().unwrap_or_else(|x| x.into_inner()).handle(t, Event::BytesArrived { done: p.done, total: p.total });
            }
        };
        let version_s = self.version.to_string();
        let mut boot_fs = DirFs(self.paths.boot.clone());
        let mut boot_files = self.boot_stage(&mut boot_fs, &v, target_slot)?;
        let slot = Install {
            verified: &v,
            boot: &mut boot,
            journal: &mut journal,
            target: &mut target,
            active: None,
            factory_version: &version_s,
            running: self.running,
            progress: &mut progress,
            checkpoint: ota::install::CHECKPOINT,
        }
        .run_with(&mut StreamPayload { reader: r, pos: 0, len: total }, &mut boot_files)?;
        let _ = std::fs::remove_dir_all(self.paths.state.join("ota-bootfiles.parts"));
        Ok((slot, version))
    }
}

/// A delta install from the update feed: the daemon fetched the bundle's header, asks what
/// else it needs (`OtaPlan`: the ranges of the chunks the running slot lacks), fetches only
/// those into the same (sparse) file and asks for `OtaInstallDelta`, which copies the other
/// chunks from the running slot. Both check the bundle as `run_install` does; every chunk is
/// checked against the signed manifest before it is written and the slot read back after.
impl Ota {
    /// `incoming/NAME`, if NAME is a plain file name and the file a plain file (never a
    /// symlink: the directory is the daemon's).
    fn incoming_file(&self, name: &str) -> std::result::Result<PathBuf, Box<Reply>> {
        let ok_name = !name.is_empty()
            && name.len() <= 64
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
            && !name.starts_with('.');
        if !ok_name {
            return Err(Box::new(Reply::error("invalid_argument", "A bundle is named by a plain file name.")));
        }
        let path = self.paths.incoming.join(name);
        if !std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_file()) {
            return Err(Box::new(Reply::error("invalid_argument", format!("No downloaded bundle {name:?}."))));
        }
        Ok(path)
    }

    /// The bundle file's signed manifest, checked like `run_install` checks it: the box's
    /// root.json, board, version, floor, bootloader. Only the header is read.
    fn check_file(&self, path: &Path) -> ota::Result<(ota::manifest::Verified, std::fs::File)> {
        let io = |what: &'static str| move |e: std::io::Error| ota::Error::new(Kind::Io, format!("{what}: {e}"));
        let file = std::fs::File::open(path).map_err(io("opening the bundle"))?;
        let envelope = ota::bundle::read_header(&mut std::io::BufReader::with_capacity(1 << 16, &file))?;
        let root = std::fs::read(&self.paths.root).map_err(io("reading the box's update key (root.json)"))?;
        let trust = ota::feed::TrustedState::new(&root)?;
        let dt = env("SPOT_HELPER_OTA_DT").map_or_else(|| PathBuf::from("/proc/device-tree"), PathBuf::from);
        let installed = Installed { board: self.board.clone(), version: self.version, floor: self.floor(), eeprom: eeprom_date(&dt) };
        let v = ota::check::check_bundle(&envelope, trust.targets_role(), &installed, None)?;
        Ok((v, file))
    }

    /// The running slot's device, read only.
    fn running_slot(&self) -> ota::Result<std::fs::File> {
        std::fs::File::open(&self.paths.slots[self.running.index()])
            .map_err(|e| ota::Error::new(Kind::Io, format!("opening the running slot {}: {e}", self.running)))
    }

    fn running_index(&self) -> ota::Result<Arc<ChunkIndex>> {
        use ota::install::Device;
        let mut cached = self.index.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(i) = cached.as_ref() {
            return Ok(i.clone());
        }
        let mut dev = self.running_slot()?;
        let len = dev.size().map_err(|e| ota::Error::new(Kind::Io, format!("the running slot's size: {e}")))?;
        let index = Arc::new(ota::install::index_slot(&mut dev, len)?);
        *cached = Some(index.clone());
        Ok(index)
    }

    /// `OtaPlan`: what of the bundle `name` the box still needs. A refused bundle is recorded
    /// in the history like a refused install.
    pub fn plan(&self, name: &str) -> Reply {
        let path = match self.incoming_file(name) {
            Ok(p) => p,
            Err(r) => return *r,
        };
        let planned = (|| {
            let (v, _) = self.check_file(&path)?;
            let index = self.running_index()?;
            let p = ota::install::plan(&v, &index)?;
            let start = ota::bundle::payload_start(v.envelope_len);
            Ok::<_, ota::Error>(OtaPlanReport {
                version: v.manifest.version.to_string(),
                ranges: p.ranges.iter().map(|&(off, len)| [start + off, len]).collect(),
                wanted: p.wanted,
                local: p.local,
            })
        })();
        match planned {
            Ok(plan) => Reply::OtaPlan { ok: true, plan },
            Err(e) => {
                eprintln!("spot-helper: update refused: {e}");
                self.event(Event::InstallFailed { code: e.code().into(), message: e.message.clone() });
                Reply::error(if e.kind == Kind::Busy { "busy" } else { "failed" }, e.to_string())
            }
        }
    }

    /// `OtaInstallDelta`: installs `name` (header and planned ranges) in the background.
    pub fn install_delta(self: &Arc<Self>, name: &str) -> Reply {
        let path = match self.incoming_file(name) {
            Ok(p) => p,
            Err(r) => return *r,
        };
        self.spawn_install(path, Ota::run_install_delta)
    }

    fn run_install_delta(&self, path: &Path) -> ota::Result<(Slot, Version)> {
        let (v, file) = self.check_file(path)?;
        let version = v.manifest.version;
        let index = self.running_index()?;
        let mut running = self.running_slot()?;
        self.event(Event::InstallStarted { version, total: v.manifest.payload_len });
        let target_slot = self.boot_state().primary.other();
        let mut target = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&self.paths.slots[target_slot.index()])
            .map_err(|e| ota::Error::new(Kind::Io, format!("opening slot {target_slot}: {e}")))?;
        // Its own journal: a full install's says "local chunks done" without having copied any.
        let mut journal = FileJournal(self.paths.state.join("ota-journal-delta.json"));
        let mut last = 0u64;
        let mut progress = |p: Progress| {
            let t = now();
            if t != last || p.done == p.total {
                last = t;
                self.lc.lock().unwrap_or_else(|x| x.into_inner()).handle(t, Event::BytesArrived { done: p.done, total: p.total });
            }
        };
        let version_s = self.version.to_string();
        let start = ota::bundle::payload_start(v.envelope_len);
        let mut boot_fs = DirFs(self.paths.boot.clone());
        let mut boot_files = self.boot_stage(&mut boot_fs, &v, target_slot)?;
        let slot = Install {
            verified: &v,
            boot: &mut self.store(),
            journal: &mut journal,
            target: &mut target,
            active: Some((&mut running, &index)),
            factory_version: &version_s,
            running: self.running,
            progress: &mut progress,
            checkpoint: ota::install::CHECKPOINT,
        }
        .run_with(&mut FilePayload { file, start }, &mut boot_files)?;
        let _ = std::fs::remove_dir_all(self.paths.state.join("ota-bootfiles.parts"));
        Ok((slot, version))
    }
}

/// `MAJOR.MINOR.PATCH` at the start of the image's release string (`0.1.0-3f2a9c1`).
fn release_version(release: &str) -> Option<String> {
    let first = release.lines().next()?.trim();
    let end = first.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(first.len());
    let v = &first[..end];
    v.parse::<Version>().is_ok().then(|| v.to_string())
}

/// The bootloader EEPROM's build date (`YYYY-MM-DD`, UTC) as the Pi firmware reports it in the
/// device tree: a big-endian u32 of seconds since the epoch. `None` where there is none (Pi 3,
/// Zero 2 W, QEMU).
fn eeprom_date(dt: &Path) -> Option<String> {
    let b = std::fs::read(dt.join("chosen/bootloader/build-timestamp")).ok()?;
    let secs = u32::from_be_bytes(b.get(..4)?.try_into().ok()?) as i64;
    // Days to civil date (Howard Hinnant's algorithm).
    let z = secs.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    Some(format!("{y:04}-{m:02}-{d:02}"))
}

fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d)?;
    }
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_names_the_slot_and_its_disk() {
        let (s, d) = from_cmdline("console=ttyS1 root=PARTUUID=5b0e2c7a-02 ro rootwait spot.slot=B quiet");
        assert_eq!(s, Some(Slot::B));
        let d = d.expect("devices");
        assert_eq!(d[0], PathBuf::from("/dev/disk/by-partuuid/5b0e2c7a-02"));
        assert_eq!(d[1], PathBuf::from("/dev/disk/by-partuuid/5b0e2c7a-03"));
        assert_eq!(from_cmdline("quiet"), (None, None));
    }

    #[test]
    fn the_version_comes_from_the_release_string() {
        assert_eq!(release_version("0.1.2-3f2a9c1\n").as_deref(), Some("0.1.2"));
        assert_eq!(release_version("1.20.3").as_deref(), Some("1.20.3"));
        assert_eq!(release_version("dev\n"), None);
        assert_eq!(release_version("1.2-x"), None);
        assert_eq!(release_version(""), None);
    }

    #[test]
    fn the_eeprom_date_comes_from_the_device_tree() {
        let dir = tempfile::tempdir().expect("tmp");
        assert_eq!(eeprom_date(dir.path()), None);
        std::fs::create_dir_all(dir.path().join("chosen/bootloader")).expect("mkdir");
        // 2024-09-10 12:00:00 UTC, as the firmware writes it.
        std::fs::write(dir.path().join("chosen/bootloader/build-timestamp"), 1_725_969_600u32.to_be_bytes()).expect("ts");
        assert_eq!(eeprom_date(dir.path()).as_deref(), Some("2024-09-10"));
        std::fs::write(dir.path().join("chosen/bootloader/build-timestamp"), 951_825_600u32.to_be_bytes()).expect("ts");
        assert_eq!(eeprom_date(dir.path()).as_deref(), Some("2000-02-29"));
        std::fs::write(dir.path().join("chosen/bootloader/build-timestamp"), [1u8, 2]).expect("short");
        assert_eq!(eeprom_date(dir.path()), None);
    }
}
