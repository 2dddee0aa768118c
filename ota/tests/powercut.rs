//! Power cuts during an install: the installer is stopped at ≥ 200 random points (the write in
//! flight torn at a random byte, unsynced writes kept, dropped or torn at random), then the box
//! "boots" with the rules of the boot script (bootstate::boot) and the slot it picks must be
//! whole. Then the install is resumed and must finish, boot on trial and commit.
#![allow(clippy::unwrap_used)]

mod common;

use std::cell::RefCell;
use std::rc::Rc;

use ota::bootstate::{self, BootStore, Change, Slot};
use ota::install::{self, Device, Install, Journal, JournalStore, StreamPayload};
use rand::{Rng, SeedableRng};
use sha2::{Digest, Sha256};

const SLOT: usize = 3 << 20;

/// Counts IO operations; after `left` of them the power goes.
struct Power {
    left: i64,
    rng: rand::rngs::StdRng,
}

impl Power {
    /// `Some(torn_at)` when this op is the one the power cut hits (`torn_at` of `len` bytes made
    /// it), and every op after fails too.
    fn tick(&mut self, len: usize) -> Result<(), usize> {
        self.left -= 1;
        if self.left >= 0 {
            return Ok(());
        }
        Err(if self.left == -1 && len > 0 { self.rng.random_range(0..len) } else { 0 })
    }
    fn dead(&self) -> bool {
        self.left < 0
    }
}

type P = Rc<RefCell<Power>>;

fn cut() -> std::io::Error {
    std::io::Error::other("power cut")
}

/// A disk: what is on the medium, and writes the kernel still holds in its cache.
struct Disk {
    durable: Vec<u8>,
    pending: Vec<(u64, Vec<u8>)>,
    power: P,
    writable: bool,
    written: u64,
}

impl Disk {
    fn view(&self, off: u64, buf: &mut [u8]) {
        let o = off as usize;
        buf.copy_from_slice(&self.durable[o..o + buf.len()]);
        for (w, data) in &self.pending {
            let (ws, we) = (*w as usize, *w as usize + data.len());
            let (s, e) = (ws.max(o), we.min(o + buf.len()));
            if s < e {
                buf[s - o..e - o].copy_from_slice(&data[s - ws..e - ws]);
            }
        }
    }
    /// The power is gone: each cached write reached the medium, or not, or in part.
    fn lose_power(&mut self, rng: &mut impl Rng) {
        for (off, data) in std::mem::take(&mut self.pending) {
            let n = match rng.random_range(0..3) {
                0 => data.len(),
                1 => 0,
                _ => rng.random_range(0..=data.len()),
            };
            self.durable[off as usize..off as usize + n].copy_from_slice(&data[..n]);
        }
    }
}

struct Dev(Rc<RefCell<Disk>>);

impl Device for Dev {
    fn read_at(&mut self, off: u64, buf: &mut [u8]) -> std::io::Result<()> {
        let d = self.0.borrow();
        if d.power.borrow().dead() {
            return Err(cut());
        }
        d.view(off, buf);
        Ok(())
    }
    fn write_at(&mut self, off: u64, data: &[u8]) -> std::io::Result<()> {
        let mut d = self.0.borrow_mut();
        assert!(d.writable, "the installer wrote to the running slot");
        let r = d.power.borrow_mut().tick(data.len());
        match r {
            Ok(()) => {
                d.pending.push((off, data.to_vec()));
                d.written += data.len() as u64;
                Ok(())
            }
            Err(n) => {
                d.pending.push((off, data[..n].to_vec()));
                Err(cut())
            }
        }
    }
    fn sync(&mut self) -> std::io::Result<()> {
        let mut d = self.0.borrow_mut();
        let r = d.power.borrow_mut().tick(0);
        r.map_err(|_| cut())?;
        for (off, data) in std::mem::take(&mut d.pending) {
            d.durable[off as usize..off as usize + data.len()].copy_from_slice(&data);
        }
        Ok(())
    }
    fn size(&mut self) -> std::io::Result<u64> {
        Ok(self.0.borrow().durable.len() as u64)
    }
}

/// The boot partition's two state copies; each write is synced, and a cut one is torn.
struct Boot {
    copies: [Option<Vec<u8>>; 2],
    power: P,
    writes: usize,
}

#[derive(Clone)]
struct BootH(Rc<RefCell<Boot>>);

