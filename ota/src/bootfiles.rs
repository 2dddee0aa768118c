//! The boot partition's updatable files (U-Boot, device trees, overlays) and the one switch that
//! says which set of them the Raspberry Pi firmware loads.
//!
//! The boot partition (FAT) holds the Pi firmware (`bootcode.bin`, `start*.elf`, `fixup*.dat`)
//! and `config.txt` at its root — never written by an update — plus `boot.scr`, U-Boot's stable
//! A/B script (its per-slot part comes from the root slot, so bundles never carry it). The
//! image's `config.txt` ends with `[all]` and `include spot/fw.txt`.
//!
//! **`spot/fw.txt` is the one switch.** It is exactly one sector (512 bytes), only ever
//! rewritten in place with one write and an fsync — never renamed, truncated or grown — and
//! holds either
//!   * the factory content: only `#` comment lines and blank lines (the image's is the line
//!     `# Spot box boot files: the partition's root (as the image was built)` padded with `\n`
//!     to 512 bytes): the firmware loads `u-boot.bin`, `*.dtb` and `overlays/` from the root; or
//!   * a comment line, `os_prefix=spot/fw/<ID>/`, and `\n` padding: the firmware prefixes the
//!     `kernel=` file (U-Boot), the device trees and the overlays with that directory.
//!
//! Newline padding keeps the file valid `config.txt` syntax (blank lines are ignored).
//!
//! **A set is whole.** `os_prefix` moves U-Boot, the DTBs and the overlays together, so a set
//! directory holds every file of the set: what a bundle brings (`boot/<name>` images) over
//! what the committed set has (copied from the root or from the committed set's directory).
//! `ID` is the first 16 hex digits of the SHA-256 of the set's list, `spot-set.txt` in the set's
//! directory: one line `<sha256>  <name>` per file, sorted by name (`sha256sum -c` reads it).
//! The list is written last; a set is whole when its list hashes to its ID and every file in it
//! hashes as listed (`check_set`).
//!
//! **Order of an install** (the helper, through `install::Extra::before_stage`): the root slot
//! is written and read back whole; then (1) every file of the new set goes under
//! `spot/fw/<ID>/` by a temporary name, fsync, read back and hash-checked, rename, directory
//! fsync, and the list last; (2) the helper records `Record` (current, previous, the slot and
//! version it belongs to) on the data partition; (3) the switch is rewritten; then the slot is
//! staged. A trial given up (by the lifecycle or by the boot script) switches back to the
//! previous set (`decide`); a commit deletes every other set; a set half written by a power cut
//! is deleted by the next install.
//!
//! **The one modelling assumption** (what the power-cut tests simulate): a 512-byte sector
//! write is all-or-nothing on the card; anything larger can tear on any sector boundary; file
//! data and directory entries not fsynced may be lost. So a cut leaves the switch naming the set
//! before or the set after, and both are whole, because nothing names a set before it is.
//!
//! A known firmware limit: prefix plus file name must stay short (about 55 bytes, see
//! raspberrypi/firmware#1720), hence the short prefix (`spot/fw/` + 16 hex digits + `/`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::bootstate::{BootState, Slot, SlotState};
use crate::error::{fail, Error, Kind, Result};

/// The switch, relative to the boot partition.
pub const SWITCH: &str = "spot/fw.txt";
/// Where the sets live: `spot/fw/<ID>/`.
pub const SETS: &str = "spot/fw";
/// A set's list of files, in its directory.
pub const LIST: &str = "spot-set.txt";
/// One sector: the switch's size, and the unit a write tears on.
pub const SECTOR: usize = 512;
/// The first line of the factory switch the image builder writes.
pub const FACTORY_LINE: &str = "# Spot box boot files: the partition's root (as the image was built)";
/// No boot file is larger (U-Boot is under 1 MiB, a device tree under 100 KiB).
pub const MAX_FILE: u64 = 64 << 20;
/// The line `config.txt` must end with for the switch to mean anything.
pub const INCLUDE: &str = "include spot/fw.txt";

/// A set's ID: 16 lower-case hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SetId(String);

impl SetId {
    pub fn parse(s: &str) -> Option<SetId> {
        (s.len() == 16 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))).then(|| SetId(s.into()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// `spot/fw/<ID>`
    pub fn dir(&self) -> String {
        format!("{SETS}/{}", self.0)
    }
}

/// Which set the firmware loads: the partition's root (the image's), or `spot/fw/<ID>/`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Which {
    Root,
    Set(SetId),
}

impl Which {
    /// Where the set's file `name` is on the partition.
    pub fn file(&self, name: &str) -> String {
        match self {
            Which::Root => name.to_string(),
            Which::Set(id) => format!("{}/{name}", id.dir()),
        }
    }
}

impl std::fmt::Display for Which {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Which::Root => f.write_str("the boot partition's root"),
            Which::Set(id) => write!(f, "{}/", id.dir()),
        }
    }
}

