//! The realtime gateway: hello/resume/ready, exact replay, snapshots, rate limits, bounded queues.

use crate::harness::*;
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn hello_then_a_snapshot_then_events_with_increasing_sequence_numbers() {
    let d = Daemon::start();
    let admin = d.admin().await;
    let ch = admin.general().await;
    let mut gw = admin.gateway_raw(None).await.expect("connect");
    let hello = gw.next_op("hello").await;
    assert_eq!(hello["d"]["heartbeat_ms"], 20000);
    gw.send(json!({"op": "heartbeat"})).await;
    assert_eq!(gw.next().await.expect("ack")["op"], "heartbeat_ack");
    gw.send(json!({"op": "request", "id": "x", "t": "message.send", "d": {}})).await;
    assert_eq!(gw.next().await.expect("err")["d"]["code"], "resume_expected");
    gw.send(json!({"op": "resume", "d": {"seq": null}})).await;
    let ready = gw.next_op("ready").await;
    assert_eq!(ready["d"]["resumed"], false);
    let snap = &ready["d"]["snapshot"];
    assert_eq!(snap["me"]["username"], "admin");
    assert_eq!(snap["channels"][0]["name"], "general");
    let mut last = ready["d"]["seq"].as_i64().expect("seq");
    for i in 0..5 {
        admin.post(&format!("/api/channels/{ch}/messages"), json!({"content": format!("m{i}")})).await.expect_status(201);
        let ev = gw.next_event("message.create").await;
        let s = ev["s"].as_i64().expect("seq");
        assert!(s > last, "sequence numbers increase");
        last = s;
    }
    gw.send(json!({"op": "resume", "d": {"seq": 0}})).await;
    assert_eq!(gw.next().await.expect("err")["d"]["code"], "already_resumed");
}

#[tokio::test]
async fn a_resumed_client_gets_exactly_what_it_missed_even_across_a_restart() {
    let mut d = Daemon::start();
    let admin = d.admin().await;
    let bob = d.member(&admin, "bob").await;
    let ch = admin.general().await;
    let (mut gw, ready) = bob.gateway(None).await;
    let mut seq = ready["d"]["seq"].as_i64().expect("seq");
    admin.post(&format!("/api/channels/{ch}/messages"), json!({"content": "seen"})).await.expect_status(201);
    seq = gw.next_event("message.create").await["s"].as_i64().unwrap_or(seq);
    drop(gw);
    // Missed while away: three messages, an edit, a delete, a channel.
    let mut ids = Vec::new();
    for i in 0..3 {
        let m = admin.post(&format!("/api/channels/{ch}/messages"), json!({"content": format!("missed {i}")})).await.expect_status(201);
        ids.push(m.body["id"].as_str().expect("id").to_owned());
    }
    admin.patch(&format!("/api/messages/{}", ids[0]), json!({"content": "missed 0 (edited)"})).await.expect_status(200);
    admin.delete(&format!("/api/messages/{}", ids[1])).await.expect_status(204);
    admin.post("/api/channels", json!({"name": "new"})).await.expect_status(201);
    // The daemon restarts; the client comes back with its sequence number.
    d.stop();
    d.restart_same_port();
    let (mut gw, ready) = bob.gateway(Some(seq)).await;
    assert_eq!(ready["d"]["resumed"], true);
    assert!(ready["d"]["snapshot"].is_null());
    let kinds: Vec<&str> = gw.replayed.iter().filter_map(|e| e["t"].as_str()).collect();
    assert_eq!(
        kinds,
        ["message.create", "message.create", "message.create", "message.update", "message.delete", "channel.create"],
        "exactly the missed events, in order"
    );
    let seqs: Vec<i64> = gw.replayed.iter().filter_map(|e| e["s"].as_i64()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]));
    assert!(seqs[0] > seq);
    // Then live events continue, without repeating the replay.
    admin.post(&format!("/api/channels/{ch}/messages"), json!({"content": "live"})).await.expect_status(201);
    let ev = gw.next_event("message.create").await;
    assert_eq!(ev["d"]["content"], "live");
    assert!(ev["s"].as_i64().unwrap_or(0) > *seqs.last().unwrap_or(&0));
    // Resuming at the head replays nothing.
    let head = ev["s"].as_i64().expect("seq");
    let (gw2, ready) = bob.gateway(Some(head)).await;
    assert_eq!(ready["d"]["resumed"], true);
    assert!(gw2.replayed.is_empty());
}

