//! The text chat inside a voice room: a voice channel takes messages under the text channels'
//! rules (whoever sees the room reads it, sending needs `send`, moderation applies), with unread
//! and mention counts, and nothing of it reaches someone who cannot see the room.

use crate::harness::*;
use serde_json::{json, Value};

fn id(v: &Value) -> String {
    v["id"].as_str().expect("id").to_owned()
}

fn listed<'a>(chans: &'a Value, ch: &str) -> &'a Value {
    chans.as_array().and_then(|a| a.iter().find(|c| c["id"] == ch)).expect("channel listed")
}

#[tokio::test]
async fn a_voice_room_has_its_own_chat_with_unread_and_mentions() {
    let d = Daemon::start();
    let admin = d.admin().await;
    let bob = d.member(&admin, "bob").await;
    let lounge = id(&admin.post("/api/channels", json!({"name": "lounge", "kind": "voice"})).await.expect_status(201).body);
    let (mut bob_gw, _) = bob.gateway(None).await;

    // Sent over HTTP and over the gateway, delivered live, kept in the history.
    let m = admin.post(&format!("/api/channels/{lounge}/messages"), json!({"content": "mic check @bob"})).await.expect_status(201).body;
    assert_eq!(m["channel_id"], lounge.as_str());
    let ev = bob_gw.next_event("message.create").await;
    assert_eq!(ev["d"]["id"], m["id"]);
    let r = bob_gw.request("1", "message.send", json!({"channel_id": lounge, "content": "loud and clear", "nonce": "n1"})).await;
    assert_eq!(r["op"], "reply", "{r}");
    let hist = admin.get(&format!("/api/channels/{lounge}/messages")).await.expect_status(200).body;
    let texts: Vec<&str> = hist.as_array().expect("list").iter().filter_map(|m| m["content"].as_str()).collect();
    assert_eq!(texts, ["mic check @bob", "loud and clear"]);

    // Unread and mentions count as in a text channel.
    let chans = bob.get("/api/channels").await.body;
    assert_eq!(listed(&chans, &lounge)["unread_count"], 1);
    assert_eq!(listed(&chans, &lounge)["mention_count"], 1);
    bob.post(&format!("/api/channels/{lounge}/read"), json!({"message_id": m["id"]})).await.expect_status(204);
    let chans = bob.get("/api/channels").await.body;
    assert_eq!(listed(&chans, &lounge)["unread_count"], 0);
    assert_eq!(listed(&chans, &lounge)["mention_count"], 0);

    // Replies, edits, reactions and search work as anywhere else.
    admin.post(&format!("/api/channels/{lounge}/messages"), json!({"content": "ok", "reply_to": m["id"]})).await.expect_status(201);
    admin.patch(&format!("/api/messages/{}", id(&m)), json!({"content": "mic check (edited)"})).await.expect_status(200);
    let found = bob.get("/api/search?q=edited").await.expect_status(200).body;
    assert!(found.to_string().contains("mic check (edited)"), "{found}");
    // Bad input keeps its usual errors.
    bob.post(&format!("/api/channels/{lounge}/messages"), json!({"content": "  "})).await.expect_error(400, "empty_message");
    bob.post(&format!("/api/channels/{lounge}/messages"), json!({"content": "x".repeat(4001)})).await.expect_error(413, "message_too_long");
    bob.post(&format!("/api/channels/{lounge}/messages"), json!({"content": 5})).await.expect_error(400, "invalid_body");
}