impl Serialize for Which {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(match self {
            Which::Root => "root",
            Which::Set(id) => id.as_str(),
        })
    }
}
impl<'de> Deserialize<'de> for Which {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        match s.as_str() {
            "root" => Ok(Which::Root),
            _ => SetId::parse(&s).map(Which::Set).ok_or_else(|| serde::de::Error::custom("a set is \"root\" or 16 hex digits")),
        }
    }
}

/// A set: file name (relative to the set's directory) → SHA-256.
pub type Set = BTreeMap<String, [u8; 32]>;

// ---------------------------------------------------------------------------------------------
// Names.

/// The boot files a bundle may bring (`boot/<name>`, given without `boot/`): `u-boot.bin`,
/// `*.dtb`, `overlays/*.dtbo`, `overlays/README`, `overlays/overlay_map.dtb` (the firmware's
/// overlay name map, which it also looks for under the prefix). Everything else is refused:
/// the firmware's own files and `config.txt`/`cmdline.txt` are never replaced by an update,
/// `boot.scr` is stable, and paths are plain lower-case names (FAT does not tell case apart).
pub fn check_name(name: &str) -> Result<()> {
    let refuse = |why: &str| fail(Kind::BootFileRefused, format!("boot file {name:?}: {why}"));
    if name.is_empty() || name.len() > 64 {
        return refuse("a name is 1 to 64 characters");
    }
    if name.starts_with('/') || name.split('/').any(|p| p.is_empty() || p == "." || p == "..") {
        return refuse("not a plain relative path on the boot partition");
    }
    if !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-/".contains(&b)) && name != "overlays/README" {
        return refuse("only lower-case letters, digits, '.', '_' and '-' (the boot partition is FAT, where case does not tell names apart)");
    }
    let firmware = |f: &str| {
        ["config.txt", "cmdline.txt", "bootcode.bin", "boot.scr", "spot"].contains(&f)
            || (f.starts_with("start") && f.ends_with(".elf"))
            || (f.starts_with("fixup") && f.ends_with(".dat"))
    };
    match name.split_once('/') {
        None if name == "u-boot.bin" || (name.len() > 4 && name.ends_with(".dtb")) => Ok(()),
        None if firmware(name) => {
            refuse("belongs to the Raspberry Pi firmware or to the box's boot setup and is never replaced by an update")
        }
        Some(("overlays", f))
            if !f.contains('/') && ((f.len() > 5 && f.ends_with(".dtbo")) || f == "README" || f == "overlay_map.dtb") =>
        {
            Ok(())
        }
        _ => refuse("an update brings only u-boot.bin, *.dtb, overlays/*.dtbo and overlays/README"),
    }
}

// ---------------------------------------------------------------------------------------------
// The switch file.

/// The switch's 512 bytes for `w`.
pub fn encode_switch(w: &Which) -> [u8; SECTOR] {
    let text = match w {
        Which::Root => format!("{FACTORY_LINE}\n"),
        Which::Set(id) => format!(
            "# Spot box boot files: {SETS}/{0}/ (set by the updater; one sector, rewritten in place)\nos_prefix={SETS}/{0}/\n",
            id.as_str()
        ),
    };
    let mut out = [b'\n'; SECTOR];
    out[..text.len()].copy_from_slice(text.as_bytes());
    out
}

/// What the switch says; `Err` (in words) for anything but 512 bytes of comments, blank lines
/// and at most one `os_prefix=spot/fw/<ID>/`.
pub fn decode_switch(bytes: &[u8]) -> std::result::Result<Which, String> {
    if bytes.len() != SECTOR {
        return Err(format!("{SWITCH} is {} bytes, not {SECTOR}", bytes.len()));
    }
    if !bytes.iter().all(|&b| b == b'\n' || b == b'\r' || b == b'\t' || (0x20..0x7f).contains(&b)) {
        return Err(format!("{SWITCH} holds bytes that are not text"));
    }
    let text = std::str::from_utf8(bytes).map_err(|_| format!("{SWITCH} is not text"))?;
    let mut which = Which::Root;
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let id = line
            .strip_prefix("os_prefix=")
            .and_then(|p| p.strip_prefix(SETS))
            .and_then(|p| p.strip_prefix('/'))
            .and_then(|p| p.strip_suffix('/'))
            .and_then(SetId::parse);
        match id {
            Some(id) if which == Which::Root => which = Which::Set(id),
            _ => return Err(format!("{SWITCH} has a line that is not the updater's: {line:?}")),
        }
    }
    Ok(which)
}

// ---------------------------------------------------------------------------------------------
// The partition.

