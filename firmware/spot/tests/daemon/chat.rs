//! Core chat over HTTP and the gateway: channels, messages, replies, history, unread, typing,
//! presence, members.

use crate::harness::*;
use serde_json::{json, Value};

fn id(v: &Value) -> String {
    v["id"].as_str().expect("id").to_owned()
}

#[tokio::test]
async fn admins_create_rename_describe_reorder_and_archive_channels() {
    let d = Daemon::start();
    let admin = d.admin().await;
    let bob = d.member(&admin, "bob").await;
    let (mut gw, _) = bob.gateway(None).await;
    let general = admin.general().await;
    let games = admin.post("/api/channels", json!({"name": "Board Games", "topic": "Saturday"})).await.expect_status(201).body;
    assert_eq!(games["name"], "board-games");
    let ev = gw.next_event("channel.create").await;
    assert_eq!(ev["d"]["name"], "board-games");
    let games_id = id(&games);
    let r = admin.patch(&format!("/api/channels/{games_id}"), json!({"name": "games", "topic": "Sundays now"})).await.expect_status(200);
    assert_eq!(r.body["topic"], "Sundays now");
    assert_eq!(gw.next_event("channel.update").await["d"]["name"], "games");
    // Reorder: games first.
    admin.post("/api/channels/reorder", json!({"ids": [games_id, general]})).await.expect_status(200);
    let list = bob.get("/api/channels").await.body;
    assert_eq!(list[0]["name"], "games");
    assert_eq!(list[1]["name"], "general");
    admin.post("/api/channels/reorder", json!({"ids": [games_id]})).await.expect_error(400, "invalid_order");
    // Archive: read-only.
    bob.post(&format!("/api/channels/{games_id}/messages"), json!({"content": "before"})).await.expect_status(201);
    admin.patch(&format!("/api/channels/{games_id}"), json!({"archived": true})).await.expect_status(200);
    bob.post(&format!("/api/channels/{games_id}/messages"), json!({"content": "after"})).await.expect_error(403, "channel_archived");
    let hist = bob.get(&format!("/api/channels/{games_id}/messages")).await.expect_status(200).body;
    assert_eq!(hist.as_array().map(Vec::len), Some(1), "archived history stays readable");
    // Members cannot manage channels.
    bob.patch(&format!("/api/channels/{general}"), json!({"name": "mine"})).await.expect_error(403, "missing_permission");
    admin.post("/api/channels", json!({"name": "#bad"})).await.expect_error(400, "invalid_channel_name");
}

#[tokio::test]
async fn messages_are_sent_edited_deleted_and_replied_to_in_real_time() {
    let d = Daemon::start();
    let admin = d.admin().await;
    let bob = d.member(&admin, "bob").await;
    let ch = admin.general().await;
    let (mut bob_gw, _) = bob.gateway(None).await;
    let (mut admin_gw, _) = admin.gateway(None).await;

    let reply = admin_gw.request("1", "message.send", json!({"channel_id": ch, "content": "**hello** bob", "nonce": "n-1"})).await;
    assert_eq!(reply["op"], "reply", "{reply}");
    let m = reply["d"].clone();
    assert_eq!(m["nonce"], "n-1");
    // The sender's own socket hears of it too (its other tabs rely on that).
    assert_eq!(admin_gw.next_event("message.create").await["d"]["id"], m["id"]);
    let ev = bob_gw.next_event("message.create").await;
    assert_eq!(ev["d"]["content"], "**hello** bob");
    assert_eq!(ev["d"]["id"], m["id"]);
    assert!(ev["s"].as_i64().is_some());

    // Reply from bob, over HTTP this time.
    let r = bob.post(&format!("/api/channels/{ch}/messages"), json!({"content": "hi!", "reply_to": m["id"]})).await.expect_status(201).body;
    assert_eq!(r["reply_to"], m["id"]);
    assert_eq!(admin_gw.next_event("message.create").await["d"]["reply_to"], m["id"]);
    bob.post(&format!("/api/channels/{ch}/messages"), json!({"content": "x", "reply_to": "999999"})).await.expect_error(400, "invalid_reply");

    // Edit: only the author; the edit is marked.
    bob.patch(&format!("/api/messages/{}", id(&m)), json!({"content": "hijack"})).await.expect_error(403, "not_author");
    let e = admin_gw.request("2", "message.edit", json!({"message_id": m["id"], "content": "hello bob (fixed)"})).await;
    assert_eq!(e["op"], "reply", "{e}");
    let ev = bob_gw.next_event("message.update").await;
    assert_eq!(ev["d"]["content"], "hello bob (fixed)");
    assert!(ev["d"]["edited_at"].as_i64().is_some());

    // Delete: the author or an admin; leaves a tombstone.
    bob.delete(&format!("/api/messages/{}", id(&m))).await.expect_error(403, "not_author");
    admin.delete(&format!("/api/messages/{}", id(&r))).await.expect_status(204);
    let ev = bob_gw.next_event("message.delete").await;
    assert_eq!(ev["d"]["deleted"], true);
    assert_eq!(ev["d"]["content"], "");
    let hist = bob.get(&format!("/api/channels/{ch}/messages")).await.body;
    let arr = hist.as_array().expect("array");
    assert_eq!(arr.len(), 2);
    assert_eq!(arr[1]["deleted"], true);
    assert_eq!(arr[1]["content"], "");
    bob.patch(&format!("/api/messages/{}", id(&r)), json!({"content": "undelete"})).await.expect_error(409, "message_deleted");

    // A resent nonce returns the same message instead of a duplicate.
    let again = admin_gw.request("3", "message.send", json!({"channel_id": ch, "content": "**hello** bob", "nonce": "n-1"})).await;
    assert_eq!(again["d"]["id"], m["id"]);
    let hist = bob.get(&format!("/api/channels/{ch}/messages")).await.body;
    assert_eq!(hist.as_array().map(Vec::len), Some(2));
}

