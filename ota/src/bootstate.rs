//! The boot-slot state that U-Boot's boot script and Linux share, and the one place that changes
//! it.
//!
//! It is kept in two files on the boot partition, `spot/boot0.env` and `spot/boot1.env`, each in
//! U-Boot's checksummed environment format (`env import -c` / `env export -c -s 4096`: a CRC-32
//! of the rest, then `name=value` strings, each NUL-terminated, then zeros). A write goes to the
//! copy that is not the newest, with a higher `spot_seq`; a reader takes the valid copy with the
//! highest `spot_seq`. A power cut that tears a write leaves that copy's CRC wrong, and the other
//! copy (the state before) wins: every write is all-or-nothing. `spot_seq` is hexadecimal, as
//! U-Boot's `setexpr` writes it and `itest` compares it.
//!
//! Writes per boot: none on a committed slot; one (the attempt counter) on each boot of a slot on
//! trial, and one when it commits or is given up.

use std::fmt;

use crate::error::{fail, Error, Kind, Result};

pub const ENV_SIZE: usize = 4096;
pub const FILES: [&str; 2] = ["spot/boot0.env", "spot/boot1.env"];
/// Boots a new slot gets before it falls back.
pub const TRIAL_BOOTS: u32 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Slot {
    A,
    B,
}

impl Slot {
    pub fn other(self) -> Slot {
        match self {
            Slot::A => Slot::B,
            Slot::B => Slot::A,
        }
    }
    pub fn index(self) -> usize {
        match self {
            Slot::A => 0,
            Slot::B => 1,
        }
    }
    pub fn parse(s: &str) -> Option<Slot> {
        match s {
            "A" => Some(Slot::A),
            "B" => Some(Slot::B),
            _ => None,
        }
    }
}

impl fmt::Display for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Slot::A => "A",
            Slot::B => "B",
        })
    }
}

/// Whether a slot may be booted, as far as the boot state knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotState {
    /// Whole and bootable (committed once, or the factory image).
    Good,
    /// Being written, or never written: never booted.
    Empty,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootState {
    pub seq: u64,
    /// The committed slot: booted unless a trial is pending.
    pub primary: Slot,
    /// A whole, uncommitted slot to try first, and the boots it has left.
    pub trial: Option<(Slot, u32)>,
    pub slots: [SlotState; 2],
    /// The version each slot holds, as the installer recorded it.
    pub versions: [String; 2],
    /// The last trial that was given up: which slot and why, in words.
    pub failed: Option<(Slot, String)>,
}

impl BootState {
    /// The state of a new image: slot A holds `version`, slot B is empty.
    pub fn factory(version: &str) -> Self {
        BootState {
            seq: 1,
            primary: Slot::A,
            trial: None,
            slots: [SlotState::Good, SlotState::Empty],
            versions: [version.to_string(), String::new()],
            failed: None,
        }
    }

    fn pairs(&self) -> Vec<(&'static str, String)> {
        let st = |s: SlotState| match s {
            SlotState::Good => "good".to_string(),
            SlotState::Empty => "empty".to_string(),
        };
        vec![
            // Hexadecimal: U-Boot's `setexpr` and `itest` count and compare in hex.
            ("spot_seq", format!("{:x}", self.seq)),
            ("spot_primary", self.primary.to_string()),
            ("spot_trial", self.trial.map(|(s, _)| s.to_string()).unwrap_or_default()),
            ("spot_trial_left", self.trial.map(|(_, n)| n.to_string()).unwrap_or_else(|| "0".into())),
            ("spot_state_A", st(self.slots[0])),
            ("spot_state_B", st(self.slots[1])),
            ("spot_version_A", self.versions[0].clone()),
            ("spot_version_B", self.versions[1].clone()),
            ("spot_failed", self.failed.as_ref().map(|(s, _)| s.to_string()).unwrap_or_default()),
            ("spot_failed_why", self.failed.as_ref().map(|(_, w)| w.clone()).unwrap_or_default()),
        ]
    }