/// The boot partition's files, by path relative to its root (`/`-separated). On a box the
/// mounted FAT (`DirFs`); in tests anything, e.g. a disk that loses power.
pub trait BootFs {
    /// The file's bytes; `Ok(None)` when it does not exist.
    fn read(&mut self, path: &str) -> std::io::Result<Option<Vec<u8>>>;
    /// Creates or replaces the file `path` (and its directories) with `bytes`, fsynced before
    /// it returns. Not atomic: callers write temporary names.
    fn write_new(&mut self, path: &str, bytes: &[u8]) -> std::io::Result<()>;
    /// Renames a file within its directory (replacing `to`).
    fn rename(&mut self, from: &str, to: &str) -> std::io::Result<()>;
    /// Removes a file, or a directory and everything in it; absent is fine.
    fn remove(&mut self, path: &str) -> std::io::Result<()>;
    /// The entries of directory `dir` (`""` is the root): file names, and directory names with
    /// a trailing `/`. Empty when it does not exist.
    fn list(&mut self, dir: &str) -> std::io::Result<Vec<String>>;
    /// Makes the entries of directory `dir` durable (renames, creations, removals in it).
    fn sync_dir(&mut self, dir: &str) -> std::io::Result<()>;
    /// Rewrites an existing file of `bytes.len()` bytes in place: one write, one fsync.
    fn rewrite(&mut self, path: &str, bytes: &[u8]) -> std::io::Result<()>;
}

/// Rewrites `path` in place (created if missing), then fsyncs it and its directory. Shared by
/// the boot state's copies and the switch: on FAT a rename is two directory writes, while an
/// in-place rewrite of a file of the same size touches only its own clusters.
pub(crate) fn write_in_place(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut f = std::fs::OpenOptions::new().create(true).write(true).truncate(false).open(path)?;
    f.write_all(bytes)?;
    f.set_len(bytes.len() as u64)?;
    f.sync_all()?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// The mounted boot partition (Linux vfat), or a test's temp dir.
pub struct DirFs(pub PathBuf);

impl DirFs {
    fn at(&self, rel: &str) -> PathBuf {
        if rel.is_empty() {
            self.0.clone()
        } else {
            self.0.join(rel)
        }
    }
}

fn absent_ok<T: Default>(r: std::io::Result<T>) -> std::io::Result<T> {
    match r {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(T::default()),
        r => r,
    }
}

impl BootFs for DirFs {
    fn read(&mut self, path: &str) -> std::io::Result<Option<Vec<u8>>> {
        absent_ok(std::fs::read(self.at(path)).map(Some))
    }
    fn write_new(&mut self, path: &str, bytes: &[u8]) -> std::io::Result<()> {
        use std::io::Write;
        let p = self.at(path);
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d)?;
        }
        let mut f = std::fs::File::create(&p)?;
        f.write_all(bytes)?;
        f.sync_all()
    }
    fn rename(&mut self, from: &str, to: &str) -> std::io::Result<()> {
        std::fs::rename(self.at(from), self.at(to))
    }
    fn remove(&mut self, path: &str) -> std::io::Result<()> {
        let p = self.at(path);
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.is_dir() => std::fs::remove_dir_all(&p),
            Ok(_) => std::fs::remove_file(&p),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }
    fn list(&mut self, dir: &str) -> std::io::Result<Vec<String>> {
        let mut out = vec![];
        for e in absent_ok(std::fs::read_dir(self.at(dir)).map(Some))?.into_iter().flatten() {
            let e = e?;
            let name = e.file_name().to_string_lossy().into_owned();
            out.push(if e.file_type()?.is_dir() { format!("{name}/") } else { name });
        }
        out.sort();
        Ok(out)
    }
    fn sync_dir(&mut self, dir: &str) -> std::io::Result<()> {
        absent_ok(std::fs::File::open(self.at(dir)).and_then(|f| f.sync_all()))
    }
    fn rewrite(&mut self, path: &str, bytes: &[u8]) -> std::io::Result<()> {
        write_in_place(&self.at(path), bytes)
    }
}

// ---------------------------------------------------------------------------------------------
// Sets.

fn io(what: String) -> impl Fn(std::io::Error) -> Error {
    move |e| Error::new(Kind::Io, format!("{what}: {e}"))
}

fn sha(b: &[u8]) -> [u8; 32] {
    Sha256::digest(b).into()
}

/// The list file's text: `<sha256>  <name>` lines, sorted by name.
pub fn list_text(set: &Set) -> String {
    set.iter().map(|(n, h)| format!("{}  {n}\n", hex::encode(h))).collect()
}

pub fn set_id(set: &Set) -> SetId {
    SetId(hex::encode(Sha256::digest(list_text(set).as_bytes()))[..16].to_string())
}

fn parse_list(bytes: &[u8]) -> Option<Set> {
    let mut set = Set::new();
    for line in std::str::from_utf8(bytes).ok()?.lines() {
        let (h, n) = line.split_once("  ")?;
        let h: [u8; 32] = hex::decode(h).ok()?.try_into().ok()?;
        check_name(n).ok()?;
        set.insert(n.to_string(), h);
    }
    Some(set)
}

/// What a set needs for the firmware to boot from it at all: U-Boot and a device tree.
fn check_bootable(set: &Set) -> std::result::Result<(), String> {
    if !set.contains_key("u-boot.bin") {
        return Err("it has no u-boot.bin".into());
    }
    if !set.keys().any(|n| !n.contains('/') && n.ends_with(".dtb")) {
        return Err("it has no device tree (*.dtb)".into());
    }
    Ok(())
}

