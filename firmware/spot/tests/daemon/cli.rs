//! The command line: version, init, users, backup while serving, config errors, systemd
//! notification, JSON logs.

use crate::harness::*;
use serde_json::json;
use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

fn run(d: &Daemon, args: &[&str]) -> std::process::Output {
    spot(d.dir.path()).args(args).output().expect("run spot")
}

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn version_is_printed() {
    let o = std::process::Command::new(BIN).arg("--version").output().expect("run");
    assert!(o.status.success());
    assert_eq!(stdout(&o).trim(), format!("spot {}", env!("CARGO_PKG_VERSION")));
}

#[test]
fn init_refuses_to_run_twice_and_validates_flags() {
    let dir = tempfile::tempdir().expect("dir");
    let o = spot(dir.path()).args(["init", "--non-interactive"]).output().expect("init");
    assert!(o.status.success());
    let out = stdout(&o);
    assert!(out.contains("Admin user: admin"));
    let pw = out.lines().find_map(|l| l.strip_prefix("Admin password: ")).expect("generated password");
    assert_eq!(pw.len(), 20);
    let o = spot(dir.path()).args(["init", "--non-interactive"]).output().expect("init");
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("already initialised"));
    let other = tempfile::tempdir().expect("dir");
    let o = spot(&other.path().join("d")).args(["init", "--non-interactive", "--admin-password", "short"]).output().expect("init");
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--admin-password"));
    assert!(!other.path().join("d/spot.toml").exists(), "nothing written on a bad flag");
    let o = spot(&other.path().join("e")).args(["init", "--non-interactive", "--tls", "bogus"]).output().expect("init");
    assert!(String::from_utf8_lossy(&o.stderr).contains("--tls"));
}

