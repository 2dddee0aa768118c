//! The installer's IO driver: a verified bundle into the inactive root slot, resumable, with
//! the boot state changed only through `bootstate::apply`.
//!
//! Order (each step durable before the next, so a power cut anywhere leaves a box that boots a
//! whole slot):
//!   1. the target slot is marked empty in the boot state (never booted while written);
//!   2. chunks the running slot already has are copied from it (each checked by hash);
//!   3. the payload's chunks are verified one by one and written; every `CHECKPOINT` bytes the
//!      slot is synced and the journal records how far the payload got (a resume starts there);
//!   4. the whole slot is read back and compared with the manifest's image hash;
//!   5. the bundle's boot files, assembled in the same pass into `Extra`'s devices, are read back
//!      too, and `Extra::before_stage` runs (the helper: `bootfiles`' new set and switch);
//!   6. the slot is staged: on trial for the next boot.
//!
//! The running slot is only ever read.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::assemble::Assembler;
use crate::bootstate::{self, BootStore, Change, Slot, SlotState};
use crate::chunker::{Chunks, MAX_CHUNK};
use crate::error::{fail, Error, Kind, Result};
use crate::manifest::{Verified, ROOTFS};

/// Sync the slot and record progress after this many written bytes.
pub const CHECKPOINT: u64 = 32 << 20;

/// A block device or image file, by offset.
pub trait Device {
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> std::io::Result<()>;
    fn write_at(&mut self, offset: u64, data: &[u8]) -> std::io::Result<()>;
    fn sync(&mut self) -> std::io::Result<()>;
    fn size(&mut self) -> std::io::Result<u64>;
}

impl Device for std::fs::File {
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        std::os::unix::fs::FileExt::read_exact_at(self, buf, offset)
    }
    fn write_at(&mut self, offset: u64, data: &[u8]) -> std::io::Result<()> {
        std::os::unix::fs::FileExt::write_all_at(self, data, offset)
    }
    fn sync(&mut self) -> std::io::Result<()> {
        self.sync_data()
    }
    fn size(&mut self) -> std::io::Result<u64> {
        use std::io::Seek;
        self.seek(std::io::SeekFrom::End(0))
    }
}

/// Where the payload comes from: an uploaded stream (read in order, what is before `offset`
/// is read and dropped) or a URL fetched by ranges.
pub trait Payload {
    /// Calls `sink` with the payload bytes from `offset` on, `len` of them, in order.
    fn read_range(&mut self, offset: u64, len: u64, sink: &mut dyn FnMut(&[u8]) -> Result<()>) -> Result<()>;
}

/// A payload read in one pass from a reader positioned at the payload's start.
pub struct StreamPayload<R> {
    pub reader: R,
    pub pos: u64,
    pub len: u64,
}

impl<R: std::io::Read> Payload for StreamPayload<R> {
    fn read_range(&mut self, offset: u64, len: u64, sink: &mut dyn FnMut(&[u8]) -> Result<()>) -> Result<()> {
        if offset < self.pos {
            return fail(Kind::Busy, "a streamed bundle cannot go back");
        }
        let mut buf = vec![0u8; 64 << 10];
        let end = offset + len;
        while self.pos < end {
            let want = if self.pos < offset { offset - self.pos } else { end - self.pos };
            let n = want.min(buf.len() as u64) as usize;
            let got = self.reader.read(&mut buf[..n]).map_err(|e| Error::new(Kind::Io, format!("reading the bundle: {e}")))?;
            if got == 0 {
                return fail(Kind::Truncated, format!("the bundle ends at payload byte {} of {}", self.pos, self.len));
            }
            if self.pos >= offset {
                sink(&buf[..got])?;
            }
            self.pos += got as u64;
        }
        Ok(())
    }
}

/// A payload read from a bundle file by offset: `start` is the payload's offset in the file
/// (`bundle::payload_start`). The file may be sparse, holding only the ranges a box fetched
/// (see [`plan`]); whatever else it reads is checked against the manifest like any byte.
pub struct FilePayload {
    pub file: std::fs::File,
    pub start: u64,
}

