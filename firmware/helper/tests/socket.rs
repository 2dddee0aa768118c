//! The real `spot-helper serve` binary on a temp socket with the simulated radio: every command
//! with hostile arguments, the wizard's join flow, fallback, and the socket's limits.

use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const TIMING: &str = r#"{"eth_grace_ms":0,"join_timeout_ms":4000,"address_timeout_ms":3000,"not_found_ms":1000,
    "lost_fallback_ms":1500,"retry_interval_ms":1000,"ap_restart_ms":1000}"#;

fn sim(networks: Value, ethernet: bool) -> String {
    let timing: Value = serde_json::from_str(TIMING).expect("timing");
    json!({"networks": networks, "ethernet": ethernet, "join_ms": 600, "timing": timing}).to_string()
}

fn home_networks() -> Value {
    json!([
        {"ssid": "Home", "signal_dbm": -48, "security": "wpa2", "password": "correct horse"},
        {"ssid": "Cafe", "signal_dbm": -70, "security": "open"},
        {"ssid": "OldRouter", "signal_dbm": -80, "security": "unsupported", "password": "12345678"},
        {"ssid": "Secret", "signal_dbm": -60, "security": "wpa3", "password": "hidden-pass", "hidden": true}
    ])
}

struct Helper {
    child: Child,
    dir: tempfile::TempDir,
    sock: PathBuf,
}

impl Helper {
    fn start(sim_json: &str) -> Helper {
        Helper::start_with(sim_json, |_| {})
    }

