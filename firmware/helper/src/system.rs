//! What the helper keeps on the data partition (`/data/system`, root only, 0600 files): the
//! saved Wi-Fi network, the country, the host name, the time zone; and the factory reset.
//! The root file system is read-only; `/etc/localtime` in the image is a symlink to
//! `/data/system/localtime`, which points into /usr/share/zoneinfo.

use anyhow::{bail, Context, Result};
use setup::net::Credentials;
use setup::validate::{Country, Hostname, Invalid, Timezone};
use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

pub const WIFI: &str = "wifi.json";
pub const COUNTRY: &str = "country";
pub const HOSTNAME: &str = "hostname";
pub const TIMEZONE: &str = "timezone";
pub const LOCALTIME: &str = "localtime";
pub const RESET_MARKER: &str = "factory-reset";
/// Put on the boot partition from any computer to ask for a factory reset.
pub const BOOT_RESET_MARKER: &str = "spot-factory-reset";

pub struct Store {
    dir: PathBuf,
    zoneinfo: PathBuf,
}

impl Store {
    pub fn open(dir: &Path, zoneinfo: &Path) -> Result<Store> {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
        Ok(Store { dir: dir.to_owned(), zoneinfo: zoneinfo.to_owned() })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A saved file that does not parse or validate counts as absent (and says so).
    pub fn wifi(&self) -> Option<Credentials> {
        let text = fs::read_to_string(self.dir.join(WIFI)).ok()?;
        serde_json::from_str(&text).map_err(|e| eprintln!("spot-helper: ignoring {WIFI}: {e}")).ok()
    }

    pub fn save_wifi(&self, c: &Credentials) -> Result<()> {
        write_atomic(&self.dir.join(WIFI), &serde_json::to_vec(c)?)
    }

    pub fn forget_wifi(&self) -> Result<()> {
        remove_if_exists(&self.dir.join(WIFI))
    }

    pub fn country(&self) -> Option<Country> {
        read_valid(&self.dir.join(COUNTRY), Country::new)
    }

    pub fn save_country(&self, c: &Country) -> Result<()> {
        write_atomic(&self.dir.join(COUNTRY), c.as_str().as_bytes())
    }

    pub fn hostname(&self) -> Option<Hostname> {
        read_valid(&self.dir.join(HOSTNAME), Hostname::new)
    }

    pub fn save_hostname(&self, h: &Hostname) -> Result<()> {
        write_atomic(&self.dir.join(HOSTNAME), h.as_str().as_bytes())
    }

    pub fn timezone(&self) -> Option<Timezone> {
        read_valid(&self.dir.join(TIMEZONE), Timezone::new)
    }

    /// The zone file for `tz`: a regular TZif file inside the zoneinfo directory, after
    /// resolving symlinks (several names are links to others).
    pub fn zone_file(&self, tz: &Timezone) -> Result<PathBuf, Invalid> {
        let unknown = || Invalid::TimezoneUnknown(tz.to_string());
        let root = fs::canonicalize(&self.zoneinfo).map_err(|_| unknown())?;
        let file = fs::canonicalize(root.join(tz.as_str())).map_err(|_| unknown())?;
        if !file.starts_with(&root) || !fs::metadata(&file).map(|m| m.is_file()).unwrap_or(false) {
            return Err(unknown());
        }
        let mut magic = [0u8; 4];
        let ok = fs::File::open(&file).and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic)).is_ok();
        if !ok || &magic != b"TZif" {
            return Err(unknown());
        }
        Ok(file)
    }

    /// Persist the zone and point `localtime` at its file (a symlink swapped atomically).
    pub fn set_timezone(&self, tz: &Timezone, file: &Path) -> Result<()> {
        let link = self.dir.join(LOCALTIME);
        let tmp = self.dir.join(".localtime.tmp");
        remove_if_exists(&tmp)?;
        std::os::unix::fs::symlink(file, &tmp)?;
        fs::rename(&tmp, &link)?;
        write_atomic(&self.dir.join(TIMEZONE), tz.as_str().as_bytes())
    }

    /// The data-partition marker: a reboot then wipes everything (see [`factory_reset_at_boot`]).
    pub fn mark_factory_reset(&self) -> Result<()> {
        write_atomic(&self.dir.join(RESET_MARKER), b"requested\n")
    }
}

fn read_valid<T>(path: &Path, parse: fn(&str) -> Result<T, Invalid>) -> Option<T> {
    let text = fs::read_to_string(path).ok()?;
    parse(text.trim()).ok()
}

/// Write, fsync, rename over, fsync the directory: a power cut leaves the old or the new file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().context("no parent directory")?;
    let name = path.file_name().context("no file name")?.to_string_lossy();
    let tmp = dir.join(format!(".{name}.tmp"));
    remove_if_exists(&tmp)?;
    let mut f = fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    fs::rename(&tmp, path)?;
    fs::File::open(dir)?.sync_all()?;
    Ok(())
}

/// [`write_atomic`], readable by everyone: for files other daemons read as their own users
/// (systemd-networkd's .network files).
pub fn write_atomic_public(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic(path, bytes)?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o644))?;
    Ok(())
}

fn remove_if_exists(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
        _ => Ok(()),
    }
}

