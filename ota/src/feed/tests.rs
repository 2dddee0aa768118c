#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use serde::Serialize;

use super::*;
use crate::error::{Error, Kind, Result};
use crate::keys::{sign_envelope, PrivateKey};

const NOW: u64 = 1_700_000_000;

fn key(n: u8) -> PrivateKey {
    PrivateKey::from_seed([n; 32])
}

fn role(keys: &[&PrivateKey]) -> RoleKeys {
    RoleKeys { keys: keys.iter().map(|k| k.public()).collect(), threshold: 1 }
}

fn root_keys(root: &PrivateKey, targets: &PrivateKey, snapshot: &PrivateKey, timestamp: &PrivateKey) -> RootKeys {
    RootKeys {
        root: role(&[root]),
        targets: role(&[targets]),
        snapshot: role(&[snapshot]),
        timestamp: role(&[timestamp]),
    }
}

fn entry(version: &str) -> TargetEntry {
    TargetEntry {
        length: 1000,
        sha256: sha256_hex(version.as_bytes()),
        custom: TargetCustom {
            version: version.parse().unwrap(),
            boards: vec!["rpi4".into()],
            min_version: None,
            notes: format!("release {version}"),
            manifest_sha256: sha256_hex(format!("manifest {version}").as_bytes()),
            manifest_len: 500,
        },
    }
}

fn signed<T: Serialize>(payload: &T, keys: &[&PrivateKey]) -> Vec<u8> {
    sign_envelope(payload, keys).unwrap().into_bytes()
}

fn timestamp_of(version: u64, snapshot_version: u64, snapshot: &[u8], key: &PrivateKey) -> Vec<u8> {
    let t = Timestamp {
        type_: "timestamp".into(),
        version,
        expires: NOW + 7 * DAY,
        snapshot: MetaPin::of(snapshot_version, snapshot),
    };
    signed(&t, &[key])
}

fn snapshot_of(version: u64, targets_version: u64, targets: &[u8], key: &PrivateKey) -> Vec<u8> {
    let s = Snapshot {
        type_: "snapshot".into(),
        version,
        expires: NOW + 30 * DAY,
        targets: MetaPin::of(targets_version, targets),
    };
    signed(&s, &[key])
}

/// A feed directory in memory. `dishonest` returns whole files whatever `max_len`.
#[derive(Default)]
struct Feed {
    files: BTreeMap<String, Vec<u8>>,
    dishonest: bool,
    fetched: Vec<String>,
}

impl Feed {
    fn put(&mut self, files: Vec<(String, Vec<u8>)>) {
        self.files.extend(files);
    }
    fn set(&mut self, name: &str, bytes: Vec<u8>) {
        self.files.insert(name.into(), bytes);
    }
    fn get(&self, name: &str) -> Vec<u8> {
        self.files[name].clone()
    }
}

impl Fetch for Feed {
    fn fetch(&mut self, name: &str, max_len: u64) -> Result<Option<Vec<u8>>> {
        self.fetched.push(name.into());
        match self.files.get(name) {
            Some(b) if !self.dishonest && b.len() as u64 > max_len => Err(Error::new(Kind::Oversized, "too long")),
            body => Ok(body.cloned()),
        }
    }
}

/// A release manager's keys, their repo and its feed (release 1.0.0 published at `NOW`).
struct World {
    root: PrivateKey,
    targets: PrivateKey,
    snapshot: PrivateKey,
    timestamp: PrivateKey,
    repo: Repo,
    feed: Feed,
    /// The root the box ships with.
    shipped: Vec<u8>,
}

impl World {
    fn new() -> World {
        World::with_release("1.0.0")
    }
    fn with_release(version: &str) -> World {
        let (root, targets, snapshot, timestamp) = (key(1), key(2), key(3), key(4));
        let keys = root_keys(&root, &targets, &snapshot, &timestamp);
        let (repo, files) = Repo::create(&keys, &[&root], NOW + 365 * DAY).unwrap();
        let shipped = files[1].1.clone();
        let mut feed = Feed::default();
        feed.put(files);
        let mut w = World { root, targets, snapshot, timestamp, repo, feed, shipped };
        w.release(version, NOW);
        w
    }
    fn publish(&mut self, now: u64) {
        let files = self
            .repo
            .publish(&[&self.targets], &[&self.snapshot], &[&self.timestamp], now, &Lifetimes::default())
            .unwrap();
        self.feed.put(files);
    }
    fn release(&mut self, version: &str, now: u64) {
        self.repo.set_target(&format!("spot-{version}.bundle"), entry(version)).unwrap();
        self.publish(now);
    }
    fn client(&self) -> TrustedState {
        TrustedState::new(&self.shipped).unwrap()
    }
    /// A client that refreshed at `NOW`.
    fn synced(&mut self) -> TrustedState {
        let mut state = self.client();
        state.refresh(&mut self.feed, NOW).unwrap();
        state
    }
    fn keys(&self) -> RootKeys {
        root_keys(&self.root, &self.targets, &self.snapshot, &self.timestamp)
    }
}

