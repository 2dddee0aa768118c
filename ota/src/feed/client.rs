//! The box's side: the trusted metadata and the TUF client workflow (spec 5.3 to 5.6).

use std::collections::{BTreeMap, BTreeSet};

use crate::error::{fail, Error, Kind, Result};
use crate::keys::{Envelope, KeyId, PublicKey, Role};

use super::{
    check_fresh, parse_meta, sha256_hex, verify_meta, versioned_root_file, MetaPin, Metadata, Root, Snapshot, Targets,
    Timestamp, MAX_ROOT_LEN, MAX_ROOT_ROTATIONS, MAX_SNAPSHOT_LEN, MAX_TARGETS_LEN, MAX_TIMESTAMP_LEN, ROOT_FILE,
    SNAPSHOT_FILE, TARGETS_FILE, TIMESTAMP_FILE,
};

/// How the client gets feed files (HTTP on the box, a map in tests).
pub trait Fetch {
    /// The feed file `name`: `Ok(None)` if the feed has none (HTTP 404), `Err` of kind
    /// [`Kind::Oversized`] as soon as the body passes `max_len` bytes (never buffer an endless
    /// body). The client checks the length again anyway.
    fn fetch(&mut self, name: &str, max_len: u64) -> Result<Option<Vec<u8>>>;
}

impl<F: FnMut(&str, u64) -> Result<Option<Vec<u8>>>> Fetch for F {
    fn fetch(&mut self, name: &str, max_len: u64) -> Result<Option<Vec<u8>>> {
        self(name, max_len)
    }
}

/// A verified file: its exact bytes (what is persisted) and what they say.
#[derive(Debug, Clone)]
struct Trusted<T> {
    bytes: Vec<u8>,
    meta: T,
}

impl<T: Metadata> Trusted<T> {
    /// Whether these bytes are what `pin` names (so they need not be fetched again).
    fn matches(&self, pin: &MetaPin) -> bool {
        self.meta.version() == pin.version
            && self.bytes.len() as u64 <= pin.length
            && sha256_hex(&self.bytes) == pin.sha256
    }

    /// `ReplayedMetadata` unless `(version, bytes)` is newer than this, or these same bytes.
    fn check_not_older(&self, version: u64, bytes: &[u8]) -> Result<()> {
        let trusted = self.meta.version();
        if version < trusted {
            return fail(
                Kind::ReplayedMetadata,
                format!("{} version {version} is older than the trusted version {trusted}", T::FILE),
            );
        }
        if version == trusted && bytes != self.bytes.as_slice() {
            return fail(
                Kind::ReplayedMetadata,
                format!("{} version {version} is not the trusted file of that version", T::FILE),
            );
        }
        Ok(())
    }
}

/// What the box trusts: the last verified root, and the timestamp, snapshot and targets it
/// verified since (each absent until first verified, or dropped when a root rotation changes
/// its role's keys).
///
/// Invariant: every file held verifies under the root held. Expiry is not part of it (time
/// passes while the box is offline): [`TrustedState::refresh`] checks it.
#[derive(Debug, Clone)]
pub struct TrustedState {
    root: Trusted<Root>,
    timestamp: Option<Trusted<Timestamp>>,
    snapshot: Option<Trusted<Snapshot>>,
    targets: Option<Trusted<Targets>>,
}

impl TrustedState {
    /// The initial trust: the root the box ships with, signed by a threshold of its own root
    /// role. Its expiry is not checked here: a box that sat on a shelf longer than the root's
    /// lifetime must still be able to walk to a newer root; `refresh` checks the final root.
    pub fn new(root_bytes: &[u8]) -> Result<Self> {
        let env = Envelope::parse(root_bytes)?;
        let root: Root = parse_meta(&env, ROOT_FILE)?;
        env.verify(&root.keys, &root.roles.root, ROOT_FILE)?;
        Ok(TrustedState {
            root: Trusted { bytes: root_bytes.to_vec(), meta: root },
            timestamp: None,
            snapshot: None,
            targets: None,
        })
    }

