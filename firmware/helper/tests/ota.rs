//! Updates through the real `spot-helper` binary with its hardware edge faked RAUC-style: the
//! two root slots are image files, the boot partition a directory, and a "boot" is the boot
//! script's rules (`ota::bootstate::boot`) followed by a helper restart with `spot.slot=` of the
//! slot booted. v0.1.0 → install v0.2.0 → boot → healthy → commit; hostile and invalid bundles
//! refused with their codes; v0.3.0 whose daemon never reports healthy → given up, reboot,
//! back on v0.2.0 with the failure in the history; below the floor refused.

use ota::bootfiles::{self, DirFs, Which};
use ota::bootstate::{self, DirStore, Slot};
use ota::bundle::Meta;
use ota::feed::{Repo, RoleKeys, RootKeys};
use ota::keys::PrivateKey;
use ota::testdata::noise;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SLOT: usize = 3 << 20;

struct Box_ {
    dir: tempfile::TempDir,
    key: PrivateKey,
}

struct Helper {
    child: Child,
    sock: PathBuf,
}

impl Drop for Helper {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}


impl Box_ {
    fn new() -> Box_ {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path();
        for d in ["boot", "data/ota/incoming", "data/system", "zoneinfo"] {
            std::fs::create_dir_all(p.join(d)).expect("mkdir");
        }
        std::fs::write(p.join("slot-a.img"), noise(SLOT, 1)).expect("slot A");
        std::fs::write(p.join("slot-b.img"), vec![0u8; SLOT]).expect("slot B");
        std::fs::write(p.join("sim.json"), json!({"networks": [], "ethernet": true}).to_string()).expect("sim");
        let key = PrivateKey::from_seed([7; 32]);
        let root_key = PrivateKey::from_seed([1; 32]);
        let role = |k: &PrivateKey| RoleKeys { keys: vec![k.public()], threshold: 1 };
        let keys = RootKeys { root: role(&root_key), targets: role(&key), snapshot: role(&root_key), timestamp: role(&root_key) };
        let (_, files) = Repo::create(&keys, &[&root_key], 4_000_000_000).expect("root");
        std::fs::write(p.join("root.json"), &files[1].1).expect("root.json");
        Box_ { dir, key }
    }