fn kind<T>(r: Result<T>) -> Kind {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.kind,
    }
}

fn names(targets: &Targets) -> Vec<&str> {
    targets.targets.keys().map(String::as_str).collect()
}

#[test]
fn happy_path_and_nothing_new() {
    let mut w = World::new();
    let mut state = w.client();
    let t = state.refresh(&mut w.feed, NOW).unwrap();
    assert_eq!(names(t), ["spot-1.0.0.bundle"]);
    assert_eq!(t.targets["spot-1.0.0.bundle"], entry("1.0.0"));
    assert_eq!(state.timestamp().unwrap().version, 1);
    assert_eq!(state.snapshot().unwrap().version, 1);

    // Nothing new: only the next root and the timestamp are fetched.
    w.feed.fetched.clear();
    state.refresh(&mut w.feed, NOW + 1).unwrap();
    assert_eq!(w.feed.fetched, ["2.root.json", "timestamp.json"]);

    w.release("1.1.0", NOW + DAY);
    let t = state.refresh(&mut w.feed, NOW + DAY).unwrap();
    assert_eq!(names(t), ["spot-1.0.0.bundle", "spot-1.1.0.bundle"]);
    assert_eq!(t.version, 2);
    // A closure is a fetch too.
    let files = w.feed.files.clone();
    let mut fetch = |name: &str, _max: u64| -> Result<Option<Vec<u8>>> { Ok(files.get(name).cloned()) };
    assert_eq!(w.client().refresh(&mut fetch, NOW + DAY).unwrap().version, 2);
}

#[test]
fn replayed_timestamp() {
    let mut w = World::new();
    let old = w.feed.get(TIMESTAMP_FILE);
    w.release("1.1.0", NOW);
    let mut state = w.synced();
    // Identical bytes again: no change.
    state.refresh(&mut w.feed, NOW).unwrap();
    // An older one, pinning an older snapshot.
    w.feed.set(TIMESTAMP_FILE, old);
    assert_eq!(kind(state.refresh(&mut w.feed, NOW)), Kind::ReplayedMetadata);

    // Re-signed twice with nothing new, then the first of them (the same snapshot pin).
    let before = w.repo.sign_timestamp(&[&w.timestamp], NOW + DAY).unwrap();
    let latest = w.repo.sign_timestamp(&[&w.timestamp], NOW + DAY).unwrap();
    w.feed.set(TIMESTAMP_FILE, latest);
    state.refresh(&mut w.feed, NOW).unwrap();
    assert_eq!(state.timestamp().unwrap().version, 4);
    w.feed.set(TIMESTAMP_FILE, before);
    assert_eq!(kind(state.refresh(&mut w.feed, NOW)), Kind::ReplayedMetadata);

    // The same version with other content (here: another expiry).
    let snapshot = w.feed.get(SNAPSHOT_FILE);
    let mut t = Timestamp {
        type_: "timestamp".into(),
        version: 4,
        expires: NOW + 2 * DAY,
        snapshot: MetaPin::of(2, &snapshot),
    };
    w.feed.set(TIMESTAMP_FILE, signed(&t, &[&w.timestamp]));
    assert_eq!(kind(state.refresh(&mut w.feed, NOW)), Kind::ReplayedMetadata);
    t.version = 5;
    w.feed.set(TIMESTAMP_FILE, signed(&t, &[&w.timestamp]));
    state.refresh(&mut w.feed, NOW).unwrap();
}

