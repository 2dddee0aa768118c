//! A bundle's manifest: what it installs, for which boards and versions, and the hash of every
//! chunk of every image. It is the only signed part of a bundle; everything else (the payload)
//! is trusted only chunk by chunk, through these hashes.

use std::collections::{BTreeMap, HashMap};

use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::chunker::MAX_CHUNK;
use crate::error::{fail, Error, Kind, Result};
use crate::keys::{Envelope, KeyId, PublicKey, Role};
use crate::version::Version;

pub const FORMAT: u32 = 1;
/// The signed manifest (envelope) may be at most this long.
pub const MAX_MANIFEST: usize = 8 << 20;
/// No image is larger (a root slot is 1 GiB today).
pub const MAX_IMAGE: u64 = 16 << 30;
/// The image that goes into the inactive root slot.
pub const ROOTFS: &str = "rootfs";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub version: Version,
    /// Board names (`rpi4`, `qemu-arm64`, ...) the bundle may be installed on.
    pub boards: Vec<String>,
    /// The running version must be at least this (e.g. a migration that needs an older step).
    pub min_version: Option<Version>,
    /// Seconds since the epoch.
    pub created: u64,
    pub notes: String,
    /// Raspberry Pi 4 bootloader EEPROM release (`YYYY-MM-DD`) the bundle needs, if any.
    #[serde(default)]
    pub needs_eeprom: Option<String>,
    pub images: Vec<ImageEntry>,
    /// Bytes of payload after the header: every distinct chunk once.
    pub payload_len: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageEntry {
    /// `rootfs` (the root slot) or `boot/<file>` (a file for the boot partition).
    pub name: String,
    pub size: u64,
    /// SHA-256 of the whole image, hex: the final check after writing.
    pub sha256: String,
    /// Base64 of one 36-byte record per chunk, in image order: length (u32 big-endian) and
    /// SHA-256.
    pub chunks: String,
}

/// One chunk position in an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chunk {
    pub hash: [u8; 32],
    pub len: u32,
    /// Where it goes in the image.
    pub offset: u64,
    /// Where its (one) copy is in the payload.
    pub payload: u64,
}

#[derive(Debug, Clone)]
pub struct Image {
    pub name: String,
    pub size: u64,
    pub sha256: [u8; 32],
    pub chunks: Vec<Chunk>,
}

/// A manifest whose signature was checked, with its chunk tables decoded and checked for
/// consistency.
#[derive(Debug, Clone)]
pub struct Verified {
    pub manifest: Manifest,
    pub images: Vec<Image>,
    /// SHA-256 of the signed envelope as it is in the bundle (what a feed pins).
    pub envelope_sha256: String,
    pub envelope_len: u64,
    /// Distinct chunks in payload order: (hash, len, payload offset).
    pub distinct: Vec<(/*hash*/ [u8; 32], u32, u64)>,
}

impl Verified {
    pub fn image(&self, name: &str) -> Option<&Image> {
        self.images.iter().find(|i| i.name == name)
    }
}

pub fn encode_chunks(chunks: &[(u32, [u8; 32])]) -> String {
    let mut raw = Vec::with_capacity(chunks.len() * 36);
    for (len, hash) in chunks {
        raw.extend_from_slice(&len.to_be_bytes());
        raw.extend_from_slice(hash);
    }
    base64::engine::general_purpose::STANDARD.encode(raw)
}

fn hash32(hex_str: &str, what: &str) -> Result<[u8; 32]> {
    hex::decode(hex_str)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| Error::new(Kind::Malformed, format!("{what} is not a SHA-256 in hex")))
}

/// Checks the envelope's signature against the targets role and decodes the manifest.
pub fn verify(envelope: &[u8], keys: &BTreeMap<KeyId, PublicKey>, role: &Role) -> Result<Verified> {
    if envelope.len() > MAX_MANIFEST {
        return fail(Kind::Oversized, "the bundle's manifest is larger than 8 MiB");
    }
    let env = Envelope::parse(envelope)?;
    env.verify(keys, role, "the bundle")?;
    let manifest: Manifest = env.parse_signed("the bundle's manifest")?;
    decode(manifest, envelope)
}

/// Decodes a manifest the caller made itself (the bundle builder): no signature check.
pub(crate) fn decode_unverified(manifest: &Manifest, envelope: &[u8]) -> Result<Verified> {
    decode(manifest.clone(), envelope)
}

