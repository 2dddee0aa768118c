//! The daemon and the real `spot-helper` together, the helper on its simulated radio (this
//! machine has no Wi-Fi; the QEMU test runs the real radios): a box without Ethernet serves
//! its setup access point, the captive portal catches a phone's probes, the wizard's Wi-Fi
//! step fails with a wrong password in words and then joins.

use crate::harness::{Client, Daemon, BIN};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Helper {
    child: Child,
    _dir: tempfile::TempDir,
    sock: PathBuf,
}

impl Drop for Helper {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `spot-helper` sits next to `spot` in the target dir (`cargo test --workspace` builds it).
pub(crate) fn helper_bin() -> PathBuf {
    let p = PathBuf::from(BIN).with_file_name("spot-helper");
    if !p.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let ok = Command::new(cargo).args(["build", "-p", "helper"]).status().expect("cargo build -p helper").success();
        assert!(ok && p.exists(), "spot-helper could not be built");
    }
    p
}

fn start_helper(sim: &Value) -> Helper {
    let dir = tempfile::tempdir().expect("tmp");
    let zi = dir.path().join("zoneinfo/Europe");
    std::fs::create_dir_all(&zi).expect("mkdir");
    std::fs::write(zi.join("Berlin"), b"TZif2 test zone").expect("zone");
    std::fs::write(dir.path().join("sim.json"), sim.to_string()).expect("sim");
    let sock = dir.path().join("run/helper.sock");
    let child = Command::new(helper_bin())
        .args(["serve", "--simulate"])
        .arg(dir.path().join("sim.json"))
        .env("SPOT_HELPER_SOCKET", &sock)
        .env("SPOT_HELPER_STATE", dir.path().join("data/system"))
        .env("SPOT_HELPER_ZONEINFO", dir.path().join("zoneinfo"))
        .env_remove("SPOT_HELPER_TIMING")
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn spot-helper");
    let t = Instant::now();
    while std::os::unix::net::UnixStream::connect(&sock).is_err() {
        assert!(t.elapsed() < Duration::from_secs(10), "helper did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    Helper { child, _dir: dir, sock }
}

async fn wait_mode(c: &Client, mode: &str) -> Value {
    let t = Instant::now();
    loop {
        let r = c.get("/api/network").await.expect_status(200);
        if r.body["status"]["mode"] == mode {
            return r.body["status"].clone();
        }
        assert!(t.elapsed() < Duration::from_secs(30), "never reached {mode}: {}", r.text);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn the_setup_access_point_catches_probes_and_the_wizard_joins_wifi_after_a_wrong_password() {
    let sim = json!({
        "networks": [
            {"ssid": "HomeNet", "signal_dbm": -48, "security": "wpa2", "frequency": 2437, "password": "right horse battery"},
            {"ssid": "Cafe \"free\"\nwifi", "signal_dbm": -80, "security": "open", "frequency": 2412}
        ],
        "ethernet": false, "join_ms": 300, "address": "192.168.50.23",
        "timing": {"eth_grace_ms": 0}
    });
    let h = start_helper(&sim);
    let sock = h.sock.to_string_lossy().into_owned();
    let d = Daemon::start_unclaimed(|_| {}, &[("SPOT_HELPER_SOCKET", &sock)]);
    let anon = Client::new(&d);
    // The box has no cable: it serves its setup access point, and says so before the claim.
    let t = Instant::now();
    let info = loop {
        let info = anon.get("/api/setup").await.expect_status(200);
        if info.body["network"]["mode"] == "access_point" {
            break info;
        }
        assert!(t.elapsed() < Duration::from_secs(20), "no access point: {}", info.text);
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(info.body["managed"], true);
    assert!(info.body["network"]["ap_ssid"].as_str().is_some_and(|s| s.starts_with("Spot-Setup-")), "{}", info.text);
    // On the access point, any foreign name (the box's DNS answers them all) leads to setup.
    let r = Client::finish(anon.http.get(d.url("/some/page")).header("host", "example.com")).await.expect_status(302);
    assert!(r.headers["location"].to_str().is_ok_and(|l| l.ends_with("/setup")));
    // The wizard: claim, then the Wi-Fi step (admin only).
    anon.post("/api/network/scan", json!({})).await.expect_status(401);
    let c = Client::new(&d);
    let r = c
        .send(reqwest::Method::POST, "/api/setup/claim", Some(json!({"box_name": "Den", "username": "anna", "password": "correct horse battery", "timezone": "Europe/Berlin"})), false)
        .await
        .expect_status(200);
    *c.csrf.lock().expect("lock") = r.body["csrf_token"].as_str().map(str::to_owned);
    let st = c.get("/api/network").await.expect_status(200);
    assert_eq!(st.body["status"]["hostname"], "den", "the box name became the host name: {}", st.text);
    let scan = c.post("/api/network/scan", json!({})).await.expect_status(200);
    let names: Vec<&str> = scan.body["networks"].as_array().expect("list").iter().filter_map(|n| n["ssid"].as_str()).collect();
    assert!(names.contains(&"HomeNet") && names.contains(&"Cafe \"free\"\nwifi"), "{}", scan.text);
    // Bad input is refused in words before any radio is touched.
    c.post("/api/network/wifi", json!({"ssid": "", "password": "x"})).await.expect_error(400, "invalid_ssid");
    c.post("/api/network/wifi", json!({"ssid": "HomeNet", "password": "short"})).await.expect_error(400, "invalid_wifi_password");
    c.post("/api/network/wifi", json!({"ssid": "x".repeat(33), "password": "long enough"})).await.expect_error(400, "invalid_ssid");
    c.post("/api/network/country", json!({"country": "Germany"})).await.expect_error(400, "invalid_country");
    c.post("/api/network/country", json!({"country": "de"})).await.expect_status(204);
    // A wrong password: the box comes back as the access point and says why.
    c.post("/api/network/wifi", json!({"ssid": "HomeNet", "password": "wrong password here", "hidden": false})).await.expect_status(202);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let st = wait_mode(&c, "access_point").await;
    assert_eq!(st["last_error"]["code"], "wrong_password", "{st}");
    assert!(st["last_error"]["message"].as_str().is_some_and(|m| m.len() > 10), "{st}");
    // The right one: joined, with the new address to tell the person.
    c.post("/api/network/wifi", json!({"ssid": "HomeNet", "password": "right horse battery", "hidden": false})).await.expect_status(202);
    let st = wait_mode(&c, "wifi").await;
    assert_eq!(st["ssid"], "HomeNet");
    assert!(st["addresses"].to_string().contains("192.168.50.23"), "{st}");
    assert_eq!(st["country"], "DE");
    let info = c.get("/api/setup").await.expect_status(200);
    assert_eq!(info.body["steps"]["network"], "done");
    // Off the access point, the API still answers only to the box's own names: a name in the
    // admin's DNS must be configured as `public_origin` (DNS rebinding looks the same).
    Client::finish(anon.http.get(d.url("/api/health")).header("host", "spot.example.org")).await.expect_error(403, "unknown_host");
    Client::finish(anon.http.get(d.url("/api/health")).header("host", "spot.local")).await.expect_status(200);
    assert!(!d.logs().contains("right horse battery"), "the Wi-Fi password is never logged");
}

#[tokio::test]
async fn without_a_helper_the_network_is_reported_unmanaged_and_a_dead_helper_is_a_503() {
    let d = Daemon::start_unclaimed(|_| {}, &[("SPOT_HELPER_SOCKET", "")]);
    let c = Client::new(&d);
    let r = c
        .send(reqwest::Method::POST, "/api/setup/claim", Some(json!({"box_name": "Den", "username": "anna", "password": "correct horse battery"})), false)
        .await
        .expect_status(200);
    *c.csrf.lock().expect("lock") = r.body["csrf_token"].as_str().map(str::to_owned);
    assert_eq!(c.get("/api/network").await.expect_status(200).body["managed"], false);
    c.post("/api/network/scan", json!({})).await.expect_error(400, "network_unmanaged");
    let gone = Daemon::start_unclaimed(|_| {}, &[("SPOT_HELPER_SOCKET", "/nonexistent/helper.sock")]);
    let c = Client::new(&gone);
    let r = c
        .send(reqwest::Method::POST, "/api/setup/claim", Some(json!({"box_name": "Den", "username": "anna", "password": "correct horse battery"})), false)
        .await
        .expect_status(200);
    *c.csrf.lock().expect("lock") = r.body["csrf_token"].as_str().map(str::to_owned);
    c.get("/api/network").await.expect_error(503, "helper_unavailable");
    c.post("/api/network/wifi", json!({"ssid": "HomeNet", "password": "right horse battery"})).await.expect_error(503, "helper_unavailable");
}