/// The set `spot/fw/<id>/` if it is whole: its list hashes to `id`, and every file in the list
/// is there with its hash. `Err` says why not, in words.
pub fn check_set(fs: &mut dyn BootFs, id: &SetId) -> Result<std::result::Result<Set, String>> {
    let dir = id.dir();
    let Some(list) = fs.read(&format!("{dir}/{LIST}")).map_err(io(format!("reading {dir}/{LIST}")))? else {
        return Ok(Err(format!("{dir}/ has no {LIST} (missing, or not written to the end)")));
    };
    let Some(set) = parse_list(&list).filter(|s| set_id(s) == *id) else {
        return Ok(Err(format!("{dir}/{LIST} is not the list of set {}", id.as_str())));
    };
    for (name, hash) in &set {
        match fs.read(&format!("{dir}/{name}")).map_err(io(format!("reading {dir}/{name}")))? {
            None => return Ok(Err(format!("{dir}/{name} is missing"))),
            Some(b) if sha(&b) != *hash => return Ok(Err(format!("{dir}/{name} is damaged"))),
            Some(_) => {}
        }
    }
    if let Err(e) = check_bootable(&set) {
        return Ok(Err(format!("{dir}/: {e}")));
    }
    Ok(Ok(set))
}

fn is_set_file(name: &str) -> bool {
    check_name(name).is_ok()
}

/// The files of `which`: the root's (U-Boot, device trees, overlays: what the firmware loads
/// without a prefix), hashed as they are, or a set's, checked whole.
pub fn current_set(fs: &mut dyn BootFs, which: &Which) -> Result<Set> {
    match which {
        Which::Set(id) => check_set(fs, id)?.map_err(|e| Error::new(Kind::ImageMismatch, format!("the boot files in use are not whole: {e}"))),
        Which::Root => {
            let mut set = Set::new();
            let mut names: Vec<String> = fs.list("").map_err(io("listing the boot partition".into()))?;
            names.extend(fs.list("overlays").map_err(io("listing overlays/".into()))?.into_iter().map(|n| format!("overlays/{n}")));
            for name in names.into_iter().filter(|n| !n.ends_with('/') && is_set_file(n)) {
                if let Some(b) = fs.read(&name).map_err(io(format!("reading {name}")))? {
                    set.insert(name, sha(&b));
                }
            }
            Ok(set)
        }
    }
}

/// What the switch names now (a missing switch is the root: `config.txt` includes nothing).
pub fn read_switch(fs: &mut dyn BootFs) -> Result<std::result::Result<Which, String>> {
    Ok(match fs.read(SWITCH).map_err(io(format!("reading {SWITCH}")))? {
        None => Ok(Which::Root),
        Some(b) => decode_switch(&b),
    })
}

/// Refuses boot files on a boot partition whose `config.txt` does not include the switch (an
/// image from before it): the new files would never be loaded.
fn check_switch_in_use(fs: &mut dyn BootFs) -> Result<()> {
    let config = fs.read("config.txt").map_err(io("reading config.txt".into()))?.unwrap_or_default();
    let included = String::from_utf8_lossy(&config).lines().any(|l| l.trim() == INCLUDE);
    let sw = fs.read(SWITCH).map_err(io(format!("reading {SWITCH}")))?;
    if !included || sw.as_ref().map(Vec::len) != Some(SECTOR) {
        return fail(
            Kind::BootFileRefused,
            format!("this update brings boot files, and this box's boot partition has no {SWITCH} switch ({INCLUDE} in config.txt): install a newer image first"),
        );
    }
    Ok(())
}

/// A new boot file of a bundle: its name (without `boot/`) and SHA-256.
pub type NewFile = (String, [u8; 32]);

