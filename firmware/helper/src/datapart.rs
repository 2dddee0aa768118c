//! The data partition's health, and the two ways out when it is broken.
//!
//! `spot-helper data-check` runs at every boot after the data partition's mount was tried
//! (fstab: `nofail`). It finds the partition itself (number 4 of the disk the root came from:
//! `root=PARTUUID=<disk id>-0N` on the kernel command line), looks at it and leaves
//! `/run/spot-data/problem.json` (missing, damaged or full, with words) or removes it. With a
//! problem, spot.service does not start and the daemon's data-problem page serves instead.
//!
//! From that page the daemon may ask (socket command `data_fix`) for `repair` or `erase`; the
//! helper checks that there is a problem and that the action fits it, then starts the fixed
//! unit `spot-data-fix@repair.service` or `spot-data-fix@erase.service`, which runs
//! `spot-helper data-fix ACTION`: e2fsck, or a new file system (creating the partition if it is
//! gone), then a reboot. No device name or path ever comes from the daemon. Progress and the
//! outcome are in `/run/spot-data/fix.json`.

use crate::cmd;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use setup::proto::DataAction;
use std::fs;
use std::path::{Path, PathBuf};

pub const PROBLEM: &str = "problem.json";
pub const FIX: &str = "fix.json";
/// The data partition's number on the card (board/*/partitions: boot, root A, root B, data).
pub const DATA_PARTITION: u32 = 4;
/// Less than this free for the daemon (ext4 keeps 1 % for root): full. SQLite needs room for
/// its WAL and the daemon for uploads; the first-run database alone is under 1 MiB.
pub const FULL_BYTES: u64 = 8 << 20;
pub const FULL_INODES: u64 = 64;
const LABEL: &str = "spot-data";

/// `/run/spot-data` (`SPOT_HELPER_DATA_RUN` for tests).
pub fn run_dir() -> PathBuf {
    std::env::var_os("SPOT_HELPER_DATA_RUN").filter(|v| !v.is_empty()).map_or_else(|| "/run/spot-data".into(), PathBuf::from)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Problem {
    Missing,
    Damaged,
    Full,
}

/// What `problem.json` holds (the daemon reads it as it is).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    pub problem: Problem,
    /// Words for the page, e.g. "No file system was found on /dev/mmcblk0p4."
    pub detail: String,
    pub device: Option<String>,
}

/// What `fix.json` holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FixState {
    pub action: DataAction,
    /// `starting`, `running`, `done` (the box reboots), `failed`.
    pub state: String,
    pub message: String,
}

/// What was seen of the partition; [`classify`] turns it into a verdict.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// The partition's device, when the boot disk is known.
    pub device: Option<String>,
    pub device_exists: bool,
    /// `blkid` of the device: file system type and label.
    pub fs_type: Option<String>,
    pub label: Option<String>,
    /// `/data` is mounted (from the data partition).
    pub mounted: Option<Mounted>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mounted {
    pub read_only: bool,
    pub avail_bytes: u64,
    pub free_inodes: u64,
}

/// The verdict: `None` when the data partition is usable.
pub fn classify(f: &Facts) -> Option<Report> {
    let dev = f.device.clone();
    let name = dev.clone().unwrap_or_else(|| "the data partition".into());
    let report = |problem, detail: String| Some(Report { problem, detail, device: dev.clone() });
    if let Some(m) = &f.mounted {
        if m.read_only {
            return report(Problem::Damaged, "The file system had errors and is mounted read-only.".into());
        }
        if m.avail_bytes < FULL_BYTES || m.free_inodes < FULL_INODES {
            return report(Problem::Full, format!("{} MiB free, {} files left.", m.avail_bytes >> 20, m.free_inodes));
        }
        return None;
    }
    if f.device.is_none() {
        return report(Problem::Missing, "The card the box started from could not be found, so neither could its data partition.".into());
    }
    if !f.device_exists {
        return report(Problem::Missing, format!("The card has no partition {DATA_PARTITION} ({name})."));
    }
    match f.fs_type.as_deref() {
        None => report(Problem::Damaged, format!("No file system was found on {name}: its first block is unreadable or was overwritten.")),
        Some("ext4") if f.label.as_deref() != Some(LABEL) => {
            report(Problem::Damaged, format!("{name} holds a file system named {:?}, not {LABEL:?}.", f.label.as_deref().unwrap_or("")))
        }
        Some("ext4") => report(Problem::Damaged, format!("The file system on {name} failed its check at boot and was not mounted.")),
        Some(other) => report(Problem::Damaged, format!("{name} holds a {other} file system, not the box's ext4.")),
    }
}

