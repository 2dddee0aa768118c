//! Shared by the integration tests: keys, images and bundles built with the real code.
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ota::bundle::{self, Meta};
use ota::keys::{KeyId, PrivateKey, PublicKey, Role};
use ota::manifest::Verified;

pub fn release_key() -> PrivateKey {
    PrivateKey::from_seed([7; 32])
}

pub fn trusted() -> (BTreeMap<KeyId, PublicKey>, Role) {
    let k = release_key();
    (ota::keys::keyring(&[&k]), Role { keyids: vec![k.id()], threshold: 1 })
}

pub use ota::testdata::noise;

/// A "root file system" of `size` bytes: files of noise, then free space (zeros).
pub fn image_v1(size: usize) -> Vec<u8> {
    let mut img = noise(size * 3 / 4, 11);
    img.resize(size, 0);
    img
}

/// v1 with a "daemon" that grew by 50 KiB and changed, as a daemon-only release does.
pub fn image_v2(v1: &[u8]) -> Vec<u8> {
    let mut img = v1.to_vec();
    let at = v1.len() / 3;
    img.splice(at..at + 100_000, noise(150_000, 99));
    img.truncate(v1.len());
    img
}

pub fn meta(version: &str) -> Meta {
    Meta {
        version: version.parse().unwrap(),
        boards: vec!["qemu-arm64".into()],
        min_version: None,
        created: 1_700_000_000,
        notes: format!("Release {version}"),
        needs_eeprom: None,
    }
}

/// A bundle of `rootfs` signed by `keys`: its bytes and what was signed.
pub fn bundle_bytes(dir: &Path, rootfs: &[u8], meta: &Meta, keys: &[&PrivateKey]) -> (Vec<u8>, Verified) {
    let img: PathBuf = dir.join(format!("rootfs-{}.img", meta.version));
    std::fs::write(&img, rootfs).unwrap();
    let mut out = std::io::Cursor::new(Vec::new());
    let v = bundle::build(&mut out, meta, &[("rootfs".into(), img)], keys).unwrap();
    (out.into_inner(), v)
}