#[test]
fn replayed_snapshot() {
    let mut w = World::new();
    let old_snapshot = w.feed.get(SNAPSHOT_FILE);
    w.release("1.1.0", NOW);
    let mut state = w.synced();
    assert_eq!(state.snapshot().unwrap().version, 2);

    // A newer timestamp (the online key) pinning the older snapshot: refused before it is
    // trusted or the snapshot fetched.
    w.feed.set(TIMESTAMP_FILE, timestamp_of(3, 1, &old_snapshot, &w.timestamp));
    w.feed.set(SNAPSHOT_FILE, old_snapshot);
    w.feed.fetched.clear();
    assert_eq!(kind(state.refresh(&mut w.feed, NOW)), Kind::ReplayedMetadata);
    assert_eq!(state.timestamp().unwrap().version, 2);
    assert!(!w.feed.fetched.iter().any(|n| n == SNAPSHOT_FILE));

    // Snapshot version 2 again, with other content.
    let targets = w.feed.get(TARGETS_FILE);
    let mut s =
        Snapshot { type_: "snapshot".into(), version: 2, expires: NOW + DAY, targets: MetaPin::of(2, &targets) };
    let other = signed(&s, &[&w.snapshot]);
    w.feed.set(TIMESTAMP_FILE, timestamp_of(3, 2, &other, &w.timestamp));
    w.feed.set(SNAPSHOT_FILE, other);
    assert_eq!(kind(state.refresh(&mut w.feed, NOW)), Kind::ReplayedMetadata);
    s.version = 3;
    let newer = signed(&s, &[&w.snapshot]);
    w.feed.set(TIMESTAMP_FILE, timestamp_of(4, 3, &newer, &w.timestamp));
    w.feed.set(SNAPSHOT_FILE, newer);
    state.refresh(&mut w.feed, NOW).unwrap();
}

#[test]
fn replayed_targets() {
    let mut w = World::new();
    let old_targets = w.feed.get(TARGETS_FILE);
    w.release("1.1.0", NOW);
    let mut state = w.synced();

    // A newer snapshot (and timestamp) pinning the older targets.
    let snapshot = snapshot_of(3, 1, &old_targets, &w.snapshot);
    w.feed.set(TIMESTAMP_FILE, timestamp_of(3, 3, &snapshot, &w.timestamp));
    w.feed.set(SNAPSHOT_FILE, snapshot);
    w.feed.set(TARGETS_FILE, old_targets);
    w.feed.fetched.clear();
    assert_eq!(kind(state.refresh(&mut w.feed, NOW)), Kind::ReplayedMetadata);
    assert_eq!(state.snapshot().unwrap().version, 2);
    assert!(!w.feed.fetched.iter().any(|n| n == TARGETS_FILE));

    // Targets version 2 again, with other content.
    let mut t = state.targets().unwrap().clone();
    t.targets.clear();
    let other = signed(&t, &[&w.targets]);
    let snapshot = snapshot_of(4, 2, &other, &w.snapshot);
    w.feed.set(TIMESTAMP_FILE, timestamp_of(4, 4, &snapshot, &w.timestamp));
    w.feed.set(SNAPSHOT_FILE, snapshot);
    w.feed.set(TARGETS_FILE, other);
    assert_eq!(kind(state.refresh(&mut w.feed, NOW)), Kind::ReplayedMetadata);
    assert_eq!(names(state.targets().unwrap()), ["spot-1.0.0.bundle", "spot-1.1.0.bundle"]);
}

#[test]
fn frozen_timestamp_snapshot_targets() {
    let mut w = World::new();
    // The timestamp lives 7 days.
    let mut state = w.synced();
    assert_eq!(kind(state.refresh(&mut w.feed, NOW + 7 * DAY)), Kind::ExpiredMetadata);
    assert_eq!(kind(w.client().refresh(&mut w.feed, NOW + 8 * DAY)), Kind::ExpiredMetadata);

    // The snapshot (30 days) expired, the timestamp re-signed: whether trusted or fetched.
    let mut state = w.synced();
    let later = NOW + 40 * DAY;
    let t = w.repo.sign_timestamp(&[&w.timestamp], later + DAY).unwrap();
    w.feed.set(TIMESTAMP_FILE, t);
    assert_eq!(kind(state.refresh(&mut w.feed, later)), Kind::ExpiredMetadata);
    assert_eq!(kind(w.client().refresh(&mut w.feed, later)), Kind::ExpiredMetadata);

    // The targets (90 days) expired, snapshot and timestamp re-signed.
    let mut w = World::new();
    let mut state = w.synced();
    let later = NOW + 100 * DAY;
    let s = w.repo.sign_snapshot(&[&w.snapshot], later + DAY).unwrap();
    let t = w.repo.sign_timestamp(&[&w.timestamp], later + DAY).unwrap();
    w.feed.set(SNAPSHOT_FILE, s);
    w.feed.set(TIMESTAMP_FILE, t);
    assert_eq!(kind(state.refresh(&mut w.feed, later)), Kind::ExpiredMetadata);
    assert_eq!(state.snapshot().unwrap().version, 2);
    assert_eq!(kind(w.client().refresh(&mut w.feed, later)), Kind::ExpiredMetadata);
    // Re-signed, it is fine again.
    w.publish(later);
    state.refresh(&mut w.feed, later).unwrap();
}

