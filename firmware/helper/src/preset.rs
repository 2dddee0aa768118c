//! `spot-helper apply-preset`: run once early at boot (spot-preset.service, as root, before the
//! helper's server and the daemon). Reads what Raspberry Pi Imager left on the boot partition
//! with [`setup::imager`] (as data, never run), keeps what this box uses where the helper keeps
//! its state (Wi-Fi, country, host name, time zone: [`crate::system::Store`]), hands the admin
//! account to the daemon as `DATA/spot/preset.json` (0600, owner spot; the daemon creates the
//! admin and deletes it), then removes the Imager files from the FAT partition (they hold the
//! Wi-Fi password and a password hash) and Imager's additions from cmdline.txt.
//!
//! Never logs a password, a PSK or a hash. Paths come from SPOT_HELPER_BOOT (/boot/firmware),
//! SPOT_HELPER_STATE (/data/system), SPOT_HELPER_DATA (/data), SPOT_HELPER_ZONEINFO and
//! SPOT_HELPER_PASSWD (/etc/passwd, for the spot user's uid), so tests run on temp dirs.

use crate::system::Store;
use anyhow::{Context, Result};
use setup::imager::{self, BootFiles, Preset, MAX_FILE};
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// The daemon's hand-off file, in its data directory.
pub const PRESET_JSON: &str = "preset.json";
/// Imager files that are removed even though they are not read: rpi-preseed's TOML is only
/// written for `init_format: rpi-preseed` (not ours), but it would hold the same secrets.
const REMOVE_UNREAD: &[&str] = &["rpi-preseed.toml"];

pub struct Paths {
    pub boot: PathBuf,
    pub state: PathBuf,
    /// The daemon's data directory (`/data/spot`).
    pub spot: PathBuf,
    pub zoneinfo: PathBuf,
    pub passwd: PathBuf,
}

impl Paths {
    fn from_env() -> Paths {
        let env = |name: &str, default: &str| crate::env_path(name, default);
        Paths {
            boot: env("SPOT_HELPER_BOOT", "/boot/firmware"),
            state: env("SPOT_HELPER_STATE", "/data/system"),
            spot: env("SPOT_HELPER_DATA", "/data").join("spot"),
            zoneinfo: env("SPOT_HELPER_ZONEINFO", "/usr/share/zoneinfo"),
            passwd: env("SPOT_HELPER_PASSWD", "/etc/passwd"),
        }
    }
}

pub fn run() -> Result<()> {
    apply(&Paths::from_env()).map(|_| ())
}

/// Applies and removes whatever Imager left; `None` if it left nothing.
pub fn apply(p: &Paths) -> Result<Option<Preset>> {
    let found = imager_files(&p.boot)?;
    if found.is_empty() {
        return Ok(None);
    }
    let mut files = BootFiles::default();
    for (name, path) in &found {
        let slot = match name.as_str() {
            "firstrun.sh" => &mut files.firstrun,
            "user-data" => &mut files.user_data,
            "network-config" => &mut files.network_config,
            _ => continue,
        };
        *slot = read_capped(path, name)?;
    }
    let cmdline_path = p.boot.join("cmdline.txt");
    files.cmdline = read_capped(&cmdline_path, "cmdline.txt")?;
    let preset = imager::read_preset(&files);
    for w in &preset.warnings {
        log(w);
    }

    keep(p, &preset)?;

    // Only now that what was kept is on disk: a power cut before this line reads it all again.
    for (name, path) in &found {
        scrub(path).with_context(|| format!("removing {name} from the boot partition"))?;
        log(&format!("removed {name} from the boot partition"));
    }
    if let Some(text) = files.cmdline.as_deref().and_then(|b| std::str::from_utf8(b).ok()) {
        if let Some(clean) = imager::clean_cmdline(text) {
            replace_file(&cmdline_path, clean.as_bytes(), None)?;
            log("removed Imager's additions from cmdline.txt");
        }
    }
    fs::File::open(&p.boot)?.sync_all()?;
    Ok(Some(preset))
}

fn keep(p: &Paths, preset: &Preset) -> Result<()> {
    let store = Store::open(&p.state, &p.zoneinfo)?;
    if let Some(w) = &preset.wifi {
        store.save_wifi(w)?;
        log(&format!("Wi-Fi network {:?} saved{}", w.ssid.as_str(), if w.psk.is_some() { " with its password" } else { " (open)" }));
    }
    if let Some(c) = &preset.country {
        store.save_country(c)?;
        log(&format!("Wi-Fi country {c}"));
    }
    if let Some(h) = &preset.hostname {
        store.save_hostname(h)?;
        log(&format!("host name {h}"));
    }
    let mut timezone = None;
    if let Some(tz) = &preset.timezone {
        match store.zone_file(tz) {
            Ok(file) => {
                store.set_timezone(tz, &file)?;
                timezone = Some(tz.to_string());
                log(&format!("time zone {tz}"));
            }
            Err(e) => log(&format!("time zone not used: {e}")),
        }
    }
    if preset.user.is_none() && preset.hostname.is_none() && timezone.is_none() {
        return Ok(());
    }
    let hand_off = serde_json::json!({
        "admin": preset.user.as_ref().map(|u| serde_json::json!({"username": u.name, "password_hash": u.password_hash})),
        "box_name": preset.hostname.as_ref().map(|h| h.to_string()),
        "timezone": timezone,
        // Recorded for the wizard to show; the image has no SSH server.
        "ssh_keys": preset.ssh.keys,
        "warnings": preset.warnings,
    });
    let (uid, gid) = spot_ids(&p.passwd)?;
    if !p.spot.is_dir() {
        fs::create_dir_all(&p.spot)?;
        std::os::unix::fs::chown(&p.spot, Some(uid), Some(gid))?;
    }
    replace_file(&p.spot.join(PRESET_JSON), &serde_json::to_vec(&hand_off)?, Some((uid, gid)))?;
    if let Some(u) = &preset.user {
        log(&format!("admin account {} handed to the daemon", u.name));
    }
    Ok(())
}