    fn p(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Starts the helper as the system in `slot`, version `version`, would.
    fn start(&self, slot: Slot, version: &str) -> Helper {
        self.start_as(slot, version, "qemu-arm64")
    }

    fn start_as(&self, slot: Slot, version: &str, board: &str) -> Helper {
        std::fs::write(self.p("cmdline"), format!("console=ttyS0 root=PARTUUID=abcd-02 ro spot.slot={slot}")).expect("cmdline");
        let _ = std::fs::remove_file(self.p("data/system/sim-run/rebooted"));
        let sock = self.p(&format!("run-{slot}-{version}.sock"));
        let child = Command::new(env!("CARGO_BIN_EXE_spot-helper"))
            .args(["serve", "--simulate"])
            .arg(self.p("sim.json"))
            .env("SPOT_HELPER_SOCKET", &sock)
            .env("SPOT_HELPER_STATE", self.p("data/system"))
            .env("SPOT_HELPER_ZONEINFO", self.p("zoneinfo"))
            .env("SPOT_HELPER_DATA_RUN", self.p("run-data"))
            .env("SPOT_HELPER_RAM_STATE", self.p("ram-state"))
            .env("SPOT_HELPER_BOOT", self.p("boot"))
            .env("SPOT_HELPER_OTA_SLOTS", format!("{},{}", self.p("slot-a.img").display(), self.p("slot-b.img").display()))
            .env("SPOT_HELPER_OTA_CMDLINE", self.p("cmdline"))
            .env("SPOT_HELPER_OTA_INCOMING", self.p("data/ota/incoming"))
            .env("SPOT_HELPER_OTA_ROOT", self.p("root.json"))
            .env("SPOT_HELPER_OTA_BOARD", board)
            .env("SPOT_HELPER_OTA_DT", self.p("dt"))
            .env("SPOT_HELPER_OTA_VERSION", version)
            .env("SPOT_HELPER_OTA_TIMING", r#"{"ready_within":6,"healthy_for":2,"beat_gap":3}"#)
            .env_remove("SPOT_HELPER_TIMING")
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn spot-helper");
        let h = Helper { child, sock };
        let t = Instant::now();
        while UnixStream::connect(&h.sock).is_err() {
            assert!(t.elapsed() < Duration::from_secs(10), "helper did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        h
    }

    /// A bundle in the incoming directory, as the daemon leaves it.
    fn bundle(&self, name: &str, version: &str, board: &str, rootfs: &[u8], key: &PrivateKey) -> Vec<u8> {
        self.bundle_eeprom(name, version, board, rootfs, key, None)
    }

    fn bundle_eeprom(&self, name: &str, version: &str, board: &str, rootfs: &[u8], key: &PrivateKey, eeprom: Option<&str>) -> Vec<u8> {
        let img = self.p(&format!("{name}.rootfs"));
        std::fs::write(&img, rootfs).expect("image");
        let meta = Meta {
            version: version.parse().expect("version"),
            boards: vec![board.into()],
            min_version: None,
            created: 1_700_000_000,
            notes: format!("Spot {version}"),
            needs_eeprom: eeprom.map(str::to_owned),
        };
        let mut out = std::io::Cursor::new(Vec::new());
        ota::bundle::build(&mut out, &meta, &[("rootfs".into(), img)], &[key]).expect("bundle");
        let bytes = out.into_inner();
        std::fs::write(self.p(&format!("data/ota/incoming/{name}")), &bytes).expect("incoming");
        bytes
    }

    /// The boot script's decision and its one write; returns the slot booted.
    fn boot(&self) -> (Slot, bool) {
        bootstate::boot(&mut DirStore(self.p("boot")), "0.1.0").expect("boot")
    }
}

impl Helper {
    fn call(&self, req: Value) -> Value {
        let mut s = UnixStream::connect(&self.sock).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
        s.write_all(format!("{req}\n").as_bytes()).expect("send");
        let mut line = String::new();
        BufReader::new(s).read_line(&mut line).expect("reply");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("reply {line:?}: {e}"))
    }

    fn ota(&self) -> Value {
        let r = self.call(json!({"cmd": "ota_status"}));
        assert_eq!(r["ok"], true, "{r}");
        r["ota"].clone()
    }

    /// Waits until the phase is `phase`, sending heartbeats meanwhile if `healthy`.
    fn wait_phase(&self, phase: &str, healthy: bool, secs: u64) -> Value {
        let t = Instant::now();
        loop {
            if healthy {
                assert_eq!(self.call(json!({"cmd": "ota_healthy"}))["ok"], true);
            }
            let o = self.ota();
            if o["status"]["phase"] == phase {
                return o;
            }
            assert!(t.elapsed() < Duration::from_secs(secs), "phase {phase} never came: {o}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Installs `name` and waits for it to end; returns the newest history entry.
    fn install(&self, name: &str) -> Value {
        self.install_with("ota_install", name)
    }

    fn install_with(&self, cmd: &str, name: &str) -> Value {
        let before = self.ota()["history"].as_array().map_or(0, Vec::len);
        let r = self.call(json!({"cmd": cmd, "name": name}));
        assert_eq!(r["ok"], true, "{r}");
        let t = Instant::now();
        loop {
            let o = self.ota();
            if o["history"].as_array().map_or(0, Vec::len) > before && o["status"]["phase"] != "installing" {
                return o["history"][0].clone();
            }
            assert!(t.elapsed() < Duration::from_secs(30), "the install never ended: {o}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn slot<'a>(o: &'a Value, name: &str) -> &'a Value {
    o["slots"].as_array().and_then(|s| s.iter().find(|x| x["name"] == name)).expect("slot")
}

#[test]
fn install_boot_commit_then_a_bad_update_falls_back_by_itself() {
    let b = Box_::new();
    let h = b.start(Slot::A, "0.1.0");
    let o = h.ota();
    assert_eq!(o["status"]["phase"], "idle", "{o}");
    assert_eq!((slot(&o, "A")["running"].clone(), slot(&o, "A")["state"].clone()), (json!(true), json!("good")));
    assert_eq!(slot(&o, "B")["state"], "empty");

    // Hostile names and bundles: refused, each with its code, slot B untouched.
    for name in ["../root.json", "", ".hidden", "a/b", "missing.spotota"] {
        let r = h.call(json!({"cmd": "ota_install", "name": name}));
        assert_eq!(r["error"]["code"], "invalid_argument", "{name:?}: {r}");
    }
    let v2 = noise(2 << 20, 2);
    let mut tampered = b.bundle("tampered.spotota", "0.2.0", "qemu-arm64", &v2, &b.key);
    let n = tampered.len();
    tampered[n - 5000] ^= 1;
    std::fs::write(b.p("data/ota/incoming/tampered.spotota"), &tampered).expect("write");
    let other = PrivateKey::from_seed([9; 32]);
    for (name, version, board, key, code) in [
        ("tampered.spotota", "0.2.0", "qemu-arm64", None, "tampered_block"),
        ("wrongkey.spotota", "0.2.0", "qemu-arm64", Some(&other), "wrong_key"),
        ("wrongboard.spotota", "0.2.0", "rpi4", Some(&b.key), "wrong_board"),
        ("old.spotota", "0.1.0", "qemu-arm64", Some(&b.key), "downgrade"),
    ] {
        if let Some(k) = key {
            b.bundle(name, version, board, &v2, k);
        }
        let rec = h.install(name);
        assert_eq!((rec["outcome"].as_str(), rec["code"].as_str()), (Some("install_failed"), Some(code)), "{name}: {rec}");
        assert!(rec["message"].as_str().is_some_and(|m| !m.is_empty()));
        assert!(!b.p(&format!("data/ota/incoming/{name}")).exists(), "{name} left behind");
    }
    assert_eq!(std::fs::read(b.p("slot-a.img")).expect("A"), noise(SLOT, 1), "the running slot was written");
    assert_ne!(slot(&h.ota(), "B")["state"], "good", "a refused bundle left slot B bootable");

    // v0.2.0: installed into B, staged on trial.
    b.bundle("v2.spotota", "0.2.0", "qemu-arm64", &v2, &b.key);
    let rec = h.install("v2.spotota");
    assert_eq!((rec["outcome"].as_str(), rec["version"].as_str()), (Some("staged"), Some("0.2.0")), "{rec}");
    let o = h.ota();
    assert_eq!(o["status"]["phase"], "staged");
    assert_eq!((slot(&o, "B")["state"].as_str(), slot(&o, "B")["trial"].as_bool()), (Some("good"), Some(true)));
    assert_eq!(&std::fs::read(b.p("slot-b.img")).expect("B")[..v2.len()], &v2[..]);
    drop(h);

    // Restart: the boot script tries B; the daemon reports healthy; the helper commits.
    assert_eq!(b.boot(), (Slot::B, true));
    let h = b.start(Slot::B, "0.2.0");
    assert_eq!(h.ota()["status"]["phase"], "trial");
    let o = h.wait_phase("idle", true, 15);
    assert_eq!(o["history"][0]["outcome"], "committed", "{o}");
    assert_eq!(o["floor"], "0.2.0");
    assert_eq!((slot(&o, "B")["primary"].as_bool(), slot(&o, "B")["trial"].as_bool()), (Some(true), Some(false)));
    drop(h);
    assert_eq!(b.boot(), (Slot::B, false), "a committed slot boots without a trial");

    // v0.3.0 into A; its daemon never gets healthy: given up, reboot requested.
    let h = b.start(Slot::B, "0.2.0");
    b.bundle("v3.spotota", "0.3.0", "qemu-arm64", &noise(2 << 20, 3), &b.key);
    assert_eq!(h.install("v3.spotota")["outcome"], "staged");
    drop(h);
    assert_eq!(b.boot(), (Slot::A, true));
    let h = b.start(Slot::A, "0.3.0");
    let o = h.wait_phase("idle", false, 30);
    assert_eq!(o["history"][0]["outcome"], "rolled_back", "{o}");
    assert!(o["history"][0]["message"].as_str().is_some_and(|m| m.contains("never became ready")), "{o}");
    let t = Instant::now();
    while !b.p("data/system/sim-run/rebooted").exists() {
        assert!(t.elapsed() < Duration::from_secs(5), "no reboot was asked for");
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(h);
    assert_eq!(b.boot(), (Slot::B, false), "after giving up the box boots the committed slot");
    let h = b.start(Slot::B, "0.2.0");
    let o = h.ota();
    assert_eq!(slot(&o, "A")["state"], "empty", "a given-up slot must not look bootable: {o}");
    // Rolling back to it is refused; v0.2.0 again is below the floor.
    assert_eq!(h.call(json!({"cmd": "ota_rollback"}))["error"]["code"], "busy");
    b.bundle("again.spotota", "0.2.0", "qemu-arm64", &v2, &b.key);
    assert_eq!(h.install("again.spotota")["code"], "downgrade");
}

#[test]
fn the_boot_script_running_a_trial_out_shows_in_the_history() {
    let b = Box_::new();
    let h = b.start(Slot::A, "0.1.0");
    b.bundle("v2.spotota", "0.2.0", "qemu-arm64", &noise(1 << 20, 5), &b.key);
    assert_eq!(h.install("v2.spotota")["outcome"], "staged");
    drop(h);
    // Three boots that never reach the helper (the kernel panics), then the fallback.
    for _ in 0..3 {
        assert_eq!(b.boot(), (Slot::B, true));
    }
    assert_eq!(b.boot(), (Slot::A, false));
    let h = b.start(Slot::A, "0.1.0");
    let o = h.ota();
    assert_eq!((o["history"][0]["outcome"].as_str(), o["history"][0]["version"].as_str()), (Some("rolled_back"), Some("0.2.0")), "{o}");
    drop(h);
    // Recorded once, not on every start.
    let h = b.start(Slot::A, "0.1.0");
    let o = h.ota();
    let n = o["history"].as_array().map_or(0, |h| h.iter().filter(|r| r["outcome"] == "rolled_back").count());
    assert_eq!(n, 1, "{o}");
}

#[test]
fn a_pi_4_with_an_old_bootloader_is_told_to_update_it_first() {
    let b = Box_::new();
    std::fs::create_dir_all(b.p("dt/chosen/bootloader")).expect("dt");
    // The EEPROM of 2023-01-11.
    std::fs::write(b.p("dt/chosen/bootloader/build-timestamp"), 1_673_395_200u32.to_be_bytes()).expect("ts");
    let h = b.start_as(Slot::A, "0.1.0", "rpi4");
    b.bundle_eeprom("new.spotota", "0.2.0", "rpi4", &noise(1 << 20, 7), &b.key, Some("2024-05-01"));
    let rec = h.install("new.spotota");
    assert_eq!(rec["code"], "eeprom_too_old", "{rec}");
    assert!(rec["message"].as_str().is_some_and(|m| m.contains("2023-01-11") && m.contains("Imager")), "{rec}");
    b.bundle_eeprom("ok.spotota", "0.2.0", "rpi4", &noise(1 << 20, 7), &b.key, Some("2022-12-01"));
    assert_eq!(h.install("ok.spotota")["outcome"], "staged");
}

/// `name` in the incoming directory as the daemon's delta download leaves it: the bundle's
/// header and the given file ranges, holes everywhere else.
fn sparse(b: &Box_, name: &str, bundle: &[u8], ranges: &[[u64; 2]]) {
    use std::os::unix::fs::FileExt;
    let path = b.p(&format!("data/ota/incoming/{name}"));
    let _ = std::fs::remove_file(&path);
    let f = std::fs::File::create(&path).expect("sparse");
    f.set_len(bundle.len() as u64).expect("len");
    let envelope = ota::bundle::read_header(&mut &bundle[..]).expect("header");
    let head = ota::bundle::payload_start(envelope.len() as u64) as usize;
    f.write_all_at(&bundle[..head], 0).expect("header");
    for &[off, len] in ranges {
        f.write_all_at(&bundle[off as usize..(off + len) as usize], off).expect("range");
    }
}

fn ranges_of(plan: &Value) -> Vec<[u64; 2]> {
    plan["ranges"].as_array().expect("ranges").iter().map(|r| [r[0].as_u64().expect("off"), r[1].as_u64().expect("len")]).collect()
}

#[test]
fn a_delta_install_takes_only_the_planned_ranges_and_copies_the_rest_from_the_running_slot() {
    let b = Box_::new();
    let h = b.start(Slot::A, "0.1.0");
    // The new system: the running one with 16 KiB rewritten (a new daemon binary, in small).
    let mut v2 = noise(SLOT, 1);
    v2[SLOT / 3..SLOT / 3 + 16384].copy_from_slice(&noise(16384, 22));
    let bundle = b.bundle("v2.spotota", "0.2.0", "qemu-arm64", &v2, &b.key);

    // Hostile names are refused as for an install; a header by a stranger is refused and
    // recorded with its code.
    for name in ["../root.json", "", ".hidden", "a/b", "missing.spotota"] {
        assert_eq!(h.call(json!({"cmd": "ota_plan", "name": name}))["error"]["code"], "invalid_argument", "{name:?}");
        assert_eq!(h.call(json!({"cmd": "ota_install_delta", "name": name}))["error"]["code"], "invalid_argument", "{name:?}");
    }
    std::os::unix::fs::symlink(b.p("data/ota/incoming/v2.spotota"), b.p("data/ota/incoming/link.spotota")).expect("symlink");
    assert_eq!(h.call(json!({"cmd": "ota_plan", "name": "link.spotota"}))["error"]["code"], "invalid_argument");
    let stranger = b.bundle("stranger.spotota", "0.2.0", "qemu-arm64", &v2, &PrivateKey::from_seed([9; 32]));
    sparse(&b, "stranger.spotota", &stranger, &[]);
    let r = h.call(json!({"cmd": "ota_plan", "name": "stranger.spotota"}));
    assert_eq!(r["ok"], false, "{r}");
    assert_eq!(h.ota()["history"][0]["code"], "wrong_key");

    // The plan, from the header alone: a few chunks around the change.
    sparse(&b, "v2.spotota", &bundle, &[]);
    let r = h.call(json!({"cmd": "ota_plan", "name": "v2.spotota"}));
    assert_eq!(r["ok"], true, "{r}");
    let plan = &r["plan"];
    assert_eq!(plan["version"], "0.2.0");
    let ranges = ranges_of(plan);
    let wanted: u64 = ranges.iter().map(|r| r[1]).sum();
    assert_eq!(plan["wanted"], wanted);
    assert_eq!(wanted + plan["local"].as_u64().expect("local"), SLOT as u64);
    assert!(!ranges.is_empty() && wanted < (SLOT / 8) as u64, "{plan}");
    assert!(ranges.windows(2).all(|w| w[0][0] + w[0][1] < w[1][0]), "sorted, merged: {plan}");
    let envelope = ota::bundle::read_header(&mut &bundle[..]).expect("header");
    assert!(ranges[0][0] >= ota::bundle::payload_start(envelope.len() as u64), "{plan}");
    assert!(ranges.iter().all(|r| r[0] + r[1] <= bundle.len() as u64));

    // One planned range with a changed byte: refused before it is written.
    let mut tampered = bundle.clone();
    tampered[(ranges[0][0] + ranges[0][1] / 2) as usize] ^= 1;
    sparse(&b, "tampered.spotota", &tampered, &ranges);
    let rec = h.install_with("ota_install_delta", "tampered.spotota");
    assert_eq!((rec["outcome"].as_str(), rec["code"].as_str()), (Some("install_failed"), Some("tampered_block")), "{rec}");
    assert!(!b.p("data/ota/incoming/tampered.spotota").exists());

    // The header and the planned ranges, holes elsewhere: installed, B is the new system, A
    // was only read.
    sparse(&b, "v2.spotota", &bundle, &ranges);
    let rec = h.install_with("ota_install_delta", "v2.spotota");
    assert_eq!((rec["outcome"].as_str(), rec["version"].as_str()), (Some("staged"), Some("0.2.0")), "{rec}");
    assert_eq!(std::fs::read(b.p("slot-b.img")).expect("B"), v2);
    assert_eq!(std::fs::read(b.p("slot-a.img")).expect("A"), noise(SLOT, 1), "the running slot was written");
    assert!(!b.p("data/ota/incoming/v2.spotota").exists(), "the bundle was left behind");
    eprintln!("delta: {wanted} of {} bundle bytes in {} ranges (+ {} header)", bundle.len(), ranges.len(), ota::bundle::payload_start(envelope.len() as u64));
}

/// A Pi's boot partition as the image leaves it: firmware, `config.txt` including the
/// boot-files switch, the factory switch, U-Boot, a device tree and overlays at the root.
fn pi_boot_partition(b: &Box_) {
    let mut factory = b"# Spot box boot files: the partition's root (as the image was built)\n".to_vec();
    factory.resize(512, b'\n');
    for (name, bytes) in [
        ("config.txt", b"arm_64bit=1\nkernel=u-boot.bin\nupstream_kernel=1\n[all]\ninclude spot/fw.txt\n".to_vec()),
        ("spot/fw.txt", factory),
        ("start4.elf", noise(2000, 40)),
        ("u-boot.bin", noise(3000, 41)),
        ("bcm2711-rpi-4-b.dtb", noise(1500, 42)),
        ("overlays/README", b"overlays\n".to_vec()),
    ] {
        let p = b.p("boot").join(name);
        std::fs::create_dir_all(p.parent().expect("dir")).expect("mkdir");
        std::fs::write(p, bytes).expect("boot file");
    }
}

/// A bundle of `rootfs` and `boot/u-boot.bin`, in the incoming directory.
fn bundle_with_u_boot(b: &Box_, name: &str, version: &str, rootfs: &[u8], u_boot: &[u8]) {
    std::fs::write(b.p(&format!("{name}.rootfs")), rootfs).expect("image");
    std::fs::write(b.p(&format!("{name}.u-boot")), u_boot).expect("u-boot");
    let meta = Meta {
        version: version.parse().expect("version"),
        boards: vec!["qemu-arm64".into()],
        min_version: None,
        created: 1_700_000_000,
        notes: String::new(),
        needs_eeprom: None,
    };
    let images = [("rootfs".to_string(), b.p(&format!("{name}.rootfs"))), ("boot/u-boot.bin".to_string(), b.p(&format!("{name}.u-boot")))];
    let mut out = std::io::Cursor::new(Vec::new());
    ota::bundle::build(&mut out, &meta, &images, &[&b.key]).expect("bundle");
    std::fs::write(b.p(&format!("data/ota/incoming/{name}")), out.into_inner()).expect("incoming");
}

/// What `spot/fw.txt` names, and the boot partition's sets.
fn switched(b: &Box_) -> (Which, Vec<String>) {
    let sw = std::fs::read(b.p("boot/spot/fw.txt")).expect("fw.txt");
    assert_eq!(sw.len(), 512, "the switch changed size");
    let which = bootfiles::decode_switch(&sw).expect("the switch is whole");
    let mut sets: Vec<String> = std::fs::read_dir(b.p("boot/spot/fw"))
        .map(|d| d.map(|e| e.expect("entry").file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    sets.sort();
    (which, sets)
}

#[test]
fn a_bundle_with_u_boot_installs_a_new_boot_set_switches_to_it_and_back_when_given_up() {
    let b = Box_::new();
    pi_boot_partition(&b);
    let root_u_boot = std::fs::read(b.p("boot/u-boot.bin")).expect("u-boot");
    let h = b.start(Slot::A, "0.1.0");
    let new_u_boot = noise(5000, 43);
    bundle_with_u_boot(&b, "v2.spotota", "0.2.0", &noise(1 << 20, 44), &new_u_boot);
    let rec = h.install("v2.spotota");
    assert_eq!(rec["outcome"], "staged", "{rec}");
    let (which, sets) = switched(&b);
    let Which::Set(id) = which.clone() else { panic!("the switch still names the root") };
    assert_eq!(sets, vec![id.as_str().to_string()]);
    let dir = b.p("boot").join(id.dir());
    assert_eq!(std::fs::read(dir.join("u-boot.bin")).expect("new u-boot"), new_u_boot);
    // The rest of the set is copied from the root: the set is whole.
    assert_eq!(std::fs::read(dir.join("bcm2711-rpi-4-b.dtb")).expect("dtb"), std::fs::read(b.p("boot/bcm2711-rpi-4-b.dtb")).expect("dtb"));
    assert!(dir.join("overlays/README").exists());
    assert!(bootfiles::check_set(&mut DirFs(b.p("boot")), &id).expect("check").is_ok());
    // The root is untouched; the firmware's files are never written.
    assert_eq!(std::fs::read(b.p("boot/u-boot.bin")).expect("u-boot"), root_u_boot);
    assert_eq!(std::fs::read(b.p("boot/start4.elf")).expect("start4"), noise(2000, 40));
    drop(h);

    // The new system never gets healthy: given up, and the boot files switch back.
    assert_eq!(b.boot(), (Slot::B, true));
    let h = b.start(Slot::B, "0.2.0");
    let o = h.wait_phase("idle", false, 30);
    assert_eq!(o["history"][0]["outcome"], "rolled_back", "{o}");
    drop(h);
    assert_eq!(switched(&b), (Which::Root, vec![]), "given up: back to the root's boot files, the new set deleted");
    assert_eq!(b.boot(), (Slot::A, false));

    // Again, and this time it commits: the set stays, named by the switch.
    let h = b.start(Slot::A, "0.1.0");
    bundle_with_u_boot(&b, "v21.spotota", "0.2.1", &noise(1 << 20, 45), &new_u_boot);
    assert_eq!(h.install("v21.spotota")["outcome"], "staged");
    drop(h);
    assert_eq!(b.boot(), (Slot::B, true));
    let h = b.start(Slot::B, "0.2.1");
    let o = h.wait_phase("idle", true, 15);
    assert_eq!(o["history"][0]["outcome"], "committed", "{o}");
    drop(h);
    assert_eq!(switched(&b), (which, vec![id.as_str().to_string()]));

    // A hand-damaged switch (a set that is not there) is mended at start.
    let mut gone = bootfiles::encode_switch(&Which::Set(bootfiles::SetId::parse("0000000000000000").expect("id")));
    std::fs::write(b.p("boot/spot/fw.txt"), gone).expect("damage");
    let h = b.start(Slot::B, "0.2.1");
    let _ = h.ota();
    drop(h);
    gone = bootfiles::encode_switch(&Which::Set(id.clone()));
    assert_eq!(std::fs::read(b.p("boot/spot/fw.txt")).expect("fw.txt"), gone.to_vec(), "mended to the committed set");
}