#[test]
fn frozen_root() {
    let mut w = World::new();
    let later = NOW + 400 * DAY;
    w.publish(later);
    assert_eq!(kind(w.client().refresh(&mut w.feed, later)), Kind::ExpiredMetadata);
    // A newer root: even a box shipped with the expired one walks to it.
    let files = w.repo.rotate_root(&w.keys(), &[&w.root], &[&w.root], later + 365 * DAY).unwrap();
    w.feed.put(files);
    let mut state = w.client();
    state.refresh(&mut w.feed, later).unwrap();
    assert_eq!(state.root().version, 2);
}

#[test]
fn mix_and_match() {
    let mut w = World::new();
    // Another release with the same keys and versions (say a beta channel), files of the
    // same lengths.
    let beta = World::with_release("2.0.0");
    assert_eq!(beta.feed.get(SNAPSHOT_FILE).len(), w.feed.get(SNAPSHOT_FILE).len());

    // Our timestamp with their snapshot (and their targets, which it pins).
    let mut mixed = Feed { files: w.feed.files.clone(), ..Feed::default() };
    mixed.set(SNAPSHOT_FILE, beta.feed.get(SNAPSHOT_FILE));
    mixed.set(TARGETS_FILE, beta.feed.get(TARGETS_FILE));
    let mut state = w.client();
    assert_eq!(kind(state.refresh(&mut mixed, NOW)), Kind::MixedRelease);
    assert!(state.snapshot().is_none());

    // Our timestamp and snapshot with their targets.
    let mut mixed = Feed { files: w.feed.files.clone(), ..Feed::default() };
    mixed.set(TARGETS_FILE, beta.feed.get(TARGETS_FILE));
    assert_eq!(kind(w.client().refresh(&mut mixed, NOW)), Kind::MixedRelease);

    // Targets of an older release.
    let old_targets = w.feed.get(TARGETS_FILE);
    w.release("1.1.0", NOW);
    let mut mixed = Feed { files: w.feed.files.clone(), ..Feed::default() };
    mixed.set(TARGETS_FILE, old_targets);
    assert_eq!(kind(w.client().refresh(&mut mixed, NOW)), Kind::MixedRelease);

    // The right bytes, but a version other than the pin says.
    let snapshot = w.feed.get(SNAPSHOT_FILE);
    let mut mixed = Feed { files: w.feed.files.clone(), ..Feed::default() };
    mixed.set(TIMESTAMP_FILE, timestamp_of(9, 3, &snapshot, &w.timestamp));
    assert_eq!(kind(w.client().refresh(&mut mixed, NOW)), Kind::MixedRelease);
    // Also when the box already trusts those bytes.
    let mut state = w.synced();
    assert_eq!(kind(state.refresh(&mut mixed, NOW)), Kind::MixedRelease);
    let targets = w.feed.get(TARGETS_FILE);
    let snapshot = snapshot_of(9, 1, &targets, &w.snapshot);
    mixed.set(TIMESTAMP_FILE, timestamp_of(9, 9, &snapshot, &w.timestamp));
    mixed.set(SNAPSHOT_FILE, snapshot);
    assert_eq!(kind(w.client().refresh(&mut mixed, NOW)), Kind::MixedRelease);
}

