//! `make bench`: chat fan-out through the real daemon.
//!
//! Starts the given `spot` binary on port 0 with a temporary data dir, connects 100 gateway
//! clients to one channel, and measures: RSS idle and with the clients connected; a paced phase
//! (a steady message rate, delivery latency p50/p99); a saturation phase (as fast as the daemon
//! acknowledges: messages/s and deliveries/s); the daemon's CPU time per message and peak RSS.
//!
//! Usage: bench_fanout PATH/TO/spot [clients] [seconds]

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

fn rss_kib(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// utime + stime in clock ticks (100/s on Linux).
fn cpu_ticks(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = s.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = after.split_whitespace().collect();
    f.get(11).and_then(|u| u.parse::<u64>().ok()).unwrap_or(0) + f.get(12).and_then(|u| u.parse::<u64>().ok()).unwrap_or(0)
}

fn pct(v: &mut [u64], p: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_unstable();
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i] as f64 / 1000.0
}

async fn connect(url: &str, cookie: &str) -> Ws {
    let mut req = url.into_client_request().expect("request");
    req.headers_mut().insert("cookie", cookie.parse().expect("cookie"));
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.expect("connect");
    let _hello = ws.next().await;
    ws.send(Message::Text(json!({"op": "resume", "d": {"seq": null}}).to_string().into())).await.expect("send");
    loop {
        if let Some(Ok(Message::Text(t))) = ws.next().await {
            if t.contains("\"op\":\"ready\"") {
                return ws;
            }
        }
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let bin = args.get(1).cloned().unwrap_or_else(|| "target/release/spot".into());
    let clients: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(100);
    let secs: u64 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(10);
    let dir = tempfile::tempdir().expect("tempdir");
    let pw = "bench-password-1";
    let st = Command::new(&bin)
        .args(["--data-dir", dir.path().to_str().expect("path"), "init", "--non-interactive", "--admin-password", pw])
        .stdout(Stdio::null())
        .status()
        .expect("init");
    assert!(st.success());
    let cfg = dir.path().join("spot.toml");
    let mut t = std::fs::read_to_string(&cfg).expect("cfg");
    t.push_str("\n[limits]\nsend_burst = 1000000\nsend_interval_ms = 1\n");
    std::fs::write(&cfg, t).expect("cfg");
    let mut child = Command::new(&bin)
        .args(["--data-dir", dir.path().to_str().expect("path"), "serve", "--listen", "127.0.0.1:0"])
        .env("SPOT_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("serve");
    let pid = child.id();
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let addr = loop {
        let l = lines.next().expect("line").expect("line");
        if let Some(a) = l.strip_prefix("spot listening on http://") {
            break a.to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_idle = rss_kib(pid);

    let http = reqwest::Client::builder().cookie_store(true).build().expect("client");
    let r = http.post(format!("http://{addr}/api/login")).json(&json!({"username": "admin", "password": pw})).send().await.expect("login");
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| c.split(';').next().filter(|kv| kv.starts_with("spot_session=")).map(str::to_owned))
        .expect("cookie");
    let chans: Value = http.get(format!("http://{addr}/api/channels")).send().await.expect("channels").json().await.expect("json");
    let ch = chans[0]["id"].as_str().expect("channel").to_owned();
    let url = format!("ws://{addr}/api/gateway");

    let t0 = Instant::now();
    let latencies = Arc::new(Mutex::new(Vec::<u64>::new()));
    let delivered = Arc::new(AtomicU64::new(0));
    let recording = Arc::new(AtomicBool::new(false));
    let mut readers = Vec::new();
    for _ in 0..clients {
        let mut ws = connect(&url, &cookie).await;
        let (lat, del, rec) = (latencies.clone(), delivered.clone(), recording.clone());
        readers.push(tokio::spawn(async move {
            let mut hb = tokio::time::interval(Duration::from_secs(15));
            loop {
                tokio::select! {
                    m = ws.next() => match m {
                        Some(Ok(Message::Text(t))) => {
                            if let Some(i) = t.find("\"content\":\"t=") {
                                let rest = &t[i + 13..];
                                if let Some(end) = rest.find(' ') {
                                    if let Ok(sent_us) = rest[..end].parse::<u64>() {
                                        del.fetch_add(1, Ordering::Relaxed);
                                        if rec.load(Ordering::Relaxed) {
                                            let now_us = t0.elapsed().as_micros() as u64;
                                            lat.lock().expect("lock").push(now_us.saturating_sub(sent_us));
                                        }
                                    }
                                }
                            }
                        }
                        Some(Ok(_)) => {}
                        _ => return,
                    },
                    _ = hb.tick() => { let _ = ws.send(Message::Text("{\"op\":\"heartbeat\"}".into())).await; }
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_clients = rss_kib(pid);

    // Senders: their own sockets (not counted as readers).
    let senders = 4usize;
    let mut send_socks = Vec::new();
    for _ in 0..senders {
        send_socks.push(connect(&url, &cookie).await);
    }

    println!("Spot box chat fan-out benchmark: {clients} clients in one channel, {senders} senders, {secs} s per phase");
    println!("binary: {bin}");
    println!();
    println!("RSS idle (no clients):            {:>8.1} MiB", rss_idle as f64 / 1024.0);
    println!("RSS with {clients} idle clients:      {:>8.1} MiB", rss_clients as f64 / 1024.0);

    for (phase, rate) in [("paced 20 msg/s", Some(20u64)), ("paced 100 msg/s", Some(100)), ("saturation", None)] {
        latencies.lock().expect("lock").clear();
        delivered.store(0, Ordering::Relaxed);
        recording.store(true, Ordering::Relaxed);
        let cpu0 = cpu_ticks(pid);
        let start = Instant::now();
        let acked = Arc::new(AtomicU64::new(0));
        let peak = Arc::new(AtomicU64::new(0));
        let sampler = {
            let peak = peak.clone();
            tokio::spawn(async move {
                loop {
                    peak.fetch_max(rss_kib(pid), Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            })
        };
        let mut tasks = Vec::new();
        for (i, mut ws) in send_socks.drain(..).enumerate() {
            let (ch, acked) = (ch.clone(), acked.clone());
            tasks.push(tokio::spawn(async move {
                let interval = rate.map(|r| Duration::from_micros(1_000_000 * senders as u64 / r));
                let mut next = Instant::now();
                let mut n = 0u64;
                while start.elapsed() < Duration::from_secs(secs) {
                    if let Some(iv) = interval {
                        next += iv;
                        tokio::time::sleep_until(next.into()).await;
                    }
                    n += 1;
                    let sent_us = t0.elapsed().as_micros() as u64;
                    let content = format!("t={sent_us} sender {i} message {n}");
                    let req = json!({"op": "request", "id": n.to_string(), "t": "message.send", "d": {"channel_id": ch, "content": content}});
                    if ws.send(Message::Text(req.to_string().into())).await.is_err() {
                        break;
                    }
                    // Wait for the acknowledgement (a closed loop per sender).
                    loop {
                        match ws.next().await {
                            Some(Ok(Message::Text(t))) if t.contains("\"op\":\"reply\"") || t.contains("\"op\":\"error\"") => break,
                            Some(Ok(_)) => continue,
                            _ => return ws,
                        }
                    }
                    acked.fetch_add(1, Ordering::Relaxed);
                }
                ws
            }));
        }
        for t in tasks {
            send_socks.push(t.await.expect("sender"));
        }
        let elapsed = start.elapsed().as_secs_f64();
        // Let deliveries finish.
        let expected = acked.load(Ordering::Relaxed) * clients as u64;
        let wait_start = Instant::now();
        while delivered.load(Ordering::Relaxed) < expected && wait_start.elapsed() < Duration::from_secs(10) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let drain = elapsed + wait_start.elapsed().as_secs_f64();
        recording.store(false, Ordering::Relaxed);
        sampler.abort();
        let cpu = cpu_ticks(pid) - cpu0;
        let msgs = acked.load(Ordering::Relaxed);
        let del = delivered.load(Ordering::Relaxed);
        let mut lat = latencies.lock().expect("lock").clone();
        println!();
        println!("phase: {phase}");
        println!("  messages acknowledged:          {msgs:>8} ({:.0} msg/s)", msgs as f64 / elapsed);
        println!("  deliveries:                     {del:>8} of {expected} ({:.0}/s)", del as f64 / drain);
        println!("  delivery latency p50 / p99:     {:>8.2} / {:.2} ms (max {:.2})", pct(&mut lat, 0.5), pct(&mut lat, 0.99), pct(&mut lat, 1.0));
        println!("  daemon CPU:                     {:>8.2} s ({:.0} us per message)", cpu as f64 / 100.0, cpu as f64 * 10_000.0 / msgs.max(1) as f64);
        println!("  peak RSS:                       {:>8.1} MiB", peak.load(Ordering::Relaxed) as f64 / 1024.0);
    }
    for r in readers {
        r.abort();
    }
    let _ = child.kill();
    let _ = child.wait();
}
