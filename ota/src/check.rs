//! The whole check of an offered bundle before a byte of it is written: its signature (by the
//! current root's targets keys), what the feed pinned for it (when it came through the feed),
//! and the box's policy (board, versions, floor, bootloader).

use std::collections::BTreeMap;

use crate::error::{fail, Kind, Result};
use crate::feed::TargetEntry;
use crate::keys::{KeyId, PublicKey, Role};
use crate::manifest::{self, Installed, Verified};

pub fn check_bundle(
    envelope: &[u8],
    trust: (&BTreeMap<KeyId, PublicKey>, &Role),
    installed: &Installed,
    pinned: Option<&TargetEntry>,
) -> Result<Verified> {
    if let Some(pin) = pinned {
        if pin.custom.manifest_len != envelope.len() as u64 || pin.custom.manifest_sha256 != crate::feed::sha256_hex(envelope) {
            return fail(Kind::MixedRelease, "the bundle is not the one the update feed lists (its manifest differs)");
        }
    }
    let v = manifest::verify(envelope, trust.0, trust.1)?;
    if let Some(pin) = pinned {
        if pin.custom.version != v.manifest.version || pin.custom.boards != v.manifest.boards {
            return fail(Kind::MixedRelease, "the feed and the bundle disagree about the version or boards");
        }
    }
    manifest::check_policy(&v.manifest, installed)?;
    Ok(v)
}