/// Step (1): writes the set made of `base`'s files with `new` over them under
/// `spot/fw/<ID>/`, and returns it (`base` itself when nothing changes). `read_new(name)` gives
/// a new file's bytes (checked against its hash). Sets other than `keep` and the new one are
/// deleted first (a set half written by an earlier cut, an old one). Nothing is switched.
pub fn write_set(
    fs: &mut dyn BootFs,
    base: &Which,
    keep: &[Which],
    new: &[NewFile],
    read_new: &mut dyn FnMut(&str) -> Result<Vec<u8>>,
) -> Result<(Which, Set)> {
    for (name, _) in new {
        check_name(name)?;
    }
    check_switch_in_use(fs)?;
    // Whatever the switch names now is never deleted, whatever the caller keeps.
    let live = read_switch(fs)?.ok();
    let base_set = current_set(fs, base)?;
    let mut set = base_set.clone();
    let mut from_new = std::collections::HashSet::new();
    for (name, hash) in new {
        set.insert(name.clone(), *hash);
        from_new.insert(name.as_str());
    }
    if set == base_set {
        return Ok((base.clone(), set));
    }
    check_bootable(&set).map_err(|e| Error::new(Kind::BootFileRefused, format!("the new boot files would not boot: {e}")))?;
    let id = set_id(&set);
    let which = Which::Set(id.clone());
    for entry in fs.list(SETS).map_err(io(format!("listing {SETS}")))? {
        let stale = match entry.strip_suffix('/').and_then(SetId::parse) {
            Some(d) => d != id && !keep.contains(&Which::Set(d.clone())) && live != Some(Which::Set(d)),
            None => true,
        };
        if stale {
            fs.remove(&format!("{SETS}/{}", entry.trim_end_matches('/'))).map_err(io(format!("deleting {SETS}/{entry}")))?;
        }
    }
    fs.sync_dir(SETS).map_err(io(format!("syncing {SETS}")))?;
    if check_set(fs, &id)?.is_ok() {
        // Written whole before (a resumed install, or the same files again).
        return Ok((which, set));
    }
    let dir = id.dir();
    for (name, hash) in &set {
        let path = format!("{dir}/{name}");
        if fs.read(&path).map_err(io(format!("reading {path}")))?.is_some_and(|b| sha(&b) == *hash) {
            continue;
        }
        let bytes = if from_new.contains(name.as_str()) {
            let b = read_new(name)?;
            if sha(&b) != *hash {
                return fail(Kind::ImageMismatch, format!("the boot file {name} is not the one the manifest lists"));
            }
            b
        } else {
            let from = base.file(name);
            let b = fs.read(&from).map_err(io(format!("reading {from}")))?.unwrap_or_default();
            if sha(&b) != *hash {
                return fail(Kind::ImageMismatch, format!("the boot file {from} changed while it was copied"));
            }
            b
        };
        put(fs, &path, &bytes)?;
    }
    put(fs, &format!("{dir}/{LIST}"), list_text(&set).as_bytes())?;
    check_set(fs, &id)?.map_err(|e| Error::new(Kind::ImageMismatch, format!("the new boot files read back are not whole: {e}")))?;
    Ok((which, set))
}

/// One file by a temporary name: write + fsync, read back and compare, rename, directory fsync.
fn put(fs: &mut dyn BootFs, path: &str, bytes: &[u8]) -> Result<()> {
    let tmp = format!("{path}.tmp");
    fs.write_new(&tmp, bytes).map_err(io(format!("writing {tmp}")))?;
    let back = fs.read(&tmp).map_err(io(format!("reading {tmp} back")))?;
    if back.as_deref() != Some(bytes) {
        return fail(Kind::ImageMismatch, format!("{tmp} read back is not what was written: the card may be failing"));
    }
    fs.rename(&tmp, path).map_err(io(format!("renaming {tmp}")))?;
    let dir = path.rsplit_once('/').map_or("", |(d, _)| d);
    fs.sync_dir(dir).map_err(io(format!("syncing {dir}")))
}

/// Step (3), the switch: `spot/fw.txt` names `to` (checked whole first), in one in-place
/// sector write. A switch that is not one sector (hand-damaged) is replaced by a temporary
/// name and a rename instead.
pub fn switch(fs: &mut dyn BootFs, to: &Which) -> Result<()> {
    if let Which::Set(id) = to {
        check_set(fs, id)?.map_err(|e| Error::new(Kind::ImageMismatch, format!("not switching to {to}: {e}")))?;
    }
    let bytes = encode_switch(to);
    match fs.read(SWITCH).map_err(io(format!("reading {SWITCH}")))? {
        Some(cur) if cur[..] == bytes[..] => Ok(()),
        Some(cur) if cur.len() == SECTOR => fs.rewrite(SWITCH, &bytes).map_err(io(format!("writing {SWITCH}"))),
        _ => put(fs, SWITCH, &bytes),
    }
}

/// Deletes every set but `keep` (after a commit).
pub fn prune(fs: &mut dyn BootFs, keep: &Which) -> Result<()> {
    for entry in fs.list(SETS).map_err(io(format!("listing {SETS}")))? {
        let name = entry.trim_end_matches('/');
        if !matches!(keep, Which::Set(id) if id.as_str() == name) {
            fs.remove(&format!("{SETS}/{name}")).map_err(io(format!("deleting {SETS}/{name}")))?;
        }
    }
    fs.sync_dir(SETS).map_err(io(format!("syncing {SETS}")))
}

/// The check at start: the switch must name a whole set (or the root). When it does not
/// (hand-damaged: garbage, or a directory that is missing or incomplete), the first whole set
/// of `candidates` (the root always counts) is switched to; returns the problem in words and
/// the set switched to.
pub fn mend(fs: &mut dyn BootFs, candidates: &[Which]) -> Result<Option<(String, Which)>> {
    let problem = match read_switch(fs)? {
        Ok(Which::Root) => return Ok(None),
        Ok(Which::Set(id)) => match check_set(fs, &id)? {
            Ok(_) => return Ok(None),
            Err(e) => format!("{SWITCH} names {}/, which is not whole: {e}", id.dir()),
        },
        Err(e) => e,
    };
    for c in candidates.iter().chain(std::iter::once(&Which::Root)) {
        let whole = match c {
            Which::Root => true,
            Which::Set(id) => check_set(fs, id)?.is_ok(),
        };
        if whole {
            switch(fs, c)?;
            return Ok(Some((problem, c.clone())));
        }
    }
    unreachable!("the root is always a candidate")
}

// ---------------------------------------------------------------------------------------------
// The helper's record and its decision.