    /// `before` prepares the temp dir (e.g. a data-partition problem report) before the start.
    fn start_with(sim_json: &str, before: impl FnOnce(&Path)) -> Helper {
        let dir = tempfile::tempdir().expect("tmp");
        before(dir.path());
        let zi = dir.path().join("zoneinfo/Europe");
        std::fs::create_dir_all(&zi).expect("mkdir");
        std::fs::write(zi.join("Berlin"), b"TZif2 fake zone").expect("zone");
        std::fs::write(dir.path().join("sim.json"), sim_json).expect("sim");
        let sock = dir.path().join("run/helper.sock");
        let child = Command::new(env!("CARGO_BIN_EXE_spot-helper"))
            .args(["serve", "--simulate"])
            .arg(dir.path().join("sim.json"))
            .env("SPOT_HELPER_SOCKET", &sock)
            .env("SPOT_HELPER_STATE", dir.path().join("data/system"))
            .env("SPOT_HELPER_ZONEINFO", dir.path().join("zoneinfo"))
            .env("SPOT_HELPER_DATA_RUN", dir.path().join("run-data"))
            .env("SPOT_HELPER_RAM_STATE", dir.path().join("ram-state"))
            .env_remove("SPOT_HELPER_TIMING")
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn spot-helper");
        let h = Helper { child, dir, sock };
        let t = Instant::now();
        while UnixStream::connect(&h.sock).is_err() {
            assert!(t.elapsed() < Duration::from_secs(10), "helper did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        h
    }

    fn state(&self) -> PathBuf {
        self.dir.path().join("data/system")
    }

    fn raw(&self, bytes: &[u8]) -> Value {
        let mut s = UnixStream::connect(&self.sock).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(45))).expect("timeout");
        let _ = s.write_all(bytes);
        let mut line = String::new();
        BufReader::new(s).read_line(&mut line).expect("reply");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("reply {line:?}: {e}"))
    }

    fn call(&self, req: Value) -> Value {
        self.raw(format!("{req}\n").as_bytes())
    }

    fn status(&self) -> Value {
        let r = self.call(json!({"cmd": "status"}));
        assert_eq!(r["ok"], true, "{r}");
        r["status"].clone()
    }

    fn wait_mode(&self, mode: &str, secs: u64) -> Value {
        let t = Instant::now();
        loop {
            let s = self.status();
            if s["mode"] == mode {
                return s;
            }
            assert!(t.elapsed() < Duration::from_secs(secs), "mode {mode} never came; last status {s}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn set_sim(&self, sim_json: &str) {
        let tmp = self.dir.path().join("sim.json.tmp");
        std::fs::write(&tmp, sim_json).expect("write");
        std::fs::rename(tmp, self.dir.path().join("sim.json")).expect("rename");
    }

    /// Every file under the state dir with its bytes (what "nothing written" compares).
    fn files(&self) -> BTreeMap<PathBuf, Vec<u8>> {
        fn walk(dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
            for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let p = e.path();
                if p.is_dir() {
                    walk(&p, out);
                } else {
                    out.insert(p.clone(), std::fs::read(&p).unwrap_or_default());
                }
            }
        }
        let mut out = BTreeMap::new();
        walk(&self.state(), &mut out);
        out
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn code(r: &Value) -> &str {
    r["error"]["code"].as_str().unwrap_or("")
}

#[test]
fn wizard_join_wrong_password_then_right_one() {
    let h = Helper::start(&sim(home_networks(), false));
    let s = h.wait_mode("access_point", 5);
    assert_eq!(s["ap_ssid"], "Spot-Setup-1A2B");
    assert_eq!(s["wifi"], true);
    let conf = std::fs::read_to_string(h.state().join("sim-run/dnsmasq.conf")).expect("dnsmasq.conf");
    assert!(conf.contains("address=/#/192.168.4.1"));

    let scan = h.call(json!({"cmd": "wifi_scan"}));
    let names: Vec<&str> = scan["networks"].as_array().expect("networks").iter().filter_map(|n| n["ssid"].as_str()).collect();
    assert_eq!(names, ["Home", "Cafe", "OldRouter"], "strongest first, hidden left out");

    let r = h.call(json!({"cmd": "wifi_join", "ssid": "Home", "psk": "wrong password", "hidden": false}));
    assert_eq!(r, json!({"ok": true}));
    assert_eq!(h.status()["mode"], "joining");
    let s = h.wait_mode("access_point", 5);
    assert_eq!(s["last_error"]["code"], "wrong_password", "{s}");
    assert!(s["last_error"]["message"].as_str().expect("words").contains("Home"));
    assert!(!h.state().join("wifi.json").exists(), "failed credentials are not saved");

    h.call(json!({"cmd": "wifi_join", "ssid": "Home", "psk": "correct horse", "hidden": false}));
    let s = h.wait_mode("wifi", 5);
    assert_eq!(s["ssid"], "Home");
    assert_eq!(s["saved_ssid"], "Home");
    assert_eq!(s["signal_dbm"], -48);
    assert!(s["last_error"].is_null());
    assert_eq!(s["addresses"], json!(["192.168.50.23"]), "the access point is down, its address gone");
    let saved = h.state().join("wifi.json");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&saved).expect("saved").permissions().mode() & 0o777, 0o600);
    let wpa = std::fs::read_to_string(h.state().join("sim-run/wpa_supplicant.conf")).expect("wpa conf");
    assert!(wpa.contains("\tssid=486f6d65\n") && !wpa.contains("correct horse"), "{wpa}");
}