#[test]
fn endless_data() {
    let w = World::new();
    // A fetch that ignores max_len: the client checks the length itself.
    let mut endless = Feed { files: w.feed.files.clone(), dishonest: true, ..Feed::default() };
    let mut t = w.feed.get(TIMESTAMP_FILE);
    t.resize(MAX_TIMESTAMP_LEN as usize + 1, b' ');
    endless.set(TIMESTAMP_FILE, t);
    assert_eq!(kind(w.client().refresh(&mut endless, NOW)), Kind::Oversized);

    // A snapshot longer than the timestamp's pin allows.
    let mut endless = Feed { files: w.feed.files.clone(), dishonest: true, ..Feed::default() };
    let mut s = w.feed.get(SNAPSHOT_FILE);
    s.extend_from_slice(b"    ");
    endless.set(SNAPSHOT_FILE, s.clone());
    assert_eq!(kind(w.client().refresh(&mut endless, NOW)), Kind::Oversized);
    // An honest fetch says so itself.
    let mut honest = Feed { files: w.feed.files.clone(), ..Feed::default() };
    honest.set(SNAPSHOT_FILE, s);
    assert_eq!(kind(w.client().refresh(&mut honest, NOW)), Kind::Oversized);

    // A pin shorter than the trusted snapshot: not taken as the same file.
    let mut w = World::new();
    let mut state = w.synced();
    let snapshot = w.feed.get(SNAPSHOT_FILE);
    let mut pin = MetaPin::of(1, &snapshot);
    pin.length -= 1;
    let t = Timestamp { type_: "timestamp".into(), version: 2, expires: NOW + DAY, snapshot: pin };
    w.feed.set(TIMESTAMP_FILE, signed(&t, &[&w.timestamp]));
    assert_eq!(kind(state.refresh(&mut w.feed, NOW)), Kind::Oversized);

    // A timestamp pinning a snapshot longer than any is not even fetched.
    let mut feed = Feed { files: w.feed.files.clone(), ..Feed::default() };
    let snapshot = w.feed.get(SNAPSHOT_FILE);
    let mut pin = MetaPin::of(1, &snapshot);
    pin.length = MAX_SNAPSHOT_LEN + 1;
    let t = Timestamp { type_: "timestamp".into(), version: 2, expires: NOW + DAY, snapshot: pin };
    feed.set(TIMESTAMP_FILE, signed(&t, &[&w.timestamp]));
    assert_eq!(kind(w.client().refresh(&mut feed, NOW)), Kind::Oversized);
    assert!(!feed.fetched.iter().any(|n| n == SNAPSHOT_FILE));
}

#[test]
fn signatures_and_types() {
    let w = World::new();
    // Changed after signing.
    let mut feed = Feed { files: w.feed.files.clone(), ..Feed::default() };
    let t = String::from_utf8(w.feed.get(TIMESTAMP_FILE)).unwrap().replacen("\"version\":1", "\"version\":7", 1);
    feed.set(TIMESTAMP_FILE, t.into_bytes());
    assert_eq!(kind(w.client().refresh(&mut feed, NOW)), Kind::BadSignature);
    // Signed by the snapshot key instead of the timestamp key.
    let snapshot = w.feed.get(SNAPSHOT_FILE);
    feed.set(TIMESTAMP_FILE, timestamp_of(2, 1, &snapshot, &w.snapshot));
    assert_eq!(kind(w.client().refresh(&mut feed, NOW)), Kind::WrongKey);
    // A timestamp that says it is something else.
    let t = Timestamp { type_: "snapshot".into(), version: 2, expires: NOW + DAY, snapshot: MetaPin::of(1, &snapshot) };
    feed.set(TIMESTAMP_FILE, signed(&t, &[&w.timestamp]));
    assert_eq!(kind(w.client().refresh(&mut feed, NOW)), Kind::Malformed);
    // No timestamp at all.
    feed.files.remove(TIMESTAMP_FILE);
    assert_eq!(kind(w.client().refresh(&mut feed, NOW)), Kind::Io);
}

#[test]
fn root_rotation_walks_and_needs_both_keys() {
    let mut w = World::new();
    let mut state = w.synced();
    // 1 → 2 (renewed) → 3 (a new root key).
    let files = w.repo.rotate_root(&w.keys(), &[&w.root], &[&w.root], NOW + 365 * DAY).unwrap();
    w.feed.put(files);
    let new_root = key(5);
    let keys = root_keys(&new_root, &w.targets, &w.snapshot, &w.timestamp);
    let files = w.repo.rotate_root(&keys, &[&w.root], &[&new_root], NOW + 365 * DAY).unwrap();
    w.feed.put(files);
    w.release("1.1.0", NOW);
    assert_eq!(state.refresh(&mut w.feed, NOW).unwrap().version, 2);
    assert_eq!(state.root().version, 3);
    assert_eq!(state.root().roles.root.keyids, [new_root.id()]);
    let mut fresh = w.client();
    fresh.refresh(&mut w.feed, NOW).unwrap();
    assert_eq!(fresh.root().version, 3);

    // Root 4 by the new key only, by the old key only, or an old root under the next name.
    let next = Root::new(4, NOW + 365 * DAY, &root_keys(&key(8), &w.targets, &w.snapshot, &w.timestamp)).unwrap();
    w.feed.set("4.root.json", signed(&next, &[&key(8)]));
    assert_eq!(kind(state.refresh(&mut w.feed, NOW)), Kind::WrongKey);
    w.feed.set("4.root.json", signed(&next, &[&new_root]));
    assert_eq!(kind(state.refresh(&mut w.feed, NOW)), Kind::WrongKey);
    w.feed.set("4.root.json", w.feed.get("3.root.json"));
    assert_eq!(kind(state.refresh(&mut w.feed, NOW)), Kind::ReplayedMetadata);
    let five = Root { version: 5, ..next.clone() };
    w.feed.set("4.root.json", signed(&five, &[&new_root, &key(8)]));
    assert_eq!(kind(state.refresh(&mut w.feed, NOW)), Kind::MixedRelease);
    assert_eq!(state.root().version, 3);
    w.feed.set("4.root.json", signed(&next, &[&new_root, &key(8)]));
    state.refresh(&mut w.feed, NOW).unwrap();
    assert_eq!(state.root().version, 4);
}