/// The Imager files on the boot partition, by lower-case name (FAT names are case-blind).
fn imager_files(boot: &Path) -> Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    let entries = match fs::read_dir(boot) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e).with_context(|| format!("reading {}", boot.display())),
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().to_ascii_lowercase();
        let wanted = imager::FILES.contains(&name.as_str()) || REMOVE_UNREAD.contains(&name.as_str());
        if wanted && entry.file_type()?.is_file() {
            out.push((name, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// A file's bytes, or `None` if absent. Past [`MAX_FILE`] only enough is read for the parser
/// to refuse it by size.
fn read_capped(path: &Path, name: &str) -> Result<Option<Vec<u8>>> {
    let f = match fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {name}")),
    };
    let mut bytes = Vec::new();
    f.take(MAX_FILE as u64 + 1).read_to_end(&mut bytes)?;
    Ok(Some(bytes))
}

/// Overwrite with zeros, then unlink: FAT frees clusters without clearing them, and this file
/// held a Wi-Fi password. (The card's flash may still keep old blocks; this is what can be done.)
fn scrub(path: &Path) -> Result<()> {
    let len = fs::symlink_metadata(path)?.len();
    let mut f = fs::OpenOptions::new().write(true).open(path)?;
    let zeros = vec![0u8; 64 * 1024];
    let mut left = len;
    while left > 0 {
        let n = left.min(zeros.len() as u64) as usize;
        f.write_all(&zeros[..n])?;
        left -= n as u64;
    }
    f.sync_all()?;
    drop(f);
    fs::remove_file(path)?;
    Ok(())
}

/// Write a temporary file (0600, owned as asked), fsync, rename over `path`, fsync the directory.
fn replace_file(path: &Path, bytes: &[u8], owner: Option<(u32, u32)>) -> Result<()> {
    let dir = path.parent().context("no parent directory")?;
    let tmp = dir.join(format!(".{}.tmp", path.file_name().context("no file name")?.to_string_lossy()));
    let _ = fs::remove_file(&tmp);
    let mut f = fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::chown(&tmp, Some(uid), Some(gid))?;
    }
    drop(f);
    fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    fs::File::open(dir)?.sync_all()?;
    Ok(())
}

/// The daemon user's uid and gid, from the passwd file (the image makes `spot` with sysusers).
fn spot_ids(passwd: &Path) -> Result<(u32, u32)> {
    let text = fs::read_to_string(passwd).with_context(|| format!("reading {}", passwd.display()))?;
    text.lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.first() == Some(&"spot") && f.len() >= 4)
        .and_then(|f| Some((f[2].parse().ok()?, f[3].parse().ok()?)))
        .context("no spot user in the passwd file")
}

