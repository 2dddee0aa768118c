//! The streaming half of the installer, without IO: payload bytes in, verified chunk writes out.
//!
//! Fed the payload in order (whole, or only the ranges of the chunks it wants, `skip_to`), it
//! holds one chunk at a time (at most `MAX_CHUNK` bytes), checks its SHA-256 against the
//! manifest and only then hands it out with every place it goes. A chunk that does not match is
//! `tampered_block` and nothing of it is written; bytes past the payload are `oversized`.

use sha2::{Digest, Sha256};

use crate::error::{fail, Kind, Result};
use crate::manifest::Verified;

/// Where a verified chunk goes: (image index in the manifest, offset in that image).
pub type Target = (usize, u64);

pub struct Assembler {
    /// Per distinct chunk: hash, length, payload offset, wanted, targets.
    chunks: Vec<Distinct>,
    payload_len: u64,
    /// Payload offset of the next byte expected.
    pos: u64,
    /// The distinct chunk `pos` is in.
    next: usize,
    buf: Vec<u8>,
    /// The chunk just completed is handed out from here.
    done: Option<usize>,
}

struct Distinct {
    hash: [u8; 32],
    len: u32,
    at: u64,
    wanted: bool,
    targets: Vec<Target>,
}

/// One verified chunk and where it goes.
pub struct Ready<'a> {
    pub index: usize,
    pub data: &'a [u8],
    pub targets: &'a [Target],
}

impl Assembler {
    /// `wanted(hash)`: whether this chunk must come from the payload (a box that has a chunk in
    /// its running slot copies it from there instead).
    pub fn new(v: &Verified, images: &[usize], mut wanted: impl FnMut(&[u8; 32]) -> bool) -> Self {
        let mut chunks: Vec<Distinct> = v
            .distinct
            .iter()
            .map(|(hash, len, at)| Distinct { hash: *hash, len: *len, at: *at, wanted: false, targets: vec![] })
            .collect();
        let index: std::collections::HashMap<[u8; 32], usize> =
            v.distinct.iter().enumerate().map(|(i, (h, _, _))| (*h, i)).collect();
        for &img in images {
            for c in &v.images[img].chunks {
                if let Some(&i) = index.get(&c.hash) {
                    chunks[i].targets.push((img, c.offset));
                }
            }
        }
        for c in &mut chunks {
            c.wanted = !c.targets.is_empty() && wanted(&c.hash);
        }
        Assembler { chunks, payload_len: v.manifest.payload_len, pos: 0, next: 0, buf: Vec::new(), done: None }
    }

    /// Payload ranges `(offset, len)` of the wanted chunks, neighbours merged: what to fetch.
    pub fn wanted_ranges(&self) -> Vec<(u64, u64)> {
        let mut out: Vec<(u64, u64)> = vec![];
        for c in self.chunks.iter().filter(|c| c.wanted) {
            match out.last_mut() {
                Some((off, len)) if *off + *len == c.at => *len += c.len as u64,
                _ => out.push((c.at, c.len as u64)),
            }
        }
        out
    }

    /// Bytes the payload holds for wanted chunks.
    pub fn wanted_bytes(&self) -> u64 {
        self.chunks.iter().filter(|c| c.wanted).map(|c| c.len as u64).sum()
    }

    /// Chunks not wanted from the payload, with their targets: the caller copies them from the
    /// running slot (by hash).
    pub fn local(&self) -> impl Iterator<Item = ([u8; 32], u32, &[Target])> {
        self.chunks.iter().filter(|c| !c.wanted && !c.targets.is_empty()).map(|c| (c.hash, c.len, c.targets.as_slice()))
    }

    pub fn position(&self) -> u64 {
        self.pos
    }

    /// Everything wanted has been handed out.
    pub fn finished(&self) -> bool {
        self.chunks[self.next.min(self.chunks.len())..].iter().all(|c| !c.wanted)
            && self.buf.is_empty()
    }

    /// Jumps forward to `offset` (a chunk boundary), as after a resumed or ranged fetch. The
    /// chunks passed over are not handed out.
    pub fn skip_to(&mut self, offset: u64) -> Result<()> {
        if offset < self.pos || offset > self.payload_len {
            return fail(Kind::Malformed, format!("cannot skip from payload offset {} to {offset}", self.pos));
        }
        if !self.buf.is_empty() && offset != self.pos {
            return fail(Kind::Malformed, "skipping from inside a chunk");
        }
        while self.next < self.chunks.len() && self.chunks[self.next].at < offset {
            self.next += 1;
        }
        if self.next < self.chunks.len() && self.chunks[self.next].at != offset {
            return fail(Kind::Malformed, format!("payload offset {offset} is not a chunk boundary"));
        }
        self.pos = offset;
        Ok(())
    }

    /// Consumes some of `input` (returns how much) and possibly completes a chunk, which is
    /// then available from `ready()` until the next call.
    pub fn feed(&mut self, input: &[u8]) -> Result<usize> {
        if self.done.take().is_some() {
            self.buf.clear();
        }
        let mut used = 0;
        while used < input.len() {
            let Some(c) = self.chunks.get(self.next) else {
                return fail(Kind::Oversized, "the payload goes on past what the manifest lists");
            };
            let need = (c.at + c.len as u64 - self.pos) as usize;
            let take = need.min(input.len() - used);
            if c.wanted {
                self.buf.extend_from_slice(&input[used..used + take]);
            }
            used += take;
            self.pos += take as u64;
            if take == need {
                let i = self.next;
                self.next += 1;
                if c.wanted {
                    let got: [u8; 32] = Sha256::digest(&self.buf).into();
                    if got != c.hash {
                        self.buf.clear();
                        return fail(
                            Kind::TamperedBlock,
                            format!("the bundle's block at payload offset {} is not the one its signed manifest lists", c.at),
                        );
                    }
                    self.done = Some(i);
                    return Ok(used);
                }
            }
        }
        Ok(used)
    }

    /// The chunk the last `feed` completed. Its buffer is reused after.
    pub fn ready(&mut self) -> Option<Ready<'_>> {
        let i = self.done?;
        Some(Ready { index: i, data: &self.buf, targets: &self.chunks[i].targets })
    }

    /// Call after handling `ready()`.
    pub fn consumed(&mut self) {
        self.done = None;
        self.buf.clear();
    }

    /// At the end of the input: was everything wanted there?
    pub fn finish(&self) -> Result<()> {
        if self.finished() {
            Ok(())
        } else {
            fail(Kind::Truncated, format!("the bundle ends at payload byte {} of {}", self.pos, self.payload_len))
        }
    }
}
