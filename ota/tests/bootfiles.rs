//! Power cuts while the boot partition's files are updated (`ota::bootfiles`): the helper's
//! steps — the new set written, the record, the switch; then the switch back (a given-up trial)
//! or the prune (a commit) — are cut at every operation and at ≥ 200 random ones on an
//! in-memory FAT that models the one assumption of the design: a 512-byte sector write is
//! all-or-nothing, anything larger tears on a sector boundary, directory changes not fsynced
//! may be lost (or, for a rename, leave both names). After each cut the Pi firmware "boots":
//! it reads `spot/fw.txt` and the set it names (or the root) must be whole. Then the helper
//! starts (mend + settle), and the install runs again and must finish with only its set left.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use ota::bootfiles::{self, BootFs, Record, Set, Which, SECTOR, SWITCH};
use ota::bootstate::{BootState, Slot, SlotState};
use ota::testdata::noise;
use rand::{Rng, SeedableRng};
use sha2::{Digest, Sha256};

fn cut() -> std::io::Error {
    std::io::Error::other("power cut")
}

/// A directory change the card may not hold yet (no directory fsync since).
#[derive(Clone)]
enum DirOp {
    Rename(String, String),
    Remove(String),
}

/// The boot partition: what the card holds (`durable`), what Linux shows (`live`), and the
/// directory changes between the two.
struct Mem {
    durable: BTreeMap<String, Vec<u8>>,
    live: BTreeMap<String, Vec<u8>>,
    pending: Vec<(String, DirOp)>,
    /// Operations until the power goes (< 0: gone).
    left: i64,
    ops: i64,
    rng: rand::rngs::StdRng,
}

fn parent(p: &str) -> &str {
    p.rsplit_once('/').map_or("", |(d, _)| d)
}

fn under(path: &str, dir: &str) -> bool {
    path == dir || path.starts_with(&format!("{dir}/"))
}

fn apply(map: &mut BTreeMap<String, Vec<u8>>, op: &DirOp) {
    match op {
        DirOp::Rename(from, to) => {
            if let Some(b) = map.remove(from) {
                map.insert(to.clone(), b);
            }
        }
        DirOp::Remove(p) => map.retain(|k, _| !under(k, p)),
    }
}

impl Mem {
    fn new(files: &[(&str, Vec<u8>)], seed: u64) -> Mem {
        let durable: BTreeMap<String, Vec<u8>> = files.iter().map(|(n, b)| (n.to_string(), b.clone())).collect();
        Mem { live: durable.clone(), durable, pending: vec![], left: i64::MAX, ops: 0, rng: rand::rngs::StdRng::seed_from_u64(seed) }
    }

    /// `Ok` while there is power; `Err(true)` for the operation the cut hits.
    fn tick(&mut self) -> Result<(), bool> {
        self.ops += 1;
        self.left -= 1;
        match self.left {
            0.. => Ok(()),
            -1 => Err(true),
            _ => Err(false),
        }
    }

    /// `bytes` over `old`, torn on a sector boundary: the first k sectors new, the rest old.
    fn torn(&mut self, old: Option<&Vec<u8>>, bytes: &[u8]) -> Vec<u8> {
        let sectors = bytes.len().div_ceil(SECTOR);
        let k = self.rng.random_range(0..=sectors);
        let mut out = old.cloned().unwrap_or_default();
        // What was in the clusters before: old bytes, or whatever a free cluster held.
        let filler = noise(bytes.len(), self.rng.random());
        out.resize(bytes.len(), 0);
        for (i, b) in out.iter_mut().enumerate() {
            *b = if i < k * SECTOR { bytes[i] } else if old.is_some_and(|o| i < o.len()) { *b } else { filler[i] };
        }
        out
    }

    /// The power is back: the card holds what it holds; each unsynced directory change made it,
    /// or not, or (a rename) left both names.
    fn power_back(&mut self) {
        for (_, op) in std::mem::take(&mut self.pending) {
            match (self.rng.random_range(0..3), &op) {
                (0, _) => apply(&mut self.durable, &op),
                (2, DirOp::Rename(from, to)) => {
                    if let Some(b) = self.durable.get(from).cloned() {
                        self.durable.insert(to.clone(), b);
                    }
                }
                _ => {}
            }
        }
        self.live = self.durable.clone();
        self.left = i64::MAX;
    }
}