#[tokio::test]
async fn history_pages_before_after_and_around_an_id_at_most_100() {
    let d = Daemon::start_with("", &[]);
    let admin = d.admin().await;
    let ch = admin.general().await;
    // Straight into the store: 250 messages, time-ordered IDs.
    let store = store::Store::open(d.db_path()).expect("store");
    let mut ids = Vec::new();
    let actor = store.actor(chat::UserId(1), server::now_ms()).expect("actor");
    for i in 0..250 {
        let (m, _) = store
            .send_message(
                store::NewMessage {
                    channel: ch.parse().expect("id"),
                    author: chat::UserId(1),
                    content: &format!("m{i}"),
                    reply_to: None,
                    nonce: None,
                    attachments: &[],
                },
                server::now_ms(),
                actor,
            )
            .expect("send");
        ids.push(m.id.0.to_string());
    }
    let mut sorted = ids.clone();
    sorted.sort_by_key(|s| s.parse::<i64>().unwrap_or(0));
    assert_eq!(ids, sorted, "message IDs are time-ordered");
    let page = |q: String| {
        let admin = &admin;
        let ch = ch.clone();
        async move { admin.get(&format!("/api/channels/{ch}/messages{q}")).await }
    };
    let latest = page(String::new()).await.expect_status(200).body;
    assert_eq!(latest.as_array().map(Vec::len), Some(50));
    assert_eq!(latest[49]["content"], "m249");
    assert_eq!(latest[0]["content"], "m200");
    let before = page(format!("?before={}&limit=100", ids[200])).await.body;
    assert_eq!(before.as_array().map(Vec::len), Some(100));
    assert_eq!(before[0]["content"], "m100");
    assert_eq!(before[99]["content"], "m199");
    let after = page(format!("?after={}&limit=10", ids[5])).await.body;
    assert_eq!(after[0]["content"], "m6");
    assert_eq!(after.as_array().map(Vec::len), Some(10));
    let around = page(format!("?around={}&limit=11", ids[100])).await.body;
    let a: Vec<&str> = around.as_array().expect("array").iter().filter_map(|m| m["content"].as_str()).collect();
    assert_eq!(a.len(), 11);
    assert!(a.contains(&"m100") && a[0] == "m95" && a[10] == "m105", "{a:?}");
    let first = page(format!("?before={}", ids[0])).await.body;
    assert_eq!(first.as_array().map(Vec::len), Some(0));
    page("?limit=101".into()).await.expect_error(400, "invalid_limit");
    page("?limit=0".into()).await.expect_error(400, "invalid_limit");
    page("?limit=abc".into()).await.expect_error(400, "invalid_limit");
    page(format!("?before={}&after={}", ids[1], ids[2])).await.expect_error(400, "invalid_query");
    page("?before=xyz".into()).await.expect_error(400, "invalid_query");
    page("?around=12345".into()).await.expect_error(404, "unknown_message");
    admin.get("/api/channels/999/messages").await.expect_error(404, "unknown_channel");
}

