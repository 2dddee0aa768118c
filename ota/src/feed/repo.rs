//! The release tool's side: build and sign the feed's metadata files, in memory. Every function
//! returns file bytes (or names and bytes); `spot-ota repo` writes them.

use std::collections::{BTreeMap, BTreeSet};

use crate::error::{Error, Kind, Result};
use crate::keys::{sign_envelope, Envelope, KeyId, PrivateKey, PublicKey, Role};

use super::{
    parse_meta, versioned_root_file, MetaPin, Metadata, Roles, Root, Snapshot, TargetEntry, Targets, Timestamp,
    ROOT_FILE, SNAPSHOT_FILE, TARGETS_FILE, TIMESTAMP_FILE,
};

pub const DAY: u64 = 24 * 60 * 60;

/// Feed files to write: names in the feed directory and their bytes, in the order to write
/// them.
pub type Files = Vec<(String, Vec<u8>)>;

/// How long each kind of metadata stays valid after signing, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifetimes {
    pub root: u64,
    pub targets: u64,
    pub snapshot: u64,
    pub timestamp: u64,
}

impl Default for Lifetimes {
    /// Root 1 year, targets 90 days, snapshot 30 days, timestamp 7 days.
    fn default() -> Self {
        Lifetimes { root: 365 * DAY, targets: 90 * DAY, snapshot: 30 * DAY, timestamp: 7 * DAY }
    }
}

/// The public keys that sign for a role, and how many of them must.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleKeys {
    pub keys: Vec<PublicKey>,
    pub threshold: u32,
}

/// The keys of every role of a root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootKeys {
    pub root: RoleKeys,
    pub targets: RoleKeys,
    pub snapshot: RoleKeys,
    pub timestamp: RoleKeys,
}

impl Root {
    /// A root of these keys; `Malformed` if a threshold is 0 or more than the role's keys.
    pub fn new(version: u64, expires: u64, keys: &RootKeys) -> Result<Root> {
        let mut all = BTreeMap::new();
        let mut role = |r: &RoleKeys| {
            let ids: BTreeSet<KeyId> = r
                .keys
                .iter()
                .map(|k| {
                    all.insert(k.id(), k.clone());
                    k.id()
                })
                .collect();
            Role { keyids: ids.into_iter().collect(), threshold: r.threshold }
        };
        let roles = Roles {
            root: role(&keys.root),
            targets: role(&keys.targets),
            snapshot: role(&keys.snapshot),
            timestamp: role(&keys.timestamp),
        };
        let root = Root { type_: Root::TYPE.into(), version, expires, keys: all, roles };
        root.check()?;
        Ok(root)
    }
}

/// The feed's metadata as last signed, plus unsigned changes to the targets.
#[derive(Debug, Clone)]
pub struct Repo {
    root: Root,
    /// The working targets: the last signed version with the changes since.
    targets: Targets,
    targets_bytes: Option<Vec<u8>>,
    snapshot_version: u64,
    snapshot_bytes: Option<Vec<u8>>,
    timestamp_version: u64,
}

impl Repo {
    /// A new feed with root version 1, signed by `root_signers` (a threshold of
    /// `keys.root`). Returns the files `1.root.json` and `root.json`.
    pub fn create(keys: &RootKeys, root_signers: &[&PrivateKey], expires: u64) -> Result<(Repo, Files)> {
        let root = Root::new(1, expires, keys)?;
        let bytes = sign(&root, root_signers, &root.keys, &root.roles.root)?;
        let repo = Repo {
            root,
            targets: Targets { type_: Targets::TYPE.into(), version: 0, expires: 0, targets: BTreeMap::new() },
            targets_bytes: None,
            snapshot_version: 0,
            snapshot_bytes: None,
            timestamp_version: 0,
        };
        Ok((repo, vec![(versioned_root_file(1), bytes.clone()), (ROOT_FILE.into(), bytes)]))
    }

    /// The feed as its files are. Only parsed, not verified (after a root rotation the other
    /// files may be signed by old keys until re-signed); a client refresh verifies a feed.
    pub fn load(
        root: &[u8],
        targets: Option<&[u8]>,
        snapshot: Option<&[u8]>,
        timestamp: Option<&[u8]>,
    ) -> Result<Repo> {
        let root: Root = parse_unverified(root)?;
        let (targets, targets_bytes) = match targets {
            Some(bytes) => (parse_unverified(bytes)?, Some(bytes.to_vec())),
            None => (Targets { type_: Targets::TYPE.into(), version: 0, expires: 0, targets: BTreeMap::new() }, None),
        };
        let (snapshot_version, snapshot_bytes) = match snapshot {
            Some(bytes) => (parse_unverified::<Snapshot>(bytes)?.version, Some(bytes.to_vec())),
            None => (0, None),
        };
        let timestamp_version = match timestamp {
            Some(bytes) => parse_unverified::<Timestamp>(bytes)?.version,
            None => 0,
        };
        Ok(Repo { root, targets, targets_bytes, snapshot_version, snapshot_bytes, timestamp_version })
    }

    pub fn root(&self) -> &Root {
        &self.root
    }

    /// The targets with the changes not signed yet.
    pub fn targets(&self) -> &Targets {
        &self.targets
    }

    /// Adds or replaces a bundle (signed with the next `sign_targets`). Returns the one replaced.
    pub fn set_target(&mut self, name: &str, entry: TargetEntry) -> Result<Option<TargetEntry>> {
        let probe = Targets { targets: BTreeMap::from([(name.to_string(), entry.clone())]), ..self.targets.clone() };
        probe.check()?;
        Ok(self.targets.targets.insert(name.to_string(), entry))
    }