#[test]
fn hostile_arguments_are_refused_and_nothing_is_written() {
    let h = Helper::start(&sim(home_networks(), false));
    h.wait_mode("access_point", 5);
    let before = h.files();
    let long = "x".repeat(10 * 1024);
    let invalid = [
        json!({"cmd": "wifi_join", "ssid": "a\u{0}b", "psk": "password1", "hidden": false}),
        json!({"cmd": "wifi_join", "ssid": "", "psk": null, "hidden": false}),
        json!({"cmd": "wifi_join", "ssid": "x".repeat(33), "psk": null, "hidden": false}),
        json!({"cmd": "wifi_join", "ssid": "Home", "psk": "short", "hidden": false}),
        json!({"cmd": "wifi_join", "ssid": "Home", "psk": "pass\nnetwork={", "hidden": false}),
        json!({"cmd": "wifi_join", "ssid": "Home", "psk": "pass\u{0}word1", "hidden": false}),
        json!({"cmd": "wifi_join", "ssid": "Home", "psk": "x".repeat(64), "hidden": false}),
        json!({"cmd": "set_country", "country": "de"}),
        json!({"cmd": "set_country", "country": "$(reboot)"}),
        json!({"cmd": "set_country", "country": "D\n"}),
        json!({"cmd": "set_hostname", "name": "$(reboot)"}),
        json!({"cmd": "set_hostname", "name": "`reboot`"}),
        json!({"cmd": "set_hostname", "name": "a; reboot"}),
        json!({"cmd": "set_hostname", "name": "spot\nreboot"}),
        json!({"cmd": "set_hostname", "name": "../../etc/shadow"}),
        json!({"cmd": "set_hostname", "name": "-spot"}),
        json!({"cmd": "set_hostname", "name": "a".repeat(64)}),
        json!({"cmd": "set_hostname", "name": ""}),
        json!({"cmd": "set_timezone", "tz": "../../etc/shadow"}),
        json!({"cmd": "set_timezone", "tz": "/etc/shadow"}),
        json!({"cmd": "set_timezone", "tz": "Europe/Berlin\n"}),
        json!({"cmd": "set_timezone", "tz": "$(reboot)"}),
        json!({"cmd": "set_timezone", "tz": "Mars/Base"}),
        json!({"cmd": "set_timezone", "tz": "Europe"}),
        json!({"cmd": "wifi_join", "ssid": "OldRouter", "psk": "12345678", "hidden": false}),
        json!({"cmd": "wifi_join", "ssid": "Home", "psk": null, "hidden": false}),
    ];
    for req in &invalid {
        let r = h.call(req.clone());
        assert_eq!(r["ok"], false, "{req} → {r}");
        assert!(["invalid_argument", "unsupported"].contains(&code(&r)), "{req} → {r}");
        assert!(r["error"]["message"].as_str().is_some_and(|m| m.len() > 10), "{r}");
    }
    let mut bad: Vec<Vec<u8>> = [
        r#"{"cmd":"format_disk"}"#,
        r#"{"cmd":"status","x":1}"#,
        r#"{"cmd":"reboot","now":true}"#,
        r#"{"cmd":"wifi_join","ssid":"Home","psk":"password1","hidden":false,"country":"DE"}"#,
        r#"{"cmd":"wifi_join","ssid":"Home","psk":"password1","hidden":"yes"}"#,
        r#"{"cmd":"wifi_join","ssid":5,"psk":"password1","hidden":false}"#,
        r#"{"cmd":"wifi_join","ssid":"Home","psk":["a"],"hidden":false}"#,
        r#"{"cmd":"wifi_join","ssid":"Home"}"#,
        r#"{"cmd":"set_hostname","name":null}"#,
        r#"{"cmd":"set_hostname"}"#,
        r#"{"cmd":null}"#,
        r#"[{"cmd":"reboot"}]"#,
        r#""reboot""#,
        "reboot",
        "$(reboot)",
        "",
        "{\"cmd\":\"reboot\"",
    ]
    .iter()
    .map(|s| format!("{s}\n").into_bytes())
    .collect();
    bad.push(b"{\"cmd\":\"set_hostname\",\"name\":\"sp\0ot\"}\n".to_vec());
    bad.push(b"{\"cmd\":\"set_hostname\",\"name\":\"sp\xffot\"}\n".to_vec());
    bad.push(format!("{{\"cmd\":\"wifi_join\",\"ssid\":\"{long}\",\"psk\":null,\"hidden\":false}}\n").into_bytes());
    bad.push(vec![b'{'; 1 << 20]);
    for line in &bad {
        let r = h.raw(line);
        assert_eq!(code(&r), "bad_request", "{:?} → {r}", String::from_utf8_lossy(&line[..line.len().min(80)]));
    }
    // A closed connection without a line is answered too (if anyone listens) and changes nothing.
    drop(UnixStream::connect(&h.sock).expect("connect"));
    assert_eq!(h.files(), before, "a refused request wrote nothing");
    assert_eq!(h.status()["mode"], "access_point");
    assert!(!h.state().join("factory-reset").exists() && !h.state().join("sim-run/rebooted").exists());
}