#[tokio::test]
async fn a_client_too_far_behind_gets_a_fresh_snapshot() {
    let mut d = Daemon::start_with("[limits]\nevent_retention = 5\nsend_burst = 1000", &[]);
    let admin = d.admin().await;
    let ch = admin.general().await;
    for i in 0..20 {
        admin.post(&format!("/api/channels/{ch}/messages"), json!({"content": format!("m{i}")})).await.expect_status(201);
    }
    // Pruning runs at start.
    d.stop();
    d.restart_same_port();
    let (gw, ready) = admin.gateway(Some(1)).await;
    assert_eq!(ready["d"]["resumed"], false);
    assert_eq!(ready["d"]["snapshot"]["channels"][0]["name"], "general");
    assert!(gw.replayed.is_empty());
    // A sequence number from the future (another database) also gets a snapshot.
    let (_, ready) = admin.gateway(Some(1_000_000)).await;
    assert_eq!(ready["d"]["resumed"], false);
}

#[tokio::test]
async fn actions_are_rate_limited_per_user_and_per_action_without_dropping_the_socket() {
    // A slow refill (one send per 5 s) keeps the test independent of how fast the machine is
    // (it also runs under qemu-aarch64).
    let d = Daemon::start_with("[limits]\nsend_burst = 10\nsend_interval_ms = 5000", &[]);
    let admin = d.admin().await;
    let bob = d.member(&admin, "bob").await;
    let ch = admin.general().await;
    let (mut gw, _) = admin.gateway(None).await;
    let mut limited = None;
    for i in 0..30 {
        let r = gw.request(&format!("s{i}"), "message.send", json!({"channel_id": ch, "content": format!("spam {i}")})).await;
        if r["op"] == "error" {
            limited = Some(r);
            break;
        }
    }
    let limited = limited.expect("sending is rate limited");
    assert_eq!(limited["d"]["code"], "rate_limited");
    assert!(limited["d"]["retry_after_ms"].as_u64().is_some_and(|ms| ms > 0 && ms <= 5000), "{limited}");
    // Same socket, other action: fine.
    let t = gw.request("t", "typing.start", json!({"channel_id": ch})).await;
    assert_eq!(t["op"], "reply", "{t}");
    // Typing has its own (tighter) bucket.
    let mut typing_limited = false;
    for i in 0..5 {
        if gw.request(&format!("t{i}"), "typing.start", json!({"channel_id": ch})).await["op"] == "error" {
            typing_limited = true;
        }
    }
    assert!(typing_limited, "typing is rate limited");
    // Another user is unaffected; HTTP shares the user's send bucket.
    bob.post(&format!("/api/channels/{ch}/messages"), json!({"content": "bob is fine"})).await.expect_status(201);
    admin.post(&format!("/api/channels/{ch}/messages"), json!({"content": "over HTTP"})).await.expect_error(429, "rate_limited");
    // The socket is still open and working after the wait it was told.
    let wait = limited["d"]["retry_after_ms"].as_u64().unwrap_or(5000);
    tokio::time::sleep(Duration::from_millis(wait + 100)).await;
    let ok = gw.request("after", "message.send", json!({"channel_id": ch, "content": "later"})).await;
    assert_eq!(ok["op"], "reply", "{ok}");
}

#[tokio::test]
async fn a_client_that_cannot_keep_up_is_disconnected_and_resumes_without_loss() {
    // Big messages and no send limit, so the slow socket's kernel buffers fill quickly.
    let d = Daemon::start_with("[limits]\nmessage_max_chars = 16000\nsend_burst = 100000\nsend_interval_ms = 1", &[]);
    let admin = d.admin().await;
    let reader = d.admin().await;
    let ch = admin.general().await;
    let (mut slow, ready) = reader.gateway(None).await;
    let start_seq = ready["d"]["seq"].as_i64().expect("seq");
    let (mut sender, _) = admin.gateway(None).await;
    let body = "x".repeat(15_000);
    let total = 2200;
    let mut sent = Vec::new();
    for i in 0..total {
        let r = sender.request(&format!("{i}"), "message.send", json!({"channel_id": ch, "content": format!("{i} {body}")})).await;
        assert_eq!(r["op"], "reply");
        sent.push(r["d"]["id"].as_str().expect("id").to_owned());
        sender.pending.clear();
    }
    // The slow socket was closed by the server (4008, or dropped outright if even the close
    // frame could not be written). Drain what it buffered.
    let mut got = Vec::new();
    let mut last_seq = start_seq;
    while let Some(f) = slow.next_within(Duration::from_secs(5)).await {
        if f["t"] == "message.create" {
            got.push(f["d"]["id"].as_str().expect("id").to_owned());
            last_seq = f["s"].as_i64().expect("seq");
        }
    }
    assert!(got.len() < total, "the server buffered everything for a client that did not read");
    assert!(slow.close.is_none_or(|c| c == 4008), "close code {:?}", slow.close);
    // Resume from the last event it saw: the rest arrives, exactly once.
    let (gw, ready) = reader.gateway(Some(last_seq)).await;
    assert_eq!(ready["d"]["resumed"], true);
    got.extend(gw.replayed.iter().filter(|e| e["t"] == "message.create").filter_map(|e| e["d"]["id"].as_str().map(str::to_owned)));
    assert_eq!(got, sent, "every message exactly once, in order");
}