/// Run early at boot, before the daemon and the helper: if either marker exists, empty
/// `DATA/spot` and `DATA/system`, then remove the boot marker. Returns whether it wiped.
///
/// Never follows a symlink: entries are removed as what they are (std's `remove_dir_all`
/// does not follow links either), and the two directories must be real directories on
/// the data partition. The data marker lives inside `system`, so it goes with the wipe;
/// the boot marker goes last, so a power cut midway wipes again at the next boot.
pub fn factory_reset_at_boot(data: &Path, state: &Path, boot: &Path) -> Result<bool> {
    let boot_marker = boot.join(BOOT_RESET_MARKER);
    let asked = state.join(RESET_MARKER).exists() || boot_marker.exists() || boot_marker_any_case(boot);
    if !asked {
        return Ok(false);
    }
    for dir in [data.join("spot"), state.to_owned()] {
        wipe_contents(data, &dir)?;
    }
    for entry in fs::read_dir(boot).into_iter().flatten().flatten() {
        if entry.file_name().to_string_lossy().eq_ignore_ascii_case(BOOT_RESET_MARKER) {
            fs::remove_file(entry.path())?;
        }
    }
    Ok(true)
}

/// FAT is case-insensitive, and people type names as they like.
fn boot_marker_any_case(boot: &Path) -> bool {
    fs::read_dir(boot)
        .into_iter()
        .flatten()
        .flatten()
        .any(|e| e.file_name().to_string_lossy().eq_ignore_ascii_case(BOOT_RESET_MARKER))
}

fn wipe_contents(data: &Path, dir: &Path) -> Result<()> {
    let meta = match fs::symlink_metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        m => m?,
    };
    if !meta.is_dir() {
        // A link (or file) where a directory belongs: remove the link itself, not its target.
        fs::remove_file(dir)?;
        return Ok(());
    }
    let real = fs::canonicalize(dir)?;
    if !real.starts_with(fs::canonicalize(data)?) {
        bail!("{} is not on the data partition", dir.display());
    }
    for entry in fs::read_dir(&real)? {
        let path = entry?.path();
        if fs::symlink_metadata(&path)?.is_dir() {
            fs::remove_dir_all(&path)?;
        } else {
            fs::remove_file(&path)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn factory_reset_wipes_inside_data_only_and_never_follows_links() {
        let t = tempfile::tempdir().expect("tmp");
        let (data, boot, outside) = (t.path().join("data"), t.path().join("boot"), t.path().join("outside"));
        for d in [data.join("spot/files"), data.join("system"), boot.clone(), outside.clone()] {
            fs::create_dir_all(d).expect("mkdir");
        }
        fs::write(outside.join("precious"), b"keep").expect("w");
        fs::write(data.join("spot/spot.db"), b"db").expect("w");
        fs::write(data.join("spot/files/a"), b"a").expect("w");
        std::os::unix::fs::symlink(&outside, data.join("spot/evil-dir")).expect("ln");
        std::os::unix::fs::symlink(outside.join("precious"), data.join("spot/files/evil-file")).expect("ln");
        fs::write(data.join("system/wifi.json"), b"{}").expect("w");
        fs::write(data.join("lost+found-like"), b"stays").expect("w");
        let state = data.join("system");

        assert!(!factory_reset_at_boot(&data, &state, &boot).expect("no marker"));
        assert!(data.join("spot/spot.db").exists());

        fs::write(boot.join("SPOT-FACTORY-RESET"), b"").expect("w");
        assert!(factory_reset_at_boot(&data, &state, &boot).expect("wipe"));
        assert_eq!(fs::read_dir(data.join("spot")).expect("dir").count(), 0);
        assert_eq!(fs::read_dir(&state).expect("dir").count(), 0);
        assert_eq!(fs::read(outside.join("precious")).expect("kept"), b"keep");
        assert!(data.join("lost+found-like").exists(), "only spot/ and system/ are wiped");
        assert_eq!(fs::read_dir(&boot).expect("dir").count(), 0, "marker removed");
        assert!(!factory_reset_at_boot(&data, &state, &boot).expect("once"));

        // data/spot replaced by a link out of the data partition: the link goes, not the target.
        fs::remove_dir(data.join("spot")).expect("rm");
        std::os::unix::fs::symlink(&outside, data.join("spot")).expect("ln");
        Store::open(&state, t.path()).expect("store").mark_factory_reset().expect("mark");
        assert!(factory_reset_at_boot(&data, &state, &boot).expect("wipe"));
        assert!(outside.join("precious").exists());
        assert!(!data.join("spot").exists());
    }

    #[test]
    fn time_zones_must_be_zone_files_inside_zoneinfo() {
        let t = tempfile::tempdir().expect("tmp");
        let zi = t.path().join("zoneinfo");
        fs::create_dir_all(zi.join("Europe")).expect("mkdir");
        fs::write(zi.join("Europe/Berlin"), b"TZif2...").expect("w");
        fs::write(zi.join("zonetab"), b"# not a zone").expect("w");
        fs::write(t.path().join("secret"), b"TZif but outside").expect("w");
        std::os::unix::fs::symlink("../secret", zi.join("Escape")).expect("ln");
        std::os::unix::fs::symlink("Europe/Berlin", zi.join("CET")).expect("ln");
        let store = Store::open(&t.path().join("state"), &zi).expect("store");
        let tz = |s: &str| Timezone::new(s).expect("shape");
        assert!(store.zone_file(&tz("Europe/Berlin")).is_ok());
        assert!(store.zone_file(&tz("CET")).is_ok(), "links inside are fine");
        for bad in ["Escape", "zonetab", "Europe", "Mars/Base"] {
            assert_eq!(store.zone_file(&tz(bad)), Err(Invalid::TimezoneUnknown(bad.into())), "{bad}");
        }
        let file = store.zone_file(&tz("Europe/Berlin")).expect("file");
        store.set_timezone(&tz("Europe/Berlin"), &file).expect("set");
        assert_eq!(fs::read_link(store.dir().join(LOCALTIME)).expect("link"), file);
        assert_eq!(store.timezone(), Some(tz("Europe/Berlin")));
        let mode = fs::metadata(store.dir().join(TIMEZONE)).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