#[test]
fn hostile_but_valid_names_are_rendered_inert() {
    let evil = "\"}\nnetwork={ssid=\"evil\"}$(x)`";
    let h = Helper::start(&sim(json!([{"ssid": evil, "password": "p\"; } $(reboot) x"}]), false));
    h.wait_mode("access_point", 5);
    let r = h.call(json!({"cmd": "wifi_join", "ssid": evil, "psk": "p\"; } $(reboot) x", "hidden": false}));
    assert_eq!(r["ok"], true, "{r}");
    let s = h.wait_mode("wifi", 5);
    assert_eq!(s["ssid"], evil, "the name comes back byte for byte");
    let wpa = std::fs::read_to_string(h.state().join("sim-run/wpa_supplicant.conf")).expect("conf");
    for needle in ["evil", "$(x)", "$(reboot)", "`", "\""] {
        assert!(!wpa.contains(needle), "{needle:?} in {wpa}");
    }
    assert_eq!(wpa.matches("network={").count(), 1);
    assert_eq!(wpa.matches('}').count(), 1);
}

#[test]
fn hidden_networks_need_the_hidden_flag() {
    let h = Helper::start(&sim(home_networks(), false));
    h.wait_mode("access_point", 5);
    h.call(json!({"cmd": "wifi_join", "ssid": "Secret", "psk": "hidden-pass", "hidden": false}));
    let s = h.wait_mode("access_point", 8);
    assert_eq!(s["last_error"]["code"], "not_found", "{s}");
    h.call(json!({"cmd": "wifi_join", "ssid": "Secret", "psk": "hidden-pass", "hidden": true}));
    h.wait_mode("wifi", 5);
    let wpa = std::fs::read_to_string(h.state().join("sim-run/wpa_supplicant.conf")).expect("conf");
    assert!(wpa.contains("scan_ssid=1"));
}

#[test]
fn a_lost_network_brings_the_access_point_back_and_is_rejoined() {
    let h = Helper::start(&sim(home_networks(), false));
    h.wait_mode("access_point", 5);
    h.call(json!({"cmd": "wifi_join", "ssid": "Home", "psk": "correct horse", "hidden": false}));
    h.wait_mode("wifi", 5);
    h.set_sim(&sim(json!([]), false));
    h.wait_mode("lost", 3);
    let s = h.wait_mode("access_point", 5);
    assert_eq!(s["last_error"]["code"], "not_found", "{s}");
    assert_eq!(s["saved_ssid"], "Home");
    h.set_sim(&sim(home_networks(), false));
    let s = h.wait_mode("wifi", 10);
    assert!(s["last_error"].is_null(), "{s}");
    // A cable takes over; forgetting then leaves the radio idle.
    h.set_sim(&sim(home_networks(), true));
    let s = h.wait_mode("ethernet", 3);
    assert_eq!(s["ethernet"], true);
    assert_eq!(h.call(json!({"cmd": "wifi_forget"})), json!({"ok": true}));
    assert!(!h.state().join("wifi.json").exists());
    assert!(h.status()["saved_ssid"].is_null());
}

#[test]
fn host_name_time_zone_country_and_factory_reset() {
    let h = Helper::start(&sim(home_networks(), false));
    assert_eq!(h.call(json!({"cmd": "set_hostname", "name": "annas-spot"})), json!({"ok": true}));
    assert_eq!(h.status()["hostname"], "annas-spot");
    assert_eq!(std::fs::read_to_string(h.state().join("hostname")).expect("hostname"), "annas-spot");
    assert_eq!(h.call(json!({"cmd": "set_timezone", "tz": "Europe/Berlin"})), json!({"ok": true}));
    let link = std::fs::read_link(h.state().join("localtime")).expect("localtime link");
    assert!(link.ends_with("zoneinfo/Europe/Berlin"), "{}", link.display());
    assert_eq!(h.call(json!({"cmd": "set_country", "country": "DE"})), json!({"ok": true}));
    assert_eq!(h.status()["country"], "DE");
    h.call(json!({"cmd": "wifi_join", "ssid": "Home", "psk": "correct horse", "hidden": false}));
    h.wait_mode("wifi", 5);
    let wpa = std::fs::read_to_string(h.state().join("sim-run/wpa_supplicant.conf")).expect("conf");
    assert!(wpa.contains("country=DE\n"));

    assert_eq!(h.call(json!({"cmd": "factory_reset"})), json!({"ok": true}));
    assert!(h.state().join("factory-reset").exists());
    assert!(h.state().join("sim-run/rebooted").exists());
    // The next boot's early unit.
    let data = h.dir.path().join("data");
    std::fs::create_dir_all(data.join("spot/files")).expect("mkdir");
    std::fs::write(data.join("spot/spot.db"), b"db").expect("db");
    let boot = h.dir.path().join("boot");
    std::fs::create_dir_all(&boot).expect("boot");
    let out = Command::new(env!("CARGO_BIN_EXE_spot-helper"))
        .arg("factory-reset-at-boot")
        .env("SPOT_HELPER_DATA", &data)
        .env("SPOT_HELPER_STATE", h.state())
        .env("SPOT_HELPER_BOOT", &boot)
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read_dir(h.state()).expect("state").count(), 0);
    assert_eq!(std::fs::read_dir(data.join("spot")).expect("spot").count(), 0);
}