    /// U-Boot's checksummed environment, `ENV_SIZE` bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut data = Vec::with_capacity(ENV_SIZE);
        for (k, v) in self.pairs() {
            // Values are ours: no NUL, no newline, bounded (versions and reasons are short).
            let v: String = v.chars().filter(|c| *c != '\0' && *c != '\n').take(200).collect();
            data.extend_from_slice(k.as_bytes());
            data.push(b'=');
            data.extend_from_slice(v.as_bytes());
            data.push(0);
        }
        data.push(0);
        data.resize(ENV_SIZE - 4, 0);
        let crc = crc32fast::hash(&data);
        let mut out = crc.to_le_bytes().to_vec();
        out.extend_from_slice(&data);
        out
    }

    /// Decodes one copy; `None` when its CRC or contents are not whole.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != ENV_SIZE {
            return None;
        }
        let crc = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        if crc32fast::hash(&bytes[4..]) != crc {
            return None;
        }
        let mut vars = std::collections::HashMap::new();
        for item in bytes[4..].split(|b| *b == 0) {
            if item.is_empty() {
                break;
            }
            let s = std::str::from_utf8(item).ok()?;
            let (k, v) = s.split_once('=')?;
            vars.insert(k, v);
        }
        let get = |k: &str| vars.get(k).copied().unwrap_or("");
        let state = |k: &str| match get(k) {
            "good" => Some(SlotState::Good),
            "empty" => Some(SlotState::Empty),
            _ => None,
        };
        let trial = match get("spot_trial") {
            "" => None,
            s => Some((Slot::parse(s)?, get("spot_trial_left").parse().ok()?)),
        };
        let failed = match get("spot_failed") {
            "" => None,
            s => Some((Slot::parse(s)?, get("spot_failed_why").to_string())),
        };
        Some(BootState {
            seq: u64::from_str_radix(get("spot_seq"), 16).ok()?,
            primary: Slot::parse(get("spot_primary"))?,
            trial,
            slots: [state("spot_state_A")?, state("spot_state_B")?],
            versions: [get("spot_version_A").to_string(), get("spot_version_B").to_string()],
            failed,
        })
    }
}

/// Where the two copies live: files on the boot partition on a box, anything in tests.
pub trait BootStore {
    /// The copy's bytes; `Ok(None)` when it does not exist.
    fn read(&mut self, copy: usize) -> std::io::Result<Option<Vec<u8>>>;
    /// Replaces the copy in place and makes it durable before returning.
    fn write(&mut self, copy: usize, bytes: &[u8]) -> std::io::Result<()>;
}

/// The newest whole copy, and which copy it is.
pub fn load(store: &mut dyn BootStore) -> Result<Option<(BootState, usize)>> {
    let mut best: Option<(BootState, usize)> = None;
    for copy in 0..2 {
        let Some(bytes) = store.read(copy).map_err(|e| Error::new(Kind::Io, format!("reading the boot state: {e}")))? else {
            continue;
        };
        if let Some(s) = BootState::decode(&bytes) {
            if best.as_ref().is_none_or(|(b, _)| s.seq > b.seq) {
                best = Some((s, copy));
            }
        }
    }
    Ok(best)
}

/// Writes `next` (its `seq` set to one more than the newest copy's) over the older copy.
fn store_next(store: &mut dyn BootStore, mut next: BootState, current: Option<(&BootState, usize)>) -> Result<BootState> {
    let (seq, copy) = match current {
        Some((cur, copy)) => (cur.seq + 1, 1 - copy),
        None => (1, 0),
    };
    next.seq = seq;
    store.write(copy, &next.encode()).map_err(|e| Error::new(Kind::Io, format!("writing the boot state: {e}")))?;
    Ok(next)
}

/// Every change of the boot state, and the only code that changes it. Each is one write.
pub enum Change {
    /// Before a slot is written: it must never be booted until it is whole again.
    Invalidate(Slot),
    /// The slot was written and read back whole: boot it next, on trial.
    Stage { slot: Slot, version: String },
    /// The booted trial slot is healthy: it becomes the primary. **The one commit.**
    Commit(Slot),
    /// The trial slot is given up (it failed its health check): back to the primary.
    GiveUp { slot: Slot, why: String },
    /// The admin boots the other (good) slot again.
    Rollback,
}