#[tokio::test]
async fn users_are_managed_from_the_command_line() {
    let d = Daemon::start();
    let admin = d.admin().await;
    let (mut admin_gw, _) = admin.gateway(None).await;
    let o = run(&d, &["user", "add", "dave", "--password", "dave-password"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // The CLI's change is in the event log; the daemon's sockets deliver it, in order, as soon
    // as the next event of their own shows the gap.
    let ch = admin.general().await;
    admin.post(&format!("/api/channels/{ch}/messages"), serde_json::json!({"content": "hello"})).await.expect_status(201);
    let ev = admin_gw.next().await.expect("event");
    assert_eq!((ev["t"].as_str(), ev["d"]["username"].as_str()), (Some("user.update"), Some("dave")), "{ev}");
    assert_eq!(admin_gw.next_event("message.create").await["d"]["content"], "hello");
    let o = run(&d, &["user", "add", "erin"]);
    let pw = stdout(&o).lines().find_map(|l| l.strip_prefix("password: ")).expect("generated").to_owned();
    let list = stdout(&run(&d, &["user", "list"]));
    assert!(list.contains("dave") && list.contains("erin") && list.contains("admin"));
    let erin = Client::new(&d);
    erin.login("erin", &pw).await.expect_status(200);
    let dave = Client::new(&d);
    dave.login("dave", "dave-password").await.expect_status(200);
    let o = run(&d, &["user", "add", "dave", "--password", "dave-password"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("username_taken"));
    // reset-password ends sessions; disable ends sessions.
    assert!(run(&d, &["user", "reset-password", "dave", "--password", "dave-password-2"]).status.success());
    dave.get("/api/me").await.expect_error(401, "unauthenticated");
    Client::new(&d).login("dave", "dave-password-2").await.expect_status(200);
    let (mut gw, _) = erin.gateway(None).await;
    assert!(run(&d, &["user", "disable", "erin"]).status.success());
    erin.get("/api/me").await.expect_error(401, "unauthenticated");
    // The running daemon notices within its session re-check interval.
    assert_eq!(gw.closed().await, Some(4001));
    let o = run(&d, &["user", "disable", "nobody"]);
    assert!(!o.status.success());
}

/// Make the database big (~60 MB of messages) behind the daemon's back while it is stopped.
fn grow_database(d: &Daemon, rows: i64) {
    let db = rusqlite::Connection::open(d.db_path()).expect("open db");
    db.pragma_update(None, "synchronous", "OFF").expect("pragma");
    let (id, ch, author): (i64, i64, i64) =
        db.query_row("SELECT id, channel_id, author_id FROM messages ORDER BY id DESC LIMIT 1", [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).expect("template");
    let filler = "lorem ipsum dolor sit amet ".repeat(55);
    db.execute(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1)
         INSERT INTO messages (id, channel_id, author_id, content, created_at) SELECT ?2 + i, ?3, ?4, ?5 || i, 1 FROM n",
        rusqlite::params![rows, id, ch, author, filler],
    )
    .expect("bulk insert");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn backup_of_a_large_database_finishes_under_steady_writes_and_is_private() {
    let mut d = Daemon::start_with("[limits]\nsend_burst = 100000\nsend_interval_ms = 1", &[]);
    {
        let admin = d.admin().await;
        let ch = admin.general().await;
        admin.post(&format!("/api/channels/{ch}/messages"), json!({"content": "template"})).await.expect_status(201);
    }
    d.stop();
    const BULK: i64 = 40_000;
    grow_database(&d, BULK);
    d.restart_same_port();
    let admin = std::sync::Arc::new(d.admin().await);
    let ch = admin.general().await;
    // Three people keep posting, each as fast as the box answers, during the whole backup.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writers: Vec<_> = (0..3)
        .map(|w| {
            let (admin, ch, stop) = (admin.clone(), ch.clone(), stop.clone());
            tokio::spawn(async move {
                let mut acked = Vec::new();
                let mut i = 0;
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    let text = format!("w{w}-{i}");
                    let r = admin.post(&format!("/api/channels/{ch}/messages"), json!({"content": text})).await;
                    assert_eq!(r.status, 201, "every write during the backup succeeds: {}", r.text);
                    acked.push((text, std::time::Instant::now()));
                    i += 1;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                acked
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let dest = d.dir.path().join("backup.db");
    let dest2 = dest.clone();
    let dir = d.dir.path().to_path_buf();
    let started = std::time::Instant::now();
    // A hang (the old page-by-page copy restarting on every write) fails here instead of
    // stalling the suite.
    let o = tokio::time::timeout(
        Duration::from_secs(180),
        tokio::task::spawn_blocking(move || spot(&dir).args(["backup", dest2.to_str().expect("path")]).output().expect("run")),
    )
    .await
    .expect("the backup finished")
    .expect("join");
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut acked = Vec::new();
    for w in writers {
        acked.extend(w.await.expect("writer"));
    }
    assert!(acked.len() >= 6, "the writers kept writing: {}", acked.len());
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&dest).expect("backup file").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the backup holds password hashes and DMs");
    let b = store::Store::open(&dest).expect("open backup");
    assert_eq!(b.integrity_check().expect("check"), "ok");
    assert!(b.user_credentials("admin").expect("query").is_some());
    // A snapshot from during the backup: everything from before it started, plus the big past.
    let n = b.message_count().expect("count");
    let before = acked.iter().filter(|(_, t)| *t < started).count() as i64;
    assert!(n >= BULK + 1 + before, "backup has {n} messages, expected at least {}", BULK + 1 + before);
    assert!(n <= BULK + 1 + acked.len() as i64);
    let o = run(&d, &["backup", dest.to_str().expect("path")]);
    assert!(!o.status.success(), "refuses to overwrite");
}

#[test]
fn config_errors_name_the_key_and_stop_the_daemon() {
    let d = Daemon::start();
    let mut dd = d;
    dd.kill9();
    let p = dd.dir.path().join("spot.toml");
    let good = std::fs::read_to_string(&p).expect("config");
    std::fs::write(&p, format!("colour = \"blue\"\n{good}")).expect("write");
    let o = spot(dd.dir.path()).args(["serve", "--listen", "127.0.0.1:0"]).output().expect("serve");
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("colour"), "{}", String::from_utf8_lossy(&o.stderr));
    std::fs::write(&p, good.replace("0.0.0.0:8080", "not-an-address")).expect("write");
    let o = spot(dd.dir.path()).arg("serve").output().expect("serve");
    assert!(String::from_utf8_lossy(&o.stderr).contains("`listen`"), "{}", String::from_utf8_lossy(&o.stderr));
    // The environment overrides the address.
    std::fs::write(&p, &good).expect("write");
    let mut child = spot(dd.dir.path())
        .arg("serve")
        .env("SPOT_LISTEN", "127.0.0.1:0")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("serve");
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().expect("stdout")), &mut line).expect("line");
    assert!(line.starts_with("spot listening on http://127.0.0.1:"), "{line}");
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn systemd_gets_ready_watchdog_and_stopping_and_sigterm_drains() {
    let mut d = Daemon::start();
    d.kill9();
    let sock_path = d.dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).expect("bind notify socket");
    sock.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    d.spawn_env("127.0.0.1:0", &[("NOTIFY_SOCKET", sock_path.to_str().expect("path")), ("WATCHDOG_USEC", "200000"), ("WATCHDOG_PID", "$$")]);
    let mut seen = String::new();
    let mut buf = [0u8; 512];
    let t0 = Instant::now();
    while !(seen.contains("READY=1") && seen.contains("WATCHDOG=1")) && t0.elapsed() < Duration::from_secs(10) {
        if let Ok(n) = sock.recv(&mut buf) {
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
            seen.push('\n');
        }
    }
    assert!(seen.contains("READY=1"), "{seen}");
    assert!(seen.contains("WATCHDOG=1"), "{seen}");
    let status = d.stop();
    assert!(status.success(), "SIGTERM leads to a clean exit: {status:?}");
    let mut rest = String::new();
    while let Ok(n) = sock.recv(&mut buf) {
        rest.push_str(&String::from_utf8_lossy(&buf[..n]));
        if rest.contains("STOPPING=1") {
            break;
        }
    }
    assert!(rest.contains("STOPPING=1"), "{rest}");
}

#[test]
fn logs_can_be_json() {
    let mut d = Daemon::start();
    d.kill9();
    let before = d.logs().len();
    d.spawn_env("127.0.0.1:0", &[("SPOT_LOG_FORMAT", "json")]);
    d.stop();
    let logs = d.logs();
    let new: Vec<&str> = logs[before..].lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(!new.is_empty());
    for l in new {
        let v: serde_json::Value = serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}"));
        assert!(v["level"].is_string() && v["fields"].is_object(), "{l}");
    }
}

#[tokio::test]
async fn sigterm_tells_sockets_to_come_back_and_exits_cleanly() {
    let mut d = Daemon::start();
    let admin = d.admin().await;
    let (mut gw, _) = admin.gateway(None).await;
    let status = tokio::task::spawn_blocking(move || {
        let s = d.stop();
        (s, d)
    });
    assert_eq!(gw.closed().await, Some(1012), "service restart: the client should resume");
    let (status, _d) = status.await.expect("join");
    assert!(status.success(), "{status:?}");
}
