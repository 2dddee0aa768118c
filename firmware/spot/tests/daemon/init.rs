//! First start is atomic: `spot init` cut at any step (a named crash point, or a real SIGKILL at
//! a random moment) leaves a data directory that the next start completes, never one that
//! fails forever (`username_taken`, "the certificate file exists").

use crate::harness::*;
use std::path::Path;
use std::process::Output;
use std::time::Duration;

const STEPS: &[&str] = &["marker", "cleared", "tls", "opened", "admin", "channel", "database", "config"];
const SETUP_STEPS: &[&str] = &["marker", "cleared", "opened", "channel", "ca", "database", "config"];

fn init_args(setup: bool) -> Vec<&'static str> {
    if setup {
        vec!["init", "--setup"]
    } else {
        vec!["init", "--non-interactive", "--admin-user", "admin", "--admin-password", ADMIN_PW, "--tls", "self-signed"]
    }
}

fn init(dir: &Path, setup: bool, crash_at: Option<&str>) -> Output {
    let mut c = spot(dir);
    c.args(init_args(setup));
    if let Some(step) = crash_at {
        c.env("SPOT_INIT_CRASH_AT", step);
    }
    c.output().expect("run spot init")
}

/// The next start of the box: init again unless the cut one already finished, then the box
/// must be complete.
fn recover_and_check(dir: &Path, setup: bool, what: &str) {
    if !dir.join("spot.toml").exists() {
        let o = init(dir, setup, None);
        assert!(o.status.success(), "{what}: the next init failed: {}", String::from_utf8_lossy(&o.stderr));
    }
    let o = spot(dir).arg("doctor").output().expect("doctor");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success() && out.contains("database: ok"), "{what}: {out} {}", String::from_utf8_lossy(&o.stderr));
    if !setup {
        let o = spot(dir).args(["user", "list"]).output().expect("user list");
        assert!(String::from_utf8_lossy(&o.stdout).contains("admin"), "{what}: the admin exists");
        assert!(dir.join("tls/cert.pem").is_file() && dir.join("tls/key.pem").is_file(), "{what}: TLS material");
    } else {
        assert!(dir.join("tls/ca.pem").is_file(), "{what}: the local CA");
    }
}

#[test]
fn init_cut_at_every_step_is_completed_by_the_next_start() {
    for setup in [false, true] {
        for step in if setup { SETUP_STEPS } else { STEPS } {
            let dir = tempfile::tempdir().expect("tempdir");
            let data = dir.path().join("data");
            let o = init(&data, setup, Some(step));
            assert!(!o.status.success(), "setup={setup} step {step}: the crash point was reached");
            assert!(String::from_utf8_lossy(&o.stderr).contains(&format!("crashing at step {step}")), "{}", String::from_utf8_lossy(&o.stderr));
            recover_and_check(&data, setup, &format!("setup={setup}, cut at {step}"));
        }
    }
}

#[test]
fn init_killed_at_random_moments_is_completed_by_the_next_start() {
    // bcrypt and key generation make init take a few hundred ms: kill it at spread-out moments.
    for (i, ms) in [0u64, 5, 20, 60, 120, 200, 300, 450].into_iter().enumerate() {
        let setup = i % 2 == 1;
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("data");
        let mut child = spot(&data).args(init_args(setup)).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn().expect("spawn");
        std::thread::sleep(Duration::from_millis(ms));
        let _ = child.kill();
        let _ = child.wait();
        recover_and_check(&data, setup, &format!("setup={setup}, killed after {ms} ms"));
    }
}

#[test]
fn a_database_without_config_that_init_did_not_leave_is_never_touched() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("spot.db"), b"someone's data").expect("write");
    let o = init(dir.path(), true, None);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("but no spot.toml") && err.contains("nothing is touched"), "{err}");
    assert_eq!(std::fs::read(dir.path().join("spot.db")).expect("read"), b"someone's data");
}

/// A new data directory is private; one that exists keeps its mode (the image makes
/// `/data/spot` 0750 so that spot-helper, group spot, can read the update bundles in it: an
/// init that made it 0700 left every first upload unreadable to the helper).
#[test]
fn init_makes_a_new_data_dir_private_and_keeps_the_mode_of_one_that_exists() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().expect("tmp");
    let fresh = tmp.path().join("fresh");
    let o = init(&fresh, true, None);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::metadata(&fresh).expect("fresh").permissions().mode() & 0o777, 0o700);
    let boxed = tmp.path().join("box");
    std::fs::create_dir(&boxed).expect("mkdir");
    std::fs::set_permissions(&boxed, std::fs::Permissions::from_mode(0o750)).expect("chmod");
    let o = init(&boxed, true, None);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::metadata(&boxed).expect("box").permissions().mode() & 0o777, 0o750);
    assert!(boxed.join("spot.toml").is_file());
}