struct Fs<'a>(&'a mut Mem);

impl BootFs for Fs<'_> {
    fn read(&mut self, path: &str) -> std::io::Result<Option<Vec<u8>>> {
        self.0.tick().map_err(|_| cut())?;
        Ok(self.0.live.get(path).cloned())
    }
    fn write_new(&mut self, path: &str, bytes: &[u8]) -> std::io::Result<()> {
        match self.0.tick() {
            Ok(()) => {
                // Written and fsynced: data and entry are on the card.
                self.0.live.insert(path.into(), bytes.to_vec());
                self.0.durable.insert(path.into(), bytes.to_vec());
                Ok(())
            }
            Err(true) => {
                if self.0.rng.random_bool(0.8) {
                    let old = self.0.durable.get(path).cloned();
                    let t = self.0.torn(old.as_ref(), bytes);
                    self.0.durable.insert(path.into(), t);
                }
                Err(cut())
            }
            Err(false) => Err(cut()),
        }
    }
    fn rename(&mut self, from: &str, to: &str) -> std::io::Result<()> {
        let hit = self.0.tick();
        if hit != Err(false) {
            let op = DirOp::Rename(from.into(), to.into());
            if hit.is_ok() {
                apply(&mut self.0.live, &op);
            }
            self.0.pending.push((parent(to).into(), op));
        }
        hit.map_err(|_| cut())
    }
    fn remove(&mut self, path: &str) -> std::io::Result<()> {
        let hit = self.0.tick();
        if hit != Err(false) {
            let op = DirOp::Remove(path.into());
            if hit.is_ok() {
                apply(&mut self.0.live, &op);
            }
            self.0.pending.push((parent(path).into(), op));
        }
        hit.map_err(|_| cut())
    }
    fn list(&mut self, dir: &str) -> std::io::Result<Vec<String>> {
        self.0.tick().map_err(|_| cut())?;
        let mut out: Vec<String> = vec![];
        let prefix = format!("{dir}/");
        for k in self.0.live.keys() {
            let rest = if dir.is_empty() { Some(k.as_str()) } else { k.strip_prefix(&prefix) };
            if let Some(rest) = rest {
                let e = match rest.split_once('/') {
                    Some((d, _)) => format!("{d}/"),
                    None => rest.to_string(),
                };
                if !out.contains(&e) {
                    out.push(e);
                }
            }
        }
        Ok(out)
    }
    fn sync_dir(&mut self, dir: &str) -> std::io::Result<()> {
        self.0.tick().map_err(|_| cut())?;
        let (now, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.0.pending).into_iter().partition(|(d, _)| d == dir);
        for (_, op) in now {
            apply(&mut self.0.durable, &op);
        }
        self.0.pending = later;
        Ok(())
    }
    fn rewrite(&mut self, path: &str, bytes: &[u8]) -> std::io::Result<()> {
        assert!(self.0.live.get(path).is_some_and(|b| b.len() == bytes.len()), "{path} rewritten at another size");
        match self.0.tick() {
            Ok(()) => {
                self.0.live.insert(path.into(), bytes.to_vec());
                self.0.durable.insert(path.into(), bytes.to_vec());
                Ok(())
            }
            Err(true) => {
                let old = self.0.durable.get(path).cloned();
                let t = self.0.torn(old.as_ref(), bytes);
                self.0.durable.insert(path.into(), t);
                Err(cut())
            }
            Err(false) => Err(cut()),
        }
    }
}

fn sha(b: &[u8]) -> [u8; 32] {
    Sha256::digest(b).into()
}

/// The image's boot partition, and the files a bundle brings.
fn partition() -> Vec<(&'static str, Vec<u8>)> {
    let mut sw = b"# Spot box boot files: the partition's root (as the image was built)\n".to_vec();
    sw.resize(SECTOR, b'\n');
    vec![
        ("bootcode.bin", noise(700, 1)),
        ("start4.elf", noise(3000, 2)),
        ("fixup4.dat", noise(600, 3)),
        ("config.txt", b"arm_64bit=1\nkernel=u-boot.bin\nupstream_kernel=1\n[all]\ninclude spot/fw.txt\n".to_vec()),
        ("boot.scr", noise(900, 4)),
        ("u-boot.bin", noise(4000, 5)),
        ("bcm2711-rpi-4-b.dtb", noise(1800, 6)),
        ("bcm2837-rpi-3-b.dtb", noise(1700, 7)),
        ("overlays/vc4-kms-v3d.dtbo", noise(700, 8)),
        ("overlays/README", b"overlays\n".to_vec()),
        ("spot/boot0.env", noise(4096, 9)),
        ("spot/fw.txt", sw),
    ]
}

