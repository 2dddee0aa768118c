//! `make bench`: image uploads under a hostile mix, through the real daemon.
//!
//! Starts the given `spot` binary on port 0 with a temporary data dir and a decode budget
//! (default 64 MiB: what a 512 MB Raspberry Pi Zero 2 W gets by default), then has many users
//! upload at once the largest images that budget allows, made to cost the most memory per byte
//! sent: noise PNGs (large files), and one-colour PNGs and JPEGs whose few kilobytes decode to
//! tens of megabytes; plus bombs over the budget (and over the side limit) that must be refused
//! from their headers. Prints upload latency p50/p99, throughput, refusals, the decode budget's
//! own peak, and the daemon's RSS idle and at its peak (VmHWM).
//!
//! The RSS figure includes what the allocator keeps: glibc's malloc (a development build) holds
//! on to freed decode buffers per thread arena, so its peak runs well above the budget; run with
//! `MALLOC_MMAP_THRESHOLD_=131072` to see the budget's own bound. The box's static musl build
//! returns large buffers to the system when they are freed.
//!
//! Usage: bench_uploads PATH/TO/spot [users] [uploads per user] [decode budget MiB]

use image::{DynamicImage, ImageFormat, Rgb, RgbImage};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Cursor};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// `VmRSS` or `VmHWM` of a process, in KiB.
fn status_kib(pid: u32, key: &str) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn encode(img: impl Into<DynamicImage>, format: ImageFormat) -> Vec<u8> {
    let mut v = Vec::new();
    img.into().write_to(&mut Cursor::new(&mut v), format).expect("encode");
    v
}

/// Pseudo-random bytes (xorshift): incompressible pixels, so the file is as large as its image.
fn noise(w: u32, h: u32) -> RgbImage {
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    RgbImage::from_fn(w, h, |_, _| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let b = x.to_le_bytes();
        Rgb([b[0], b[1], b[2]])
    })
}