impl BootStore for BootH {
    fn read(&mut self, copy: usize) -> std::io::Result<Option<Vec<u8>>> {
        Ok(self.0.borrow().copies[copy].clone())
    }
    fn write(&mut self, copy: usize, bytes: &[u8]) -> std::io::Result<()> {
        let mut b = self.0.borrow_mut();
        let r = b.power.borrow_mut().tick(bytes.len());
        b.writes += 1;
        let mut cur = b.copies[copy].clone().unwrap_or_else(|| vec![0; bytes.len()]);
        match r {
            Ok(()) => {
                b.copies[copy] = Some(bytes.to_vec());
                Ok(())
            }
            Err(n) => {
                cur[..n].copy_from_slice(&bytes[..n]);
                b.copies[copy] = Some(cur);
                Err(cut())
            }
        }
    }
}

/// The journal on the data partition: replaced by rename, so old or new, never half.
struct Jour {
    j: Option<Journal>,
    power: P,
}

#[derive(Clone)]
struct JourH(Rc<RefCell<Jour>>);

impl JournalStore for JourH {
    fn load(&mut self) -> Option<Journal> {
        self.0.borrow().j.clone()
    }
    fn save(&mut self, j: Option<&Journal>) -> std::io::Result<()> {
        let mut s = self.0.borrow_mut();
        let r = s.power.borrow_mut().tick(1);
        match r {
            Ok(()) => {
                s.j = j.cloned();
                Ok(())
            }
            Err(n) => {
                if n == 1 {
                    s.j = j.cloned();
                }
                Err(cut())
            }
        }
    }
}

struct World {
    power: P,
    a: Rc<RefCell<Disk>>,
    b: Rc<RefCell<Disk>>,
    boot: BootH,
    journal: JourH,
}

impl World {
    fn new(v1: &[u8], seed: u64) -> World {
        let power = Rc::new(RefCell::new(Power { left: i64::MAX, rng: rand::rngs::StdRng::seed_from_u64(seed) }));
        let disk = |data: Vec<u8>, writable| Rc::new(RefCell::new(Disk { durable: data, pending: vec![], power: power.clone(), writable, written: 0 }));
        let mut a = v1.to_vec();
        a.resize(SLOT, 0);
        // Slot B holds an old, unrelated system.
        let b = common::noise(SLOT, 5);
        let boot = BootH(Rc::new(RefCell::new(Boot { copies: [Some(bootstate::BootState::factory("1.0.0").encode()), None], power: power.clone(), writes: 0 })));
        World { a: disk(a, false), b: disk(b, true), boot, journal: JourH(Rc::new(RefCell::new(Jour { j: None, power: power.clone() }))), power }
    }

    fn install(&mut self, bundle: &[u8], v: &ota::manifest::Verified, delta: bool, written: &mut u64) -> ota::Result<Slot> {
        let mut boot = self.boot.clone();
        let mut journal = self.journal.clone();
        let mut target = Dev(self.b.clone());
        let mut active = Dev(self.a.clone());
        let index = if delta { Some(install::index_slot(&mut active, SLOT as u64)?) } else { None };
        let mut progress = |_: install::Progress| {};
        let before = self.b.borrow().written;
        let start = ota::bundle::payload_start(v.envelope_len) as usize;
        let mut payload = StreamPayload { reader: &bundle[start..], pos: 0, len: v.manifest.payload_len };
        let r = Install {
            verified: v,
            boot: &mut boot,
            journal: &mut journal,
            target: &mut target,
            active: index.as_ref().map(|i| (&mut active as &mut dyn Device, i)),
            factory_version: "1.0.0",
            running: Slot::A,
            progress: &mut progress,
            checkpoint: 256 << 10,
        }
        .run(&mut payload);
        *written = self.b.borrow().written - before;
        r
    }

    /// Power comes back: pending writes settle, and the box boots. Returns the slot and
    /// whether it is a trial; asserts it is whole.
    fn boot_and_check(&mut self, v1: &[u8], v2: &[u8]) -> (Slot, bool) {
        let mut rng = rand::rngs::StdRng::seed_from_u64(self.power.borrow().left as u64);
        self.a.borrow_mut().lose_power(&mut rng);
        self.b.borrow_mut().lose_power(&mut rng);
        self.power.borrow_mut().left = i64::MAX;
        let mut boot = self.boot.clone();
        let (slot, trial) = bootstate::boot(&mut boot, "1.0.0").unwrap();
        let (disk, want) = match slot {
            Slot::A => (&self.a, v1),
            Slot::B => (&self.b, v2),
        };
        let got = &disk.borrow().durable[..want.len()];
        assert!(
            Sha256::digest(got) == Sha256::digest(want),
            "booted slot {slot} (trial {trial}) is not a whole system"
        );
        (slot, trial)
    }
}