fn bundle_files() -> BTreeMap<String, Vec<u8>> {
    [("u-boot.bin", noise(5000, 15)), ("bcm2711-rpi-4-b.dtb", noise(2100, 16)), ("overlays/new.dtbo", noise(1300, 17))]
        .into_iter()
        .map(|(n, b)| (n.to_string(), b))
        .collect()
}

/// The sets the firmware may find: the root's and the new one.
struct Expect {
    root: Set,
    new: Set,
}

impl Expect {
    fn new() -> Expect {
        let root: Set = partition()
            .into_iter()
            .filter(|(n, _)| bootfiles::check_name(n).is_ok())
            .map(|(n, b)| (n.to_string(), sha(&b)))
            .collect();
        let mut new = root.clone();
        for (n, b) in bundle_files() {
            new.insert(n, sha(&b));
        }
        Expect { root, new }
    }

    /// The Pi firmware boots: `spot/fw.txt` as the card holds it, and every file of the set it
    /// names. Returns the set booted.
    fn firmware_boot(&self, m: &Mem, what: &str) -> Which {
        let sw = m.durable.get(SWITCH).unwrap_or_else(|| panic!("{what}: {SWITCH} is gone"));
        let which = bootfiles::decode_switch(sw).unwrap_or_else(|e| panic!("{what}: the firmware reads a broken switch: {e}"));
        let (set, dir) = match &which {
            Which::Root => (&self.root, String::new()),
            Which::Set(id) if *id == bootfiles::set_id(&self.new) => (&self.new, format!("{}/", id.dir())),
            Which::Set(id) => panic!("{what}: the switch names a set nobody made: {id:?}"),
        };
        for (name, hash) in set {
            let got = m.durable.get(&format!("{dir}{name}")).unwrap_or_else(|| panic!("{what}: {dir}{name} is missing"));
            assert!(sha(got) == *hash, "{what}: {dir}{name} is not whole");
        }
        which
    }
}

/// The helper's record on the data partition: replaced by rename, old or new, never half.
struct Rec {
    r: Record,
}

impl Rec {
    fn save(&mut self, m: &mut Mem, r: Record) -> Result<(), ()> {
        match m.tick() {
            Ok(()) => {
                self.r = r;
                Ok(())
            }
            Err(hit) => {
                if hit && m.rng.random_bool(0.5) {
                    self.r = r;
                }
                Err(())
            }
        }
    }
}

/// A boot state with slot B staged on trial (version 2), and what becomes of it.
fn staged() -> BootState {
    let mut bs = BootState::factory("1");
    bs.slots[1] = SlotState::Good;
    bs.versions[1] = "2".into();
    bs.trial = Some((Slot::B, 3));
    bs
}

fn given_up() -> BootState {
    let mut bs = staged();
    bs.trial = None;
    bs.slots[1] = SlotState::Empty;
    bs.failed = Some((Slot::B, "never became ready".into()));
    bs
}

fn committed() -> BootState {
    let mut bs = staged();
    bs.trial = None;
    bs.primary = Slot::B;
    bs
}

/// The helper's install of the bundle's boot files: (1) the set, (2) the record, (3) the switch.
fn install(m: &mut Mem, rec: &mut Rec) -> Result<Which, String> {
    let files = bundle_files();
    let new: Vec<(String, [u8; 32])> = files.iter().map(|(n, b)| (n.clone(), sha(b))).collect();
    let base = rec.r.committed().clone();
    let live = bootfiles::read_switch(&mut Fs(m)).map_err(|e| e.to_string())?.unwrap_or(Which::Root);
    let (which, _) = bootfiles::write_set(&mut Fs(m), &base, &[base.clone(), live], &new, &mut |n| Ok(files[n].clone()))
        .map_err(|e| e.to_string())?;
    let r = Record { current: which.clone(), previous: base, pending: Some(bootfiles::Pending { slot: Slot::B, version: "2".into() }) };
    rec.save(m, r).map_err(|_| "record".to_string())?;
    bootfiles::switch(&mut Fs(m), &which).map_err(|e| e.to_string())?;
    Ok(which)
}