impl Payload for FilePayload {
    fn read_range(&mut self, offset: u64, len: u64, sink: &mut dyn FnMut(&[u8]) -> Result<()>) -> Result<()> {
        use std::os::unix::fs::FileExt;
        let mut buf = vec![0u8; (64 << 10).min(len as usize)];
        let mut done = 0u64;
        while done < len {
            let n = (len - done).min(buf.len() as u64) as usize;
            let at = self.start.checked_add(offset + done).ok_or_else(|| Error::new(Kind::Malformed, "a payload offset past any file"))?;
            self.file.read_exact_at(&mut buf[..n], at).map_err(|e| match e.kind() {
                std::io::ErrorKind::UnexpectedEof => {
                    Error::new(Kind::Truncated, format!("the bundle file ends before payload byte {}", offset + done + n as u64))
                }
                _ => Error::new(Kind::Io, format!("reading the bundle: {e}")),
            })?;
            sink(&buf[..n])?;
            done += n as u64;
        }
        Ok(())
    }
}

/// What a box lacks of a bundle's root image, given its running slot's chunk index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Payload ranges `(offset, len)` to fetch, sorted, neighbours merged.
    pub ranges: Vec<(u64, u64)>,
    /// Bytes in `ranges`.
    pub wanted: u64,
    /// Bytes of the new image copied from the running slot instead.
    pub local: u64,
}

/// The payload ranges an [`Install`] with `active: Some((_, index))` will read: the same
/// choice of chunks, so a box that fetched exactly these can install from a sparse file.
pub fn plan(verified: &Verified, index: &ChunkIndex) -> Result<Plan> {
    let img = verified
        .images
        .iter()
        .position(|i| i.name == ROOTFS)
        .ok_or_else(|| Error::new(Kind::Malformed, "no rootfs image"))?;
    // The boot files too (`Install::run_with`'s extra images): they are small, and a box that
    // has no use for them only fetched a few blocks more.
    let mut images = vec![img];
    images.extend((0..verified.images.len()).filter(|&i| i != img));
    let asm = Assembler::new(verified, &images, |h| !index.contains_key(h));
    let local = asm.local().map(|(_, l, t)| l as u64 * t.len() as u64).sum();
    Ok(Plan { ranges: asm.wanted_ranges(), wanted: asm.wanted_bytes(), local })
}

/// What a resumed install needs: which bundle, which slot, how far.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Journal {
    pub manifest_sha256: String,
    pub target: Slot,
    pub version: String,
    pub local_done: bool,
    /// Payload offset up to which every wanted chunk is on the slot (synced).
    pub payload_done: u64,
}

impl Serialize for Slot {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}
impl<'de> Deserialize<'de> for Slot {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Slot::parse(&s).ok_or_else(|| serde::de::Error::custom("slot is A or B"))
    }
}

/// Where the journal lives (a file on the data partition, replaced atomically).
pub trait JournalStore {
    fn load(&mut self) -> Option<Journal>;
    fn save(&mut self, j: Option<&Journal>) -> std::io::Result<()>;
}

/// The journal as a JSON file, written to a temporary name, synced and renamed.
pub struct FileJournal(pub std::path::PathBuf);

impl JournalStore for FileJournal {
    fn load(&mut self) -> Option<Journal> {
        serde_json::from_slice(&std::fs::read(&self.0).ok()?).ok()
    }
    fn save(&mut self, j: Option<&Journal>) -> std::io::Result<()> {
        use std::io::Write;
        match j {
            None => match std::fs::remove_file(&self.0) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            },
            Some(j) => {
                let tmp = self.0.with_extension("tmp");
                let mut f = std::fs::File::create(&tmp)?;
                f.write_all(&serde_json::to_vec(j).map_err(std::io::Error::other)?)?;
                f.sync_all()?;
                std::fs::rename(&tmp, &self.0)?;
                if let Some(dir) = self.0.parent() {
                    std::fs::File::open(dir)?.sync_all()?;
                }
                Ok(())
            }
        }
    }
}

/// Where an install is, for the progress bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    Copying,
    Writing,
    Checking,
    Staged,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Progress {
    pub step: Step,
    /// Bytes of this step done and in all.
    pub done: u64,
    pub total: u64,
}

