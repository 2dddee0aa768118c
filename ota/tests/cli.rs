//! The release tool as a release manager runs it: keys, a signed bundle, a feed; then the box's
//! side (feed client and bundle check) accepts what the tool wrote, and rejects a tampered copy.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use ota::feed::{TrustedState, ROOT_FILE};
use ota::manifest::Installed;
use ota::{Kind, Version};

fn tool(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_spot-ota")).current_dir(dir).args(args).output().expect("spot-ota runs")
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let out = tool(dir, args);
    assert!(out.status.success(), "spot-ota {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Fails with exit code 1 and a stderr that names `code`.
fn fails(dir: &Path, args: &[&str], code: &str) -> String {
    let out = tool(dir, args);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "spot-ota {args:?}: {err}");
    assert!(err.starts_with(&format!("spot-ota: {code}: ")), "spot-ota {args:?}: expected {code}, got {err}");
    err
}

fn feed_fetch(dir: &Path) -> impl FnMut(&str, u64) -> ota::Result<Option<Vec<u8>>> + '_ {
    move |name: &str, _max| Ok(std::fs::read(dir.join(name)).ok())
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

#[test]
fn keys_bundle_and_feed_from_the_tool_are_what_the_box_accepts() {
    let tmp = tempfile::tempdir().expect("tmp");
    let d = tmp.path();
    for k in ["root", "targets", "snapshot", "timestamp", "other"] {
        let out = ok(d, &["keygen", k]);
        assert!(out.contains(&format!("{k}.key")), "{out}");
    }
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(d.join("root.key")).expect("key").permissions().mode();
    assert_eq!(mode & 0o077, 0, "a private key is readable by others: {mode:o}");
    fails(d, &["keygen", "root"], "busy");

    let rootfs = common::image_v1(3 << 20);
    std::fs::write(d.join("rootfs.img"), &rootfs).expect("image");
    std::fs::write(d.join("notes.txt"), "Fixes the thing.\n").expect("notes");
    ok(
        d,
        &[
            "sign", "--key", "targets.key", "--version", "1.2.0", "--board", "rpi4", "--board", "qemu-arm64", "--notes",
            "@notes.txt", "--image", "rootfs=rootfs.img", "--created", "1700000000", "-o", "v120.spotota",
        ],
    );
    let shown = ok(d, &["inspect", "v120.spotota"]);
    assert!(shown.contains("1.2.0") && shown.contains("rpi4, qemu-arm64") && shown.contains("Fixes the thing."), "{shown}");
    assert!(shown.contains(&format!("{} bytes", rootfs.len())), "{shown}");

    // The feed: created with the offline root key, the bundle added with the online keys.
    let online = ["--targets-key", "targets.key", "--snapshot-key", "snapshot.key", "--timestamp-key", "timestamp.key"];
    let pubs = ["--root-pub", "root.pub", "--targets-pub", "targets.pub", "--snapshot-pub", "snapshot.pub", "--timestamp-pub", "timestamp.pub"];
    let mut init = vec!["repo", "init", "feed", "--root-key", "root.key"];
    init.extend(pubs);
    ok(d, &init);
    fails(d, &init, "busy");
    let mut add = vec!["repo", "add", "feed", "v120.spotota"];
    add.extend(online);
    ok(d, &add);
    let status = ok(d, &["repo", "status", "feed"]);
    // 7 days, or 6 when a second passed since the signing (slow emulated runs): whole days left.
    let fresh = status.contains("timestamp  version 1, 7 days left") || status.contains("timestamp  version 1, 6 days left");
    assert!(fresh && status.contains("v120.spotota: version 1.2.0"), "{status}");

    // verify: by the root the box carries, and by the key itself.
    let good = ok(d, &["verify", "v120.spotota", "--root", "feed/root.json"]);
    assert!(good.contains("good: version 1.2.0"), "{good}");
    ok(d, &["verify", "v120.spotota", "--pub", "targets.pub"]);
    fails(d, &["verify", "v120.spotota", "--pub", "other.pub"], "wrong_key");
    fails(d, &["verify", "v120.spotota", "--root", "feed/root.json", "--board", "zero2w"], "wrong_board");
    fails(d, &["verify", "v120.spotota", "--root", "feed/root.json", "--board", "rpi4", "--running", "1.2.0"], "downgrade");
    ok(d, &["verify", "v120.spotota", "--root", "feed/root.json", "--board", "rpi4", "--running", "1.1.9"]);

    // A flipped payload byte: the signature still holds, the block does not.
    let mut bytes = std::fs::read(d.join("v120.spotota")).expect("bundle");
    let at = bytes.len() - 1000;
    bytes[at] ^= 0x40;
    std::fs::write(d.join("tampered.spotota"), &bytes).expect("write");
    fails(d, &["verify", "tampered.spotota", "--root", "feed/root.json"], "tampered_block");
    std::fs::write(d.join("cut.spotota"), &bytes[..bytes.len() / 2]).expect("write");
    fails(d, &["verify", "cut.spotota", "--root", "feed/root.json"], "truncated");
    fails(d, &["inspect", "notes.txt"], "malformed");

    // The box: trusts root v1, refreshes from the feed, checks the bundle against the pin.
    let root_v1 = std::fs::read(d.join("feed").join(ROOT_FILE)).expect("root");
    let mut state = TrustedState::new(&root_v1).expect("root v1");
    let targets = state.refresh(&mut feed_fetch(&d.join("feed")), now()).expect("refresh").clone();
    let pin = &targets.targets["v120.spotota"];
    let served = std::fs::read(d.join("feed/bundles/v120.spotota")).expect("copied into the feed");
    assert_eq!(pin.length, served.len() as u64);
    let envelope = ota::bundle::read_header(&mut served.as_slice()).expect("header");
    let installed = Installed { board: "rpi4".into(), version: Version(1, 1, 0), floor: Version(1, 1, 0), eeprom: None };
    let (keys, role) = state.targets_role();
    ota::check::check_bundle(&envelope, (keys, role), &installed, Some(pin)).expect("the feed's bundle");

    // A timestamp refresh: the box moves on to it.
    ok(d, &["repo", "refresh", "feed", "--timestamp-key", "timestamp.key"]);
    state.refresh(&mut feed_fetch(&d.join("feed")), now()).expect("refresh after a new timestamp");
    assert_eq!(state.timestamp().map(|t| t.version), Some(2));
    // Signing the timestamp with the wrong key is refused by the tool itself.
    fails(d, &["repo", "refresh", "feed", "--timestamp-key", "other.key"], "wrong_key");

    // Root rotation: the targets key is replaced; the box follows root v2 and refuses bundles
    // of the old key from then on.
    ok(d, &["keygen", "targets2"]);
    let rotate = [
        "repo", "rotate", "feed", "--old-root-key", "root.key", "--root-key", "root.key", "--root-pub", "root.pub",
        "--targets-pub", "targets2.pub", "--snapshot-pub", "snapshot.pub", "--timestamp-pub", "timestamp.pub",
        "--targets-key", "targets2.key", "--snapshot-key", "snapshot.key", "--timestamp-key", "timestamp.key",
    ];
    ok(d, &rotate);
    assert!(d.join("feed/2.root.json").exists());
    state.refresh(&mut feed_fetch(&d.join("feed")), now()).expect("refresh across the rotation");
    assert_eq!(state.root().version, 2);
    let (keys, role) = state.targets_role();
    let err = ota::check::check_bundle(&envelope, (keys, role), &installed, None).expect_err("old targets key");
    assert_eq!(err.kind, Kind::WrongKey);
    // Rotating with a key that is not the current root's is refused.
    let mut bad = rotate;
    bad[4] = "other.key";
    bad[6] = "other.key";
    fails(d, &bad, "wrong_key");
}

#[test]
fn usage_errors_exit_2_and_name_the_problem() {
    let tmp = tempfile::tempdir().expect("tmp");
    let out = tool(tmp.path(), &["sign", "--key", "k.key"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--version"));
    let out = tool(tmp.path(), &["sign", "--key", "k", "--version", "one", "--board", "b", "--image", "x", "-o", "o"]);
    assert_eq!(out.status.code(), Some(2));
    fails(tmp.path(), &["verify", "missing.spotota", "--pub", "missing.pub"], "io");
}