fn decode(manifest: Manifest, envelope: &[u8]) -> Result<Verified> {
    if manifest.format != FORMAT {
        return fail(Kind::Malformed, format!("bundle format {} is not one this box reads ({FORMAT})", manifest.format));
    }
    let mut seen: HashMap<[u8; 32], (u32, u64)> = HashMap::new();
    let mut distinct = vec![];
    let mut payload = 0u64;
    let mut images = vec![];
    let mut names = std::collections::HashSet::new();
    for entry in &manifest.images {
        if !names.insert(entry.name.as_str()) {
            return fail(Kind::Malformed, format!("image {:?} is listed twice", entry.name));
        }
        match entry.name.strip_prefix("boot/") {
            // The boot partition's policy: which files an update may bring (`bootfiles`).
            Some(f) => crate::bootfiles::check_name(f)?,
            None if entry.name == ROOTFS => {}
            None => return fail(Kind::Malformed, format!("image name {:?} is not rootfs or boot/<file>", entry.name)),
        }
        if entry.name != ROOTFS && entry.size > crate::bootfiles::MAX_FILE {
            return fail(Kind::Oversized, format!("boot file {} is larger than 64 MiB", entry.name));
        }
        if entry.size > MAX_IMAGE {
            return fail(Kind::Oversized, format!("image {} is larger than 16 GiB", entry.name));
        }
        let raw = base64::engine::general_purpose::STANDARD
            .decode(&entry.chunks)
            .map_err(|_| Error::new(Kind::Malformed, "a chunk table is not base64"))?;
        if raw.len() % 36 != 0 {
            return fail(Kind::Malformed, "a chunk table is not whole records");
        }
        let mut chunks = Vec::with_capacity(raw.len() / 36);
        let mut offset = 0u64;
        for rec in raw.chunks_exact(36) {
            let len = u32::from_be_bytes([rec[0], rec[1], rec[2], rec[3]]);
            let mut hash = [0u8; 32];
            hash.copy_from_slice(&rec[4..]);
            if len == 0 || len as usize > MAX_CHUNK {
                return fail(Kind::Malformed, format!("a chunk of {len} bytes"));
            }
            let at = match seen.get(&hash) {
                Some(&(l, at)) => {
                    if l != len {
                        return fail(Kind::Malformed, "one chunk hash with two lengths");
                    }
                    at
                }
                None => {
                    let at = payload;
                    seen.insert(hash, (len, at));
                    distinct.push((hash, len, at));
                    payload += len as u64;
                    at
                }
            };
            chunks.push(Chunk { hash, len, offset, payload: at });
            offset += len as u64;
        }
        if offset != entry.size {
            return fail(Kind::Malformed, format!("image {}: chunks add up to {offset}, not {}", entry.name, entry.size));
        }
        images.push(Image { name: entry.name.clone(), size: entry.size, sha256: hash32(&entry.sha256, "an image hash")?, chunks });
    }
    if payload != manifest.payload_len {
        return fail(Kind::Malformed, format!("payload_len {} but the chunks need {payload}", manifest.payload_len));
    }
    if !images.iter().any(|i| i.name == ROOTFS) {
        return fail(Kind::Malformed, "the bundle has no rootfs image");
    }
    Ok(Verified {
        manifest,
        images,
        envelope_sha256: hex::encode(Sha256::digest(envelope)),
        envelope_len: envelope.len() as u64,
        distinct,
    })
}

/// What the box is and has, for the policy checks.
#[derive(Debug, Clone)]
pub struct Installed {
    pub board: String,
    pub version: Version,
    /// The last committed version: nothing below it is installed again.
    pub floor: Version,
    /// The Pi 4 bootloader EEPROM release (`YYYY-MM-DD`), where the board has one.
    pub eeprom: Option<String>,
}

/// The checks a signed manifest must still pass on this box.
pub fn check_policy(m: &Manifest, box_: &Installed) -> Result<()> {
    if !m.boards.contains(&box_.board) {
        return fail(
            Kind::WrongBoard,
            format!("this update is for {}, and this box is {}", m.boards.join(", "), box_.board),
        );
    }
    if m.version <= box_.version {
        return fail(
            Kind::Downgrade,
            format!("this update is version {}, and the box already runs {}", m.version, box_.version),
        );
    }
    if m.version < box_.floor {
        return fail(
            Kind::BelowFloor,
            format!(
                "version {} is older than {}, which this box already ran and committed; older versions are not installed again",
                m.version, box_.floor
            ),
        );
    }
    if let Some(min) = m.min_version {
        if box_.version < min {
            return fail(
                Kind::NeedsNewerBase,
                format!("version {} installs only over {min} or later; install {min} first", m.version),
            );
        }
    }
    if let Some(need) = &m.needs_eeprom {
        match &box_.eeprom {
            Some(have) if have.as_str() >= need.as_str() => {}
            Some(have) => {
                return fail(
                    Kind::EepromTooOld,
                    format!(
                        "this update needs the Raspberry Pi bootloader of {need} or later, and the box has {have}: update the bootloader with Raspberry Pi Imager (Misc utility images → Bootloader) first"
                    ),
                )
            }
            None if box_.board == "rpi4" => {
                return fail(
                    Kind::EepromTooOld,
                    format!("this update needs the Raspberry Pi bootloader of {need} or later, and the box cannot read its version"),
                )
            }
            None => {}
        }
    }
    Ok(())
}