/// Where each chunk of a slot is: hash → (offset, length).
pub type ChunkIndex = HashMap<[u8; 32], (u64, u32)>;

/// Hash → (offset, length) of the chunks of the running slot, by chunking it (reads it once).
pub fn index_slot(dev: &mut dyn Device, len: u64) -> Result<ChunkIndex> {
    struct R<'a> {
        dev: &'a mut dyn Device,
        pos: u64,
        len: u64,
    }
    impl std::io::Read for R<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = (self.len - self.pos).min(buf.len() as u64) as usize;
            self.dev.read_at(self.pos, &mut buf[..n])?;
            self.pos += n as u64;
            Ok(n)
        }
    }
    let mut index = HashMap::new();
    let mut chunks = Chunks::new(R { dev, pos: 0, len }, len);
    let mut off = 0u64;
    while let Some(c) = chunks.next_chunk().map_err(|e| Error::new(Kind::Io, format!("reading the running slot: {e}")))? {
        index.entry(Sha256::digest(c).into()).or_insert((off, c.len() as u32));
        off += c.len() as u64;
    }
    Ok(index)
}

/// One install. `active` is the running slot (read only), `target` the other slot's device.
pub struct Install<'a> {
    pub verified: &'a Verified,
    pub boot: &'a mut dyn BootStore,
    pub journal: &'a mut dyn JournalStore,
    pub target: &'a mut dyn Device,
    /// The running slot and its chunk index, when chunks are to be copied from it (a fetched
    /// bundle); `None` takes every chunk from the payload (an upload streams all of it anyway).
    pub active: Option<(&'a mut dyn Device, &'a ChunkIndex)>,
    pub factory_version: &'a str,
    /// The slot the box runs from (the kernel command line's `spot.slot`).
    pub running: Slot,
    pub progress: &'a mut dyn FnMut(Progress),
    /// Sync and journal after this many written bytes (`CHECKPOINT` on a box).
    pub checkpoint: u64,
}

fn io(what: &str) -> impl Fn(std::io::Error) -> Error + '_ {
    move |e| Error::new(Kind::Io, format!("{what}: {e}"))
}

/// A bundle's images other than `rootfs` (its boot files), assembled in the same payload pass as
/// the root slot, and the step between the slot read back whole and its staging (the helper's:
/// `bootfiles`, the new set and the switch).
pub trait Extra {
    /// Where image `index` of the manifest is assembled (a temporary file); `None` leaves it out.
    fn device(&mut self, index: usize) -> Option<&mut dyn Device>;
    /// Every image written and read back whole: the last step before the slot is staged.
    fn before_stage(&mut self) -> Result<()>;
}

/// No extra images (`Install::run`).
pub struct NoExtra;

impl Extra for NoExtra {
    fn device(&mut self, _: usize) -> Option<&mut dyn Device> {
        None
    }
    fn before_stage(&mut self) -> Result<()> {
        Ok(())
    }
}

/// One verified chunk to the root slot or to the extra image it belongs to.
fn put(target: &mut dyn Device, extra: &mut dyn Extra, root: usize, (img, at): (usize, u64), data: &[u8]) -> Result<()> {
    if img == root {
        target.write_at(at, data).map_err(io("writing the update slot"))
    } else if let Some(d) = extra.device(img) {
        d.write_at(at, data).map_err(io("writing a boot file"))
    } else {
        Ok(())
    }
}

fn sync_all(target: &mut dyn Device, extra: &mut dyn Extra, extras: &[usize]) -> Result<()> {
    target.sync().map_err(io("syncing the update slot"))?;
    for &i in extras {
        if let Some(d) = extra.device(i) {
            d.sync().map_err(io("syncing a boot file"))?;
        }
    }
    Ok(())
}

