//! Whatever the server acknowledged survives SIGKILL; resumed clients see every event exactly
//! once. The daemon is killed 20 times while two users send messages.

use crate::harness::*;
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One sender: sends until its socket dies; returns (acked (nonce, id), in-flight nonce).
async fn send_until_killed(
    c: Arc<Client>,
    ch: String,
    tag: &'static str,
    start: usize,
    retry: Option<String>,
    acks: Arc<AtomicUsize>,
) -> (Vec<(String, String)>, Option<String>) {
    let mut acked = Vec::new();
    let Ok(mut gw) = c.gateway_raw(None).await else { return (acked, retry) };
    if gw.next().await.is_none() {
        return (acked, retry);
    }
    gw.send(json!({"op": "resume", "d": {"seq": null}})).await;
    loop {
        match gw.next().await {
            Some(f) if f["op"] == "ready" => break,
            Some(_) => continue,
            None => return (acked, retry),
        }
    }
    let mut pending = retry;
    let mut i = start;
    loop {
        let nonce = pending.clone().unwrap_or_else(|| {
            i += 1;
            format!("{tag}-{i}")
        });
        pending = Some(nonce.clone());
        let req = json!({"op": "request", "id": nonce, "t": "message.send", "d": {"channel_id": ch, "content": nonce, "nonce": nonce}});
        if !gw.send_raw(tokio_tungstenite::tungstenite::Message::Text(req.to_string().into())).await {
            return (acked, pending);
        }
        loop {
            match gw.next_within(Duration::from_secs(5)).await {
                Some(f) if f["op"] == "reply" && f["id"] == nonce.as_str() => {
                    acked.push((nonce.clone(), f["d"]["id"].as_str().unwrap_or_default().to_owned()));
                    acks.fetch_add(1, Ordering::Relaxed);
                    pending = None;
                    break;
                }
                Some(f) if f["op"] == "error" => panic!("send failed: {f}"),
                Some(_) => continue,
                None => return (acked, pending),
            }
        }
    }
}

/// The reader: resumes from `last`, records events until its socket dies.
async fn read_until_killed(c: Arc<Client>, state: Arc<Mutex<ReaderState>>) {
    let last = state.lock().expect("lock").last;
    let Ok(mut gw) = c.gateway_raw(None).await else { return };
    if gw.next().await.is_none() {
        return;
    }
    gw.send(json!({"op": "resume", "d": {"seq": last}})).await;
    while let Some(f) = gw.next_within(Duration::from_secs(30)).await {
        let mut st = state.lock().expect("lock");
        match f["op"].as_str() {
            Some("ready") => {
                if last.is_some() {
                    assert_eq!(f["d"]["resumed"], true, "the reader could resume");
                }
                st.last = f["d"]["seq"].as_i64().or(st.last);
            }
            Some("event") => {
                let s = f["s"].as_i64().expect("seq");
                assert!(st.last.is_none_or(|l| s > l), "event {s} after {:?}: duplicate or out of order", st.last);
                st.last = Some(s);
                if f["t"] == "message.create" {
                    let id = f["d"]["id"].as_str().expect("id").to_owned();
                    assert!(st.seen.insert(id.clone()), "message {id} delivered twice");
                }
            }
            _ => {}
        }
    }
}

#[derive(Default)]
struct ReaderState {
    last: Option<i64>,
    seen: HashSet<String>,
}