/// Requests are one typed enum over `t` (issue 10): an unknown op or `t`, and a known `t` with
/// arguments of the wrong type, keep their stable codes and words; the reply still echoes `t`.
#[tokio::test]
async fn unknown_ops_and_badly_typed_arguments_keep_their_codes_and_words() {
    let d = Daemon::start();
    let admin = d.admin().await;
    let ch = admin.general().await;
    let m = admin.post(&format!("/api/channels/{ch}/messages"), json!({"content": "hi"})).await.expect_status(201);
    let mid = m.body["id"].as_str().expect("id").to_owned();
    let (mut gw, _) = admin.gateway(None).await;

    gw.send(json!({"op": "teleport", "id": "o"})).await;
    let f = gw.next().await.expect("error");
    assert_eq!((&f["op"], &f["id"], &f["d"]["code"], &f["d"]["message"]), (&json!("error"), &json!("o"), &json!("unknown_op"), &json!("Unknown op.")), "{f}");

    // An unknown `t` is unknown whatever `d` holds, also without `d` or without `t`.
    for (id, frame) in [
        ("u1", json!({"op": "request", "id": "u1", "t": "message.explode", "d": {"channel_id": ch}})),
        ("u2", json!({"op": "request", "id": "u2", "t": "message.explode"})),
        ("u3", json!({"op": "request", "id": "u3", "t": "voice.leave.now", "d": []})),
        ("u4", json!({"op": "request", "id": "u4"})),
    ] {
        gw.send(frame).await;
        let f = gw.next().await.expect("error");
        assert_eq!((&f["op"], &f["id"], &f["d"]["code"]), (&json!("error"), &json!(id), &json!("unknown_request")), "{f}");
        assert_eq!(f["d"]["message"], "Unknown request type.");
    }

    // A known `t` with a wrongly typed, unknown or missing argument: `invalid_request`, with
    // words that say what was wrong.
    for (t, d, why) in [
        ("reaction.add", json!({"message_id": mid, "emoji": 5}), "invalid type"),
        ("presence.set", json!({"status": true}), "invalid type"),
        ("voice.state", json!({"muted": "yes"}), "invalid type"),
        ("message.send", json!({"channel_id": ch, "content": ["a"]}), "invalid type"),
        ("message.edit", json!({"message_id": mid, "content": "x", "evil": 1}), "unknown field `evil`"),
        ("read.ack", json!({"channel_id": ch}), "missing field `message_id`"),
        ("typing.start", json!("general"), "invalid type"),
    ] {
        let r = gw.request(t, t, d).await;
        assert_eq!((&r["op"], &r["d"]["code"]), (&json!("error"), &json!("invalid_request")), "{t}: {r}");
        let words = r["d"]["message"].as_str().unwrap_or_default();
        assert!(words.starts_with("Bad request data: ") && words.contains(why), "{t}: {words}");
    }
    // A value the types allow but the action does not keeps the action's own code.
    let r = gw.request("p", "presence.set", json!({"status": "asleep"})).await;
    assert_eq!(r["d"]["code"], "invalid_status", "{r}");

    // Well-typed requests still work, and the reply names its `t`.
    let r = gw.request("ok", "reaction.add", json!({"message_id": mid, "emoji": "👍"})).await;
    assert_eq!((&r["op"], &r["t"]), (&json!("reply"), &json!("reaction.add")), "{r}");
    assert_eq!(r["d"]["id"], json!(mid));
    let r = gw.request("off", "reaction.remove", json!({"message_id": mid, "emoji": "👍"})).await;
    assert_eq!(r["op"], "reply", "{r}");
    // `voice.leave` takes any `d`: outside a room it answers `not_in_voice`, not `invalid_request`.
    for d in [json!({}), json!(null)] {
        let r = gw.request("leave", "voice.leave", d).await;
        assert_eq!(r["d"]["code"], "not_in_voice", "{r}");
    }
}
