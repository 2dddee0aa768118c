//! Bundle fixtures named by outcome: each is refused with its own error kind, and the good one
//! installs. They are built here by the real builder and signer (deterministic keys and images)
//! and then damaged the way an attacker or a bad download would.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;

use ota::bootstate::{self, BootStore, Slot};
use ota::bundle::{self, payload_start};
use ota::check::check_bundle;
use ota::feed::{Fetch, Lifetimes, Repo, RoleKeys, RootKeys, TargetCustom, TargetEntry, TrustedState, DAY};
use ota::install::{FileJournal, Install, StreamPayload};
use ota::keys::PrivateKey;
use ota::manifest::Installed;
use ota::{Kind, Result};

const NOW: u64 = 1_800_000_000;
const SLOT: usize = 1 << 20;

struct Box_ {
    dir: tempfile::TempDir,
    installed: Installed,
}

fn a_box() -> Box_ {
    Box_ {
        dir: tempfile::tempdir().unwrap(),
        installed: Installed { board: "qemu-arm64".into(), version: "1.0.0".parse().unwrap(), floor: "1.0.0".parse().unwrap(), eeprom: None },
    }
}

#[derive(Default)]
struct MemBoot([Option<Vec<u8>>; 2]);
impl BootStore for MemBoot {
    fn read(&mut self, c: usize) -> std::io::Result<Option<Vec<u8>>> {
        Ok(self.0[c].clone())
    }
    fn write(&mut self, c: usize, b: &[u8]) -> std::io::Result<()> {
        self.0[c] = Some(b.to_vec());
        Ok(())
    }
}

/// Checks the bundle, then streams it into a slot file: the whole path an upload takes.
fn offer(b: &Box_, bytes: &[u8], pinned: Option<&TargetEntry>) -> Result<Slot> {
    let (keys, role) = common::trusted();
    let mut r = bytes;
    let envelope = bundle::read_header(&mut r)?;
    let v = check_bundle(&envelope, (&keys, &role), &b.installed, pinned)?;
    let slot_path = b.dir.path().join("slot-b.img");
    std::fs::write(&slot_path, vec![0u8; SLOT]).unwrap();
    let mut target = std::fs::OpenOptions::new().read(true).write(true).open(&slot_path).unwrap();
    let mut boot = MemBoot::default();
    let mut journal = FileJournal(b.dir.path().join("journal.json"));
    let mut payload = StreamPayload { reader: r, pos: 0, len: v.manifest.payload_len };
    let slot = Install {
        verified: &v,
        boot: &mut boot,
        journal: &mut journal,
        target: &mut target,
        active: None,
        factory_version: "1.0.0",
        running: Slot::A,
        progress: &mut |_| {},
        checkpoint: 1 << 20,
    }
    .run(&mut payload);
    if slot.is_err() {
        let state = bootstate::load(&mut boot).unwrap();
        assert!(state.is_none_or(|(s, _)| s.trial.is_none()), "a refused bundle was staged");
    }
    slot
}

fn good_image() -> Vec<u8> {
    common::image_v2(&common::image_v1(SLOT - 64 * 1024))
}

fn build(b: &Box_, version: &str, f: impl FnOnce(&mut bundle::Meta), keys: &[&PrivateKey]) -> Vec<u8> {
    let mut meta = common::meta(version);
    f(&mut meta);
    common::bundle_bytes(b.dir.path(), &good_image(), &meta, keys).0
}

fn kind(r: Result<Slot>) -> Kind {
    r.expect_err("the bundle was accepted").kind
}

/// A feed (in memory) for the metadata fixtures.
struct Feed {
    root: PrivateKey,
    online: PrivateKey,
    repo: Repo,
    files: HashMap<String, Vec<u8>>,
}