/// Applies `change` to the current state (`load`), checking it is allowed, and writes it.
pub fn apply(store: &mut dyn BootStore, change: Change, factory_version: &str) -> Result<BootState> {
    let current = load(store)?;
    let cur = current.as_ref().map(|(s, _)| s.clone()).unwrap_or_else(|| BootState::factory(factory_version));
    let mut next = cur.clone();
    match change {
        Change::Invalidate(slot) => {
            if slot == cur.primary {
                return fail(Kind::Busy, format!("slot {slot} is the one the box runs from: it is never written"));
            }
            if cur.slots[slot.index()] == SlotState::Empty && cur.trial.is_none() {
                return Ok(cur);
            }
            next.slots[slot.index()] = SlotState::Empty;
            next.versions[slot.index()] = String::new();
            next.trial = None;
        }
        Change::Stage { slot, version } => {
            if slot == cur.primary {
                return fail(Kind::Busy, format!("slot {slot} is the primary slot"));
            }
            next.slots[slot.index()] = SlotState::Good;
            next.versions[slot.index()] = version;
            next.trial = Some((slot, TRIAL_BOOTS));
            next.failed = None;
        }
        Change::Commit(slot) => {
            match cur.trial {
                Some((t, _)) if t == slot => {}
                _ if cur.primary == slot => return Ok(cur),
                _ => return fail(Kind::Busy, format!("slot {slot} is not on trial: nothing to commit")),
            }
            next.primary = slot;
            next.trial = None;
            next.slots[slot.index()] = SlotState::Good;
        }
        Change::GiveUp { slot, why } => {
            if !matches!(cur.trial, Some((t, _)) if t == slot) {
                return Ok(cur);
            }
            next.trial = None;
            // Not a system known to work: never booted again (nor rolled back to).
            next.slots[slot.index()] = SlotState::Empty;
            next.failed = Some((slot, why));
        }
        Change::Rollback => {
            let other = cur.primary.other();
            if cur.slots[other.index()] != SlotState::Good || cur.trial.is_some() {
                return fail(Kind::Busy, format!("slot {other} holds no complete system to go back to"));
            }
            next.primary = other;
        }
    }
    store_next(store, next, current.as_ref().map(|(s, c)| (s, *c)))
}

/// What U-Boot's boot script (recipes/boot.cmd.in) decides, as the same rules in Rust: the
/// model the power-cut tests boot with. Returns the slot to boot, whether it is a trial boot,
/// and performs the script's one write when there is one. (The script also handles a slot
/// whose kernel does not load, within the same boot and without writing: a trial gives way to
/// the primary, a primary to the other slot if that one is good.)
pub fn boot(store: &mut dyn BootStore, factory_version: &str) -> Result<(Slot, bool)> {
    let current = load(store)?;
    let cur = current.as_ref().map(|(s, _)| s.clone()).unwrap_or_else(|| BootState::factory(factory_version));
    match cur.trial {
        Some((slot, left)) if left > 0 => {
            let mut next = cur.clone();
            next.trial = Some((slot, left - 1));
            store_next(store, next, current.as_ref().map(|(s, c)| (s, *c)))?;
            Ok((slot, true))
        }
        Some((slot, _)) => {
            let mut next = cur.clone();
            next.trial = None;
            next.slots[slot.index()] = SlotState::Empty;
            next.failed = Some((slot, format!("slot {slot} did not start and check itself healthy in {TRIAL_BOOTS} boots")));
            store_next(store, next, current.as_ref().map(|(s, c)| (s, *c)))?;
            Ok((cur.primary, false))
        }
        None => Ok((cur.primary, false)),
    }
}

/// Boot state files in a directory (the mounted boot partition, or a test's temp dir).
pub struct DirStore(pub std::path::PathBuf);

