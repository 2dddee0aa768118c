//! Admin → Updates through the real daemon and the real `spot-helper` (its slots image files,
//! its boot partition a directory, RAUC-style): upload a bundle, the helper installs it into
//! the other slot; a "boot" (the boot script's rules, `ota::bootstate::boot`) and a helper
//! restart on the new slot; the daemon's own heartbeat commits it. Bad uploads are refused in
//! words; members, missing CSRF and the development machine get their errors.

use crate::harness::{Client, Daemon, Resp};
use crate::network::helper_bin;
use ota::bootstate::{self, DirStore, Slot};
use ota::feed::{Repo, RoleKeys, RootKeys};
use ota::keys::PrivateKey;
use ota::testdata::noise;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SLOT: usize = 2 << 20;

struct Helper(Child);

impl Drop for Helper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}


/// The box's side of the hardware: slot files, boot dir, the trusted root.
fn make_box(dir: &Path) -> PrivateKey {
    for d in ["boot", "system", "zoneinfo"] {
        std::fs::create_dir_all(dir.join(d)).expect("mkdir");
    }
    std::fs::write(dir.join("slot-a.img"), noise(SLOT, 1)).expect("A");
    std::fs::write(dir.join("slot-b.img"), vec![0u8; SLOT]).expect("B");
    std::fs::write(dir.join("sim.json"), json!({"networks": [], "ethernet": true}).to_string()).expect("sim");
    let key = PrivateKey::from_seed([3; 32]);
    let root = PrivateKey::from_seed([4; 32]);
    let role = |k: &PrivateKey| RoleKeys { keys: vec![k.public()], threshold: 1 };
    let keys = RootKeys { root: role(&root), targets: role(&key), snapshot: role(&root), timestamp: role(&root) };
    let (_, files) = Repo::create(&keys, &[&root], 4_000_000_000).expect("root");
    std::fs::write(dir.join("root.json"), &files[1].1).expect("root.json");
    key
}