/// The helper after the trial: switch back (given up) or prune (committed).
fn after_trial(m: &mut Mem, rec: &mut Rec, bs: &BootState) -> Result<(), String> {
    if let Some(r) = bootfiles::settle(&mut Fs(m), &rec.r, bs).map_err(|e| e.to_string())? {
        rec.save(m, r).map_err(|_| "record".to_string())?;
    }
    Ok(())
}

/// The helper starting after a cut: the start check, then settle by the boot state it finds.
fn helper_start(m: &mut Mem, rec: &mut Rec, bs: &BootState) {
    let cands = [rec.r.current.clone(), rec.r.previous.clone()];
    let mended = bootfiles::mend(&mut Fs(m), &cands).unwrap();
    assert_eq!(mended, None, "a power cut left a switch the start check had to mend");
    after_trial(m, rec, bs).unwrap();
}

fn sets_left(m: &Mem) -> Vec<String> {
    let mut dirs: Vec<String> = m
        .durable
        .keys()
        .filter_map(|k| k.strip_prefix("spot/fw/"))
        .map(|k| k.split('/').next().unwrap().to_string())
        .collect();
    dirs.dedup();
    dirs
}

/// The trial's end the boot state shows.
fn end(commit: bool) -> BootState {
    if commit {
        committed()
    } else {
        given_up()
    }
}

/// One whole run of the steps: the install, then (the slot staged, booted) the commit or the
/// give-up. `Err` says which of the two the cut hit (the install: the slot was never staged).
fn run(m: &mut Mem, rec: &mut Rec, commit: bool) -> Result<(), bool> {
    install(m, rec).map_err(|_| true)?;
    after_trial(m, rec, &end(commit)).map_err(|_| false)
}

#[test]
fn a_power_cut_at_any_point_of_a_boot_files_update_boots_a_whole_set() {
    let ex = Expect::new();
    let new_id = bootfiles::set_id(&ex.new);

    // Uncut: the set, the switch, then give up (back to the root) or commit (the set stays).
    let mut total = [0i64; 2];
    for (i, commit) in [false, true].into_iter().enumerate() {
        let mut m = Mem::new(&partition(), 0);
        let mut rec = Rec { r: Record::factory() };
        install(&mut m, &mut rec).unwrap();
        assert_eq!(ex.firmware_boot(&m, "installed"), Which::Set(new_id.clone()));
        after_trial(&mut m, &mut rec, &end(commit)).unwrap();
        total[i] = m.ops;
        let want = if commit { Which::Set(new_id.clone()) } else { Which::Root };
        assert_eq!(ex.firmware_boot(&m, "settled"), want);
        assert_eq!(sets_left(&m), if commit { vec![new_id.as_str().to_string()] } else { vec![] });
        assert_eq!(rec.r.pending, None);
    }
    assert!(total[0] > 30 && total[1] > 30, "{total:?}");

    // Every operation once, then random ones: each cut with its own tear.
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut points = vec![];
    for commit in [false, true] {
        for at in 0..total[commit as usize] {
            points.push((at, commit));
        }
    }
    while points.len() < 2 * (total[0] + total[1]) as usize + 200 {
        let commit = rng.random_bool(0.5);
        points.push((rng.random_range(0..total[commit as usize]), commit));
    }
    let (mut on_new, mut on_root) = (0, 0);
    for (round, &(at, commit)) in points.iter().enumerate() {
        let what = format!("round {round} (cut at op {at} of {}, {})", total[commit as usize], if commit { "commit" } else { "give up" });
        let mut m = Mem::new(&partition(), round as u64);
        let mut rec = Rec { r: Record::factory() };
        m.left = at;
        let Err(in_install) = run(&mut m, &mut rec, commit) else { panic!("{what}: the cut never came") };
        m.power_back();
        match ex.firmware_boot(&m, &what) {
            Which::Root => on_root += 1,
            Which::Set(_) => on_new += 1,
        }
        // The helper starts: the trial is over (given up or committed), or the install was cut
        // before staging (the boot state never saw the slot on trial: as after a give-up).
        let bs = if in_install { given_up() } else { end(commit) };
        helper_start(&mut m, &mut rec, &bs);
        ex.firmware_boot(&m, &format!("{what}, after the helper's start"));
        // Installed again to the end: the new set, and no half-written set left over.
        assert_eq!(rec.r.pending, None, "{what}: the helper's start left the set pending");
        let mut rec2 = Rec { r: rec.r.clone() };
        install(&mut m, &mut rec2).unwrap_or_else(|e| panic!("{what}: the install again failed: {e}"));
        assert_eq!(ex.firmware_boot(&m, &format!("{what}, installed again")), Which::Set(new_id.clone()));
        assert_eq!(sets_left(&m), vec![new_id.as_str().to_string()], "{what}");
        // And switched back once more, cut at a random point, then settled.
        let back = rec2.r.previous.clone();
        m.left = rng.random_range(0..12);
        let _ = after_trial(&mut m, &mut rec2, &given_up());
        m.power_back();
        ex.firmware_boot(&m, &format!("{what}, switched back"));
        helper_start(&mut m, &mut rec2, &given_up());
        assert_eq!(ex.firmware_boot(&m, &format!("{what}, switched back and settled")), back);
    }
    assert!(points.len() >= 200, "{}", points.len());
    assert!(on_new > 0 && on_root > 0, "cuts landed only on one side: new {on_new}, root {on_root}");
    eprintln!("{} cut points ({} + {} operations per run), booted the new set {on_new} times, the root {on_root}", points.len(), total[0], total[1]);
}