#[test]
fn root_walk_is_capped() {
    let mut w = World::new();
    for _ in 0..40 {
        let files = w.repo.rotate_root(&w.keys(), &[&w.root], &[&w.root], NOW + 365 * DAY).unwrap();
        w.feed.put(files);
    }
    let mut state = w.client();
    state.refresh(&mut w.feed, NOW).unwrap();
    assert_eq!(state.root().version, 1 + u64::from(MAX_ROOT_ROTATIONS));
    state.refresh(&mut w.feed, NOW).unwrap();
    assert_eq!(state.root().version, 41);
}

#[test]
fn timestamp_key_rotation() {
    let mut w = World::new();
    w.publish(NOW);
    w.publish(NOW);
    let mut state = w.synced();
    assert_eq!(state.timestamp().unwrap().version, 3);

    let new_ts = key(6);
    let keys = root_keys(&w.root, &w.targets, &w.snapshot, &new_ts);
    let files = w.repo.rotate_root(&keys, &[&w.root], &[&w.root], NOW + 365 * DAY).unwrap();
    w.feed.put(files);
    // The old key's timestamps, even newer ones, are refused.
    assert_eq!(kind(state.refresh(&mut w.feed, NOW)), Kind::WrongKey);
    let snapshot = w.feed.get(SNAPSHOT_FILE);
    w.feed.set(TIMESTAMP_FILE, timestamp_of(4, 3, &snapshot, &w.timestamp));
    assert_eq!(kind(state.refresh(&mut w.feed, NOW)), Kind::WrongKey);
    assert!(state.timestamp().is_none() && state.snapshot().is_none());
    // The new key's are accepted, starting again from version 1.
    w.feed.set(TIMESTAMP_FILE, timestamp_of(1, 3, &snapshot, &new_ts));
    state.refresh(&mut w.feed, NOW).unwrap();
    assert_eq!(state.timestamp().unwrap().version, 1);
}

#[test]
fn targets_key_rotation() {
    let mut w = World::new();
    let mut state = w.synced();
    let new_targets = key(7);
    let keys = root_keys(&w.root, &new_targets, &w.snapshot, &w.timestamp);
    let files = w.repo.rotate_root(&keys, &[&w.root], &[&w.root], NOW + 365 * DAY).unwrap();
    w.feed.put(files);
    // The targets signed by the old key are no longer trusted, nor accepted from the feed.
    assert_eq!(kind(state.refresh(&mut w.feed, NOW)), Kind::WrongKey);
    assert!(state.targets().is_none());
    assert_eq!(state.targets_role().1.keyids, [new_targets.id()]);
    let files = w.repo.publish(&[&new_targets], &[&w.snapshot], &[&w.timestamp], NOW, &Lifetimes::default()).unwrap();
    w.feed.put(files);
    assert_eq!(names(state.refresh(&mut w.feed, NOW).unwrap()), ["spot-1.0.0.bundle"]);
    // What a bundle's manifest is checked against.
    let (keys, role) = state.targets_role();
    let env = sign_envelope(&serde_json::json!({"format": 1}), &[&new_targets]).unwrap();
    crate::keys::Envelope::parse(env.as_bytes()).unwrap().verify(keys, role, "manifest").unwrap();
}

#[test]
fn failed_refresh_keeps_trusted_targets() {
    let mut w = World::new();
    let old_targets = w.feed.get(TARGETS_FILE);
    let mut state = w.synced();
    w.release("1.1.0", NOW);
    w.feed.set(TARGETS_FILE, old_targets);
    assert_eq!(kind(state.refresh(&mut w.feed, NOW)), Kind::MixedRelease);
    assert_eq!(names(state.targets().unwrap()), ["spot-1.0.0.bundle"]);
    // The newer timestamp and snapshot were verified and are kept; the state persists.
    assert_eq!(state.snapshot().unwrap().version, 2);
    let files = state.to_files();
    let mut back = TrustedState::from_files(files.iter().map(|(n, b)| (*n, b.as_slice()))).unwrap();
    assert_eq!(names(back.targets().unwrap()), ["spot-1.0.0.bundle"]);
    // Once the feed is whole again, both go on.
    w.publish(NOW);
    assert_eq!(state.refresh(&mut w.feed, NOW).unwrap().version, 3);
    assert_eq!(back.refresh(&mut w.feed, NOW).unwrap().version, 3);
}