/// Whether `action` can help with `problem`: an error (code, words) when not.
pub fn action_fits(problem: Problem, action: DataAction) -> Result<(), (&'static str, &'static str)> {
    match (problem, action) {
        (_, DataAction::Erase) => Ok(()),
        (Problem::Damaged, DataAction::Repair) => Ok(()),
        (Problem::Missing, DataAction::Repair) => Err(("unsupported", "There is no data partition to repair. \"Erase and start over\" makes a new one.")),
        (Problem::Full, DataAction::Repair) => Err(("unsupported", "A full file system is not damaged: a repair cannot free space.")),
    }
}

pub fn read_problem(dir: &Path) -> Option<Report> {
    serde_json::from_slice(&fs::read(dir.join(PROBLEM)).ok()?).ok()
}

pub fn read_fix(dir: &Path) -> Option<FixState> {
    serde_json::from_slice(&fs::read(dir.join(FIX)).ok()?).ok()
}

fn write_fix(dir: &Path, action: DataAction, state: &str, message: &str) -> Result<()> {
    let f = FixState { action, state: state.into(), message: message.into() };
    crate::system::write_atomic_public(&dir.join(FIX), &serde_json::to_vec(&f)?)
}

/// The socket command: refused unless there is a problem the action fits and no fix is under
/// way; then `fix.json` says "starting" and the caller starts the unit.
pub fn request_fix(dir: &Path, action: DataAction) -> Result<(), (&'static str, String)> {
    let Some(report) = read_problem(dir) else {
        return Err(("unsupported", "The data partition is fine: there is nothing to repair or erase.".into()));
    };
    action_fits(report.problem, action).map_err(|(c, m)| (c, m.to_owned()))?;
    if let Some(f) = read_fix(dir) {
        if matches!(f.state.as_str(), "starting" | "running" | "done") {
            return Err(("busy", format!("A {} is already under way.", f.action.as_str())));
        }
    }
    write_fix(dir, action, "starting", "Starting…").map_err(|e| ("failed", e.to_string()))
}

// --- looking at the partition ----------------------------------------------------------------

/// `/dev/disk/by-partuuid/<disk id>-04` from `root=PARTUUID=<disk id>-0N` (MBR: 8 hex digits).
pub fn data_device(cmdline: &str) -> Option<String> {
    let root = cmdline.split_whitespace().find_map(|a| a.strip_prefix("root=PARTUUID="))?;
    let (disk, _) = root.split_once('-')?;
    (disk.len() == 8 && disk.bytes().all(|b| b.is_ascii_hexdigit())).then(|| format!("/dev/disk/by-partuuid/{}-{:02x}", disk.to_ascii_lowercase(), DATA_PARTITION))
}

/// The mount at `mountpoint` in /proc/self/mountinfo: (read-only, source).
fn mount_of(mountinfo: &str, mountpoint: &str) -> Option<(bool, String)> {
    mountinfo.lines().rev().find_map(|l| {
        let f: Vec<&str> = l.split(' ').collect();
        let sep = f.iter().position(|x| *x == "-")?;
        (f.get(4) == Some(&mountpoint)).then(|| (f[5].split(',').any(|o| o == "ro"), f.get(sep + 2).unwrap_or(&"").to_string()))
    })
}