/// The slot and version a set was installed with, until that slot commits or is given up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    pub slot: Slot,
    pub version: String,
}

/// Step (2): what the helper keeps on the data partition (`ota-bootfiles.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// The set the switch names (or is about to).
    pub current: Which,
    /// The set to switch back to if `pending`'s slot is given up.
    pub previous: Which,
    pub pending: Option<Pending>,
}

impl Record {
    pub fn factory() -> Self {
        Record { current: Which::Root, previous: Which::Root, pending: None }
    }
    /// The set that belongs to the committed slot: what a new set is built from.
    pub fn committed(&self) -> &Which {
        if self.pending.is_some() {
            &self.previous
        } else {
            &self.current
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Nothing to do (no set pending, or its slot is still staged or on trial).
    Keep,
    /// The slot committed: the pending set stays, every other set goes.
    Committed,
    /// The slot was given up (or never staged: a cut between switch and stage): back to
    /// `previous`.
    SwitchBack,
}

/// What the pending set's slot became, from the boot state.
pub fn decide(record: &Record, boot: &BootState) -> Next {
    let Some(p) = &record.pending else { return Next::Keep };
    let i = p.slot.index();
    if matches!(boot.trial, Some((s, _)) if s == p.slot) {
        Next::Keep
    } else if boot.primary == p.slot && boot.slots[i] == SlotState::Good && boot.versions[i] == p.version {
        Next::Committed
    } else {
        Next::SwitchBack
    }
}

/// Carries out `decide`: returns the record to keep (the caller stores it), or `None` when
/// nothing changed.
pub fn settle(fs: &mut dyn BootFs, record: &Record, boot: &BootState) -> Result<Option<Record>> {
    match decide(record, boot) {
        Next::Keep => Ok(None),
        Next::Committed => {
            prune(fs, &record.current)?;
            Ok(Some(Record { current: record.current.clone(), previous: record.current.clone(), pending: None }))
        }
        Next::SwitchBack => {
            switch(fs, &record.previous)?;
            prune(fs, &record.previous)?;
            Ok(Some(Record { current: record.previous.clone(), previous: record.previous.clone(), pending: None }))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The helper's IO: the record's file, and the install step.

/// The record's file name in the helper's state directory (the data partition).
pub const RECORD: &str = "ota-bootfiles.json";

/// The record in `path`; the factory record when there is none (or it does not parse).
pub fn load_record(path: &Path) -> Record {
    std::fs::read(path).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_else(Record::factory)
}

/// Replaces the record atomically: a temporary name, fsync, rename, directory fsync.
pub fn save_record(path: &Path, r: &Record) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(&serde_json::to_vec_pretty(r).map_err(std::io::Error::other)?)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// `install::Extra` for a bundle's boot files: each `boot/<name>` image is assembled into a
/// file in `tmp` (on the data partition; kept for a resumed install), and `before_stage` runs
/// steps (1)–(3): the new set, the record, the switch. A bundle without boot files changes
/// nothing, unless a set of an earlier staged (never booted) install is pending: then the
/// switch goes back to the committed set, as the new slot expects.
pub struct BootStage<'a> {
    fs: &'a mut dyn BootFs,
    record: PathBuf,
    pending: Pending,
    /// (image index, name without `boot/`, SHA-256, temporary file)
    files: Vec<(usize, String, [u8; 32], std::fs::File)>,
}

impl<'a> BootStage<'a> {
    pub fn new(fs: &'a mut dyn BootFs, v: &crate::manifest::Verified, tmp: &Path, record: PathBuf, slot: Slot) -> Result<Self> {
        let mut files = vec![];
        for (i, img) in v.images.iter().enumerate() {
            let Some(name) = img.name.strip_prefix("boot/") else { continue };
            check_name(name)?;
            std::fs::create_dir_all(tmp).map_err(io(format!("creating {}", tmp.display())))?;
            let path = tmp.join(format!("{i}.part"));
            // Not truncated: a resumed install finds what it wrote before.
            let f = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .read(true)
                .write(true)
                .open(&path)
                .map_err(io(format!("opening {}", path.display())))?;
            f.set_len(img.size).map_err(io(format!("sizing {}", path.display())))?;
            files.push((i, name.to_string(), img.sha256, f));
        }
        Ok(BootStage { fs, record, pending: Pending { slot, version: v.manifest.version.to_string() }, files })
    }
}

impl crate::install::Extra for BootStage<'_> {
    fn device(&mut self, index: usize) -> Option<&mut dyn crate::install::Device> {
        self.files.iter_mut().find(|f| f.0 == index).map(|f| &mut f.3 as &mut dyn crate::install::Device)
    }

    fn before_stage(&mut self) -> Result<()> {
        let rec = load_record(&self.record);
        let save = |r: &Record| save_record(&self.record, r).map_err(io(format!("saving {}", self.record.display())));
        if self.files.is_empty() {
            if rec.pending.is_some() {
                switch(self.fs, &rec.previous)?;
                save(&Record { current: rec.previous.clone(), previous: rec.previous.clone(), pending: None })?;
            }
            return Ok(());
        }
        let base = rec.committed().clone();
        let new: Vec<NewFile> = self.files.iter().map(|f| (f.1.clone(), f.2)).collect();
        let files = &mut self.files;
        let mut read_new = |name: &str| -> Result<Vec<u8>> {
            use std::io::{Read, Seek};
            let f = files.iter_mut().find(|f| f.1 == name).ok_or_else(|| Error::new(Kind::Malformed, format!("no boot file {name}")))?;
            let mut b = vec![];
            f.3.seek(std::io::SeekFrom::Start(0)).and_then(|_| f.3.read_to_end(&mut b)).map_err(io(format!("reading boot file {name}")))?;
            Ok(b)
        };
        let (which, _) = write_set(self.fs, &base, std::slice::from_ref(&base), &new, &mut read_new)?;
        save(&Record { current: which.clone(), previous: base, pending: Some(self.pending.clone()) })?;
        switch(self.fs, &which)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_name_policy_takes_u_boot_device_trees_and_overlays_only() {
        for ok in ["u-boot.bin", "bcm2711-rpi-4-b.dtb", "overlays/vc4-kms-v3d.dtbo", "overlays/README", "overlays/overlay_map.dtb"] {
            assert_eq!(check_name(ok), Ok(()), "{ok}");
        }
        for bad in [
            "config.txt", "cmdline.txt", "bootcode.bin", "start4.elf", "start_cd.elf", "fixup4x.dat", "boot.scr",
            "../u-boot.bin", "/u-boot.bin", "overlays/../config.txt", "a//b.dtb", "U-BOOT.BIN", "x.dtb\n", "sp ace.dtb",
            "overlays/deep/x.dtbo", "spot/fw.txt", "kernel8.img", ".dtb", "overlays/.dtbo", "", "dtbs/x.dtb",
        ] {
            assert_eq!(check_name(bad).map_err(|e| e.kind), Err(Kind::BootFileRefused), "{bad:?}");
        }
        let e = check_name("config.txt").unwrap_err();
        assert!(e.message.contains("never replaced"), "{e}");
    }

    #[test]
    fn the_switch_is_one_sector_of_config_txt_and_only_ours_decodes() {
        let id = SetId::parse("0123456789abcdef").unwrap();
        for w in [Which::Root, Which::Set(id.clone())] {
            let b = encode_switch(&w);
            assert_eq!(b.len(), SECTOR);
            assert_eq!(decode_switch(&b), Ok(w));
        }
        let factory = encode_switch(&Which::Root);
        assert!(factory.starts_with(format!("{FACTORY_LINE}\n").as_bytes()));
        assert!(factory[FACTORY_LINE.len()..].iter().all(|&b| b == b'\n'));
        assert_eq!(
            std::str::from_utf8(&encode_switch(&Which::Set(id))).unwrap().lines().nth(1),
            Some("os_prefix=spot/fw/0123456789abcdef/")
        );
        // Any file of comments and blank lines is the factory one.
        let mut other = [b'\n'; SECTOR];
        other[..20].copy_from_slice(b"# hand written\n\n  # ");
        assert_eq!(decode_switch(&other), Ok(Which::Root));
        // Garbage, a sector of zeros, other settings, two prefixes, the wrong size: not ours.
        let mut two = [b'\n'; SECTOR];
        let t = b"os_prefix=spot/fw/0123456789abcdef/\nos_prefix=spot/fw/0123456789abcdee/\n";
        two[..t.len()].copy_from_slice(t);
        let mut kernel = [b'\n'; SECTOR];
        kernel[..14].copy_from_slice(b"kernel=evil.bn");
        let mut outside = [b'\n'; SECTOR];
        outside[..20].copy_from_slice(b"os_prefix=../../x/\n\n");
        for bad in [&[0u8; SECTOR][..], &two, &kernel, &outside, &factory[..511], &crate::testdata::noise(SECTOR, 3)] {
            assert!(decode_switch(bad).is_err());
        }
    }

    fn boot_dir() -> (tempfile::TempDir, DirFs) {
        let dir = tempfile::tempdir().unwrap();
        let mut fs = DirFs(dir.path().to_path_buf());
        fs.write_new("config.txt", format!("kernel=u-boot.bin\n[all]\n{INCLUDE}\n").as_bytes()).unwrap();
        fs.write_new(SWITCH, &encode_switch(&Which::Root)).unwrap();
        fs.write_new("u-boot.bin", b"old u-boot").unwrap();
        fs.write_new("bcm2711-rpi-4-b.dtb", b"old dtb").unwrap();
        fs.write_new("overlays/vc4-kms-v3d.dtbo", b"overlay").unwrap();
        fs.write_new("start4.elf", b"firmware").unwrap();
        (dir, fs)
    }

    #[test]
    fn a_new_set_is_whole_and_named_by_the_switch_only_when_switched() {
        let (_d, mut fs) = boot_dir();
        let new = vec![("u-boot.bin".to_string(), sha(b"new u-boot"))];
        let (w, set) = write_set(&mut fs, &Which::Root, &[], &new, &mut |_| Ok(b"new u-boot".to_vec())).unwrap();
        let Which::Set(id) = &w else { panic!("{w:?}") };
        assert_eq!(set.len(), 3, "{set:?}");
        assert_eq!(check_set(&mut fs, id).unwrap(), Ok(set.clone()));
        assert_eq!(fs.read(&format!("{}/bcm2711-rpi-4-b.dtb", id.dir())).unwrap().unwrap(), b"old dtb");
        assert_eq!(read_switch(&mut fs).unwrap(), Ok(Which::Root));
        switch(&mut fs, &w).unwrap();
        assert_eq!(read_switch(&mut fs).unwrap(), Ok(w.clone()));
        assert_eq!(fs.read(SWITCH).unwrap().unwrap().len(), SECTOR);
        // The same files again: the same set, nothing written.
        let (again, _) = write_set(&mut fs, &w, &[], &new, &mut |_| panic!("read")).unwrap();
        assert_eq!(again, w);
        // Back, then pruned.
        switch(&mut fs, &Which::Root).unwrap();
        prune(&mut fs, &Which::Root).unwrap();
        assert_eq!(fs.list(SETS).unwrap(), Vec::<String>::new());
        // A bundle file that is not what it claims is never switched to.
        let e = write_set(&mut fs, &Which::Root, &[], &new, &mut |_| Ok(b"tampered".to_vec())).unwrap_err();
        assert_eq!(e.kind, Kind::ImageMismatch);
        assert_eq!(read_switch(&mut fs).unwrap(), Ok(Which::Root));
    }

    #[test]
    fn an_image_without_the_switch_refuses_boot_files() {
        let (_d, mut fs) = boot_dir();
        fs.write_new("config.txt", b"kernel=u-boot.bin\n").unwrap();
        let new = vec![("u-boot.bin".to_string(), sha(b"x"))];
        let e = write_set(&mut fs, &Which::Root, &[], &new, &mut |_| Ok(b"x".to_vec())).unwrap_err();
        assert_eq!(e.kind, Kind::BootFileRefused, "{e}");
    }

    #[test]
    fn a_hand_damaged_switch_is_reported_and_mended_to_a_whole_set() {
        let (_d, mut fs) = boot_dir();
        let new = vec![("bcm2711-rpi-4-b.dtb".to_string(), sha(b"new dtb"))];
        let (w, _) = write_set(&mut fs, &Which::Root, &[], &new, &mut |_| Ok(b"new dtb".to_vec())).unwrap();
        let Which::Set(id) = w.clone() else { panic!() };
        switch(&mut fs, &w).unwrap();
        assert_eq!(mend(&mut fs, std::slice::from_ref(&w)).unwrap(), None);
        // Names a directory that is gone.
        let gone = encode_switch(&Which::Set(SetId::parse("ffffffffffffffff").unwrap()));
        fs.rewrite(SWITCH, &gone).unwrap();
        let (why, to) = mend(&mut fs, std::slice::from_ref(&w)).unwrap().unwrap();
        assert!(why.contains("ffffffffffffffff"), "{why}");
        assert_eq!(to, w);
        assert_eq!(read_switch(&mut fs).unwrap(), Ok(w.clone()));
        // A damaged file in the set it names: the root.
        fs.write_new(&format!("{}/u-boot.bin", id.dir()), b"bit rot").unwrap();
        let (why, to) = mend(&mut fs, std::slice::from_ref(&w)).unwrap().unwrap();
        assert!(why.contains("damaged"), "{why}");
        assert_eq!(to, Which::Root);
        // Garbage of another size.
        fs.write_new(SWITCH, b"os_prefix=/\0").unwrap();
        assert_eq!(mend(&mut fs, &[]).unwrap().map(|m| m.1), Some(Which::Root));
        assert_eq!(fs.read(SWITCH).unwrap().unwrap(), encode_switch(&Which::Root));
    }

    #[test]
    fn the_record_decides_from_the_boot_state() {
        let mut bs = BootState::factory("1");
        let rec = Record {
            current: Which::Set(SetId::parse("0123456789abcdef").unwrap()),
            previous: Which::Root,
            pending: Some(Pending { slot: Slot::B, version: "2".into() }),
        };
        assert_eq!(decide(&Record::factory(), &bs), Next::Keep);
        // Written, switched, not staged yet (a cut): back.
        assert_eq!(decide(&rec, &bs), Next::SwitchBack);
        bs.slots[1] = SlotState::Good;
        bs.versions[1] = "2".into();
        bs.trial = Some((Slot::B, 3));
        assert_eq!(decide(&rec, &bs), Next::Keep);
        let mut committed = bs.clone();
        committed.trial = None;
        committed.primary = Slot::B;
        assert_eq!(decide(&rec, &committed), Next::Committed);
        let mut given_up = bs.clone();
        given_up.trial = None;
        given_up.slots[1] = SlotState::Empty;
        assert_eq!(decide(&rec, &given_up), Next::SwitchBack);
        let json = serde_json::to_string(&rec).unwrap();
        assert_eq!(serde_json::from_str::<Record>(&json).unwrap(), rec);
    }
}