impl Feed {
    fn new() -> Feed {
        let root = PrivateKey::from_seed([1; 32]);
        let online = PrivateKey::from_seed([2; 32]);
        let role = |k: &PrivateKey| RoleKeys { keys: vec![k.public()], threshold: 1 };
        let keys = RootKeys { root: role(&root), targets: role(&common::release_key()), snapshot: role(&online), timestamp: role(&online) };
        let (repo, files) = Repo::create(&keys, &[&root], NOW + 365 * DAY).unwrap();
        Feed { root, online, repo, files: files.into_iter().collect() }
    }
    fn publish(&mut self, name: &str, bundle: &[u8], now: u64) {
        let mut r = bundle;
        let envelope = bundle::read_header(&mut r).unwrap();
        let (keys, role) = common::trusted();
        let v = ota::manifest::verify(&envelope, &keys, &role).unwrap();
        let entry = TargetEntry {
            length: bundle.len() as u64,
            sha256: ota::feed::sha256_hex(bundle),
            custom: TargetCustom {
                version: v.manifest.version,
                boards: v.manifest.boards.clone(),
                min_version: None,
                notes: v.manifest.notes.clone(),
                manifest_sha256: ota::feed::sha256_hex(&envelope),
                manifest_len: envelope.len() as u64,
            },
        };
        self.repo.set_target(name, entry).unwrap();
        let key = common::release_key();
        let files = self.repo.publish(&[&key], &[&self.online], &[&self.online], now, &Lifetimes::default()).unwrap();
        self.files.extend(files);
    }
    fn client(&self) -> TrustedState {
        let _ = &self.root;
        TrustedState::new(&self.files["root.json"]).unwrap()
    }
    fn fetcher(files: HashMap<String, Vec<u8>>) -> impl Fetch {
        move |name: &str, _max: u64| Ok(files.get(name).cloned())
    }
}

#[test]
fn good() {
    let b = a_box();
    let k = common::release_key();
    assert_eq!(offer(&b, &build(&b, "2.0.0", |_| {}, &[&k]), None).unwrap(), Slot::B);
    // The slot holds exactly the image.
    let slot = std::fs::read(b.dir.path().join("slot-b.img")).unwrap();
    assert_eq!(&slot[..good_image().len()], &good_image()[..]);
}

#[test]
fn bad_signature() {
    let b = a_box();
    let k = common::release_key();
    let bytes = build(&b, "2.0.0", |m| m.notes = "Release notes AAAA".into(), &[&k]);
    // Change the signed notes in place (same length: the header stays consistent).
    let at = bytes.windows(4).position(|w| w == b"AAAA").unwrap();
    let mut bad = bytes.clone();
    bad[at..at + 4].copy_from_slice(b"BBBB");
    assert_eq!(kind(offer(&b, &bad, None)), Kind::BadSignature);
}

#[test]
fn wrong_key() {
    let b = a_box();
    let stranger = PrivateKey::from_seed([66; 32]);
    assert_eq!(kind(offer(&b, &build(&b, "2.0.0", |_| {}, &[&stranger]), None)), Kind::WrongKey);
}

#[test]
fn wrong_board() {
    let b = a_box();
    let k = common::release_key();
    assert_eq!(kind(offer(&b, &build(&b, "2.0.0", |m| m.boards = vec!["rpi3".into()], &[&k]), None)), Kind::WrongBoard);
}

#[test]
fn downgrade() {
    let b = a_box();
    let k = common::release_key();
    assert_eq!(kind(offer(&b, &build(&b, "1.0.0", |_| {}, &[&k]), None)), Kind::Downgrade);
    assert_eq!(kind(offer(&b, &build(&b, "0.9.0", |_| {}, &[&k]), None)), Kind::Downgrade);
}

#[test]
fn below_floor() {
    let mut b = a_box();
    // The box committed 3.0.0 once and was rolled back to 1.0.0 by its admin.
    b.installed.floor = "3.0.0".parse().unwrap();
    let k = common::release_key();
    assert_eq!(kind(offer(&b, &build(&b, "2.0.0", |_| {}, &[&k]), None)), Kind::BelowFloor);
    assert_eq!(offer(&b, &build(&b, "3.0.1", |_| {}, &[&k]), None).unwrap(), Slot::B);
}

#[test]
fn needs_newer_base() {
    let b = a_box();
    let k = common::release_key();
    let bytes = build(&b, "3.0.0", |m| m.min_version = Some("2.0.0".parse().unwrap()), &[&k]);
    assert_eq!(kind(offer(&b, &bytes, None)), Kind::NeedsNewerBase);
}

#[test]
fn eeprom_too_old() {
    let mut b = a_box();
    b.installed.board = "rpi4".into();
    b.installed.eeprom = Some("2022-04-26".into());
    let k = common::release_key();
    let bytes = build(&b, "2.0.0", |m| {
        m.boards = vec!["rpi4".into()];
        m.needs_eeprom = Some("2023-01-11".into());
    }, &[&k]);
    assert_eq!(kind(offer(&b, &bytes, None)), Kind::EepromTooOld);
}