#[test]
fn a_hand_damaged_switch_is_reported_at_start_and_a_whole_set_switched_to() {
    let mut m = Mem::new(&partition(), 1);
    let mut rec = Rec { r: Record::factory() };
    let which = install(&mut m, &mut rec).unwrap();
    let Which::Set(id) = which.clone() else { panic!() };
    // Someone deletes the set's U-Boot by hand.
    m.live.remove(&format!("{}/u-boot.bin", id.dir()));
    let (why, to) = bootfiles::mend(&mut Fs(&mut m), &[rec.r.current.clone(), rec.r.previous.clone()]).unwrap().unwrap();
    assert!(why.contains("u-boot.bin is missing"), "{why}");
    assert_eq!(to, Which::Root);
    m.durable = m.live.clone();
    Expect::new().firmware_boot(&m, "mended");
    // A switch of garbage: the set it had is whole again after a reinstall, and mend finds it.
    let mut rec2 = Rec { r: Record::factory() };
    install(&mut m, &mut rec2).unwrap();
    m.live.insert(SWITCH.into(), noise(SECTOR, 4));
    let (why, to) = bootfiles::mend(&mut Fs(&mut m), &[rec2.r.current.clone()]).unwrap().unwrap();
    assert!(why.contains("not text"), "{why}");
    assert_eq!(to, which);
}

#[test]
fn the_release_tool_signs_boot_files_and_refuses_the_firmware_s() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let tool = |args: &[&str]| std::process::Command::new(env!("CARGO_BIN_EXE_spot-ota")).current_dir(d).args(args).output().unwrap();
    assert!(tool(&["keygen", "targets"]).status.success());
    std::fs::write(d.join("rootfs.img"), noise(300_000, 1)).unwrap();
    std::fs::write(d.join("u-boot.bin"), noise(5000, 2)).unwrap();
    std::fs::write(d.join("x.dtbo"), noise(700, 3)).unwrap();
    let sign = |images: &[&str]| {
        let mut args = vec!["sign", "--key", "targets.key", "--version", "1.2.0", "--board", "rpi4", "-o", "out.spotota"];
        for i in images {
            args.extend(["--image", i]);
        }
        tool(&args)
    };
    let out = sign(&["rootfs=rootfs.img", "boot/u-boot.bin=u-boot.bin", "boot/overlays/x.dtbo=x.dtbo"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("3 image(s)"), "{}", String::from_utf8_lossy(&out.stdout));
    for bad in ["boot/config.txt=x.dtbo", "boot/start4.elf=x.dtbo", "boot/../u-boot.bin=x.dtbo", "boot/boot.scr=x.dtbo"] {
        let out = sign(&["rootfs=rootfs.img", bad]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains("boot_file_refused"), "{bad}: {err}");
    }
}