#[tokio::test]
async fn room_chat_follows_the_rooms_permissions_and_moderation() {
    let d = Daemon::start();
    let admin = d.admin().await;
    let wendy = d.member(&admin, "wendy").await;
    let walt = d.member(&admin, "walt").await;
    let tim = d.member(&admin, "tim").await;
    let general = admin.general().await;
    let uid = |v: &Value| v["user"]["id"].as_str().unwrap_or_default().to_owned();
    let role = id(&admin.post("/api/admin/roles", json!({"name": "club", "permissions": []})).await.expect_status(201).body);
    for c in [&wendy, &tim] {
        let u = uid(&c.get("/api/me").await.body);
        admin.put(&format!("/api/admin/users/{u}/roles"), json!({"role_ids": [role]})).await.expect_status(200);
    }
    // A room only the club sees, and a public room where only the club may write.
    let club = id(&admin.post("/api/channels", json!({"name": "club-voice", "kind": "voice"})).await.expect_status(201).body);
    admin.put(&format!("/api/channels/{club}/overrides/1"), json!({"deny": ["view"]})).await.expect_status(200);
    admin.put(&format!("/api/channels/{club}/overrides/{role}"), json!({"allow": ["view", "send"]})).await.expect_status(200);
    let stage = id(&admin.post("/api/channels", json!({"name": "stage", "kind": "voice"})).await.expect_status(201).body);
    admin.put(&format!("/api/channels/{stage}/overrides/1"), json!({"deny": ["send"]})).await.expect_status(200);
    admin.put(&format!("/api/channels/{stage}/overrides/{role}"), json!({"allow": ["send"]})).await.expect_status(200);
    let tim_id = uid(&tim.get("/api/me").await.body);
    admin.post(&format!("/api/mod/users/{tim_id}/timeout"), json!({"minutes": 60})).await.expect_status(200);

    let (mut walt_gw, _) = walt.gateway(None).await;
    let secret = wendy.post(&format!("/api/channels/{club}/messages"), json!({"content": "club secret"})).await.expect_status(201).body;

    // Walt cannot see the club's room: it does not exist for him, to read or to write.
    walt.get(&format!("/api/channels/{club}/messages")).await.expect_error(404, "unknown_channel");
    walt.post(&format!("/api/channels/{club}/messages"), json!({"content": "let me in"})).await.expect_error(404, "unknown_channel");
    let r = walt_gw.request("w", "message.send", json!({"channel_id": club, "content": "let me in"})).await;
    assert_eq!(r["d"]["code"], "unknown_channel", "{r}");
    walt.put(&format!("/api/messages/{}/reactions/%F0%9F%91%8D", id(&secret)), json!({})).await.expect_error(404, "unknown_channel");
    let found = walt.get("/api/search?q=secret").await.expect_status(200).body;
    assert!(!found.to_string().contains("club secret"), "search leaked the room: {found}");
    assert!(walt.get("/api/channels").await.body.as_array().expect("list").iter().all(|c| c["id"] != club.as_str()));
    // ... nor did his socket hear of it: the next message it sees is this one in #general.
    admin.post(&format!("/api/channels/{general}/messages"), json!({"content": "marker"})).await.expect_status(201);
    loop {
        let f = walt_gw.next().await.expect("frame");
        assert_ne!(f["d"]["channel_id"], club.as_str(), "a hidden room's event reached walt: {f}");
        if f["t"] == "message.create" {
            assert_eq!(f["d"]["content"], "marker");
            break;
        }
    }

    // The stage: everyone reads, only the club writes.
    wendy.post(&format!("/api/channels/{stage}/messages"), json!({"content": "on stage"})).await.expect_status(201);
    let hist = walt.get(&format!("/api/channels/{stage}/messages")).await.expect_status(200).body;
    assert_eq!(hist[0]["content"], "on stage");
    walt.post(&format!("/api/channels/{stage}/messages"), json!({"content": "me too"})).await.expect_error(403, "missing_permission");
    // Moderation applies: a timed-out member reads but does not post.
    tim.get(&format!("/api/channels/{club}/messages")).await.expect_status(200);
    tim.post(&format!("/api/channels/{club}/messages"), json!({"content": "hi"})).await.expect_error(403, "timed_out");
    // A moderator's delete works as in text channels.
    admin.delete(&format!("/api/messages/{}", id(&secret))).await.expect_status(204);
}

#[tokio::test]
async fn room_chat_refuses_forged_and_anonymous_writes() {
    let d = Daemon::start();
    let admin = d.admin().await;
    let lounge = id(&admin.post("/api/channels", json!({"name": "lounge", "kind": "voice"})).await.expect_status(201).body);
    // No CSRF token: refused before anything is stored.
    let r = admin.send(reqwest::Method::POST, &format!("/api/channels/{lounge}/messages"), Some(json!({"content": "forged"})), false).await;
    r.expect_error(403, "csrf_failed");
    Client::new(&d).post(&format!("/api/channels/{lounge}/messages"), json!({"content": "anon"})).await.expect_error(401, "unauthenticated");
    let hist = admin.get(&format!("/api/channels/{lounge}/messages")).await.expect_status(200).body;
    assert_eq!(hist.as_array().map(Vec::len), Some(0));
}