fn start_helper(dir: &Path, incoming: &Path, sock: &Path, slot: Slot, version: &str) -> Helper {
    std::fs::write(dir.join("cmdline"), format!("root=PARTUUID=feed-02 ro spot.slot={slot}")).expect("cmdline");
    let _ = std::fs::remove_file(sock);
    let child = Command::new(helper_bin())
        .args(["serve", "--simulate"])
        .arg(dir.join("sim.json"))
        .env("SPOT_HELPER_SOCKET", sock)
        .env("SPOT_HELPER_STATE", dir.join("system"))
        .env("SPOT_HELPER_ZONEINFO", dir.join("zoneinfo"))
        .env("SPOT_HELPER_BOOT", dir.join("boot"))
        .env("SPOT_HELPER_OTA_SLOTS", format!("{},{}", dir.join("slot-a.img").display(), dir.join("slot-b.img").display()))
        .env("SPOT_HELPER_OTA_CMDLINE", dir.join("cmdline"))
        .env("SPOT_HELPER_OTA_INCOMING", incoming)
        .env("SPOT_HELPER_OTA_ROOT", dir.join("root.json"))
        .env("SPOT_HELPER_OTA_BOARD", "qemu-arm64")
        .env("SPOT_HELPER_OTA_VERSION", version)
        // The daemon beats every 5 s: a window of two beats.
        .env("SPOT_HELPER_OTA_TIMING", r#"{"ready_within":30,"healthy_for":6,"beat_gap":12}"#)
        .env_remove("SPOT_HELPER_TIMING")
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn spot-helper");
    let t = Instant::now();
    while std::os::unix::net::UnixStream::connect(sock).is_err() {
        assert!(t.elapsed() < Duration::from_secs(10), "helper did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    Helper(child)
}

fn bundle(dir: &Path, version: &str, rootfs: &[u8], key: &PrivateKey) -> Vec<u8> {
    let img = dir.join(format!("rootfs-{version}.img"));
    std::fs::write(&img, rootfs).expect("image");
    let meta = ota::bundle::Meta {
        version: version.parse().expect("version"),
        boards: vec!["qemu-arm64".into()],
        min_version: None,
        created: 1_700_000_000,
        notes: format!("Spot {version}"),
        needs_eeprom: None,
    };
    let mut out = std::io::Cursor::new(Vec::new());
    ota::bundle::build(&mut out, &meta, &[("rootfs".into(), img)], &[key]).expect("bundle");
    out.into_inner()
}

async fn upload(c: &Client, bytes: Vec<u8>, csrf: bool) -> Resp {
    let token = c.csrf.lock().expect("lock").clone().unwrap_or_default();
    let mut rb = c.http.post(format!("{}/api/admin/updates/upload", c.base)).body(bytes);
    if csrf {
        rb = rb.header("x-csrf-token", token);
    }
    Client::finish(rb).await
}

async fn wait_for(c: &Client, what: &str, secs: u64, done: impl Fn(&Value) -> bool) -> Value {
    let t = Instant::now();
    loop {
        let r = c.get("/api/admin/updates").await.expect_status(200);
        if done(&r.body["ota"]) {
            return r.body["ota"].clone();
        }
        assert!(t.elapsed() < Duration::from_secs(secs), "{what} never came: {}", r.text);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn slot<'a>(o: &'a Value, name: &str) -> &'a Value {
    o["slots"].as_array().and_then(|s| s.iter().find(|x| x["name"] == name)).expect("slot")
}

fn incoming_files(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir).map(|r| r.filter_map(|e| e.ok().map(|e| e.path())).collect()).unwrap_or_default()
}

// Multi-threaded: the CLI blocks (block_in_place) while this runtime serves its download.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_installs_into_the_other_slot_and_the_daemons_heartbeat_commits_it() {
    let hw = tempfile::tempdir().expect("tmp");
    let key = make_box(hw.path());
    let sock = hw.path().join("helper.sock");
    let mut d = Daemon::start();
    d.stop();
    d.spawn_env("127.0.0.1:0", &[("SPOT_HELPER_SOCKET", sock.to_str().expect("utf-8"))]);
    let incoming = d.db_path().with_file_name("ota").join("incoming");
    let h = start_helper(hw.path(), &incoming, &sock, Slot::A, "0.1.0");
    let admin = d.admin().await;

    let st = admin.get("/api/admin/updates").await.expect_status(200);
    assert_eq!(st.body["managed"], true, "{}", st.text);
    assert_eq!(slot(&st.body["ota"], "A")["running"], true);
    assert_eq!(st.body["ota"]["status"]["phase"], "idle");

    // Only admins, only with CSRF; junk is refused before it is stored.
    let member = d.member(&admin, "bea").await;
    member.get("/api/admin/updates").await.expect_error(403, "admin_only");
    upload(&member, b"SPOTOTA\x01".to_vec(), true).await.expect_error(403, "admin_only");
    let v2 = bundle(hw.path(), "0.2.0", &noise(SLOT / 2, 2), &key);
    // (A small body: the refusal comes before the body is read, and a large one still being
    // sent then sees the connection close instead of the answer.)
    upload(&admin, v2[..64].to_vec(), false).await.expect_error(403, "csrf_failed");
    upload(&admin, b"PK\x03\x04 a zip file, not a bundle".to_vec(), true).await.expect_error(400, "not_a_bundle");
    upload(&admin, Vec::new(), true).await.expect_error(400, "not_a_bundle");
    upload(&admin, b"SPOT".to_vec(), true).await.expect_error(400, "not_a_bundle");
    assert!(incoming_files(&incoming).is_empty(), "refused uploads left files: {:?}", incoming_files(&incoming));

    // A bundle signed by a stranger: accepted as an upload, refused by the helper, in words.
    let stranger = bundle(hw.path(), "0.2.0", &noise(SLOT / 2, 2), &PrivateKey::from_seed([8; 32]));
    upload(&admin, stranger, true).await.expect_status(202);
    let o = wait_for(&admin, "the refusal", 20, |o| o["history"].as_array().is_some_and(|h| !h.is_empty())).await;
    assert_eq!((o["history"][0]["outcome"].as_str(), o["history"][0]["code"].as_str()), (Some("install_failed"), Some("wrong_key")), "{o}");

    // The real one: written into B and staged.
    upload(&admin, v2, true).await.expect_status(202);
    let o = wait_for(&admin, "staging", 30, |o| o["history"][0]["outcome"] == "staged").await;
    assert_eq!(o["status"]["phase"], "staged");
    assert_eq!((slot(&o, "B")["version"].as_str(), slot(&o, "B")["trial"].as_bool()), (Some("0.2.0"), Some(true)), "{o}");
    assert!(incoming_files(&incoming).is_empty(), "the helper left the bundle: {:?}", incoming_files(&incoming));
    // A scheduled restart: cancelled, it never happens; kept, it does (no sooner).
    let rebooted = hw.path().join("system/sim-run/rebooted");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("time").as_secs();
    admin.post("/api/admin/updates/restart", json!({"at": now + 8 * 24 * 3600})).await.expect_error(400, "invalid_time");
    admin.post("/api/admin/updates/restart", json!({"at": now - 3600})).await.expect_error(400, "invalid_time");
    admin.post("/api/admin/updates/restart", json!({"at": now + 2})).await.expect_status(202);
    assert_eq!(admin.get("/api/admin/updates").await.expect_status(200).body["restart_at"], now + 2);
    admin.delete("/api/admin/updates/restart").await.expect_status(204);
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(!rebooted.exists(), "a cancelled restart happened");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("time").as_secs();
    admin.post("/api/admin/updates/restart", json!({"at": now + 2})).await.expect_status(202);
    assert!(!rebooted.exists(), "the scheduled restart came at once");
    let t = Instant::now();
    while !rebooted.exists() {
        assert!(t.elapsed() < Duration::from_secs(10), "the scheduled restart never came");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(admin.get("/api/admin/updates").await.expect_status(200).body["restart_at"], Value::Null);
    // Restart now: the helper is asked to reboot.
    std::fs::remove_file(&rebooted).expect("rm");
    admin.post("/api/admin/updates/restart", json!({})).await.expect_status(202);
    assert!(rebooted.exists(), "no reboot was asked for");
    drop(h);

    // "Boot": the boot script picks B on trial; the helper runs from B; the daemon's heartbeat
    // (every 5 s) keeps it healthy long enough and the helper commits.
    assert_eq!(bootstate::boot(&mut DirStore(hw.path().join("boot")), "0.1.0").expect("boot"), (Slot::B, true));
    let _h = start_helper(hw.path(), &incoming, &sock, Slot::B, "0.2.0");
    let o = admin.get("/api/admin/updates").await.expect_status(200).body["ota"].clone();
    assert_eq!(o["status"]["phase"], "trial", "{o}");
    let o = wait_for(&admin, "the commit", 40, |o| o["history"][0]["outcome"] == "committed").await;
    assert_eq!(o["floor"], "0.2.0");
    assert_eq!(slot(&o, "B")["primary"], true, "{o}");
    // The admin may go back to the old system (A is whole), and forth again.
    admin.post("/api/admin/updates/rollback", json!({})).await.expect_status(202);
    let o = admin.get("/api/admin/updates").await.expect_status(200).body["ota"].clone();
    assert_eq!(slot(&o, "A")["primary"], true, "{o}");
    admin.post("/api/admin/updates/rollback", json!({})).await.expect_status(202);

    // The same from the command line: status, refused files, an install into A.
    let cli = |args: &[&str]| {
        let out = Command::new(crate::harness::BIN)
            .arg("--data-dir")
            .arg(d.db_path().parent().expect("data dir"))
            .arg("ota")
            .args(args)
            .env("SPOT_HELPER_SOCKET", &sock)
            .output()
            .expect("spot ota");
        (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr))
    };
    let path = |name: &str| hw.path().join(name).to_str().expect("utf-8").to_owned();
    let (ok, out) = cli(&["status"]);
    assert!(ok && out.contains("slot B    version 0.2.0 (running, committed)") && out.contains("floor     0.2.0"), "{out}");
    std::fs::write(hw.path().join("junk.spotota"), b"junk").expect("junk");
    let (ok, out) = cli(&["install", &path("junk.spotota")]);
    assert!(!ok && out.contains("not a Spot box update bundle"), "{out}");
    std::fs::write(hw.path().join("v15.spotota"), bundle(hw.path(), "0.1.5", &noise(SLOT / 2, 4), &key)).expect("v1.5");
    let (ok, out) = cli(&["install", &path("v15.spotota")]);
    assert!(!ok && out.contains("(downgrade)"), "{out}");
    // An install from a URL: downloaded through the fetcher (only that host), then the same.
    std::fs::write(hw.path().join("v3.spotota"), bundle(hw.path(), "0.3.0", &noise(SLOT / 2, 3), &key)).expect("v3");
    let port = serve_dir(hw.path().to_path_buf()).await;
    let url = |name: &str| format!("http://127.0.0.1:{port}/{name}");
    let (ok, out) = tokio::task::block_in_place(|| cli(&["install", &url("missing.spotota")]));
    assert!(!ok && out.contains("404"), "{out}");
    let (ok, out) = tokio::task::block_in_place(|| cli(&["install", &url("junk.spotota")]));
    assert!(!ok && out.contains("not a Spot box update bundle"), "{out}");
    let (ok, out) = tokio::task::block_in_place(|| cli(&["install", &url("v3.spotota")]));
    assert!(ok && out.contains("downloaded") && out.contains("installed 0.3.0"), "{out}");
    assert!(incoming_files(&incoming).is_empty(), "the download left files behind: {:?}", incoming_files(&incoming));
    // With 0.3.0 waiting for its first boot there is nothing to roll back to.
    admin.post("/api/admin/updates/rollback", json!({})).await.expect_error(409, "busy");
    let (ok, out) = cli(&["rollback"]);
    assert!(!ok && out.contains("(busy)"), "{out}");
}

#[tokio::test]
async fn a_development_machine_says_updates_are_not_its_business() {
    let d = Daemon::start();
    let admin = d.admin().await;
    let st = admin.get("/api/admin/updates").await.expect_status(200);
    assert_eq!(st.body["managed"], false);
    upload(&admin, b"SPOTOTA\x01".to_vec(), true).await.expect_error(400, "updates_unmanaged");
    admin.post("/api/admin/updates/restart", json!({})).await.expect_error(400, "updates_unmanaged");
}

/// The feed's metadata as `spot-ota repo` writes it, from the same keys as `make_box`.
fn feed_repo() -> (ota::feed::Repo, PrivateKey, PrivateKey) {
    let key = PrivateKey::from_seed([3; 32]);
    let root = PrivateKey::from_seed([4; 32]);
    let role = |k: &PrivateKey| RoleKeys { keys: vec![k.public()], threshold: 1 };
    let keys = RootKeys { root: role(&root), targets: role(&key), snapshot: role(&root), timestamp: role(&root) };
    let (repo, _) = Repo::create(&keys, &[&root], 4_000_000_000).expect("root");
    (repo, key, root)
}

fn entry_of(bundle: &[u8]) -> ota::feed::TargetEntry {
    use sha2::Digest;
    let envelope = ota::bundle::read_header(&mut &bundle[..]).expect("header");
    let m: ota::manifest::Manifest = ota::keys::Envelope::parse(&envelope).expect("env").parse_signed("m").expect("manifest");
    ota::feed::TargetEntry {
        length: bundle.len() as u64,
        sha256: hex_of(&sha2::Sha256::digest(bundle)),
        custom: ota::feed::TargetCustom {
            version: m.version,
            boards: m.boards,
            min_version: m.min_version,
            notes: m.notes,
            manifest_sha256: hex_of(&sha2::Sha256::digest(&envelope)),
            manifest_len: envelope.len() as u64,
        },
    }
}

fn hex_of(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// What the feed's test server does and saw.
#[derive(Clone, Default)]
struct FeedServer {
    /// Answer `Range: bytes=a-b` with 206 (else the whole file, 200, as many servers do).
    ranges: bool,
    /// Drop the connection once, after this many body bytes of bundles in all (not counting
    /// whole files sent to a Range request, which the box does not read).
    cut_after: Arc<Mutex<Option<u64>>>,
    /// Every bundle body sent: (first byte, bytes sent).
    sent: Arc<Mutex<Vec<(u64, u64)>>>,
}

impl FeedServer {
    fn bundle_bytes(&self) -> u64 {
        self.sent.lock().expect("lock").iter().map(|s| s.1).sum()
    }

    /// Bytes sent more than once.
    fn overlap(&self) -> u64 {
        let mut v = self.sent.lock().expect("lock").clone();
        v.sort_unstable();
        let (mut twice, mut end) = (0, 0u64);
        for (off, len) in v {
            twice += end.min(off + len).saturating_sub(off);
            end = end.max(off + len);
        }
        twice
    }
}

/// A plain static file server for the feed directory on 127.0.0.1:0 (404 for what is not there).
async fn serve_dir(dir: PathBuf) -> u16 {
    serve_dir_with(dir, FeedServer::default()).await
}

async fn serve_dir_with(dir: PathBuf, srv: FeedServer) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = l.local_addr().expect("addr").port();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = l.accept().await else { return };
            let dir = dir.clone();
            let srv = srv.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let mut n = 0;
                while !buf[..n].windows(4).any(|w| w == b"\r\n\r\n") && n < buf.len() {
                    match s.read(&mut buf[n..]).await {
                        Ok(0) | Err(_) => return,
                        Ok(k) => n += k,
                    }
                }
                let head = String::from_utf8_lossy(&buf[..n]).into_owned();
                let path = head.split_whitespace().nth(1).unwrap_or("/").trim_start_matches('/').to_owned();
                let range = head.lines().find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    let (a, b) = v.trim().strip_prefix("bytes=")?.split_once('-')?;
                    k.eq_ignore_ascii_case("range").then(|| (a.parse::<u64>().ok(), b.parse::<u64>().ok()))
                });
                let file = dir.join(&path);
                let Ok(body) = std::fs::read(&file).map_err(|_| ()).and_then(|b| if path.contains("..") { Err(()) } else { Ok(b) }) else {
                    let _ = s.write_all(b"HTTP/1.1 404 Not Found\r\ncontent-type: text/plain\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").await;
                    return;
                };
                let total = body.len() as u64;
                let (status, start, end) = match range {
                    Some((Some(a), Some(b))) if srv.ranges && a <= b && b < total => ("206 Partial Content", a, b + 1),
                    _ => ("200 OK", 0, total),
                };
                let mut reply = format!("HTTP/1.1 {status}\r\ncontent-type: application/octet-stream\r\ncontent-length: {}\r\nconnection: close\r\n", end - start);
                if start != 0 || end != total {
                    reply.push_str(&format!("content-range: bytes {start}-{}/{total}\r\n", end - 1));
                }
                reply.push_str("\r\n");
                if s.write_all(reply.as_bytes()).await.is_err() {
                    return;
                }
                let mut len = end - start;
                // A Range answered with the whole file: the box reads none of it (not counted).
                let ignored = range.is_some() && !srv.ranges;
                if path.starts_with("feed/bundles/") && !ignored {
                    let mut cut = srv.cut_after.lock().expect("lock");
                    if let Some(left) = *cut {
                        let before = srv.bundle_bytes();
                        if before + len > left {
                            len = left.saturating_sub(before);
                            *cut = None;
                        }
                    }
                    srv.sent.lock().expect("lock").push((start, len));
                }
                let _ = s.write_all(&body[start as usize..(start + len) as usize]).await;
                let _ = s.flush().await;
                // A cut connection just closes, short of its content-length.
            });
        }
    });
    port
}

