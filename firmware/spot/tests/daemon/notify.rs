//! Per-channel notification levels on the real daemon: `PUT /api/channels/:id/notify`, its
//! refusals (bad level, bad body, hidden or unknown channel, CSRF), the `channel_settings.update`
//! to the user's other sessions only, the snapshot, and that the choice survives a restart.

use crate::harness::*;
use serde_json::{json, Value};

fn find<'a>(list: &'a Value, id: &str) -> &'a Value {
    list.as_array().and_then(|v| v.iter().find(|c| c["id"] == id)).unwrap_or_else(|| panic!("channel {id} not in {list}"))
}

#[tokio::test]
async fn notify_levels_are_per_user_validated_and_reach_the_users_other_sessions() {
    let mut d = Daemon::start();
    let admin = d.admin().await;
    let bob = d.member(&admin, "bob").await;
    let general = admin.general().await;
    let bob_id = bob.get("/api/me").await.body["user"]["id"].as_str().expect("id").to_owned();
    let dm = admin.post("/api/dms", json!({"user_ids": [bob_id]})).await.expect_status(201).body;
    let dm_id = dm["id"].as_str().expect("id").to_owned();

    // Defaults: `all`, channels and DMs alike.
    let chans = bob.get("/api/channels").await.body;
    assert_eq!(find(&chans, &general)["notify"], "all");
    assert_eq!(find(&chans, &dm_id)["notify"], "all");

    let (mut bob_gw, _) = bob.gateway(None).await;
    let (mut admin_gw, _) = admin.gateway(None).await;
    let r = bob.put(&format!("/api/channels/{general}/notify"), json!({"level": "mentions"})).await.expect_status(200).body;
    assert_eq!(r["notify"], "mentions");
    assert_eq!(r["channel_id"], general.as_str());
    assert_eq!(r["muted"], false, "the level leaves the mute flag alone");
    // Bob's other session hears of it; nobody else does.
    let e = bob_gw.next_event("channel_settings.update").await;
    assert_eq!(e["d"]["notify"], "mentions");
    assert_eq!(e["d"]["channel_id"], general.as_str());
    bob.put(&format!("/api/channels/{dm_id}/notify"), json!({"level": "nothing"})).await.expect_status(200);
    assert_eq!(bob_gw.next_event("channel_settings.update").await["d"]["notify"], "nothing");
    admin.post(&format!("/api/channels/{general}/messages"), json!({"content": "marker"})).await.expect_status(201);
    loop {
        let e = admin_gw.next().await.expect("frame");
        assert_ne!(e["t"], "channel_settings.update", "another user's setting reached admin: {e}");
        if e["t"] == "message.create" && e["d"]["content"] == "marker" {
            break;
        }
    }
    // Per user: admin's own level is untouched.
    assert_eq!(find(&admin.get("/api/channels").await.body, &general)["notify"], "all");
    // Setting the same level again is a no-op answer, no second event.
    bob.put(&format!("/api/channels/{general}/notify"), json!({"level": "mentions"})).await.expect_status(200);

    // Refusals, by code; nothing changes.
    for bad in [json!({"level": "loud"}), json!({"level": "ALL"}), json!({"level": ""}), json!({"level": "a".repeat(10_000)})] {
        bob.put(&format!("/api/channels/{general}/notify"), bad).await.expect_error(400, "invalid_level");
    }
    for bad in [json!({}), json!({"level": 3}), json!({"level": null}), json!({"level": "all", "extra": 1}), json!([1, 2])] {
        let r = bob.put(&format!("/api/channels/{general}/notify"), bad.clone()).await;
        assert_eq!(r.status, 400, "{bad} → {}", r.text);
        assert!(r.body["error"]["code"].is_string(), "{}", r.text);
    }
    let raw = bob
        .http
        .put(format!("{}/api/channels/{general}/notify", bob.base))
        .header("x-csrf-token", bob.csrf.lock().expect("lock").clone().expect("csrf"))
        .header("content-type", "application/json")
        .body("{\"level\": \"all\"");
    assert_eq!(Client::finish(raw).await.status, 400, "truncated JSON");
    bob.put("/api/channels/999999/notify", json!({"level": "all"})).await.expect_error(404, "unknown_channel");
    bob.put("/api/channels/not-an-id/notify", json!({"level": "all"})).await.expect_error(404, "unknown_id");
    // A channel bob cannot see answers as if it did not exist.
    let club = admin.post("/api/channels", json!({"name": "club"})).await.expect_status(201).body;
    let club_id = club["id"].as_str().expect("id").to_owned();
    admin.put(&format!("/api/channels/{club_id}/overrides/1"), json!({"allow": [], "deny": ["view"]})).await.expect_status(200);
    bob.put(&format!("/api/channels/{club_id}/notify"), json!({"level": "nothing"})).await.expect_error(404, "unknown_channel");
    // Nor can anyone set it on another's DM.
    let cat = d.member(&admin, "cat").await;
    cat.put(&format!("/api/channels/{dm_id}/notify"), json!({"level": "all"})).await.expect_error(404, "unknown_channel");

    // CSRF: no token, a wrong one, a foreign origin.
    let path = format!("{}/api/channels/{general}/notify", bob.base);
    let csrf = bob.csrf.lock().expect("lock").clone().expect("csrf");
    Client::finish(bob.http.put(&path).json(&json!({"level": "all"}))).await.expect_error(403, "csrf_failed");
    Client::finish(bob.http.put(&path).header("x-csrf-token", "0".repeat(64)).json(&json!({"level": "all"}))).await.expect_error(403, "csrf_failed");
    Client::finish(bob.http.put(&path).header("x-csrf-token", &csrf).header("origin", "http://evil.example").json(&json!({"level": "all"})))
        .await
        .expect_error(403, "bad_origin");
    // Logged out: 401.
    Client::new(&d).put(&format!("/api/channels/{general}/notify"), json!({"level": "all"})).await.expect_status(401);

    // The snapshot carries it, and it survives a restart.
    drop(bob_gw);
    drop(admin_gw);
    d.stop();
    d.restart_same_port();
    // The client's pooled keep-alive connection died with the old process: one throwaway request
    // lets the pool notice before the asserting ones.
    let _ = bob.http.get(d.url("/api/health")).send().await;
    let chans = bob.get("/api/channels").await.expect_status(200).body;
    assert_eq!(find(&chans, &general)["notify"], "mentions");
    assert_eq!(find(&chans, &dm_id)["notify"], "nothing");
    let (_gw, ready) = bob.gateway(None).await;
    let snap = &ready["d"]["snapshot"]["channels"];
    assert_eq!(find(snap, &general)["notify"], "mentions");
    assert_eq!(find(snap, &dm_id)["notify"], "nothing");
    // Back to all.
    let r = bob.put(&format!("/api/channels/{general}/notify"), json!({"level": "all"})).await.expect_status(200).body;
    assert_eq!(r["notify"], "all");
}