    pub fn remove_target(&mut self, name: &str) -> Option<TargetEntry> {
        self.targets.targets.remove(name)
    }

    /// The next `targets.json` (version + 1), signed by a threshold of the targets role.
    pub fn sign_targets(&mut self, signers: &[&PrivateKey], expires: u64) -> Result<Vec<u8>> {
        let next = Targets { version: bump(self.targets.version)?, expires, ..self.targets.clone() };
        let bytes = sign(&next, signers, &self.root.keys, &self.root.roles.targets)?;
        self.targets = next;
        self.targets_bytes = Some(bytes.clone());
        Ok(bytes)
    }

    /// The next `snapshot.json`, pinning the last signed targets.
    pub fn sign_snapshot(&mut self, signers: &[&PrivateKey], expires: u64) -> Result<Vec<u8>> {
        let targets =
            self.targets_bytes.as_deref().ok_or_else(|| Error::new(Kind::Busy, "no targets.json signed yet"))?;
        let version = bump(self.snapshot_version)?;
        let next = Snapshot {
            type_: Snapshot::TYPE.into(),
            version,
            expires,
            targets: MetaPin::of(self.targets.version, targets),
        };
        let bytes = sign(&next, signers, &self.root.keys, &self.root.roles.snapshot)?;
        self.snapshot_version = version;
        self.snapshot_bytes = Some(bytes.clone());
        Ok(bytes)
    }

    /// The next `timestamp.json`, pinning the last signed snapshot (re-sign it before it
    /// expires, even with nothing new).
    pub fn sign_timestamp(&mut self, signers: &[&PrivateKey], expires: u64) -> Result<Vec<u8>> {
        let snapshot =
            self.snapshot_bytes.as_deref().ok_or_else(|| Error::new(Kind::Busy, "no snapshot.json signed yet"))?;
        let version = bump(self.timestamp_version)?;
        let next = Timestamp {
            type_: Timestamp::TYPE.into(),
            version,
            expires,
            snapshot: MetaPin::of(self.snapshot_version, snapshot),
        };
        let bytes = sign(&next, signers, &self.root.keys, &self.root.roles.timestamp)?;
        self.timestamp_version = version;
        Ok(bytes)
    }

    /// Signs targets, snapshot and timestamp anew, expiring `lifetimes` after `now`. Returns
    /// the files in the order to write them (the timestamp last).
    pub fn publish(
        &mut self,
        targets_signers: &[&PrivateKey],
        snapshot_signers: &[&PrivateKey],
        timestamp_signers: &[&PrivateKey],
        now: u64,
        lifetimes: &Lifetimes,
    ) -> Result<Files> {
        let after = |secs: u64| now.saturating_add(secs);
        let targets = self.sign_targets(targets_signers, after(lifetimes.targets))?;
        let snapshot = self.sign_snapshot(snapshot_signers, after(lifetimes.snapshot))?;
        let timestamp = self.sign_timestamp(timestamp_signers, after(lifetimes.timestamp))?;
        Ok(vec![(TARGETS_FILE.into(), targets), (SNAPSHOT_FILE.into(), snapshot), (TIMESTAMP_FILE.into(), timestamp)])
    }

    /// Root version N+1 of `keys` (the same keys again just renews it), signed by a threshold
    /// of root N's root role (`old_signers`) and of its own (`new_signers`). Returns the files
    /// `N+1.root.json` and `root.json`. If the targets keys changed, sign targets (and so
    /// snapshot and timestamp) again with the new keys; if the timestamp or snapshot keys
    /// changed, snapshot and timestamp.
    pub fn rotate_root(
        &mut self,
        keys: &RootKeys,
        old_signers: &[&PrivateKey],
        new_signers: &[&PrivateKey],
        expires: u64,
    ) -> Result<Files> {
        let version = bump(self.root.version)?;
        let next = Root::new(version, expires, keys)?;
        let signers: Vec<&PrivateKey> = old_signers.iter().chain(new_signers).copied().collect();
        let bytes = sign(&next, &signers, &next.keys, &next.roles.root)?;
        Envelope::parse(&bytes)?.verify(&self.root.keys, &self.root.roles.root, "the new root by the old root keys")?;
        self.root = next;
        Ok(vec![(versioned_root_file(version), bytes.clone()), (ROOT_FILE.into(), bytes)])
    }
}

fn bump(version: u64) -> Result<u64> {
    version.checked_add(1).ok_or_else(|| Error::new(Kind::Malformed, "no version after the last one"))
}

/// Signs `meta` with each distinct key and checks that a threshold of `role` signed it.
fn sign<T: Metadata>(
    meta: &T,
    signers: &[&PrivateKey],
    keys: &BTreeMap<KeyId, PublicKey>,
    role: &Role,
) -> Result<Vec<u8>> {
    let mut seen = BTreeSet::new();
    let distinct: Vec<&PrivateKey> = signers.iter().copied().filter(|k| seen.insert(k.id())).collect();
    let bytes = sign_envelope(meta, &distinct)?.into_bytes();
    Envelope::parse(&bytes)?.verify(keys, role, T::FILE)?;
    Ok(bytes)
}

fn parse_unverified<T: Metadata>(bytes: &[u8]) -> Result<T> {
    parse_meta(&Envelope::parse(bytes)?, T::FILE)
}