fn write_files(dir: &Path, files: &[(String, Vec<u8>)]) {
    for (n, b) in files {
        std::fs::write(dir.join(n), b).expect("feed file");
    }
}

#[tokio::test]
async fn the_feed_lists_newer_versions_and_a_download_installs_only_what_it_pins() {
    let hw = tempfile::tempdir().expect("tmp");
    let key = make_box(hw.path());
    let feed = hw.path().join("feed");
    std::fs::create_dir_all(feed.join("bundles")).expect("feed dir");
    let (mut repo, tkey, rkey) = feed_repo();
    std::fs::copy(hw.path().join("root.json"), feed.join("root.json")).expect("root");
    let v2 = bundle(hw.path(), "0.2.0", &noise(SLOT / 2, 2), &key);
    std::fs::write(feed.join("bundles/spot-0.2.0.spotota"), &v2).expect("bundle");
    repo.set_target("spot-0.2.0.spotota", entry_of(&v2)).expect("target");
    let old = bundle(hw.path(), "0.0.9", &noise(SLOT / 2, 9), &key);
    std::fs::write(feed.join("bundles/spot-0.0.9.spotota"), &old).expect("bundle");
    repo.set_target("spot-0.0.9.spotota", entry_of(&old)).expect("target");
    let lifetimes = ota::feed::Lifetimes::default();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("time").as_secs();
    let first = repo.publish(&[&tkey], &[&rkey], &[&rkey], now, &lifetimes).expect("publish");
    write_files(&feed, &first);
    let port = serve_dir(hw.path().to_path_buf()).await;

    let sock = hw.path().join("helper.sock");
    let mut d = Daemon::start();
    d.stop();
    let root = hw.path().join("root.json");
    d.spawn_env("127.0.0.1:0", &[("SPOT_HELPER_SOCKET", sock.to_str().expect("utf-8")), ("SPOT_OTA_ROOT", root.to_str().expect("utf-8"))]);
    let incoming = d.db_path().with_file_name("ota").join("incoming");
    let _h = start_helper(hw.path(), &incoming, &sock, Slot::A, "0.1.0");
    let admin = d.admin().await;

    admin.post("/api/admin/updates/check", json!({})).await.expect_error(400, "no_feed");
    for bad in ["ftp://nas.lan/feed", "not a url", "http://user:pw@nas.lan/", "javascript:alert(1)"] {
        admin.put("/api/admin/updates/feed", json!({"url": bad})).await.expect_error(400, "invalid_feed_url");
    }
    admin.put("/api/admin/updates/feed", json!({"url": format!("http://127.0.0.1:{port}/feed")})).await.expect_status(204);
    let f = admin.get("/api/admin/updates/feed").await.expect_status(200);
    assert_eq!(f.body["url"], format!("http://127.0.0.1:{port}/feed/"));

    // Only what is newer than the running 0.1.0 is offered, with its notes.
    let c = admin.post("/api/admin/updates/check", json!({})).await.expect_status(200);
    assert_eq!(c.body["error"], Value::Null, "{}", c.text);
    let offered: Vec<&str> = c.body["updates"].as_array().expect("list").iter().filter_map(|u| u["version"].as_str()).collect();
    assert_eq!(offered, ["0.2.0"], "{}", c.text);
    assert_eq!(c.body["updates"][0]["notes"], "Spot 0.2.0");

    admin.post("/api/admin/updates/download", json!({"name": "../../etc/passwd"})).await.expect_error(400, "invalid_name");
    admin.post("/api/admin/updates/download", json!({"name": "nope.spotota"})).await.expect_error(404, "unknown_update");

    // The feed server now serves a different file under the listed name: refused, nothing staged.
    let evil = bundle(hw.path(), "0.2.0", &noise(SLOT / 2, 66), &key);
    std::fs::write(feed.join("bundles/spot-0.2.0.spotota"), &evil).expect("swap");
    admin.post("/api/admin/updates/download", json!({"name": "spot-0.2.0.spotota"})).await.expect_status(202);
    let t = Instant::now();
    let failed = loop {
        let r = admin.get("/api/admin/updates").await.expect_status(200);
        if r.body["download"]["state"] == "failed" {
            break r.body;
        }
        assert!(t.elapsed() < Duration::from_secs(20), "the swapped file was not refused: {}", r.text);
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(failed["download"]["error"]["code"], "download_mismatch", "{failed}");
    assert_eq!(failed["ota"]["status"]["phase"], "idle");
    assert!(incoming_files(&incoming).is_empty(), "{:?}", incoming_files(&incoming));

    // The real file: downloaded, checked, installed into B.
    std::fs::write(feed.join("bundles/spot-0.2.0.spotota"), &v2).expect("restore");
    admin.post("/api/admin/updates/download", json!({"name": "spot-0.2.0.spotota"})).await.expect_status(202);
    let o = wait_for(&admin, "staging from the feed", 30, |o| o["history"][0]["outcome"] == "staged").await;
    assert_eq!(slot(&o, "B")["version"], "0.2.0", "{o}");
    let r = admin.get("/api/admin/updates").await.expect_status(200);
    assert_eq!(r.body["download"]["state"], "installing");
    assert_eq!(r.body["download"]["done"], v2.len());
    // This server sends whole files only: the box fell back to the whole bundle.
    assert_eq!(r.body["download"]["mode"], "full", "{}", r.text);

    // Replaying the feed's older timestamp after a newer one was seen is refused.
    let second = repo.publish(&[&tkey], &[&rkey], &[&rkey], now, &lifetimes).expect("publish");
    write_files(&feed, &second);
    admin.post("/api/admin/updates/check", json!({})).await.expect_status(200);
    write_files(&feed, &first);
    let c = admin.post("/api/admin/updates/check", json!({})).await.expect_status(200);
    assert_eq!(c.body["error"]["code"], "replayed_metadata", "{}", c.text);
}

/// A daemon and helper on slot A (0.1.0) with a feed of `bundle` as `spot-0.2.0.spotota`,
/// served by `srv`.
struct FeedBox {
    hw: tempfile::TempDir,
    d: Daemon,
    _h: Helper,
    admin: Client,
    incoming: PathBuf,
}

async fn feed_box(make: impl FnOnce(&Path, &PrivateKey) -> Vec<u8>, srv: FeedServer) -> (FeedBox, Vec<u8>) {
    let hw = tempfile::tempdir().expect("tmp");
    let key = make_box(hw.path());
    let feed = hw.path().join("feed");
    std::fs::create_dir_all(feed.join("bundles")).expect("feed dir");
    let (mut repo, tkey, rkey) = feed_repo();
    std::fs::copy(hw.path().join("root.json"), feed.join("root.json")).expect("root");
    let bundle = make(hw.path(), &key);
    std::fs::write(feed.join("bundles/spot-0.2.0.spotota"), &bundle).expect("bundle");
    repo.set_target("spot-0.2.0.spotota", entry_of(&bundle)).expect("target");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("time").as_secs();
    write_files(&feed, &repo.publish(&[&tkey], &[&rkey], &[&rkey], now, &ota::feed::Lifetimes::default()).expect("publish"));
    let port = serve_dir_with(hw.path().to_path_buf(), srv).await;
    let sock = hw.path().join("helper.sock");
    let mut d = Daemon::start();
    d.stop();
    let root = hw.path().join("root.json");
    d.spawn_env("127.0.0.1:0", &[("SPOT_HELPER_SOCKET", sock.to_str().expect("utf-8")), ("SPOT_OTA_ROOT", root.to_str().expect("utf-8"))]);
    let incoming = d.db_path().with_file_name("ota").join("incoming");
    let h = start_helper(hw.path(), &incoming, &sock, Slot::A, "0.1.0");
    let admin = d.admin().await;
    admin.put("/api/admin/updates/feed", json!({"url": format!("http://127.0.0.1:{port}/feed")})).await.expect_status(204);
    (FeedBox { hw, d, _h: h, admin, incoming }, bundle)
}

/// Asks for the download and waits for it to fail or be handed to the helper.
async fn download_until_settled(admin: &Client) -> Value {
    admin.post("/api/admin/updates/download", json!({"name": "spot-0.2.0.spotota"})).await.expect_status(202);
    let t = Instant::now();
    loop {
        let r = admin.get("/api/admin/updates").await.expect_status(200);
        if r.body["download"]["state"] != "downloading" {
            return r.body;
        }
        assert!(t.elapsed() < Duration::from_secs(30), "the download never ended: {}", r.text);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The running system with 16 KiB of it rewritten (a new daemon binary, in small).
fn daemon_only_update(dir: &Path, key: &PrivateKey) -> Vec<u8> {
    let mut v2 = noise(SLOT, 1);
    v2[SLOT / 3..SLOT / 3 + 16384].copy_from_slice(&noise(16384, 22));
    std::fs::write(dir.join("v2-rootfs.img"), &v2).expect("v2");
    bundle(dir, "0.2.0", &v2, key)
}

#[tokio::test]
async fn a_daemon_only_update_downloads_only_the_chunks_the_box_lacks_and_resumes_after_a_cut() {
    let srv = FeedServer { ranges: true, ..FeedServer::default() };
    let envelope_len = |b: &[u8]| ota::bundle::read_header(&mut &b[..]).expect("header").len() as u64;
    // Cut the first attempt 40 000 bytes into the chunks after the header.
    let (fb, bundle) = feed_box(daemon_only_update, srv.clone()).await;
    let head = ota::bundle::payload_start(envelope_len(&bundle));
    *srv.cut_after.lock().expect("lock") = Some(head + 40_000);
    let st = download_until_settled(&fb.admin).await;
    assert_eq!((st["download"]["state"].as_str(), st["download"]["error"]["code"].as_str()), (Some("failed"), Some("download_failed")), "{st}");
    assert_eq!(st["download"]["mode"], "delta", "{st}");
    let part: Vec<PathBuf> = incoming_files(&fb.incoming);
    assert!(part.iter().any(|p| p.to_string_lossy().ends_with(".part.json")), "no progress record: {part:?}");
    let first = srv.bundle_bytes();

    // Asked again: it goes on from where it stopped, the helper installs it.
    let st = download_until_settled(&fb.admin).await;
    assert_eq!(st["download"]["state"], "installing", "{st}");
    let o = wait_for(&fb.admin, "staging the delta", 30, |o| o["history"][0]["outcome"] == "staged" || o["history"][0]["outcome"] == "install_failed").await;
    assert_eq!((o["history"][0]["outcome"].as_str(), slot(&o, "B")["version"].as_str()), (Some("staged"), Some("0.2.0")), "{o}");
    let v2 = std::fs::read(fb.hw.path().join("v2-rootfs.img")).expect("v2");
    assert_eq!(std::fs::read(fb.hw.path().join("slot-b.img")).expect("B"), v2, "slot B is not the new system");
    assert!(incoming_files(&fb.incoming).is_empty(), "{:?}", incoming_files(&fb.incoming));

    let fetched = srv.bundle_bytes();
    let st = fb.admin.get("/api/admin/updates").await.expect_status(200).body;
    eprintln!("delta download: {fetched} bytes fetched ({first} before the cut) of a {} byte bundle; overlap {}", bundle.len(), srv.overlap());
    // (16 KiB changed in a 2 MiB system touches one or two chunks of 16–256 KiB.)
    assert!(fetched * 4 < bundle.len() as u64, "{fetched} of {} bytes", bundle.len());
    assert_eq!(srv.overlap(), 0, "bytes fetched twice: {:?}", srv.sent.lock().expect("lock"));
    assert_eq!(st["download"]["total"], fetched, "{st}");
    assert_eq!(st["download"]["done"], fetched, "{st}");
    assert!(st["download"]["speed"].as_u64().is_some(), "{st}");
    let _ = &fb.d;
}

#[tokio::test]
async fn a_feed_server_without_ranges_gets_the_whole_bundle_even_after_a_cut() {
    let srv = FeedServer::default();
    let (fb, bundle) = feed_box(daemon_only_update, srv.clone()).await;
    *srv.cut_after.lock().expect("lock") = Some(bundle.len() as u64 / 2);
    let st = download_until_settled(&fb.admin).await;
    assert_eq!(st["download"]["error"]["code"], "download_failed", "{st}");
    // The second attempt asks for the rest, gets the whole file, and takes it whole.
    let st = download_until_settled(&fb.admin).await;
    assert_eq!((st["download"]["state"].as_str(), st["download"]["mode"].as_str()), (Some("installing"), Some("full")), "{st}");
    assert_eq!(st["download"]["done"], bundle.len());
    let o = wait_for(&fb.admin, "staging", 30, |o| o["history"][0]["outcome"] == "staged").await;
    assert_eq!(slot(&o, "B")["version"], "0.2.0", "{o}");
    let _ = &fb.d;
}

#[tokio::test]
async fn a_delta_from_a_feed_serving_another_header_is_refused() {
    let srv = FeedServer { ranges: true, ..FeedServer::default() };
    let (fb, _) = feed_box(daemon_only_update, srv.clone()).await;
    // Same name, another bundle (another manifest): its header does not match the pin.
    let key = PrivateKey::from_seed([3; 32]);
    let evil = bundle(fb.hw.path(), "0.2.0", &noise(SLOT, 5), &key);
    std::fs::write(fb.hw.path().join("feed/bundles/spot-0.2.0.spotota"), evil).expect("swap");
    let st = download_until_settled(&fb.admin).await;
    assert_eq!(st["download"]["error"]["code"], "download_mismatch", "{st}");
    assert_eq!(st["ota"]["status"]["phase"], "idle");
    assert!(incoming_files(&fb.incoming).is_empty(), "{:?}", incoming_files(&fb.incoming));
    assert!(srv.bundle_bytes() <= 64 << 10, "more than the header was fetched: {}", srv.bundle_bytes());
}