    /// The files to persist, named `root.json`, `timestamp.json`, `snapshot.json`,
    /// `targets.json`: only those held. It is the whole state, so a file not listed must be
    /// removed (write a new directory and swap it in): a stale one may no longer verify.
    pub fn to_files(&self) -> Vec<(&'static str, Vec<u8>)> {
        let mut files = vec![(ROOT_FILE, self.root.bytes.clone())];
        if let Some(t) = &self.timestamp {
            files.push((TIMESTAMP_FILE, t.bytes.clone()));
        }
        if let Some(s) = &self.snapshot {
            files.push((SNAPSHOT_FILE, s.bytes.clone()));
        }
        if let Some(t) = &self.targets {
            files.push((TARGETS_FILE, t.bytes.clone()));
        }
        files
    }

    /// The state back from what [`TrustedState::to_files`] gave. `root.json` is required; every
    /// file is checked again against it (signatures, `_type`, fields; not expiry), an unknown or
    /// repeated name is `Malformed`.
    pub fn from_files<'a>(files: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> Result<Self> {
        let mut by_name: BTreeMap<&str, &[u8]> = BTreeMap::new();
        for (name, bytes) in files {
            if ![ROOT_FILE, TIMESTAMP_FILE, SNAPSHOT_FILE, TARGETS_FILE].contains(&name) {
                return fail(Kind::Malformed, format!("{name:?} is not a trusted metadata file"));
            }
            if by_name.insert(name, bytes).is_some() {
                return fail(Kind::Malformed, format!("{name} given twice"));
            }
        }
        let root = by_name.get(ROOT_FILE).ok_or_else(|| Error::new(Kind::Malformed, "no trusted root.json"))?;
        let mut state = TrustedState::new(root)?;
        let r = &state.root.meta;
        let load = |name: &str| by_name.get(name).map(|b| b.to_vec());
        if let Some(bytes) = load(TIMESTAMP_FILE) {
            let meta = verify_meta(&bytes, &r.keys, &r.roles.timestamp)?;
            state.timestamp = Some(Trusted { bytes, meta });
        }
        if let Some(bytes) = load(SNAPSHOT_FILE) {
            let meta = verify_meta(&bytes, &r.keys, &r.roles.snapshot)?;
            state.snapshot = Some(Trusted { bytes, meta });
        }
        if let Some(bytes) = load(TARGETS_FILE) {
            let meta = verify_meta(&bytes, &r.keys, &r.roles.targets)?;
            state.targets = Some(Trusted { bytes, meta });
        }
        Ok(state)
    }

    pub fn root(&self) -> &Root {
        &self.root.meta
    }
    pub fn timestamp(&self) -> Option<&Timestamp> {
        self.timestamp.as_ref().map(|t| &t.meta)
    }
    pub fn snapshot(&self) -> Option<&Snapshot> {
        self.snapshot.as_ref().map(|s| &s.meta)
    }
    /// The last verified targets (possibly expired since: `refresh` tells).
    pub fn targets(&self) -> Option<&Targets> {
        self.targets.as_ref().map(|t| &t.meta)
    }

    /// The keys and role that sign bundle manifests (the current root's targets role), for
    /// [`crate::manifest::verify`] of an uploaded bundle without the feed.
    pub fn targets_role(&self) -> (&BTreeMap<KeyId, PublicKey>, &Role) {
        (&self.root.meta.keys, &self.root.meta.roles.targets)
    }

    /// One update cycle against the feed (TUF 5.3 to 5.6): walk the root rotations, check the
    /// root is not expired, then timestamp, snapshot and targets. A snapshot or targets file
    /// whose pin matches the trusted copy is not fetched again.
    ///
    /// Each file replaces the trusted one only once it passed every check, so after an error
    /// the state still holds only verified files (possibly some newer ones, e.g. a rotated
    /// root or a newer timestamp): keep using and persisting it. Returns the fresh targets.
    pub fn refresh(&mut self, fetch: &mut dyn Fetch, now: u64) -> Result<&Targets> {
        self.update_root(fetch)?;
        check_fresh(&self.root.meta, ROOT_FILE, now)?;
        let snapshot_pin = self.update_timestamp(fetch, now)?;
        let targets_pin = self.update_snapshot(fetch, &snapshot_pin, now)?;
        self.update_targets(fetch, &targets_pin, now)
    }

    /// TUF 5.3: follow `N+1.root.json`, `N+2.root.json`... while the feed has them.
    fn update_root(&mut self, fetch: &mut dyn Fetch) -> Result<()> {
        for _ in 0..MAX_ROOT_ROTATIONS {
            let old = &self.root.meta;
            let next = old
                .version
                .checked_add(1)
                .ok_or_else(|| Error::new(Kind::Malformed, "root: no version after the trusted one"))?;
            let name = versioned_root_file(next);
            let Some(bytes) = fetch_bounded(fetch, &name, MAX_ROOT_LEN)? else { return Ok(()) };
            let env = Envelope::parse(&bytes)?;
            env.verify(&old.keys, &old.roles.root, &format!("{name} by the keys of root {}", old.version))?;
            let new: Root = parse_meta(&env, &name)?;
            env.verify(&new.keys, &new.roles.root, &format!("{name} by its own keys"))?;
            if new.version < next {
                return fail(Kind::ReplayedMetadata, format!("{name} holds the older root version {}", new.version));
            }
            if new.version != next {
                return fail(Kind::MixedRelease, format!("{name} holds root version {}", new.version));
            }
            self.set_root(Trusted { bytes, meta: new });
        }
        Ok(())
    }

    /// TUF 5.3.11: a role whose keys or threshold changed loses its trusted file (so the new
    /// keys' metadata, which may start at a lower version, is accepted); a change of the
    /// timestamp or snapshot role drops both.
    fn set_root(&mut self, new: Trusted<Root>) {
        let (old, next) = (&self.root.meta.roles, &new.meta.roles);
        if !same_role(&old.timestamp, &next.timestamp) || !same_role(&old.snapshot, &next.snapshot) {
            self.timestamp = None;
            self.snapshot = None;
        }
        if !same_role(&old.targets, &next.targets) {
            self.targets = None;
        }
        self.root = new;
    }

    /// TUF 5.4. Returns the snapshot pin.
    fn update_timestamp(&mut self, fetch: &mut dyn Fetch, now: u64) -> Result<MetaPin> {
        let bytes = fetch_required(fetch, TIMESTAMP_FILE, MAX_TIMESTAMP_LEN)?;
        let root = &self.root.meta;
        let new: Timestamp = verify_meta(&bytes, &root.keys, &root.roles.timestamp)?;
        if let Some(old) = &self.timestamp {
            old.check_not_older(new.version, &bytes)?;
        }
        let floor = self
            .timestamp
            .as_ref()
            .map(|t| t.meta.snapshot.version)
            .max(self.snapshot.as_ref().map(|s| s.meta.version));
        if let Some(floor) = floor {
            if new.snapshot.version < floor {
                return fail(
                    Kind::ReplayedMetadata,
                    format!(
                        "timestamp.json pins snapshot version {}, older than the trusted {floor}",
                        new.snapshot.version
                    ),
                );
            }
        }
        check_fresh(&new, TIMESTAMP_FILE, now)?;
        let pin = new.snapshot.clone();
        self.timestamp = Some(Trusted { bytes, meta: new });
        Ok(pin)
    }

    /// TUF 5.5. Returns the targets pin.
    fn update_snapshot(&mut self, fetch: &mut dyn Fetch, pin: &MetaPin, now: u64) -> Result<MetaPin> {
        if let Some(old) = self.snapshot.as_ref().filter(|s| s.matches(pin)) {
            check_fresh(&old.meta, SNAPSHOT_FILE, now)?;
            return Ok(old.meta.targets.clone());
        }
        let bytes = fetch_pinned(fetch, SNAPSHOT_FILE, TIMESTAMP_FILE, pin, MAX_SNAPSHOT_LEN)?;
        let root = &self.root.meta;
        let new: Snapshot = verify_meta(&bytes, &root.keys, &root.roles.snapshot)?;
        check_pinned_version(SNAPSHOT_FILE, TIMESTAMP_FILE, new.version, pin)?;
        if let Some(old) = &self.snapshot {
            old.check_not_older(new.version, &bytes)?;
        }
        let floor =
            self.snapshot.as_ref().map(|s| s.meta.targets.version).max(self.targets.as_ref().map(|t| t.meta.version));
        if let Some(floor) = floor {
            if new.targets.version < floor {
                return fail(
                    Kind::ReplayedMetadata,
                    format!(
                        "snapshot.json pins targets version {}, older than the trusted {floor}",
                        new.targets.version
                    ),
                );
            }
        }
        check_fresh(&new, SNAPSHOT_FILE, now)?;
        let next = new.targets.clone();
        self.snapshot = Some(Trusted { bytes, meta: new });
        Ok(next)
    }

    /// TUF 5.6.
    fn update_targets(&mut self, fetch: &mut dyn Fetch, pin: &MetaPin, now: u64) -> Result<&Targets> {
        if !self.targets.as_ref().is_some_and(|t| t.matches(pin)) {
            let bytes = fetch_pinned(fetch, TARGETS_FILE, SNAPSHOT_FILE, pin, MAX_TARGETS_LEN)?;
            let root = &self.root.meta;
            let new: Targets = verify_meta(&bytes, &root.keys, &root.roles.targets)?;
            check_pinned_version(TARGETS_FILE, SNAPSHOT_FILE, new.version, pin)?;
            if let Some(old) = &self.targets {
                old.check_not_older(new.version, &bytes)?;
            }
            check_fresh(&new, TARGETS_FILE, now)?;
            return Ok(&self.targets.insert(Trusted { bytes, meta: new }).meta);
        }
        match &self.targets {
            Some(old) => {
                check_fresh(&old.meta, TARGETS_FILE, now)?;
                Ok(&old.meta)
            }
            None => fail(Kind::Malformed, "targets.json: none trusted"),
        }
    }
}