#[tokio::test]
async fn unread_counts_and_read_positions_are_per_user_and_synced() {
    let d = Daemon::start();
    let admin = d.admin().await;
    let bob = d.member(&admin, "bob").await;
    let ch = admin.general().await;
    let mut last = String::new();
    for i in 0..3 {
        last = id(&admin.post(&format!("/api/channels/{ch}/messages"), json!({"content": format!("m{i}")})).await.expect_status(201).body);
    }
    let chans = bob.get("/api/channels").await.body;
    assert_eq!(chans[0]["unread_count"], 3);
    assert_eq!(chans[0]["last_message_id"], last.as_str());
    // Own messages are never unread.
    assert_eq!(admin.get("/api/channels").await.body[0]["unread_count"], 0);
    // Bob reads on one device; his other device hears about it, admin does not.
    let (mut bob_other, _) = bob.gateway(None).await;
    let (mut admin_gw, _) = admin.gateway(None).await;
    bob.post(&format!("/api/channels/{ch}/read"), json!({"message_id": last})).await.expect_status(204);
    let ev = bob_other.next_event("read_state.update").await;
    assert_eq!(ev["d"]["last_read_id"], last.as_str());
    let chans = bob.get("/api/channels").await.body;
    assert_eq!(chans[0]["unread_count"], 0);
    assert_eq!(chans[0]["last_read_id"], last.as_str());
    // The read position never moves backwards.
    let first = id(&bob.get(&format!("/api/channels/{ch}/messages")).await.body[0]);
    let ack = bob_other.request("r", "read.ack", json!({"channel_id": ch, "message_id": first})).await;
    assert_eq!(ack["d"]["last_read_id"], last.as_str());
    // Admin's socket saw no read_state event of bob's: the next thing it sees is this message.
    admin.post(&format!("/api/channels/{ch}/messages"), json!({"content": "marker"})).await.expect_status(201);
    loop {
        let f = admin_gw.next().await.expect("frame");
        assert_ne!(f["t"], "read_state.update", "another user's read state leaked");
        if f["t"] == "message.create" {
            break;
        }
    }
}

#[tokio::test]
async fn typing_and_presence_are_ephemeral_and_the_member_list_shows_presence() {
    let d = Daemon::start();
    let admin = d.admin().await;
    let bob = d.member(&admin, "bob").await;
    let ch = admin.general().await;
    let (mut admin_gw, _) = admin.gateway(None).await;
    let users = admin.get("/api/users").await.body;
    let bob_row = users.as_array().expect("array").iter().find(|u| u["username"] == "bob").expect("bob").clone();
    assert_eq!(bob_row["presence"], "offline");
    let bob_id = bob_row["id"].clone();

    let (mut bob_gw, ready) = bob.gateway(None).await;
    let snap_users = ready["d"]["snapshot"]["users"].as_array().expect("users").clone();
    assert!(snap_users.iter().any(|u| u["username"] == "admin" && u["presence"] == "online"));
    let p = admin_gw.next_op("ephemeral").await;
    assert_eq!(p["t"], "presence.update");
    assert_eq!(p["d"]["user_id"], bob_id);
    assert_eq!(p["d"]["status"], "online");

    let r = bob_gw.request("t", "typing.start", json!({"channel_id": ch})).await;
    assert_eq!(r["op"], "reply", "{r}");
    let t = admin_gw.next_op("ephemeral").await;
    assert_eq!(t["t"], "typing.start");
    assert_eq!(t["d"]["user_id"], bob_id);
    assert_eq!(t["d"]["channel_id"], ch.as_str());

    bob_gw.request("p", "presence.set", json!({"status": "idle"})).await;
    let p = admin_gw.next_op("ephemeral").await;
    assert_eq!((p["d"]["status"].as_str(), p["t"].as_str()), (Some("idle"), Some("presence.update")));
    let users = admin.get("/api/users").await.body;
    assert!(users.as_array().expect("array").iter().any(|u| u["username"] == "bob" && u["presence"] == "idle"));
    let bad = bob_gw.request("p2", "presence.set", json!({"status": "invisible"})).await;
    assert_eq!(bad["d"]["code"], "invalid_status");

    drop(bob_gw);
    let p = admin_gw.next_op("ephemeral").await;
    assert_eq!(p["d"]["status"], "offline");
    // Ephemeral signals are not in the durable log: a resume from 0 replays no typing/presence.
    let (gw2, _) = admin.gateway(Some(0)).await;
    assert!(gw2.replayed.iter().all(|e| e["op"] == "event"));
    assert!(!gw2.replayed.iter().any(|e| e["t"] == "typing.start" || e["t"] == "presence.update"));
}

#[tokio::test]
async fn display_names_change_and_everyone_hears_of_it() {
    let d = Daemon::start();
    let admin = d.admin().await;
    let bob = d.member(&admin, "bob").await;
    let (mut gw, _) = admin.gateway(None).await;
    bob.patch("/api/me", json!({"display_name": "Bobby Tables"})).await.expect_status(200);
    let ev = gw.next_event("user.update").await;
    assert_eq!(ev["d"]["display_name"], "Bobby Tables");
    assert!(ev["d"].get("password_hash").is_none());
    bob.patch("/api/me", json!({"display_name": "   "})).await.expect_error(400, "invalid_display_name");
}
