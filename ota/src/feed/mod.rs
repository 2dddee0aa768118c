//! The update feed: TUF-style signed, expiring metadata (see
//! <https://theupdateframework.github.io/specification/latest/>), simplified: no delegations,
//! no consistent snapshots beyond versioned root files. Pure logic: the box's client
//! ([`TrustedState::refresh`]) gets its files through an injected [`Fetch`], the release tool
//! ([`Repo`]) gets file bytes back and writes them itself.
//!
//! # Files
//!
//! The feed is a static directory (served over HTTP). Every metadata file is a signed envelope
//! (`{"signed": {...}, "signatures": [{"keyid", "sig"}]}`, see [`crate::keys`]); the payloads,
//! times in seconds since the epoch, hashes lowercase hex SHA-256 of the exact file bytes:
//!
//! - `root.json` and `N.root.json` (every version N, for rotation):
//!   `{"_type":"root","version":N,"expires":T,"keys":{KEYID:{"keytype":"ed25519","public":HEX}},
//!   "roles":{"root":ROLE,"targets":ROLE,"snapshot":ROLE,"timestamp":ROLE}}`, a ROLE being
//!   `{"keyids":[KEYID...],"threshold":K}`. Signed by the offline root keys; root N+1 by a
//!   threshold of root N's root role and of its own.
//! - `timestamp.json`: `{"_type":"timestamp","version":N,"expires":T,
//!   "snapshot":{"version":N,"length":BYTES,"sha256":HEX}}`, short-lived, signed by the online
//!   timestamp key; at most [`MAX_TIMESTAMP_LEN`] bytes.
//! - `snapshot.json`: `{"_type":"snapshot","version":N,"expires":T,
//!   "targets":{"version":N,"length":BYTES,"sha256":HEX}}`.
//! - `targets.json`: `{"_type":"targets","version":N,"expires":T,"targets":{NAME:{"length":BYTES,
//!   "sha256":HEX,"custom":{"version":"1.2.3","boards":["rpi4"],"min_version":"1.0.0"|null,
//!   "notes":"...","manifest_sha256":HEX,"manifest_len":BYTES}}}}`; NAME is the bundle's path in
//!   the feed directory.
//!
//! # Checks and their kinds
//!
//! Signatures: [`Kind::WrongKey`] / [`Kind::BadSignature`]. A wrong `_type` or a field that does
//! not parse: [`Kind::Malformed`]. `expires <= now`: [`Kind::ExpiredMetadata`]. A version lower
//! than the trusted copy's, the same version with other bytes, or a pin (the snapshot version a
//! timestamp names, the targets version a snapshot names) lower than what the box trusts:
//! [`Kind::ReplayedMetadata`]. A hash or version that is not the referring file's pin:
//! [`Kind::MixedRelease`]. A body longer than allowed: [`Kind::Oversized`]. A file missing from
//! the feed (other than the next root): [`Kind::Io`].

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{fail, Kind, Result};
use crate::keys::{Envelope, KeyId, PublicKey, Role};
use crate::version::Version;

mod client;
mod repo;
#[cfg(test)]
mod tests;

pub use client::{Fetch, TrustedState};
pub use repo::{Files, Lifetimes, Repo, RoleKeys, RootKeys, DAY};

pub const ROOT_FILE: &str = "root.json";
pub const TIMESTAMP_FILE: &str = "timestamp.json";
pub const SNAPSHOT_FILE: &str = "snapshot.json";
pub const TARGETS_FILE: &str = "targets.json";

/// A root file is fetched with at most this many bytes.
pub const MAX_ROOT_LEN: u64 = 64 << 10;
/// `timestamp.json` is fetched with at most this many bytes.
pub const MAX_TIMESTAMP_LEN: u64 = 16 << 10;
/// No timestamp may pin a longer `snapshot.json`.
pub const MAX_SNAPSHOT_LEN: u64 = 1 << 20;
/// No snapshot may pin a longer `targets.json`.
pub const MAX_TARGETS_LEN: u64 = 8 << 20;
/// One refresh follows at most this many root rotations (the next refresh goes on).
pub const MAX_ROOT_ROTATIONS: u32 = 32;

/// The name of root version `version` in the feed: `N.root.json`.
pub fn versioned_root_file(version: u64) -> String {
    format!("{version}.root.json")
}