async fn all_messages(c: &Client, ch: &str) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let q = format!("?after={}&limit=100", after.as_deref().unwrap_or("0"));
        let page = c.get(&format!("/api/channels/{ch}/messages{q}")).await.expect_status(200).body;
        let arr = page.as_array().cloned().unwrap_or_default();
        if arr.is_empty() {
            return out;
        }
        after = arr.last().and_then(|m| m["id"].as_str()).map(str::to_owned);
        out.extend(arr);
        if after.is_none() {
            return out;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_messages_survive_20_sigkills_and_resumed_clients_see_each_event_once() {
    let mut d = Daemon::start_with("[limits]\nsend_burst = 100000\nsend_interval_ms = 1", &[]);
    let admin = Arc::new(d.admin().await);
    let bob = Arc::new(d.member(&admin, "bob").await);
    let carol = Arc::new(d.member(&admin, "carol").await);
    let ch = admin.general().await;
    let reader = Arc::new(Mutex::new(ReaderState::default()));
    {
        // The reader starts from a snapshot taken before anything is sent.
        let (_gw, ready) = carol.gateway(None).await;
        reader.lock().expect("lock").last = ready["d"]["seq"].as_i64();
    }
    let mut acked: HashMap<&'static str, Vec<(String, String)>> = HashMap::new();
    let mut retry: HashMap<&'static str, Option<String>> = HashMap::new();
    let mut counters: HashMap<&'static str, usize> = HashMap::new();
    let mut rng: u64 = 0x9e3779b97f4a7c15;
    for round in 0..20 {
        let r = tokio::spawn(read_until_killed(carol.clone(), reader.clone()));
        let mut senders = Vec::new();
        let acks = Arc::new(AtomicUsize::new(0));
        for (tag, c) in [("admin", admin.clone()), ("bob", bob.clone())] {
            let start = *counters.get(tag).unwrap_or(&0) + 100_000 * round;
            let pending = retry.get(tag).cloned().flatten();
            senders.push((tag, tokio::spawn(send_until_killed(c, ch.clone(), tag, start, pending, acks.clone()))));
        }
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        // Kill at a random moment, but only once this round has acknowledged a few messages, so
        // the test means the same on a slow machine (or under qemu-aarch64).
        tokio::time::sleep(Duration::from_millis(150 + rng % 350)).await;
        let waited = std::time::Instant::now();
        while acks.load(Ordering::Relaxed) < 6 && waited.elapsed() < Duration::from_secs(60) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        d.kill9();
        for (tag, h) in senders {
            let (got, pending) = h.await.expect("sender");
            *counters.entry(tag).or_default() += got.len() + 1;
            acked.entry(tag).or_default().extend(got);
            retry.insert(tag, pending);
        }
        r.await.expect("reader");
        d.restart_same_port();
        // Every acknowledged message is there, in the order it was acknowledged.
        let all = all_messages(&admin, &ch).await;
        let ids: Vec<&str> = all.iter().filter_map(|m| m["id"].as_str()).collect();
        let mut sorted = ids.clone();
        sorted.sort_by_key(|s| s.parse::<i64>().unwrap_or(0));
        assert_eq!(ids, sorted, "round {round}: history is in ID order");
        let present: HashSet<&str> = ids.iter().copied().collect();
        let mut nonces = HashSet::new();
        for m in &all {
            if let Some(n) = m["nonce"].as_str() {
                assert!(nonces.insert(n.to_owned()), "round {round}: nonce {n} stored twice");
            }
        }
        for (tag, list) in &acked {
            for (nonce, id) in list {
                assert!(present.contains(id.as_str()), "round {round}: acknowledged {tag} message {nonce} ({id}) lost");
            }
            let positions: Vec<usize> = list.iter().filter_map(|(_, id)| ids.iter().position(|x| x == id)).collect();
            assert!(positions.windows(2).all(|w| w[0] < w[1]), "round {round}: {tag}'s messages out of order");
        }
    }
    // The last resume brings the reader up to date: it saw every stored message exactly once.
    let r = tokio::spawn(read_until_killed(carol.clone(), reader.clone()));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    d.kill9();
    r.await.expect("reader");
    d.restart_same_port();
    let all = all_messages(&admin, &ch).await;
    let seen = &reader.lock().expect("lock").seen;
    for m in &all {
        let id = m["id"].as_str().expect("id");
        assert!(seen.contains(id), "the reader never received {id}");
    }
    let total: usize = acked.values().map(Vec::len).sum();
    assert!(total >= 100, "too few messages were acknowledged to mean anything: {total}");
    eprintln!("durability: {total} acknowledged messages over 20 SIGKILLs, {} stored, all present", all.len());
    let store = store::Store::open(d.db_path()).expect("store");
    assert_eq!(store.integrity_check().expect("check"), "ok");
}