#[test]
fn slow_clients_and_crowds_do_not_stop_it() {
    let h = Helper::start(&sim(home_networks(), false));
    h.wait_mode("access_point", 5);
    // Slow loris: a byte now and then never makes a request; it is cut off at the deadline
    // while everyone else is served.
    let sock = h.sock.clone();
    let loris = std::thread::spawn(move || {
        let mut s = UnixStream::connect(&sock).expect("connect");
        let t = Instant::now();
        for b in br#"{"cmd":"status"}"# {
            if s.write_all(&[*b]).is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(700));
        }
        let mut reply = String::new();
        let _ = s.read_to_string(&mut reply);
        (t.elapsed(), reply)
    });
    let idle: Vec<UnixStream> = (0..5).map(|_| UnixStream::connect(&h.sock).expect("connect")).collect();
    let t = Instant::now();
    assert_eq!(h.status()["mode"], "access_point");
    assert!(t.elapsed() < Duration::from_secs(2), "not held up by slow clients");

    let crowd: Vec<_> = (0..64)
        .map(|i| {
            let sock = h.sock.clone();
            std::thread::spawn(move || {
                let mut s = UnixStream::connect(&sock).expect("connect");
                let req = if i % 2 == 0 { r#"{"cmd":"status"}"# } else { r#"{"cmd":"set_country","country":"FR"}"# };
                // Past the client limit the helper answers `busy` and closes at once, maybe
                // before this write: the write may then fail, but the answer is still there.
                let _ = s.write_all(format!("{req}\n").as_bytes());
                let mut line = String::new();
                BufReader::new(s).read_line(&mut line).expect("read");
                serde_json::from_str::<Value>(&line).expect("json reply")
            })
        })
        .collect();
    for c in crowd {
        let r = c.join().expect("thread");
        assert!(r["ok"] == true || code(&r) == "busy", "{r}");
    }
    let (took, reply) = loris.join().expect("loris");
    assert!(took < Duration::from_secs(9), "{took:?}");
    assert!(reply.contains("bad_request"), "{reply}");
    drop(idle);
    assert_eq!(h.status()["country"], "FR");
    assert_eq!(std::fs::read_to_string(h.state().join("country")).expect("country"), "FR");
}

#[test]
fn https_is_announced_over_mdns_only_with_a_port_and_hostile_ports_are_refused() {
    let h = Helper::start(&sim(home_networks(), false));
    h.wait_mode("access_point", 5);
    let file = h.state().join("sim-run/spot-https.service");
    assert_eq!(h.call(json!({"cmd": "advertise_https", "port": 443})), json!({"ok": true}));
    let xml = std::fs::read_to_string(&file).expect("service file");
    assert!(xml.contains("<type>_https._tcp</type>") && xml.contains("<port>443</port>"), "{xml}");
    for bad in [json!({"cmd": "advertise_https", "port": 70000}), json!({"cmd": "advertise_https", "port": "443; reboot"}), json!({"cmd": "advertise_https", "port": 443, "name": "x"})] {
        assert_eq!(code(&h.call(bad.clone())), "bad_request", "{bad}");
    }
    assert_eq!(h.call(json!({"cmd": "advertise_https", "port": null})), json!({"ok": true}));
    assert!(!file.exists(), "HTTP only: no _https._tcp");
}