impl Install<'_> {
    /// Runs (or resumes) the install; on success the slot is staged for the next boot.
    pub fn run(self, payload: &mut dyn Payload) -> Result<Slot> {
        self.run_with(payload, &mut NoExtra)
    }

    /// `run`, with the bundle's boot files assembled into `extra`'s devices and read back, and
    /// `extra.before_stage()` after the slot is whole and before it is staged.
    pub fn run_with(self, payload: &mut dyn Payload, extra: &mut dyn Extra) -> Result<Slot> {
        let Install { verified, boot, journal, target, mut active, factory_version, running, progress, checkpoint } = self;
        let (state, _) = bootstate::load(boot)?
            .unwrap_or_else(|| (bootstate::BootState::factory(factory_version), 0));
        // A staged slot not booted yet may be written over by a newer install: Invalidate
        // below takes it off trial first.
        let slot = state.primary.other();
        if slot == running {
            return fail(
                Kind::Busy,
                format!("the box runs slot {running} on trial: it commits (or falls back) before the next update installs"),
            );
        }
        let img_index = verified
            .images
            .iter()
            .position(|i| i.name == ROOTFS)
            .ok_or_else(|| Error::new(Kind::Malformed, "no rootfs image"))?;
        let image = &verified.images[img_index];
        let slot_size = target.size().map_err(io("the update slot"))?;
        if image.size > slot_size {
            return fail(Kind::Oversized, format!("the new system is {} bytes and the slot holds {slot_size}", image.size));
        }
        let version = verified.manifest.version.to_string();
        let resumed = journal
            .load()
            .filter(|j| j.manifest_sha256 == verified.envelope_sha256 && j.target == slot)
            .filter(|_| state.slots[slot.index()] == SlotState::Empty && state.trial.is_none());
        let mut j = match resumed {
            Some(j) => j,
            None => {
                bootstate::apply(boot, Change::Invalidate(slot), factory_version)?;
                let j = Journal {
                    manifest_sha256: verified.envelope_sha256.clone(),
                    target: slot,
                    version: version.clone(),
                    local_done: false,
                    payload_done: 0,
                };
                journal.save(Some(&j)).map_err(io("saving the install journal"))?;
                j
            }
        };

        let have = |h: &[u8; 32]| active.as_ref().is_some_and(|(_, idx)| idx.contains_key(h));
        let extras: Vec<usize> = (0..verified.images.len()).filter(|&i| i != img_index && extra.device(i).is_some()).collect();
        let mut images = vec![img_index];
        images.extend(&extras);
        let mut asm = Assembler::new(verified, &images, |h| !have(h));

        // 2. Chunks the running slot has.
        if !j.local_done {
            if let Some((dev, idx)) = active.as_mut() {
                let local: Vec<([u8; 32], u32, Vec<crate::assemble::Target>)> = asm.local().map(|(h, l, t)| (h, l, t.to_vec())).collect();
                let total: u64 = local.iter().map(|(_, l, t)| *l as u64 * t.len() as u64).sum();
                let mut done = 0;
                let mut buf = vec![0u8; MAX_CHUNK];
                for (hash, len, offsets) in local {
                    let Some(&(from, _)) = idx.get(&hash) else { continue };
                    let b = &mut buf[..len as usize];
                    dev.read_at(from, b).map_err(io("reading the running slot"))?;
                    if <[u8; 32]>::from(Sha256::digest(&*b)) != hash {
                        return fail(Kind::ImageMismatch, "the running slot changed while the update read it");
                    }
                    for t in offsets {
                        put(target, extra, img_index, t, b)?;
                        done += len as u64;
                    }
                    progress(Progress { step: Step::Copying, done, total });
                }
                sync_all(target, extra, &extras)?;
            }
            j.local_done = true;
            journal.save(Some(&j)).map_err(io("saving the install journal"))?;
        }

        // 3. The payload.
        let total = asm.wanted_bytes();
        let ranges: Vec<(u64, u64)> = asm
            .wanted_ranges()
            .into_iter()
            .filter_map(|(off, len)| {
                let end = off + len;
                (end > j.payload_done).then(|| (off.max(j.payload_done), end - off.max(j.payload_done)))
            })
            .collect();
        let mut done: u64 = total - ranges.iter().map(|r| r.1).sum::<u64>();
        let mut since_sync = 0u64;
        for (off, len) in ranges {
            asm.skip_to(off)?;
            payload.read_range(off, len, &mut |mut bytes: &[u8]| {
                while !bytes.is_empty() {
                    let used = asm.feed(bytes)?;
                    bytes = &bytes[used..];
                    if let Some(r) = asm.ready() {
                        for &t in r.targets {
                            put(target, extra, img_index, t, r.data)?;
                            since_sync += r.data.len() as u64;
                        }
                        done += r.data.len() as u64;
                        asm.consumed();
                        progress(Progress { step: Step::Writing, done, total });
                        if since_sync >= checkpoint {
                            sync_all(target, extra, &extras)?;
                            j.payload_done = asm.position();
                            journal.save(Some(&j)).map_err(io("saving the install journal"))?;
                            since_sync = 0;
                        }
                    }
                }
                Ok(())
            })?;
        }
        if j.payload_done > asm.position() {
            // Resumed after the last wanted chunk was already on the slot.
            asm.skip_to(j.payload_done)?;
        }
        asm.finish()?;
        sync_all(target, extra, &extras)?;

        // 4. The whole image, read back.
        let mut whole = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        let mut off = 0;
        while off < image.size {
            let n = (image.size - off).min(buf.len() as u64) as usize;
            target.read_at(off, &mut buf[..n]).map_err(io("reading the update slot back"))?;
            whole.update(&buf[..n]);
            off += n as u64;
            progress(Progress { step: Step::Checking, done: off, total: image.size });
        }
        if <[u8; 32]>::from(whole.finalize()) != image.sha256 {
            journal.save(None).map_err(io("clearing the install journal"))?;
            return fail(Kind::ImageMismatch, "the slot read back is not the new system: the card may be failing");
        }
        for &i in &extras {
            let img = &verified.images[i];
            let mut b = vec![0u8; img.size as usize];
            if let Some(d) = extra.device(i) {
                d.read_at(0, &mut b).map_err(io("reading a boot file back"))?;
            }
            if <[u8; 32]>::from(Sha256::digest(&b)) != img.sha256 {
                journal.save(None).map_err(io("clearing the install journal"))?;
                return fail(Kind::ImageMismatch, format!("{} read back is not the bundle's", img.name));
            }
        }
        // The boot files' new set and switch: after the slot is whole, before it is staged.
        extra.before_stage()?;

        // 5. Staged: on trial at the next boot.
        bootstate::apply(boot, Change::Stage { slot, version }, factory_version)?;
        journal.save(None).map_err(io("clearing the install journal"))?;
        progress(Progress { step: Step::Staged, done: image.size, total: image.size });
        Ok(slot)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::bootstate::DirStore;
    use crate::testdata::noise;

    const LEN: usize = 2 << 20;

    struct Fixture {
        dir: tempfile::TempDir,
        bundle: Vec<u8>,
        verified: Verified,
        new: Vec<u8>,
    }

    /// A running slot of `noise(LEN, 1)` and a bundle whose image differs from it in 8 KiB.
    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let old = noise(LEN, 1);
        let mut new = old.clone();
        new[LEN / 2..LEN / 2 + 8192].copy_from_slice(&noise(8192, 2));
        std::fs::write(dir.path().join("running.img"), &old).unwrap();
        std::fs::write(dir.path().join("new.img"), &new).unwrap();
        let meta = crate::bundle::Meta {
            version: "0.2.0".parse().unwrap(),
            boards: vec!["test".into()],
            min_version: None,
            created: 1,
            notes: String::new(),
            needs_eeprom: None,
        };
        let key = crate::keys::PrivateKey::from_seed([5; 32]);
        let mut out = std::io::Cursor::new(vec![]);
        let verified = crate::bundle::build(&mut out, &meta, &[(ROOTFS.into(), dir.path().join("new.img"))], &[&key]).unwrap();
        Fixture { dir, bundle: out.into_inner(), verified, new }
    }

    impl Fixture {
        fn index(&self) -> ChunkIndex {
            let mut f = std::fs::File::open(self.dir.path().join("running.img")).unwrap();
            index_slot(&mut f, LEN as u64).unwrap()
        }

        fn start(&self) -> u64 {
            crate::bundle::payload_start(self.verified.envelope_len)
        }

        /// A sparse copy of the bundle holding only its header and `ranges` (payload offsets).
        fn sparse(&self, name: &str, ranges: &[(u64, u64)]) -> std::path::PathBuf {
            use std::os::unix::fs::FileExt;
            let path = self.dir.path().join(name);
            let f = std::fs::File::create(&path).unwrap();
            f.set_len(self.bundle.len() as u64).unwrap();
            let start = self.start() as usize;
            f.write_all_at(&self.bundle[..start], 0).unwrap();
            for &(off, len) in ranges {
                let at = start + off as usize;
                f.write_all_at(&self.bundle[at..at + len as usize], at as u64).unwrap();
            }
            path
        }

        fn install(&self, payload: &std::path::Path) -> Result<Vec<u8>> {
            let boot = self.dir.path().join(format!("boot-{}", payload.display().to_string().len()));
            std::fs::create_dir_all(&boot).unwrap();
            let target_path = self.dir.path().join("target.img");
            std::fs::write(&target_path, vec![0u8; LEN]).unwrap();
            let mut target = std::fs::OpenOptions::new().read(true).write(true).open(&target_path).unwrap();
            let mut running = std::fs::File::open(self.dir.path().join("running.img")).unwrap();
            let index = self.index();
            let mut journal = FileJournal(self.dir.path().join("journal.json"));
            let _ = journal.save(None);
            Install {
                verified: &self.verified,
                boot: &mut DirStore(boot),
                journal: &mut journal,
                target: &mut target,
                active: Some((&mut running, &index)),
                factory_version: "0.1.0",
                running: Slot::A,
                progress: &mut |_| {},
                checkpoint: CHECKPOINT,
            }
            .run(&mut FilePayload { file: std::fs::File::open(payload).unwrap(), start: self.start() })?;
            Ok(std::fs::read(&target_path).unwrap())
        }
    }

    #[test]
    fn a_file_payload_reads_at_the_payload_offset_and_knows_where_it_ends() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = noise(300_000, 9);
        std::fs::write(dir.path().join("b"), &bytes).unwrap();
        let mut p = FilePayload { file: std::fs::File::open(dir.path().join("b")).unwrap(), start: 4096 };
        let mut got = vec![];
        p.read_range(100_000, 150_000, &mut |b| {
            got.extend_from_slice(b);
            Ok(())
        })
        .unwrap();
        assert_eq!(got, &bytes[104_096..254_096]);
        // Backwards is fine (unlike a stream); past the end is truncated.
        got.clear();
        p.read_range(0, 10, &mut |b| {
            got.extend_from_slice(b);
            Ok(())
        })
        .unwrap();
        assert_eq!(got, &bytes[4096..4106]);
        let e = p.read_range(290_000, 10_000, &mut |_| Ok(())).unwrap_err();
        assert_eq!(e.kind, Kind::Truncated);
    }

    #[test]
    fn a_delta_install_reads_only_the_planned_ranges_of_a_sparse_bundle() {
        let fx = fixture();
        let plan = plan(&fx.verified, &fx.index()).unwrap();
        assert!(!plan.ranges.is_empty() && plan.wanted < 1 << 20, "{plan:?}");
        assert_eq!(plan.wanted, plan.ranges.iter().map(|r| r.1).sum::<u64>());
        assert_eq!(plan.wanted + plan.local, LEN as u64);
        assert!(plan.ranges.windows(2).all(|w| w[0].0 + w[0].1 < w[1].0), "sorted and merged: {plan:?}");
        // Only the header and the planned ranges are there; the rest of the file is holes.
        let sparse = fx.sparse("sparse.spotota", &plan.ranges);
        assert_eq!(fx.install(&sparse).unwrap(), fx.new);
        // A planned range with a changed byte is refused before it is written.
        let (off, len) = plan.ranges[0];
        let path = fx.sparse("tampered.spotota", &plan.ranges);
        let mut b = std::fs::read(&path).unwrap();
        b[(fx.start() + off + len / 2) as usize] ^= 1;
        std::fs::write(&path, b).unwrap();
        assert_eq!(fx.install(&path).unwrap_err().kind, Kind::TamperedBlock);
        // A range left out (a hole) is refused too: the zeros are not the chunk.
        let holey = fx.sparse("holey.spotota", &plan.ranges[1..]);
        assert_eq!(fx.install(&holey).unwrap_err().kind, Kind::TamperedBlock);
    }
}