#[test]
fn power_cut_at_any_point_boots_a_whole_slot_and_the_install_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let v1 = common::image_v1(SLOT - 256 * 1024);
    let v2 = common::image_v2(&v1);
    let key = common::release_key();
    let (bundle, v) = common::bundle_bytes(dir.path(), &v2, &common::meta("2.0.0"), &[&key]);

    // Count the IO operations of an install that is not cut.
    let mut ops = [0i64; 2];
    for (i, delta) in [false, true].into_iter().enumerate() {
        let mut w = World::new(&v1, 1);
        let before = w.power.borrow().left;
        w.install(&bundle, &v, delta, &mut 0).unwrap();
        ops[i] = before - w.power.borrow().left;
        assert_eq!(w.boot_and_check(&v1, &v2), (Slot::B, true));
    }
    assert!(ops[0] > 20 && ops[1] > 10, "{ops:?}");

    let mut rng = rand::rngs::StdRng::seed_from_u64(42);
    let (mut booted_new, mut resumed_less) = (0, 0);
    for round in 0..240 {
        let delta = round % 2 == 1;
        let total = ops[delta as usize];
        let mut w = World::new(&v1, round);
        let mut full = 0;
        // Some rounds start from a first cut install that is then cut again on resume.
        w.power.borrow_mut().left = rng.random_range(0..=total);
        let first = w.install(&bundle, &v, delta, &mut full);
        let (slot, trial) = w.boot_and_check(&v1, &v2);
        if first.is_ok() {
            assert_eq!((slot, trial), (Slot::B, true), "round {round}: a finished install boots the new slot");
        }
        if slot == Slot::B {
            booted_new += 1;
            continue;
        }
        assert_eq!(slot, Slot::A);
        // The box came back on the old system; the admin starts the install again.
        let mut again = 0;
        w.install(&bundle, &v, delta, &mut again).unwrap_or_else(|e| panic!("round {round}: resume failed: {e}"));
        if !delta && full > 0 && again + full < (SLOT as u64) * 11 / 10 && again < (SLOT as u64) / 2 {
            resumed_less += 1;
        }
        assert_eq!(w.boot_and_check(&v1, &v2), (Slot::B, true), "round {round}");
        let mut boot = w.boot.clone();
        bootstate::apply(&mut boot, Change::Commit(Slot::B), "1.0.0").unwrap();
        assert_eq!(w.boot_and_check(&v1, &v2), (Slot::B, false), "round {round}: committed");
    }
    assert!(booted_new > 0, "no cut landed after staging");
    assert!(resumed_less > 0, "no resumed install picked up where it stopped");
}

#[test]
fn a_power_cut_while_the_boot_state_is_written_keeps_the_state_before() {
    // Tear every possible byte range of a Stage write: the box boots A (before) or B on trial
    // (after), and the older copy survives.
    let mut torn_before = 0;
    for torn_at in [0usize, 1, 3, 4, 100, 2000, 4095] {
        let power = Rc::new(RefCell::new(Power { left: i64::MAX, rng: rand::rngs::StdRng::seed_from_u64(0) }));
        let boot = BootH(Rc::new(RefCell::new(Boot { copies: [Some(bootstate::BootState::factory("1").encode()), None], power: power.clone(), writes: 0 })));
        let mut b = boot.clone();
        bootstate::apply(&mut b, Change::Invalidate(Slot::B), "1").unwrap();
        // Hand-tear the next write at `torn_at`.
        let next = {
            let (mut s, _) = bootstate::load(&mut b).unwrap().unwrap();
            s.trial = Some((Slot::B, 3));
            s.seq += 1;
            s.encode()
        };
        let older = 0;
        let mut cur = boot.0.borrow().copies[older].clone().unwrap();
        cur[..torn_at].copy_from_slice(&next[..torn_at]);
        boot.0.borrow_mut().copies[older] = Some(cur);
        // Bytes past the state's text are zeros in both: a tear there is a whole write.
        let whole = bootstate::BootState::decode(boot.0.borrow().copies[older].as_ref().unwrap()) == bootstate::BootState::decode(&next);
        let (slot, trial) = bootstate::boot(&mut b, "1").unwrap();
        let want = if whole { (Slot::B, true) } else { (Slot::A, false) };
        assert_eq!((slot, trial), want, "torn at {torn_at}");
        if !whole {
            torn_before += 1;
        }
    }
    assert!(torn_before >= 4, "{torn_before}");
}