fn blkid(dev: &str) -> (Option<String>, Option<String>) {
    let out = cmd::run("blkid", &["-p", "-o", "export", dev], 20).unwrap_or_default();
    let get = |k: &str| out.lines().find_map(|l| l.strip_prefix(k)).map(str::to_owned);
    (get("TYPE="), get("LABEL="))
}

pub fn facts(data: &Path) -> Facts {
    let cmdline = fs::read_to_string("/proc/cmdline").unwrap_or_default();
    let link = data_device(&cmdline);
    let device_exists = link.as_deref().is_some_and(|d| Path::new(d).exists());
    // Named as the kernel names it (/dev/mmcblk0p4), when it is there.
    let device = link.map(|l| fs::canonicalize(&l).map_or(l, |p| p.to_string_lossy().into_owned()));
    let (fs_type, label) = match (&device, device_exists) {
        (Some(d), true) => blkid(d),
        _ => (None, None),
    };
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mounted = mount_of(&mountinfo, &data.to_string_lossy()).map(|(read_only, _)| {
        // `stat -f`: blocks free to non-root, block size, free inodes.
        let out = cmd::run("stat", &["-f", "-c", "%a %S %d", &data.to_string_lossy()], 20).unwrap_or_default();
        let n: Vec<u64> = out.split_whitespace().filter_map(|x| x.parse().ok()).collect();
        let (avail_bytes, free_inodes) = match n[..] {
            [a, s, i] => (a * s, i),
            _ => (u64::MAX, u64::MAX),
        };
        Mounted { read_only, avail_bytes, free_inodes }
    });
    Facts { device, device_exists, fs_type, label, mounted }
}

/// `spot-helper data-check`.
pub fn check(data: &Path, dir: &Path) -> Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o755))?;
    }
    let mut f = facts(data);
    if f.mounted.is_none() && f.fs_type.as_deref() == Some("ext4") && f.label.as_deref() == Some(LABEL) {
        // A sound-looking file system that is not mounted: its device may just have come after
        // the mount gave up (a slow boot). Mount it now, through its fsck; a damaged one fails
        // again and is reported as such.
        match cmd::run("systemctl", &["start", "data.mount"], 600) {
            Ok(_) => {
                f = facts(data);
                if f.mounted.is_some() {
                    eprintln!("spot-helper: data partition mounted late; starting what waited for it");
                    // Its directories first: systemd-tmpfiles-setup ran before it was there, and the
                    // units' ReadWritePaths= (/data/system, /data/spot/ota/incoming) must exist.
                    if let Err(e) = cmd::run("systemd-tmpfiles", &["--create", "--prefix=/data"], 60) {
                        eprintln!("spot-helper: creating the data partition's directories: {e}");
                    }
                    let _ = cmd::run("systemctl", &["--no-block", "start", "spot-factory-reset.service", "spot-preset.service", "multi-user.target"], 30);
                }
            }
            Err(e) => eprintln!("spot-helper: mounting the data partition again failed: {e}"),
        }
    }
    match classify(&f) {
        None => {
            let _ = fs::remove_file(dir.join(PROBLEM));
            eprintln!("spot-helper: data partition {}: fine", f.device.as_deref().unwrap_or("(mounted)"));
        }
        Some(r) => {
            eprintln!("spot-helper: data partition problem: {:?}: {}", r.problem, r.detail);
            crate::system::write_atomic_public(&dir.join(PROBLEM), &serde_json::to_vec(&r)?)?;
        }
    }
    Ok(())
}

// --- the fixes (spot-data-fix@ACTION.service, as root) --------------------------------------