impl BootStore for DirStore {
    fn read(&mut self, copy: usize) -> std::io::Result<Option<Vec<u8>>> {
        match std::fs::read(self.0.join(FILES[copy])) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
    fn write(&mut self, copy: usize, bytes: &[u8]) -> std::io::Result<()> {
        // In place, not a rename (the directory code the boot-files switch shares): a torn
        // rewrite fails its CRC.
        crate::bootfiles::write_in_place(&self.0.join(FILES[copy]), bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Mem([Option<Vec<u8>>; 2]);
    impl BootStore for Mem {
        fn read(&mut self, copy: usize) -> std::io::Result<Option<Vec<u8>>> {
            Ok(self.0[copy].clone())
        }
        fn write(&mut self, copy: usize, bytes: &[u8]) -> std::io::Result<()> {
            self.0[copy] = Some(bytes.to_vec());
            Ok(())
        }
    }

    #[test]
    fn round_trips_and_rejects_a_torn_copy() {
        let mut s = BootState::factory("0.1.0");
        s.trial = Some((Slot::B, 2));
        s.failed = Some((Slot::A, "why not".into()));
        let bytes = s.encode();
        assert_eq!(bytes.len(), ENV_SIZE);
        assert_eq!(BootState::decode(&bytes), Some(s));
        let mut torn = bytes.clone();
        torn[100] ^= 1;
        assert_eq!(BootState::decode(&torn), None);
    }

    /// What the boot script's `env export -c -s 0x1000` writes: the variables sorted, the empty
    /// ones left out (U-Boot deletes a variable set to nothing), `spot_seq` counted by `setexpr`.
    #[test]
    fn reads_what_u_boot_writes() {
        let text = "spot_primary=A\0spot_seq=b\0spot_state_A=good\0spot_state_B=good\0spot_trial=B\0spot_trial_left=2\0spot_version_A=0.1.0\0spot_version_B=0.1.1\0\0";
        let mut data = text.as_bytes().to_vec();
        data.resize(ENV_SIZE - 4, 0);
        let mut bytes = crc32fast::hash(&data).to_le_bytes().to_vec();
        bytes.extend_from_slice(&data);
        let s = BootState::decode(&bytes).expect("decodes");
        assert_eq!(s.seq, 11);
        assert_eq!(s.trial, Some((Slot::B, 2)));
        assert_eq!(s.failed, None);
        assert_eq!(s.versions[1], "0.1.1");
        // And what Rust writes, U-Boot's `itest` reads as the same number.
        let mut t = s.clone();
        t.seq = 26;
        assert!(t.encode().windows(12).any(|w| w == b"spot_seq=1a\0"));
    }

    #[test]
    fn trial_counts_down_then_falls_back_and_commit_is_final() {
        let mut m = Mem::default();
        apply(&mut m, Change::Invalidate(Slot::B), "1").unwrap();
        apply(&mut m, Change::Stage { slot: Slot::B, version: "2".into() }, "1").unwrap();
        for _ in 0..TRIAL_BOOTS {
            assert_eq!(boot(&mut m, "1").unwrap(), (Slot::B, true));
        }
        assert_eq!(boot(&mut m, "1").unwrap(), (Slot::A, false));
        let (s, _) = load(&mut m).unwrap().unwrap();
        assert_eq!(s.failed.as_ref().map(|f| f.0), Some(Slot::B));
        // A late commit of the given-up slot is refused.
        assert_eq!(apply(&mut m, Change::Commit(Slot::B), "1").unwrap_err().kind, Kind::Busy);
        apply(&mut m, Change::Stage { slot: Slot::B, version: "2".into() }, "1").unwrap();
        assert_eq!(boot(&mut m, "1").unwrap(), (Slot::B, true));
        apply(&mut m, Change::Commit(Slot::B), "1").unwrap();
        assert_eq!(boot(&mut m, "1").unwrap(), (Slot::B, false));
        let before = m.0.clone();
        assert_eq!(boot(&mut m, "1").unwrap(), (Slot::B, false));
        assert_eq!(m.0, before, "a committed boot writes nothing");
        // The primary is never invalidated (written over).
        assert_eq!(apply(&mut m, Change::Invalidate(Slot::B), "1").unwrap_err().kind, Kind::Busy);
        apply(&mut m, Change::Rollback, "1").unwrap();
        assert_eq!(boot(&mut m, "1").unwrap(), (Slot::A, false));
    }
}