#[test]
fn data_fix_takes_two_words_only_and_only_for_a_reported_problem() {
    let h = Helper::start(&sim(home_networks(), true));
    h.wait_mode("ethernet", 5);
    let before = h.files();
    let started = h.state().join("sim-run/data-fix");
    // Anything but the two actions is refused while parsing: no device, path or shell words.
    for line in [
        r#"{"cmd":"data_fix"}"#,
        r#"{"cmd":"data_fix","action":null}"#,
        r#"{"cmd":"data_fix","action":"format"}"#,
        r#"{"cmd":"data_fix","action":"Repair"}"#,
        r#"{"cmd":"data_fix","action":"repair "}"#,
        r#"{"cmd":"data_fix","action":"repair; reboot"}"#,
        r#"{"cmd":"data_fix","action":"$(reboot)"}"#,
        r#"{"cmd":"data_fix","action":"../erase"}"#,
        r#"{"cmd":"data_fix","action":"erase\n"}"#,
        r#"{"cmd":"data_fix","action":["erase"]}"#,
        r#"{"cmd":"data_fix","action":{"erase":true}}"#,
        r#"{"cmd":"data_fix","action":1}"#,
        r#"{"cmd":"data_fix","action":"erase","device":"/dev/mmcblk0"}"#,
        r#"{"cmd":"data_fix","action":"erase","confirm":true}"#,
        r#"{"cmd":"data_fix","action":"erase","action":"repair","x":1}"#,
    ] {
        let r = h.raw(format!("{line}\n").as_bytes());
        assert_eq!(code(&r), "bad_request", "{line} → {r}");
    }
    // Valid words, but the data partition is fine: nothing happens.
    for action in ["repair", "erase"] {
        let r = h.call(json!({"cmd": "data_fix", "action": action}));
        assert_eq!(code(&r), "unsupported", "{r}");
    }
    assert!(!started.exists(), "no fix started");
    assert!(!h.dir.path().join("run-data/fix.json").exists());
    assert_eq!(h.files(), before);

    // A damaged partition reported: repair starts its unit, a second fix waits for the first.
    let run = h.dir.path().join("run-data");
    std::fs::create_dir_all(&run).expect("mkdir");
    std::fs::write(run.join("problem.json"), r#"{"problem":"missing","detail":"gone","device":null}"#).expect("w");
    assert_eq!(code(&h.call(json!({"cmd": "data_fix", "action": "repair"}))), "unsupported", "nothing to repair");
    std::fs::write(run.join("problem.json"), r#"{"problem":"damaged","detail":"no fs","device":"/dev/vda4"}"#).expect("w");
    let r = h.call(json!({"cmd": "data_fix", "action": "repair"}));
    assert_eq!(r, json!({"ok": true}));
    assert_eq!(std::fs::read_to_string(&started).expect("started"), "repair");
    let fix: Value = serde_json::from_slice(&std::fs::read(run.join("fix.json")).expect("fix")).expect("json");
    assert_eq!((fix["action"].as_str(), fix["state"].as_str()), (Some("repair"), Some("starting")));
    assert_eq!(code(&h.call(json!({"cmd": "data_fix", "action": "erase"}))), "busy");
    assert_eq!(std::fs::read_to_string(&started).expect("started"), "repair");
}

#[test]
fn with_a_data_partition_problem_the_state_stays_in_ram() {
    let h = Helper::start_with(&sim(home_networks(), true), |d| {
        std::fs::create_dir_all(d.join("run-data")).expect("mkdir");
        std::fs::write(d.join("run-data/problem.json"), r#"{"problem":"damaged","detail":"x","device":null}"#).expect("w");
    });
    h.wait_mode("ethernet", 5);
    assert_eq!(h.call(json!({"cmd": "set_hostname", "name": "rescued"})), json!({"ok": true}));
    assert_eq!(std::fs::read_to_string(h.dir.path().join("ram-state/hostname")).expect("in RAM"), "rescued");
    assert!(!h.state().join("hostname").exists(), "nothing on the (broken) data partition");
}
