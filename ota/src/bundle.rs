//! The bundle file:
//!
//! ```text
//! 0       8 bytes   magic "SPOTOTA\x01"
//! 8       4 bytes   L, the signed manifest's length (u32, little-endian, at most 8 MiB)
//! 12      L bytes   the signed manifest (keys.rs envelope around manifest.rs's Manifest)
//!         zeros     up to the next multiple of 4096 (`payload_start`)
//! ...     payload   every distinct chunk once, in order of first appearance; `payload_len` bytes
//! ```
//!
//! A reader trusts nothing before the manifest's signature is checked, and nothing of the payload
//! but chunks whose hash the manifest lists. The payload of a remote bundle can be fetched in
//! ranges (`payload_start + chunk.payload`), so a box fetches only the chunks it lacks.

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom, Write};

use sha2::{Digest, Sha256};

use crate::chunker::Chunks;
use crate::error::{fail, Error, Kind, Result};
use crate::keys::{sign_envelope, PrivateKey};
use crate::manifest::{encode_chunks, ImageEntry, Manifest, FORMAT, MAX_MANIFEST};
use crate::version::Version;

pub const MAGIC: &[u8; 8] = b"SPOTOTA\x01";
const ALIGN: u64 = 4096;

/// Where the payload starts for a signed manifest of `envelope_len` bytes.
pub fn payload_start(envelope_len: u64) -> u64 {
    (12 + envelope_len).div_ceil(ALIGN) * ALIGN
}

/// Reads the header and returns the signed manifest's bytes (not verified yet), leaving the
/// reader at the start of the payload.
pub fn read_header<R: Read>(r: &mut R) -> Result<Vec<u8>> {
    let mut head = [0u8; 12];
    read_exact_or(r, &mut head, "the bundle header")?;
    if &head[..8] != MAGIC {
        return fail(Kind::Malformed, "this is not a Spot box update bundle");
    }
    let len = u32::from_le_bytes([head[8], head[9], head[10], head[11]]) as u64;
    if len as usize > MAX_MANIFEST {
        return fail(Kind::Oversized, format!("the bundle says its manifest is {len} bytes (at most 8 MiB)"));
    }
    let mut envelope = vec![0u8; len as usize];
    read_exact_or(r, &mut envelope, "the bundle's manifest")?;
    let mut pad = vec![0u8; (payload_start(len) - 12 - len) as usize];
    read_exact_or(r, &mut pad, "the bundle header")?;
    Ok(envelope)
}

fn read_exact_or<R: Read>(r: &mut R, buf: &mut [u8], what: &str) -> Result<()> {
    r.read_exact(buf).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => Error::new(Kind::Truncated, format!("{what} ends early: the file is cut short")),
        _ => Error::new(Kind::Io, format!("reading {what}: {e}")),
    })
}

/// What goes into a new bundle besides the images.
pub struct Meta {
    pub version: Version,
    pub boards: Vec<String>,
    pub min_version: Option<Version>,
    pub created: u64,
    pub notes: String,
    pub needs_eeprom: Option<String>,
}

/// One chunk table and the image's hash, by reading the image once.
/// (length, hash) per chunk, and the whole image's hash.
type Scan = (Vec<(u32, [u8; 32])>, [u8; 32]);

fn scan(mut image: impl Read, size: u64) -> Result<Scan> {
    let mut whole = Sha256::new();
    let mut chunks = Chunks::new(&mut image, size);
    let mut table = vec![];
    let mut total = 0u64;
    while let Some(c) = chunks.next_chunk()? {
        whole.update(c);
        table.push((c.len() as u32, Sha256::digest(c).into()));
        total += c.len() as u64;
    }
    if total != size {
        return fail(Kind::Truncated, format!("an image is {total} bytes, not {size}"));
    }
    Ok((table, whole.finalize().into()))
}

/// Builds a bundle into `out` from `(name, path)` images, signed with `keys`. Reads each image
/// twice (hashes, then payload); memory stays a few chunks whatever the image sizes.
pub fn build<W: Write + Seek>(out: &mut W, meta: &Meta, images: &[(String, std::path::PathBuf)], keys: &[&PrivateKey]) -> Result<Verified> {
    let mut entries = vec![];
    for (name, path) in images {
        let size = std::fs::metadata(path)?.len();
        let (table, whole) = scan(std::io::BufReader::new(std::fs::File::open(path)?), size)?;
        entries.push((name.clone(), size, table, whole));
    }
    let mut seen = std::collections::HashSet::new();
    let payload_len: u64 = entries
        .iter()
        .flat_map(|e| e.2.iter())
        .filter(|(_, h)| seen.insert(*h))
        .map(|(l, _)| *l as u64)
        .sum();
    let manifest = Manifest {
        format: FORMAT,
        version: meta.version,
        boards: meta.boards.clone(),
        min_version: meta.min_version,
        created: meta.created,
        notes: meta.notes.clone(),
        needs_eeprom: meta.needs_eeprom.clone(),
        images: entries
            .iter()
            .map(|(name, size, table, whole)| ImageEntry {
                name: name.clone(),
                size: *size,
                sha256: hex::encode(whole),
                chunks: encode_chunks(table),
            })
            .collect(),
        payload_len,
    };
    let envelope = sign_envelope(&manifest, keys)?;
    write_header(out, envelope.as_bytes())?;
    let mut written: HashMap<[u8; 32], ()> = HashMap::new();
    for (_, path) in images {
        let size = std::fs::metadata(path)?.len();
        let mut f = std::io::BufReader::new(std::fs::File::open(path)?);
        let mut chunks = Chunks::new(&mut f, size);
        while let Some(c) = chunks.next_chunk()? {
            let h: [u8; 32] = Sha256::digest(c).into();
            if written.insert(h, ()).is_none() {
                out.write_all(c)?;
            }
        }
    }
    out.flush()?;
    let end = out.stream_position()?;
    if end != payload_start(envelope.len() as u64) + payload_len {
        return fail(Kind::ImageMismatch, "an image changed while the bundle was being built");
    }
    let _ = out.seek(SeekFrom::End(0))?;
    crate::manifest::decode_unverified(&manifest, envelope.as_bytes())
}

/// The header for a signed manifest (also used to re-sign a bundle).
pub fn write_header<W: Write>(out: &mut W, envelope: &[u8]) -> Result<()> {
    out.write_all(MAGIC)?;
    out.write_all(&(envelope.len() as u32).to_le_bytes())?;
    out.write_all(envelope)?;
    let pad = payload_start(envelope.len() as u64) - 12 - envelope.len() as u64;
    out.write_all(&vec![0u8; pad as usize])?;
    Ok(())
}

pub use crate::manifest::Verified;