/// The root metadata: the keys the box trusts and which of them sign for each role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Root {
    /// Always `"root"`.
    #[serde(rename = "_type")]
    pub type_: String,
    pub version: u64,
    pub expires: u64,
    pub keys: BTreeMap<KeyId, PublicKey>,
    pub roles: Roles,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Roles {
    pub root: Role,
    pub targets: Role,
    pub snapshot: Role,
    pub timestamp: Role,
}

/// What a metadata file pins of the next one: its version, its most bytes and their hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetaPin {
    pub version: u64,
    pub length: u64,
    pub sha256: String,
}

impl MetaPin {
    /// The pin of these (signed) file bytes.
    pub fn of(version: u64, bytes: &[u8]) -> Self {
        MetaPin { version, length: bytes.len() as u64, sha256: sha256_hex(bytes) }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timestamp {
    /// Always `"timestamp"`.
    #[serde(rename = "_type")]
    pub type_: String,
    pub version: u64,
    pub expires: u64,
    pub snapshot: MetaPin,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Always `"snapshot"`.
    #[serde(rename = "_type")]
    pub type_: String,
    pub version: u64,
    pub expires: u64,
    pub targets: MetaPin,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Targets {
    /// Always `"targets"`.
    #[serde(rename = "_type")]
    pub type_: String,
    pub version: u64,
    pub expires: u64,
    /// Bundle path in the feed directory → what it must be.
    pub targets: BTreeMap<String, TargetEntry>,
}

/// One bundle of the feed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetEntry {
    /// The bundle file's exact length.
    pub length: u64,
    /// SHA-256 of the whole bundle file.
    pub sha256: String,
    pub custom: TargetCustom,
}

impl TargetEntry {
    /// Bytes of the bundle's header (magic, manifest length, signed manifest, padding): what a
    /// box fetches first when it downloads only the chunks it lacks.
    pub fn header_len(&self) -> u64 {
        crate::bundle::payload_start(self.custom.manifest_len)
    }

    /// Checks a bundle's first [`Self::header_len`] bytes against this pin (the signed
    /// `manifest_sha256`/`manifest_len` stand in for the whole-file hash a partial download
    /// cannot check) and returns the signed manifest envelope, still to be verified by the
    /// root's targets keys. Every chunk is then checked against that manifest.
    pub fn check_header<'a>(&self, head: &'a [u8]) -> Result<&'a [u8]> {
        let len = self.custom.manifest_len;
        if head.len() as u64 != self.header_len() || self.header_len() > self.length {
            return fail(Kind::MixedRelease, "the bundle's header is not as long as the update feed pins it");
        }
        if &head[..8] != crate::bundle::MAGIC || u64::from(u32::from_le_bytes([head[8], head[9], head[10], head[11]])) != len {
            return fail(Kind::MixedRelease, "the bundle's header is not the one the update feed lists");
        }
        let envelope = &head[12..12 + len as usize];
        if sha256_hex(envelope) != self.custom.manifest_sha256 || head[12 + len as usize..].iter().any(|b| *b != 0) {
            return fail(Kind::MixedRelease, "the bundle is not the one the update feed lists (its manifest differs)");
        }
        Ok(envelope)
    }
}

/// What the box needs to choose a bundle before downloading it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetCustom {
    pub version: Version,
    pub boards: Vec<String>,
    #[serde(default)]
    pub min_version: Option<Version>,
    pub notes: String,
    /// SHA-256 of the bundle's signed manifest envelope: lets the installer verify a bundle it
    /// downloads only in part.
    pub manifest_sha256: String,
    pub manifest_len: u64,
}

/// Lowercase hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// What the four metadata kinds share.
trait Metadata: Serialize + DeserializeOwned {
    /// The `_type`.
    const TYPE: &'static str;
    /// The file name, for messages.
    const FILE: &'static str;
    fn version(&self) -> u64;
    fn expires(&self) -> u64;
    /// Checks the fields the type system does not.
    fn check(&self) -> Result<()>;
}