/// The daemon, killed when the benchmark ends (or panics).
struct Daemon(std::process::Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Sample {
    name: &'static str,
    bytes: Vec<u8>,
}

struct User {
    http: reqwest::Client,
    csrf: String,
}

async fn login(base: &str, name: &str, pw: &str) -> User {
    let http = reqwest::Client::builder().cookie_store(true).build().expect("client");
    let r = http.post(format!("{base}/api/login")).json(&json!({"username": name, "password": pw})).send().await.expect("login");
    let text = r.text().await.unwrap_or_default();
    let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    let csrf = v["csrf_token"].as_str().unwrap_or_else(|| panic!("login as {name}: {text}"));
    User { http, csrf: csrf.to_owned() }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let bin = args.get(1).cloned().unwrap_or_else(|| "target/release/spot".into());
    let users: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(16);
    let per_user: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(4);
    let budget_mb: u64 = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(64);

    // The largest images the budget lets through: RGB pixels, the thumbnail's share (400² at
    // 32 bytes) and, for noise, the file itself three times (it is read, copied by the JPEG
    // decoder or rewritten stripped); a few MB of slack for the flat files themselves.
    let budget = budget_mb << 20;
    let room = budget - 400 * 400 * 32 - (4 << 20);
    let flat_side = ((room / 3) as f64).sqrt() as u32;
    let noise_side = ((room / 9) as f64).sqrt() as u32;
    let flat = RgbImage::from_pixel(flat_side, flat_side, Rgb([40, 90, 160]));
    let samples = vec![
        Sample { name: "noise PNG", bytes: encode(noise(noise_side, noise_side), ImageFormat::Png) },
        Sample { name: "flat PNG", bytes: encode(flat.clone(), ImageFormat::Png) },
        Sample { name: "flat JPEG", bytes: encode(flat, ImageFormat::Jpeg) },
        Sample { name: "bomb PNG (over budget)", bytes: encode(RgbImage::new(flat_side * 2, flat_side * 2), ImageFormat::Png) },
        Sample { name: "bomb PNG (12000²)", bytes: encode(image::GrayImage::new(12_000, 12_000), ImageFormat::Png) },
    ];

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
    // Every user logs in from 127.0.0.1: lift the per-address login limit.
    t.push_str(&format!("\n[limits]\nlogin_ip_burst = 1000\n\n[uploads]\nmax_file_mb = 25\nquota_mb = 1048576\n\n[media]\ndecode_budget_mb = {budget_mb}\n"));
    std::fs::write(&cfg, t).expect("cfg");
    let mut child = Command::new(&bin)
        .args(["--data-dir", dir.path().to_str().expect("path"), "serve", "--listen", "127.0.0.1:0"])
        .env("SPOT_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("serve");
    let pid = child.id();
    let stdout = child.stdout.take().expect("stdout");
    let _daemon = Daemon(child);
    let mut lines = BufReader::new(stdout).lines();
    let addr = loop {
        let l = lines.next().expect("line").expect("line");
        if let Some(a) = l.strip_prefix("spot listening on http://") {
            break a.to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    let base = format!("http://{addr}");
    let admin = login(&base, "admin", pw).await;
    let mut clients = Vec::new();
    for i in 0..users {
        let name = format!("user{i}");
        let r = admin
            .http
            .post(format!("{base}/api/admin/users"))
            .header("x-csrf-token", &admin.csrf)
            .json(&json!({"username": name, "password": pw, "role": "member"}))
            .send()
            .await
            .expect("create user");
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
        clients.push(login(&base, &name, pw).await);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss_idle = status_kib(pid, "VmRSS:");
    let hwm_idle = status_kib(pid, "VmHWM:");

    println!("Spot box upload benchmark: {users} users uploading at once, {per_user} uploads each, decode budget {budget_mb} MiB");
    println!("binary: {bin}");
    for s in &samples {
        println!("  sample {:<24} {:>9.2} MB file", s.name, s.bytes.len() as f64 / 1e6);
    }
    let samples = std::sync::Arc::new(samples);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for (u, c) in clients.into_iter().enumerate() {
        let (samples, base) = (samples.clone(), base.clone());
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            for k in 0..per_user {
                let s = &samples[(u + k) % samples.len()];
                let t0 = Instant::now();
                let r = c
                    .http
                    .post(format!("{base}/api/uploads"))
                    .header("x-csrf-token", &c.csrf)
                    .header("x-filename", "bench.img")
                    .body(s.bytes.clone())
                    .send()
                    .await
                    .expect("upload");
                let status = r.status().as_u16();
                let body: Value = r.json().await.unwrap_or(Value::Null);
                let code = body["error"]["code"].as_str().unwrap_or("").to_owned();
                out.push((s.name, status, code, t0.elapsed().as_secs_f64() * 1000.0, s.bytes.len()));
            }
            out
        }));
    }
    let mut results = Vec::new();
    for t in tasks {
        results.extend(t.await.expect("uploader"));
    }
    let elapsed = start.elapsed().as_secs_f64();
    let hwm = status_kib(pid, "VmHWM:");
    let stats: Value = admin.http.get(format!("{base}/api/admin/media")).send().await.expect("stats").json().await.expect("json");

    let mut ok: Vec<f64> = results.iter().filter(|r| r.1 == 201).map(|r| r.3).collect();
    let mut refused: Vec<f64> = results.iter().filter(|r| r.1 != 201).map(|r| r.3).collect();
    let sent: usize = results.iter().map(|r| r.4).sum();
    println!();
    for name in samples.iter().map(|s| s.name) {
        let of: Vec<_> = results.iter().filter(|r| r.0 == name).collect();
        let codes: Vec<String> = of.iter().map(|r| if r.1 == 201 { "201".into() } else { format!("{} {}", r.1, r.2) }).collect();
        let mut lat: Vec<f64> = of.iter().map(|r| r.3).collect();
        println!("  {name:<24} {:>3} uploads, p50 {:>8.1} ms, answers: {}", of.len(), pct(&mut lat, 0.5), dedup(codes));
    }
    println!();
    println!("uploads accepted / refused:       {:>8} / {}", ok.len(), refused.len());
    println!("accepted latency p50 / p99:       {:>8.1} / {:.1} ms (max {:.1})", pct(&mut ok, 0.5), pct(&mut ok, 0.99), pct(&mut ok, 1.0));
    println!("refused latency p50 / p99:        {:>8.1} / {:.1} ms", pct(&mut refused, 0.5), pct(&mut refused, 0.99));
    println!("throughput:                       {:>8.1} uploads/s, {:.1} MB/s sent ({:.1} s in all)", results.len() as f64 / elapsed, sent as f64 / 1e6 / elapsed, elapsed);
    println!(
        "decode budget: peak reserved      {:>8.1} MiB of {:.0} ({} decodes, {} waited, {} refused)",
        stats["decode_peak_bytes"].as_u64().unwrap_or(0) as f64 / 1048576.0,
        stats["decode_budget_bytes"].as_u64().unwrap_or(0) as f64 / 1048576.0,
        stats["decodes"],
        stats["decode_waits"],
        stats["decode_refusals"],
    );
    println!("RSS idle / peak before uploads:   {:>8.1} / {:.1} MiB", rss_idle as f64 / 1024.0, hwm_idle as f64 / 1024.0);
    println!("peak RSS (VmHWM) during uploads:  {:>8.1} MiB ({:.1} MiB over idle)", hwm as f64 / 1024.0, (hwm.saturating_sub(rss_idle)) as f64 / 1024.0);
}

/// "201 ×3, 413 image_too_large ×1".
fn dedup(codes: Vec<String>) -> String {
    let mut seen: Vec<(String, usize)> = Vec::new();
    for c in codes {
        match seen.iter_mut().find(|(k, _)| *k == c) {
            Some((_, n)) => *n += 1,
            None => seen.push((c, 1)),
        }
    }
    seen.iter().map(|(c, n)| format!("{c} ×{n}")).collect::<Vec<_>>().join(", ")
}