#[test]
fn files_round_trip() {
    let mut w = World::new();
    let fresh = w.client();
    assert_eq!(fresh.to_files(), [(ROOT_FILE, w.shipped.clone())]);
    let state = w.synced();
    let files = state.to_files();
    let names: Vec<&str> = files.iter().map(|(n, _)| *n).collect();
    assert_eq!(names, [ROOT_FILE, TIMESTAMP_FILE, SNAPSHOT_FILE, TARGETS_FILE]);
    let as_input = |files: &[(&'static str, Vec<u8>)]| files.iter().map(|(n, b)| (*n, b.clone())).collect::<Vec<_>>();
    let input = as_input(&files);
    let load =
        |input: &[(&'static str, Vec<u8>)]| TrustedState::from_files(input.iter().map(|(n, b)| (*n, b.as_slice())));
    let mut back = load(&input).unwrap();
    assert_eq!(back.to_files(), files);
    assert_eq!(back.targets(), state.targets());
    w.feed.fetched.clear();
    back.refresh(&mut w.feed, NOW).unwrap();
    assert_eq!(w.feed.fetched, ["2.root.json", "timestamp.json"]);

    // No root, an unknown or repeated file, a changed or misplaced one.
    assert_eq!(kind(load(&input[1..])), Kind::Malformed);
    let mut bad = input.clone();
    bad.push(("extra.json", vec![]));
    assert_eq!(kind(load(&bad)), Kind::Malformed);
    let mut bad = input.clone();
    bad.push(input[1].clone());
    assert_eq!(kind(load(&bad)), Kind::Malformed);
    let mut bad = input.clone();
    bad[3].1 = String::from_utf8(bad[3].1.clone()).unwrap().replace("1.0.0", "9.0.0").into_bytes();
    assert_eq!(kind(load(&bad)), Kind::BadSignature);
    let mut bad = input.clone();
    bad[1].1 = input[2].1.clone();
    assert_eq!(kind(load(&bad)), Kind::WrongKey);
}

#[test]
fn shipped_root_must_be_self_signed_and_sane() {
    let w = World::new();
    let root = Root::new(1, NOW + DAY, &w.keys()).unwrap();
    assert_eq!(kind(TrustedState::new(&signed(&root, &[&w.targets]))), Kind::WrongKey);
    let mut bad = root.clone();
    bad.roles.targets.threshold = 2;
    assert_eq!(kind(TrustedState::new(&signed(&bad, &[&w.root]))), Kind::Malformed);
    // A key under another key's id.
    let mut bad = root.clone();
    let k = bad.keys.remove(&w.targets.id()).unwrap();
    bad.keys.insert(w.snapshot.id(), k);
    bad.roles.targets.keyids = vec![w.snapshot.id()];
    assert_eq!(kind(TrustedState::new(&signed(&bad, &[&w.root]))), Kind::Malformed);
    let mut bad = root.clone();
    bad.roles.timestamp.keyids = vec!["0".repeat(64)];
    assert_eq!(kind(TrustedState::new(&signed(&bad, &[&w.root]))), Kind::Malformed);
    let mut bad = root;
    bad.type_ = "targets".into();
    assert_eq!(kind(TrustedState::new(&signed(&bad, &[&w.root]))), Kind::Malformed);
}

#[test]
fn repo_signs_only_with_the_right_keys() {
    let mut w = World::new();
    assert_eq!(kind(w.repo.sign_targets(&[&w.snapshot], NOW + DAY)), Kind::WrongKey);
    assert_eq!(w.repo.targets().version, 1, "a refused signing changes nothing");
    let new_root = key(5);
    let keys = root_keys(&new_root, &w.targets, &w.snapshot, &w.timestamp);
    assert_eq!(kind(w.repo.rotate_root(&keys, &[], &[&new_root], NOW + DAY)), Kind::WrongKey);
    assert_eq!(kind(w.repo.rotate_root(&keys, &[&w.root], &[], NOW + DAY)), Kind::WrongKey);
    assert_eq!(w.repo.root().version, 1);
    let files = w.repo.rotate_root(&keys, &[&w.root], &[&new_root, &w.root], NOW + DAY).unwrap();
    assert_eq!(files.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(), ["2.root.json", "root.json"]);

    let zero = RootKeys { root: RoleKeys { keys: vec![new_root.public()], threshold: 0 }, ..keys.clone() };
    assert_eq!(kind(Root::new(1, NOW, &zero)), Kind::Malformed);
    assert_eq!(kind(w.repo.set_target("../etc/passwd", entry("1.0.0"))), Kind::Malformed);
    let mut bad = entry("1.0.0");
    bad.sha256 = "XYZ".into();
    assert_eq!(kind(w.repo.set_target("spot.bundle", bad)), Kind::Malformed);
    assert!(w.repo.set_target("bundles/spot-1.0.0.bundle", entry("1.0.0")).unwrap().is_none());
    assert!(w.repo.remove_target("bundles/spot-1.0.0.bundle").is_some());

    let (mut empty, _) = Repo::create(&w.keys(), &[&w.root], NOW + DAY).unwrap();
    assert_eq!(kind(empty.sign_snapshot(&[&w.snapshot], NOW + DAY)), Kind::Busy);
    assert_eq!(kind(empty.sign_timestamp(&[&w.timestamp], NOW + DAY)), Kind::Busy);

    let l = Lifetimes::default();
    assert_eq!((l.root, l.targets, l.snapshot, l.timestamp), (365 * DAY, 90 * DAY, 30 * DAY, 7 * DAY));
}

#[test]
fn repo_loads_its_files_and_goes_on() {
    let mut w = World::new();
    let mut state = w.synced();
    let f = |name: &str| w.feed.get(name);
    let mut repo =
        Repo::load(&f(ROOT_FILE), Some(&f(TARGETS_FILE)), Some(&f(SNAPSHOT_FILE)), Some(&f(TIMESTAMP_FILE))).unwrap();
    assert_eq!(repo.targets(), state.targets().unwrap());
    assert_eq!(kind(Repo::load(&f(TARGETS_FILE), None, None, None)), Kind::Malformed);
    repo.set_target("spot-1.1.0.bundle", entry("1.1.0")).unwrap();
    let files = repo.publish(&[&w.targets], &[&w.snapshot], &[&w.timestamp], NOW, &Lifetimes::default()).unwrap();
    assert_eq!(
        files.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        [TARGETS_FILE, SNAPSHOT_FILE, TIMESTAMP_FILE]
    );
    w.feed.put(files);
    assert_eq!(state.refresh(&mut w.feed, NOW).unwrap().version, 2);
    assert_eq!(state.timestamp().unwrap().version, 2);
}

#[test]
fn the_pinned_header_is_checked_before_a_partial_download_trusts_it() {
    let envelope = br#"{"signed":"pretend","signatures":[]}"#;
    let mut head = vec![];
    crate::bundle::write_header(&mut head, envelope).unwrap();
    let mut pin = entry("1.2.0");
    pin.length = head.len() as u64 + 100_000;
    pin.custom.manifest_len = envelope.len() as u64;
    pin.custom.manifest_sha256 = sha256_hex(envelope);
    assert_eq!(pin.header_len(), head.len() as u64);
    assert_eq!(pin.check_header(&head).unwrap(), &envelope[..]);
    // Any changed byte (the envelope, its length, the magic, the padding), a short or long
    // header, a pin whose file would end inside its own header: mixed_release.
    for at in [0, 9, 12, 12 + envelope.len() - 1, head.len() - 1] {
        let mut bad = head.clone();
        bad[at] ^= 1;
        assert_eq!(kind(pin.check_header(&bad)), Kind::MixedRelease, "byte {at}");
    }
    assert_eq!(kind(pin.check_header(&head[..head.len() - 1])), Kind::MixedRelease);
    let mut long = head.clone();
    long.push(0);
    assert_eq!(kind(pin.check_header(&long)), Kind::MixedRelease);
    let short = TargetEntry { length: 100, ..pin.clone() };
    assert_eq!(kind(short.check_header(&head)), Kind::MixedRelease);
    // The pin survives the metadata round trip, and a manifest no bundle can have is refused.
    let json = serde_json::to_string(&pin).unwrap();
    assert_eq!(serde_json::from_str::<TargetEntry>(&json).unwrap(), pin);
    let huge = TargetEntry { custom: TargetCustom { manifest_len: u64::MAX, ..pin.custom.clone() }, ..pin };
    let t = Targets { type_: "targets".into(), version: 1, expires: NOW, targets: BTreeMap::from([("a.spotota".to_string(), huge)]) };
    assert_eq!(kind(t.check()), Kind::Malformed);
}
