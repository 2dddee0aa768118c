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
//!   5. the slot is staged: on trial for the next boot.
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

impl Install<'_> {
    /// Runs (or resumes) the install; on success the slot is staged for the next boot.
    pub fn run(self, payload: &mut dyn Payload) -> Result<Slot> {
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
        let mut asm = Assembler::new(verified, &[img_index], |h| !have(h));

        // 2. Chunks the running slot has.
        if !j.local_done {
            if let Some((dev, idx)) = active.as_mut() {
                let local: Vec<([u8; 32], u32, Vec<u64>)> =
                    asm.local().map(|(h, l, t)| (h, l, t.iter().map(|(_, o)| *o).collect())).collect();
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
                    for off in offsets {
                        target.write_at(off, b).map_err(io("writing the update slot"))?;
                        done += len as u64;
                    }
                    progress(Progress { step: Step::Copying, done, total });
                }
                target.sync().map_err(io("syncing the update slot"))?;
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
                        for &(_, at) in r.targets {
                            target.write_at(at, r.data).map_err(io("writing the update slot"))?;
                            since_sync += r.data.len() as u64;
                        }
                        done += r.data.len() as u64;
                        asm.consumed();
                        progress(Progress { step: Step::Writing, done, total });
                        if since_sync >= checkpoint {
                            target.sync().map_err(io("syncing the update slot"))?;
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
        target.sync().map_err(io("syncing the update slot"))?;

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

        // 5. Staged: on trial at the next boot.
        bootstate::apply(boot, Change::Stage { slot, version }, factory_version)?;
        journal.save(None).map_err(io("clearing the install journal"))?;
        progress(Progress { step: Step::Staged, done: image.size, total: image.size });
        Ok(slot)
    }
}