fn log(msg: &str) {
    eprintln!("spot-helper: preset: {msg}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    const HASH: &str = "$5$Zq3vY8cKpL$ZvtL.iRLMJR/GeZoHFetLPdmc.Eg68xaiBf99den7a1";
    const PSK: &str = "515dc461c61fa8ec73540f7d03defa68f0d78f23e3695e96166896540debc194";

    fn fixture(name: &str) -> Vec<u8> {
        fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../setup/tests/fixtures/imager").join(name)).expect("fixture")
    }

    fn setup(t: &Path) -> Paths {
        let me = fs::metadata(t).expect("meta");
        let p = Paths {
            boot: t.join("boot"),
            state: t.join("data/system"),
            spot: t.join("data/spot"),
            zoneinfo: t.join("zoneinfo"),
            passwd: t.join("passwd"),
        };
        for d in [&p.boot, &p.spot, &p.zoneinfo.join("Europe")] {
            fs::create_dir_all(d).expect("mkdir");
        }
        fs::write(p.zoneinfo.join("Europe/Berlin"), b"TZif2 test zone").expect("zone");
        // The "spot" user is whoever runs the test, so chown works without root.
        fs::write(&p.passwd, format!("root:x:0:0::/root:/bin/sh\nspot:x:{}:{}::/data/spot:/usr/sbin/nologin\n", me.uid(), me.gid())).expect("passwd");
        fs::write(p.boot.join("cmdline.txt"), "console=ttyS1,115200 fsck.repair=yes cfg80211.ieee80211_regdom=DE systemd.run=/boot/firstrun.sh systemd.run_success_action=reboot systemd.unit=kernel-command-line.target\n").expect("cmdline");
        fs::write(p.boot.join("config.txt"), b"kernel=u-boot.bin\n").expect("config");
        p
    }

    #[test]
    fn firstrun_preset_is_kept_handed_off_and_removed() {
        let t = tempfile::tempdir().expect("tmp");
        let p = setup(t.path());
        fs::write(p.boot.join("FIRSTRUN.SH"), fixture("imager-1.8-firstrun.sh")).expect("w");
        let preset = apply(&p).expect("apply").expect("a preset");
        assert_eq!(preset.hostname.map(|h| h.to_string()).as_deref(), Some("spot-kitchen"));

        let store = Store::open(&p.state, &p.zoneinfo).expect("store");
        let wifi = store.wifi().expect("wifi saved");
        assert_eq!((wifi.ssid.as_str(), wifi.psk.as_ref().map(|k| k.as_str())), ("HomeNet", Some(PSK)));
        assert_eq!(store.country().map(|c| c.to_string()).as_deref(), Some("DE"));
        assert_eq!(store.hostname().map(|h| h.to_string()).as_deref(), Some("spot-kitchen"));
        assert_eq!(store.timezone().map(|z| z.to_string()).as_deref(), Some("Europe/Berlin"));

        let path = p.spot.join(PRESET_JSON);
        let meta = fs::metadata(&path).expect("preset.json");
        assert_eq!(meta.mode() & 0o777, 0o600);
        let v: serde_json::Value = serde_json::from_slice(&fs::read(&path).expect("r")).expect("json");
        assert_eq!(v["admin"]["username"], "anna");
        assert_eq!(v["admin"]["password_hash"], HASH);
        assert_eq!(v["box_name"], "spot-kitchen");
        assert_eq!(v["timezone"], "Europe/Berlin");

        let left: Vec<String> = fs::read_dir(&p.boot).expect("ls").map(|e| e.expect("e").file_name().to_string_lossy().into_owned()).collect();
        assert!(!left.iter().any(|n| n.eq_ignore_ascii_case("firstrun.sh")), "{left:?}");
        assert_eq!(fs::read_to_string(p.boot.join("cmdline.txt")).expect("r"), "console=ttyS1,115200 fsck.repair=yes\n");
        assert_eq!(fs::read(p.boot.join("config.txt")).expect("r"), b"kernel=u-boot.bin\n", "other files untouched");

        // A second boot finds nothing and changes nothing.
        fs::remove_file(&path).expect("daemon consumed it");
        assert!(apply(&p).expect("apply").is_none());
        assert!(!path.exists());
    }

    #[test]
    fn cloud_init_files_are_all_removed_including_meta_data() {
        let t = tempfile::tempdir().expect("tmp");
        let p = setup(t.path());
        for f in ["user-data", "network-config", "meta-data"] {
            fs::write(p.boot.join(f), fixture(&format!("imager-2.0-cloudinit/{f}"))).expect("w");
        }
        let preset = apply(&p).expect("apply").expect("preset");
        assert!(preset.wifi.is_some());
        for f in ["user-data", "network-config", "meta-data"] {
            assert!(!p.boot.join(f).exists(), "{f} left on the boot partition");
        }
        let v: serde_json::Value = serde_json::from_slice(&fs::read(p.spot.join(PRESET_JSON)).expect("r")).expect("json");
        assert_eq!(v["admin"]["username"], "dora");
        assert_eq!(v["box_name"], "spot-cellar");
        // Europe/Paris is not in this test's zoneinfo: not kept, not handed on.
        assert_eq!(v["timezone"], serde_json::Value::Null);
    }

    #[test]
    fn refused_files_are_removed_too_and_secrets_stay_out_of_state_names() {
        let t = tempfile::tempdir().expect("tmp");
        let p = setup(t.path());
        fs::write(p.boot.join("firstrun.sh"), vec![b'#'; 10 << 20]).expect("w");
        fs::write(p.boot.join("network-config"), [0xffu8, 0xfe, 0x00, 0x41]).expect("w");
        let preset = apply(&p).expect("apply").expect("preset");
        assert!(preset.wifi.is_none() && preset.user.is_none());
        assert!(!p.boot.join("firstrun.sh").exists() && !p.boot.join("network-config").exists());
        assert!(!p.spot.join(PRESET_JSON).exists(), "nothing to hand off");
    }

    #[test]
    fn no_imager_files_no_changes() {
        let t = tempfile::tempdir().expect("tmp");
        let p = setup(t.path());
        let before = fs::read(p.boot.join("cmdline.txt")).expect("r");
        assert!(apply(&p).expect("apply").is_none());
        assert_eq!(fs::read(p.boot.join("cmdline.txt")).expect("r"), before, "cmdline.txt is left alone without a preset");
        assert!(!p.state.exists());
    }
}