fn same_role(a: &Role, b: &Role) -> bool {
    let ids = |r: &Role| r.keyids.iter().cloned().collect::<BTreeSet<KeyId>>();
    a.threshold == b.threshold && ids(a) == ids(b)
}

/// `fetch`, with its length checked here too.
fn fetch_bounded(fetch: &mut dyn Fetch, name: &str, max_len: u64) -> Result<Option<Vec<u8>>> {
    let body = fetch.fetch(name, max_len)?;
    if let Some(bytes) = &body {
        if bytes.len() as u64 > max_len {
            return fail(Kind::Oversized, format!("{name} is longer than {max_len} bytes"));
        }
    }
    Ok(body)
}

fn fetch_required(fetch: &mut dyn Fetch, name: &str, max_len: u64) -> Result<Vec<u8>> {
    fetch_bounded(fetch, name, max_len)?.ok_or_else(|| Error::new(Kind::Io, format!("the feed has no {name}")))
}

/// `name` as `by` pins it: no longer than the pin (nor `cap`), with the pinned hash.
fn fetch_pinned(fetch: &mut dyn Fetch, name: &str, by: &str, pin: &MetaPin, cap: u64) -> Result<Vec<u8>> {
    if pin.length > cap {
        return fail(Kind::Oversized, format!("{by} allows {} bytes of {name}, more than {cap}", pin.length));
    }
    let bytes = fetch_required(fetch, name, pin.length)?;
    if sha256_hex(&bytes) != pin.sha256 {
        return fail(Kind::MixedRelease, format!("{name} is not the file {by} pins (its hash differs)"));
    }
    Ok(bytes)
}

fn check_pinned_version(name: &str, by: &str, version: u64, pin: &MetaPin) -> Result<()> {
    if version != pin.version {
        return fail(Kind::MixedRelease, format!("{name} is version {version}, {by} pins version {}", pin.version));
    }
    Ok(())
}