#[test]
fn expired_metadata() {
    let b = a_box();
    let k = common::release_key();
    let mut feed = Feed::new();
    feed.publish("spot-2.0.0.bundle", &build(&b, "2.0.0", |_| {}, &[&k]), NOW);
    let mut client = feed.client();
    // A feed frozen for 8 days: its timestamp (7 days) has run out.
    let e = client.refresh(&mut Feed::fetcher(feed.files.clone()), NOW + 8 * DAY).unwrap_err();
    assert_eq!(e.kind, Kind::ExpiredMetadata);
    assert!(client.refresh(&mut Feed::fetcher(feed.files.clone()), NOW + DAY).is_ok());
}

#[test]
fn replayed_metadata() {
    let b = a_box();
    let k = common::release_key();
    let mut feed = Feed::new();
    feed.publish("spot-2.0.0.bundle", &build(&b, "2.0.0", |_| {}, &[&k]), NOW);
    let old = feed.files.clone();
    feed.publish("spot-3.0.0.bundle", &build(&b, "3.0.0", |_| {}, &[&k]), NOW + 60);
    let mut client = feed.client();
    client.refresh(&mut Feed::fetcher(feed.files.clone()), NOW + 120).unwrap();
    // A man in the middle serves yesterday's (validly signed, unexpired) feed, hiding 3.0.0.
    let e = client.refresh(&mut Feed::fetcher(old), NOW + 180).unwrap_err();
    assert_eq!(e.kind, Kind::ReplayedMetadata);
}

#[test]
fn mixed_release() {
    let b = a_box();
    let k = common::release_key();
    let v2 = build(&b, "2.0.0", |_| {}, &[&k]);
    let v3 = build(&b, "3.0.0", |_| {}, &[&k]);
    let mut feed = Feed::new();
    feed.publish("spot.bundle", &v2, NOW);
    let mut client = feed.client();
    let targets = client.refresh(&mut Feed::fetcher(feed.files.clone()), NOW + 60).unwrap();
    let entry = targets.targets["spot.bundle"].clone();
    // The feed lists 2.0.0; the download is 3.0.0's bundle (validly signed on its own).
    assert_eq!(kind(offer(&b, &v3, Some(&entry))), Kind::MixedRelease);
    assert_eq!(offer(&b, &v2, Some(&entry)).unwrap(), Slot::B);
}

#[test]
fn truncated() {
    let b = a_box();
    let k = common::release_key();
    let bytes = build(&b, "2.0.0", |_| {}, &[&k]);
    // In the payload, in the manifest, in the magic.
    for cut in [bytes.len() - 1, bytes.len() / 2, 100, 5] {
        assert_eq!(kind(offer(&b, &bytes[..cut], None)), Kind::Truncated, "cut at {cut}");
    }
}

#[test]
fn oversized() {
    let b = a_box();
    let k = common::release_key();
    let bytes = build(&b, "2.0.0", |_| {}, &[&k]);
    // A header that claims a 9 MiB manifest: refused before reading it.
    let mut huge = bytes.clone();
    huge[8..12].copy_from_slice(&(9u32 << 20).to_le_bytes());
    assert_eq!(kind(offer(&b, &huge, None)), Kind::Oversized);
    // An image larger than the slot.
    let big = common::noise(SLOT + 4096, 3);
    let (bytes, _) = common::bundle_bytes(b.dir.path(), &big, &common::meta("2.0.0"), &[&k]);
    assert_eq!(kind(offer(&b, &bytes, None)), Kind::Oversized);
}

#[test]
fn tampered_block() {
    let b = a_box();
    let k = common::release_key();
    let bytes = build(&b, "2.0.0", |_| {}, &[&k]);
    let mut r = &bytes[..];
    let envelope = bundle::read_header(&mut r).unwrap();
    let start = payload_start(envelope.len() as u64) as usize;
    let mut bad = bytes.clone();
    bad[start + (bytes.len() - start) / 2] ^= 0x40;
    assert_eq!(kind(offer(&b, &bad, None)), Kind::TamperedBlock);
}

#[test]
fn not_a_bundle() {
    let b = a_box();
    assert_eq!(kind(offer(&b, b"PK\x03\x04 this is a zip file, not an update", None)), Kind::Malformed);
}