/// `spot-helper data-fix ACTION`: only `repair` and `erase`, only with a problem reported.
pub fn fix(action: &str, data: &Path, dir: &Path) -> Result<()> {
    let action = match action {
        "repair" => DataAction::Repair,
        "erase" => DataAction::Erase,
        _ => bail!("data-fix: the action is repair or erase"),
    };
    let Some(report) = read_problem(dir) else { bail!("data-fix: no data partition problem is reported") };
    if let Err((_, m)) = action_fits(report.problem, action) {
        bail!("data-fix: {m}");
    }
    write_fix(dir, action, "running", match action {
        DataAction::Repair => "Checking and repairing the file system…",
        DataAction::Erase => "Making a new, empty data partition…",
    })?;
    let outcome = match action {
        DataAction::Repair => repair(data),
        DataAction::Erase => erase(data),
    };
    match outcome {
        Ok(words) => {
            write_fix(dir, action, "done", &format!("{words} The box restarts now."))?;
            eprintln!("spot-helper: data-fix {}: {words} Rebooting.", action.as_str());
            cmd::run("systemctl", &["--no-block", "reboot"], 30).map_err(anyhow::Error::msg)?;
            Ok(())
        }
        Err(e) => {
            let words = format!("{e:#}");
            write_fix(dir, action, "failed", &words)?;
            bail!("data-fix {}: {words}", action.as_str())
        }
    }
}

/// The data partition's device, resolved (`/dev/vda4`, `/dev/mmcblk0p4`).
fn device() -> Result<PathBuf> {
    let cmdline = fs::read_to_string("/proc/cmdline")?;
    let link = data_device(&cmdline).context("the boot disk is not known (no root=PARTUUID= on the kernel command line)")?;
    fs::canonicalize(&link).with_context(|| format!("{link} does not exist"))
}

/// Nothing may have it mounted: timesyncd's clock file is bound from it, so stop that first.
fn unmount(data: &Path) -> Result<()> {
    let mountinfo = fs::read_to_string("/proc/self/mountinfo")?;
    if mount_of(&mountinfo, &data.to_string_lossy()).is_none() {
        return Ok(());
    }
    let _ = cmd::run("systemctl", &["stop", "systemd-timesyncd.service"], 60);
    cmd::run("umount", &[&data.to_string_lossy()], 60)
        .map(|_| ())
        .map_err(|e| anyhow::anyhow!("The data partition is in use and could not be unmounted ({e}). Restart the box and try again."))
}

fn repair(data: &Path) -> Result<String> {
    let dev = device()?;
    unmount(data)?;
    let d = dev.to_string_lossy();
    // -f: check even if marked clean; -y: fix everything. Exit 0-2: fixed (or nothing to fix);
    // 4 and up: errors left. A wiped first superblock is read from a backup copy. Up to three
    // runs: when the backup copy still says the journal needs replaying (online resize2fs
    // writes the backups of a mounted file system), e2fsck replays it into the first
    // superblock, then stops ("unable to set superblock flags", exit 12); the next run starts
    // from the mended first superblock (seen in qemu-test-dataproblem.sh).
    let mut last = String::new();
    for attempt in 1..=3 {
        let o = std::process::Command::new("e2fsck").args(["-f", "-y", &d]).output().map_err(|e| anyhow::anyhow!("e2fsck could not run: {e}"))?;
        let code = o.status.code().unwrap_or(-1);
        if (0..=2).contains(&code) {
            return Ok(format!("The file system on {d} was checked and repaired{}.", if attempt > 1 { format!(" ({attempt} passes)") } else { String::new() }));
        }
        let text = String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr);
        let tail: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).rev().take(3).collect();
        last = format!("e2fsck exit {code}: {}", tail.into_iter().rev().collect::<Vec<_>>().join(" / "));
        eprintln!("spot-helper: data-fix repair, pass {attempt}: {last}");
    }
    bail!("The repair could not fix the file system ({last}).")
}

fn erase(data: &Path) -> Result<String> {
    unmount(data)?;
    let dev = match device() {
        Ok(d) => d,
        Err(_) => create_partition()?,
    };
    let d = dev.to_string_lossy();
    cmd::run("mkfs.ext4", &["-F", "-q", "-L", LABEL, "-m", "1", "-T", "default", &d], 1800).map_err(anyhow::Error::msg)?;
    Ok(format!("A new, empty file system was made on {d}."))
}