impl Metadata for Root {
    const TYPE: &'static str = "root";
    const FILE: &'static str = ROOT_FILE;
    fn version(&self) -> u64 {
        self.version
    }
    fn expires(&self) -> u64 {
        self.expires
    }
    fn check(&self) -> Result<()> {
        for (id, key) in &self.keys {
            if key.id() != *id {
                return fail(Kind::Malformed, format!("root: key id {id} is not its key's id"));
            }
        }
        let roles = &self.roles;
        for (name, role) in [
            ("root", &roles.root),
            ("targets", &roles.targets),
            ("snapshot", &roles.snapshot),
            ("timestamp", &roles.timestamp),
        ] {
            let mut known: Vec<&KeyId> = role.keyids.iter().filter(|id| self.keys.contains_key(*id)).collect();
            known.sort();
            known.dedup();
            if role.threshold == 0 || role.threshold as usize > known.len() {
                return fail(
                    Kind::Malformed,
                    format!("root: the {name} role needs {} of {} known keys", role.threshold, known.len()),
                );
            }
        }
        Ok(())
    }
}

impl Metadata for Timestamp {
    const TYPE: &'static str = "timestamp";
    const FILE: &'static str = TIMESTAMP_FILE;
    fn version(&self) -> u64 {
        self.version
    }
    fn expires(&self) -> u64 {
        self.expires
    }
    fn check(&self) -> Result<()> {
        check_sha256(&self.snapshot.sha256, "timestamp: the snapshot hash")
    }
}

impl Metadata for Snapshot {
    const TYPE: &'static str = "snapshot";
    const FILE: &'static str = SNAPSHOT_FILE;
    fn version(&self) -> u64 {
        self.version
    }
    fn expires(&self) -> u64 {
        self.expires
    }
    fn check(&self) -> Result<()> {
        check_sha256(&self.targets.sha256, "snapshot: the targets hash")
    }
}

impl Metadata for Targets {
    const TYPE: &'static str = "targets";
    const FILE: &'static str = TARGETS_FILE;
    fn version(&self) -> u64 {
        self.version
    }
    fn expires(&self) -> u64 {
        self.expires
    }
    fn check(&self) -> Result<()> {
        for (name, entry) in &self.targets {
            check_target_name(name)?;
            check_sha256(&entry.sha256, &format!("targets: {name}'s hash"))?;
            check_sha256(&entry.custom.manifest_sha256, &format!("targets: {name}'s manifest hash"))?;
            if entry.custom.manifest_len > crate::manifest::MAX_MANIFEST as u64 {
                return fail(Kind::Malformed, format!("targets: {name}'s manifest is longer than any bundle's"));
            }
        }
        Ok(())
    }
}

fn check_sha256(hash: &str, what: &str) -> Result<()> {
    if hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        Ok(())
    } else {
        fail(Kind::Malformed, format!("{what} is not lowercase hex SHA-256"))
    }
}

/// A target name is a relative path in the feed directory: `/`-separated segments of
/// `[A-Za-z0-9._-]`, none empty, `.` or `..`.
pub fn check_target_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 255
        && name.split('/').all(|seg| {
            !seg.is_empty()
                && seg != "."
                && seg != ".."
                && seg.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        });
    if ok {
        Ok(())
    } else {
        fail(Kind::Malformed, format!("target name {name:?} is not a relative path of [A-Za-z0-9._-] segments"))
    }
}

/// The payload of an envelope whose signatures were checked: its `_type` first, then the rest.
fn parse_meta<T: Metadata>(env: &Envelope<'_>, what: &str) -> Result<T> {
    #[derive(Deserialize)]
    struct Header {
        #[serde(rename = "_type")]
        type_: String,
    }
    let header: Header = env.parse_signed(what)?;
    if header.type_ != T::TYPE {
        return fail(Kind::Malformed, format!("{what}: _type is {:?}, not {:?}", header.type_, T::TYPE));
    }
    let meta: T = env.parse_signed(what)?;
    meta.check()?;
    Ok(meta)
}

/// `bytes` as metadata of type `T`, signed by a threshold of `role`.
fn verify_meta<T: Metadata>(bytes: &[u8], keys: &BTreeMap<KeyId, PublicKey>, role: &Role) -> Result<T> {
    let env = Envelope::parse(bytes)?;
    env.verify(keys, role, T::FILE)?;
    parse_meta(&env, T::FILE)
}

/// Not expired at `now`.
fn check_fresh<T: Metadata>(meta: &T, what: &str, now: u64) -> Result<()> {
    if meta.expires() <= now {
        return fail(
            Kind::ExpiredMetadata,
            format!(
                "{what} (version {}) expired at {} and it is {now}: the feed is frozen or the clock is wrong",
                meta.version(),
                meta.expires()
            ),
        );
    }
    Ok(())
}