/// Partition 4 is gone from the card's table: add it in the free space after root B.
fn create_partition() -> Result<PathBuf> {
    let cmdline = fs::read_to_string("/proc/cmdline")?;
    let root = cmdline.split_whitespace().find_map(|a| a.strip_prefix("root=PARTUUID=")).context("no root=PARTUUID=")?;
    let root_dev = fs::canonicalize(format!("/dev/disk/by-partuuid/{root}")).context("the root partition")?;
    let name = root_dev.file_name().context("root device")?.to_string_lossy().into_owned();
    let disk = fs::canonicalize(format!("/sys/class/block/{name}/.."))?.file_name().context("disk")?.to_string_lossy().into_owned();
    let disk_dev = format!("/dev/{disk}");
    // Right after the last partition (root B), 1 MiB aligned, to the end of the card: sfdisk
    // --append alone takes the first free gap, which is the 3 MiB before the boot partition.
    let table: serde_json::Value = serde_json::from_str(&cmd::run("sfdisk", &["-J", &disk_dev], 30).map_err(anyhow::Error::msg)?)?;
    let start = after_last_partition(&table).context("the card's partition table is unreadable")?;
    let mut child = std::process::Command::new("sfdisk")
        .args(["--append", "--force", "--no-reread", "--no-tell-kernel", &disk_dev])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .context("sfdisk")?;
    {
        use std::io::Write;
        child.stdin.take().context("sfdisk stdin")?.write_all(format!("start={start}, type=83\n").as_bytes())?;
    }
    if !child.wait()?.success() {
        bail!("The card's partition table could not be extended.");
    }
    cmd::run("partx", &["--add", "--nr", &DATA_PARTITION.to_string(), &disk_dev], 30).map_err(anyhow::Error::msg)?;
    let sep = if disk.ends_with(|c: char| c.is_ascii_digit()) { "p" } else { "" };
    let part = PathBuf::from(format!("/dev/{disk}{sep}{DATA_PARTITION}"));
    for _ in 0..50 {
        if part.exists() {
            return Ok(part);
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    bail!("{} did not appear after adding it to the partition table", part.display())
}

/// The first 1 MiB-aligned sector after every partition in `sfdisk -J` output.
fn after_last_partition(table: &serde_json::Value) -> Option<u64> {
    let parts = table.get("partitiontable")?.get("partitions")?.as_array()?;
    let end = parts.iter().filter_map(|p| Some(p.get("start")?.as_u64()? + p.get("size")?.as_u64()?)).max()?;
    Some(end.div_ceil(2048) * 2048)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mounted(avail_mib: u64, inodes: u64, ro: bool) -> Facts {
        Facts { device: Some("/dev/vda4".into()), device_exists: true, fs_type: Some("ext4".into()), label: Some(LABEL.into()), mounted: Some(Mounted { read_only: ro, avail_bytes: avail_mib << 20, free_inodes: inodes }) }
    }

    #[test]
    fn verdicts_in_words() {
        assert_eq!(classify(&mounted(500, 30000, false)), None);
        assert_eq!(classify(&mounted(7, 30000, false)).map(|r| r.problem), Some(Problem::Full));
        assert_eq!(classify(&mounted(500, 10, false)).map(|r| r.problem), Some(Problem::Full));
        assert_eq!(classify(&mounted(500, 30000, true)).map(|r| r.problem), Some(Problem::Damaged));
        let gone = Facts { device: Some("/dev/disk/by-partuuid/0a1b2c3d-04".into()), ..Facts::default() };
        let r = classify(&gone).expect("missing");
        assert_eq!(r.problem, Problem::Missing);
        assert!(r.detail.contains("no partition 4"), "{}", r.detail);
        assert_eq!(classify(&Facts::default()).map(|r| r.problem), Some(Problem::Missing));
        let wiped = Facts { device_exists: true, ..gone.clone() };
        let r = classify(&wiped).expect("damaged");
        assert_eq!(r.problem, Problem::Damaged);
        assert!(r.detail.contains("No file system"), "{}", r.detail);
        let unmountable = Facts { fs_type: Some("ext4".into()), label: Some(LABEL.into()), ..wiped.clone() };
        assert!(classify(&unmountable).expect("damaged").detail.contains("failed its check"));
        let foreign = Facts { fs_type: Some("vfat".into()), ..wiped };
        assert!(classify(&foreign).expect("damaged").detail.contains("vfat"));
    }

    #[test]
    fn the_data_partition_is_found_from_the_root_partuuid_only() {
        let dev = data_device("console=ttyAMA0 root=PARTUUID=5EB1A7C2-02 ro rootwait");
        assert_eq!(dev.as_deref(), Some("/dev/disk/by-partuuid/5eb1a7c2-04"));
        for bad in ["root=/dev/mmcblk0p2", "root=PARTUUID=../../x-02", "root=PARTUUID=5eb1a7c-02", "root=PARTUUID=5eb1a7c2", ""] {
            assert_eq!(data_device(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_new_data_partition_goes_after_root_b_not_into_the_gap_before_the_boot_partition() {
        let t = serde_json::json!({"partitiontable": {"label": "dos", "partitions": [
            {"node": "/dev/vda1", "start": 8192, "size": 524288, "type": "c"},
            {"node": "/dev/vda2", "start": 532480, "size": 2097152, "type": "83"},
            {"node": "/dev/vda3", "start": 2629632, "size": 2097152, "type": "83"}]}});
        assert_eq!(after_last_partition(&t), Some(4726784));
        let odd = serde_json::json!({"partitiontable": {"partitions": [{"start": 2048, "size": 1000}]}});
        assert_eq!(after_last_partition(&odd), Some(4096));
        assert_eq!(after_last_partition(&serde_json::json!({})), None);
    }

    #[test]
    fn mountinfo_lines() {
        let mi = "22 1 254:2 / / ro,relatime shared:1 - ext4 /dev/vda2 ro\n\
                  30 22 254:4 / /data rw,noatime shared:9 - ext4 /dev/vda4 rw\n";
        assert_eq!(mount_of(mi, "/data"), Some((false, "/dev/vda4".into())));
        assert_eq!(mount_of(mi, "/"), Some((true, "/dev/vda2".into())));
        assert_eq!(mount_of(mi, "/boot/firmware"), None);
    }

    #[test]
    fn fixes_only_for_a_problem_they_fit_and_one_at_a_time() {
        let t = tempfile::tempdir().expect("tmp");
        assert_eq!(request_fix(t.path(), DataAction::Erase).map_err(|e| e.0), Err("unsupported"));
        let write = |p: Problem| fs::write(t.path().join(PROBLEM), serde_json::to_vec(&Report { problem: p, detail: "x".into(), device: None }).expect("json")).expect("w");
        write(Problem::Missing);
        assert_eq!(request_fix(t.path(), DataAction::Repair).map_err(|e| e.0), Err("unsupported"));
        write(Problem::Full);
        assert_eq!(request_fix(t.path(), DataAction::Repair).map_err(|e| e.0), Err("unsupported"));
        write(Problem::Damaged);
        assert_eq!(request_fix(t.path(), DataAction::Repair), Ok(()));
        assert_eq!(read_fix(t.path()).map(|f| (f.action, f.state)), Some((DataAction::Repair, "starting".into())));
        assert_eq!(request_fix(t.path(), DataAction::Erase).map_err(|e| e.0), Err("busy"));
        write_fix(t.path(), DataAction::Repair, "failed", "no").expect("w");
        assert_eq!(request_fix(t.path(), DataAction::Erase), Ok(()));
        for bad in ["", "Repair", "erase ", "repair;reboot", "../erase", "format"] {
            assert!(fix(bad, t.path(), t.path()).is_err(), "{bad}");
        }
    }
}
