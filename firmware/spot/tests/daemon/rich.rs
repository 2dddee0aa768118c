//! Rich chat on the real daemon: threads, reactions, pins, mentions, DMs, search, roles and
//! overrides (and that hidden channels never leak through the gateway or search), moderation,
//! the audit log, link previews fetched from a local page through the SSRF-safe client.

use crate::harness::*;
use serde_json::{json, Value};
use std::time::Duration;

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap_or_else(|| panic!("no id in {v}")).to_owned()
}

async fn send(c: &Client, ch: &str, text: &str) -> Value {
    c.post(&format!("/api/channels/{ch}/messages"), json!({"content": text})).await.expect_status(201).body
}

#[tokio::test]
async fn threads_reactions_pins_and_mentions() {
    let d = Daemon::start();
    let admin = d.admin().await;
    let bob = d.member(&admin, "bob").await;
    let general = admin.general().await;
    let (mut bob_gw, _) = bob.gateway(None).await;

    // A mention of bob counts on bob's side, not the author's.
    let m = send(&admin, &general, "movie night? @bob @nobody").await;
    assert_eq!(m["mentions"], json!([bob.get("/api/me").await.body["user"]["id"]]));
    let chans = bob.get("/api/channels").await.body;
    assert_eq!(chans[0]["mention_count"], 1, "{chans}");
    assert_eq!(admin.get("/api/channels").await.body[0]["mention_count"], 0);
    let ev = bob_gw.next_event("message.create").await;
    assert_eq!(ev["d"]["id"], m["id"]);

    // Bob starts a thread from it and replies; the parent shows the count, both follow it.
    let mid = id(&m);
    let t = bob.post(&format!("/api/messages/{mid}/thread"), json!({})).await.expect_status(201).body;
    assert_eq!((t["kind"].as_str(), t["parent_id"].as_str(), t["name"].as_str()), (Some("thread"), Some(general.as_str()), Some("movie night? @bob @nobody")));
    let again = bob.post(&format!("/api/messages/{mid}/thread"), json!({})).await.expect_status(200).body;
    assert_eq!(again["id"], t["id"], "one thread per message");
    let tid = id(&t);
    send(&bob, &tid, "I'm in").await;
    send(&admin, &tid, "great").await;
    let parent = admin.get(&format!("/api/channels/{general}/messages")).await.body;
    let p = parent.as_array().and_then(|v| v.iter().find(|x| x["id"] == m["id"])).cloned().unwrap_or_default();
    assert_eq!(p["thread"]["reply_count"], 2, "{p}");
    let threads = admin.get(&format!("/api/channels/{general}/threads")).await.expect_status(200).body;
    assert_eq!(threads[0]["id"], t["id"]);
    assert_eq!(threads[0]["following"], true, "replying follows");
    // Unread per thread: bob has not read admin's reply.
    let bob_threads = bob.get(&format!("/api/channels/{general}/threads")).await.body;
    assert_eq!(bob_threads[0]["unread_count"], 1);
    bob.delete(&format!("/api/channels/{tid}/follow")).await.expect_status(204);
    assert!(!bob.get("/api/channels").await.body.as_array().is_some_and(|v| v.iter().any(|c| c["id"] == t["id"])));
    bob.put(&format!("/api/channels/{tid}/follow"), json!({})).await.expect_status(204);
    admin.put(&format!("/api/channels/{general}/follow"), json!({})).await.expect_error(400, "not_a_thread");

    // Reactions: Unicode, toggled, who reacted; bad emoji refused.
    let thumbs = "%F0%9F%91%8D";
    bob.put(&format!("/api/messages/{mid}/reactions/{thumbs}"), json!({})).await.expect_status(204);
    admin.put(&format!("/api/messages/{mid}/reactions/{thumbs}"), json!({})).await.expect_status(204);
    let upd = loop {
        let e = bob_gw.next_event("message.update").await;
        if e["d"]["id"] == m["id"] && e["d"]["reactions"][0]["count"] == 2 {
            break e;
        }
    };
    assert_eq!(upd["d"]["reactions"][0]["emoji"], "👍");
    assert_eq!(upd["d"]["reactions"][0]["user_ids"].as_array().map(Vec::len), Some(2));
    admin.delete(&format!("/api/messages/{mid}/reactions/{thumbs}")).await.expect_status(204);
    for bad in ["abc", "%3Cscript%3E", "%F0%9F%91%8D%20x"] {
        bob.put(&format!("/api/messages/{mid}/reactions/{bad}"), json!({})).await.expect_error(400, "invalid_emoji");
    }
    bob.put(&format!("/api/messages/{mid}/reactions/:nope:"), json!({})).await.expect_error(400, "unknown_emoji");
    let r = bob_gw.request("r1", "reaction.add", json!({"message_id": mid, "emoji": "🎉"})).await;
    assert_eq!(r["op"], "reply", "{r}");

    // Pins: members may not by default; the admin may; the pins panel lists them.
    bob.put(&format!("/api/messages/{mid}/pin"), json!({})).await.expect_error(403, "missing_permission");
    admin.put(&format!("/api/messages/{mid}/pin"), json!({})).await.expect_status(204);
    let pins = bob.get(&format!("/api/channels/{general}/pins")).await.expect_status(200).body;
    assert_eq!(pins[0]["id"], m["id"]);
    assert!(pins[0]["pinned_at"].is_number());
    admin.delete(&format!("/api/messages/{mid}/pin")).await.expect_status(204);
    assert_eq!(bob.get(&format!("/api/channels/{general}/pins")).await.body, json!([]));

    // Muting is per user and reaches the user's other sockets.
    bob.put(&format!("/api/channels/{general}/settings"), json!({"muted": true})).await.expect_status(200);
    assert_eq!(bob_gw.next_event("channel_settings.update").await["d"]["muted"], true);
    assert_eq!(bob.get("/api/channels").await.body[0]["muted"], true);
    assert_eq!(admin.get("/api/channels").await.body[0]["muted"], false);
}

#[tokio::test]
async fn direct_messages_are_private_to_their_members() {
    let d = Daemon::start();
    let admin = d.admin().await;
    let bob = d.member(&admin, "bob").await;
    let cat = d.member(&admin, "cat").await;
    let uid = |c: &Value| c["user"]["id"].as_str().unwrap_or_default().to_owned();
    let bob_id = uid(&bob.get("/api/me").await.body);
    let cat_id = uid(&cat.get("/api/me").await.body);
    let (mut cat_gw, _) = cat.gateway(None).await;
    let (mut admin_gw, _) = admin.gateway(None).await;

    let dm = bob.post("/api/dms", json!({"user_ids": [cat_id]})).await.expect_status(201).body;
    assert_eq!(dm["kind"], "dm");
    let again = cat.post("/api/dms", json!({"user_ids": [bob_id]})).await.expect_status(200).body;
    assert_eq!(again["id"], dm["id"], "one DM per set of people");
    let dm_id = id(&dm);
    assert_eq!(cat_gw.next_event("channel.create").await["d"]["id"], dm["id"]);
    send(&bob, &dm_id, "psst @cat").await;
    assert_eq!(cat_gw.next_event("message.create").await["d"]["content"], "psst @cat");
    assert_eq!(cat.get("/api/channels").await.body.as_array().and_then(|v| v.iter().find(|c| c["id"] == dm["id"]).cloned()).unwrap_or_default()["mention_count"], 1);

    // Not even the admin sees it: not listed, no history, no events, no search hit.
    assert!(!admin.get("/api/channels").await.body.as_array().is_some_and(|v| v.iter().any(|c| c["id"] == dm["id"])));
    admin.get(&format!("/api/channels/{dm_id}/messages")).await.expect_error(404, "unknown_channel");
    admin.post(&format!("/api/channels/{dm_id}/messages"), json!({"content": "hi"})).await.expect_error(404, "unknown_channel");
    assert_eq!(admin.get("/api/search?q=psst").await.expect_status(200).body["total"], 0);
    assert_eq!(bob.get("/api/search?q=psst").await.expect_status(200).body["total"], 1);
    let general = admin.general().await;
    send(&admin, &general, "marker").await;
    loop {
        let e = admin_gw.next().await.expect("frame");
        assert_ne!(e["d"]["channel_id"], dm["id"], "a DM event reached a non-member: {e}");
        assert_ne!(e["d"]["id"], dm["id"], "a DM event reached a non-member: {e}");
        if e["t"] == "message.create" && e["d"]["content"] == "marker" {
            break;
        }
    }
    // Bad DMs.
    bob.post("/api/dms", json!({"user_ids": []})).await.expect_error(400, "invalid_dm");
    bob.post("/api/dms", json!({"user_ids": ["999"]})).await.expect_error(404, "unknown_user");
    let many: Vec<String> = (0..12).map(|i| format!("{}", i + 100)).collect();
    bob.post("/api/dms", json!({"user_ids": many})).await.expect_error(400, "invalid_dm");
}

#[tokio::test]
async fn roles_and_overrides_hide_channels_everywhere_including_the_gateway() {
    let d = Daemon::start();
    let admin = d.admin().await;
    let bob = d.member(&admin, "bob").await;
    let bob_id = bob.get("/api/me").await.body["user"]["id"].as_str().unwrap_or_default().to_owned();
    let general = admin.general().await;
    let club = admin.post("/api/channels", json!({"name": "club"})).await.expect_status(201).body;
    let club_id = id(&club);
    // @everyone may not see #club; the "crew" role may, and may pin there.
    admin.put(&format!("/api/channels/{club_id}/overrides/1"), json!({"allow": [], "deny": ["view"]})).await.expect_status(200);
    let crew = admin.post("/api/admin/roles", json!({"name": "crew", "color": "#3366ff", "permissions": []})).await.expect_status(201).body;
    let crew_id = id(&crew);
    admin.put(&format!("/api/channels/{club_id}/overrides/{crew_id}"), json!({"allow": ["view", "pin"], "deny": []})).await.expect_status(200);
    let ov = admin.get(&format!("/api/channels/{club_id}/overrides")).await.expect_status(200).body;
    assert_eq!(ov.as_array().map(Vec::len), Some(2), "{ov}");

    let (mut gw, ready) = bob.gateway(None).await;
    let mut seq = ready["d"]["seq"].as_i64().expect("seq");
    let secret = send(&admin, &club_id, "the secret password is swordfish").await;
    send(&admin, &general, "marker 1").await;
    loop {
        let e = gw.next().await.expect("frame");
        assert_ne!(e["d"]["channel_id"].as_str(), Some(club_id.as_str()), "hidden channel leaked: {e}");
        if let Some(s) = e["s"].as_i64() {
            seq = s;
        }
        if e["d"]["content"] == "marker 1" {
            break;
        }
    }
    assert!(!bob.get("/api/channels").await.body.as_array().is_some_and(|v| v.iter().any(|c| c["id"] == club["id"])));
    bob.get(&format!("/api/channels/{club_id}/messages")).await.expect_error(404, "unknown_channel");
    bob.put(&format!("/api/messages/{}/reactions/%F0%9F%91%8D", id(&secret)), json!({})).await.expect_error(404, "unknown_channel");
    assert_eq!(bob.get("/api/search?q=swordfish").await.body["total"], 0);
    bob.patch(&format!("/api/channels/{club_id}"), json!({"topic": "x"})).await.expect_error(404, "unknown_channel");
    // A replay after reconnecting does not leak it either.
    drop(gw);
    send(&admin, &club_id, "swordfish again").await;
    send(&admin, &general, "marker 2").await;
    let (gw2, ready) = bob.gateway(Some(seq)).await;
    assert_eq!(ready["d"]["resumed"], true);
    assert!(gw2.replayed.iter().all(|e| e["d"]["channel_id"].as_str() != Some(club_id.as_str())), "{:?}", gw2.replayed);
    assert!(gw2.replayed.iter().any(|e| e["d"]["content"] == "marker 2"));
    drop(gw2);

    // Giving bob the role: his sockets are told to reconnect (4002), then he sees #club.
    let (mut gw3, _) = bob.gateway(None).await;
    admin.put(&format!("/api/admin/users/{bob_id}/roles"), json!({"role_ids": [crew_id]})).await.expect_status(200);
    assert_eq!(gw3.closed().await, Some(4002));
    let (_gw4, ready) = bob.gateway(None).await;
    assert!(ready["d"]["snapshot"]["channels"].as_array().is_some_and(|v| v.iter().any(|c| c["id"] == club["id"])));
    assert!(ready["d"]["snapshot"]["roles"].as_array().is_some_and(|v| v.len() == 2));
    assert_eq!(bob.get("/api/search?q=swordfish").await.body["total"], 2);
    bob.put(&format!("/api/messages/{}/pin", id(&secret)), json!({})).await.expect_status(204);
    // Crew may pin in #club but not post (@everyone's send still applies) — and not in #general.
    let last = bob.get(&format!("/api/channels/{general}/messages")).await.body;
    let gm = last.as_array().and_then(|v| v.last()).map(id).unwrap_or_default();
    bob.put(&format!("/api/messages/{gm}/pin"), json!({})).await.expect_error(403, "missing_permission");
    // Bad role and override input.
    admin.post("/api/admin/roles", json!({"name": "@x", "permissions": []})).await.expect_error(400, "invalid_role_name");
    admin.post("/api/admin/roles", json!({"name": "x", "permissions": ["fly"]})).await.expect_error(400, "invalid_body");
    admin.post("/api/admin/roles", json!({"name": "x", "color": "red"})).await.expect_error(400, "invalid_color");
    admin.put(&format!("/api/channels/{club_id}/overrides/{crew_id}"), json!({"allow": ["view"], "deny": ["view"]})).await.expect_error(400, "invalid_override");
    admin.delete("/api/admin/roles/1").await.expect_error(400, "everyone_role");
    admin.delete(&format!("/api/admin/roles/{crew_id}")).await.expect_status(204);
    bob.get(&format!("/api/channels/{club_id}/messages")).await.expect_error(404, "unknown_channel");
    bob.post("/api/admin/roles", json!({"name": "mine"})).await.expect_error(403, "admin_only");
}

#[tokio::test]
async fn search_ranks_filters_and_jumps_to_context() {
    let d = Daemon::start();
    let admin = d.admin().await;
    let bob = d.member(&admin, "bob").await;
    let general = admin.general().await;
    let games = id(&admin.post("/api/channels", json!({"name": "games"})).await.expect_status(201).body);
    send(&admin, &general, "we could order pizza").await;
    send(&bob, &general, "pizza pizza pizza, the best pizza").await;
    send(&bob, &games, "pizza after the game? https://example.com/menu").await;
    send(&admin, &games, "nothing to see").await;

    let r = bob.patient(reqwest::Method::GET, "/api/search?q=pizza", None).await.expect_status(200).body;
    assert_eq!(r["total"], 3);
    // The densest match ranks first; matches are marked for highlighting.
    assert_eq!(r["results"][0]["message"]["content"], "pizza pizza pizza, the best pizza");
    assert!(r["results"][0]["snippet"].as_str().is_some_and(|s| s.contains("\u{e000}pizza\u{e001}")));
    assert_eq!(bob.patient(reqwest::Method::GET, "/api/search?q=piz", None).await.body["total"], 3, "prefix match");
    assert_eq!(bob.patient(reqwest::Method::GET, "/api/search?q=pizza%20from:admin", None).await.body["total"], 1);
    assert_eq!(bob.patient(reqwest::Method::GET, "/api/search?q=pizza%20in:games", None).await.body["total"], 1);
    assert_eq!(bob.patient(reqwest::Method::GET, "/api/search?q=has:link", None).await.body["total"], 1);
    assert_eq!(bob.patient(reqwest::Method::GET, "/api/search?q=%22best%20pizza%22", None).await.body["total"], 1);
    assert_eq!(bob.patient(reqwest::Method::GET, "/api/search?q=pizza%20before:2000-01-01", None).await.body["total"], 0);
    assert_eq!(bob.patient(reqwest::Method::GET, "/api/search?q=pizza%20after:2000-01-01", None).await.body["total"], 3);
    // Jump to context: the hit's message loads with its neighbours.
    let hit = &r["results"][0]["message"];
    let ctx = bob.patient(reqwest::Method::GET, &format!("/api/channels/{}/messages?around={}&limit=3", hit["channel_id"].as_str().unwrap_or_default(), id(hit)), None).await.expect_status(200).body;
    assert!(ctx.as_array().is_some_and(|v| v.iter().any(|m| m["id"] == hit["id"])));
    // Hostile and bad queries: clear errors, FTS syntax is only text.
    bob.patient(reqwest::Method::GET, "/api/search?q=", None).await.expect_error(400, "empty_query");
    bob.patient(reqwest::Method::GET, "/api/search?q=has:cake", None).await.expect_error(400, "invalid_filter");
    bob.patient(reqwest::Method::GET, "/api/search?q=before:tomorrow", None).await.expect_error(400, "invalid_date");
    bob.patient(reqwest::Method::GET, &format!("/api/search?q={}", "a".repeat(600)), None).await.expect_error(400, "query_too_long");
    for q in ["%22", "NEAR(pizza%20game)", "pizza%20OR%20*", "%5Ecol:x", "AND", "')%3B--"] {
        let r = bob.patient(reqwest::Method::GET, &format!("/api/search?q={q}"), None).await;
        assert!(r.status == 200 || r.status == 400, "{q}: {} {}", r.status, r.text);
    }
    bob.patient(reqwest::Method::GET, "/api/search?q=pizza&limit=1000", None).await.expect_error(400, "invalid_query");
}

#[tokio::test]
async fn moderation_kick_ban_timeout_and_the_audit_log() {
    let d = Daemon::start();
    let admin = d.admin().await;
    let bob = d.member(&admin, "bob").await;
    let eve = d.member(&admin, "eve").await;
    let me = |c: &Value| c["user"]["id"].as_str().unwrap_or_default().to_owned();
    let bob_id = me(&bob.get("/api/me").await.body);
    let eve_id = me(&eve.get("/api/me").await.body);
    let admin_id = me(&admin.get("/api/me").await.body);
    let general = admin.general().await;

    // Members cannot moderate; a "mods" role can, but never an admin or themselves.
    eve.post(&format!("/api/mod/users/{bob_id}/kick"), json!({})).await.expect_error(403, "missing_permission");
    let mods = id(&admin.post("/api/admin/roles", json!({"name": "mods", "permissions": ["moderate", "manage_messages"]})).await.expect_status(201).body);
    admin.put(&format!("/api/admin/users/{eve_id}/roles"), json!({"role_ids": [mods]})).await.expect_status(200);
    eve.post(&format!("/api/mod/users/{admin_id}/kick"), json!({})).await.expect_error(403, "cannot_moderate_admin");
    eve.post(&format!("/api/mod/users/{eve_id}/kick"), json!({})).await.expect_error(400, "cannot_moderate_self");
    // Moderators delete other people's messages.
    let m = send(&bob, &general, "spam").await;
    eve.delete(&format!("/api/messages/{}", id(&m))).await.expect_status(204);

    // Timeout: bob reads but cannot post, react, start DMs; it shows on his user.
    let (mut bob_gw, _) = bob.gateway(None).await;
    let u = eve.post(&format!("/api/mod/users/{bob_id}/timeout"), json!({"minutes": 10, "reason": "cool off"})).await.expect_status(200).body;
    assert!(u["timeout_until"].as_i64().is_some_and(|t| t > 0));
    assert_eq!(bob_gw.closed().await, Some(4002), "his sockets reconnect with the new rights");
    bob.post(&format!("/api/channels/{general}/messages"), json!({"content": "hi"})).await.expect_error(403, "timed_out");
    bob.put(&format!("/api/messages/{}/reactions/%F0%9F%91%8D", id(&send(&admin, &general, "x").await)), json!({})).await.expect_error(403, "timed_out");
    bob.post("/api/dms", json!({"user_ids": [eve_id]})).await.expect_error(403, "timed_out");
    bob.get(&format!("/api/channels/{general}/messages")).await.expect_status(200);
    eve.post(&format!("/api/mod/users/{bob_id}/timeout"), json!({"minutes": 99999})).await.expect_error(400, "invalid_timeout");
    eve.post(&format!("/api/mod/users/{bob_id}/timeout"), json!({"minutes": 0})).await.expect_status(200);
    send(&bob, &general, "back").await;

    // Kick: sessions end, he can log in again.
    let (mut bob_gw, _) = bob.gateway(None).await;
    eve.post(&format!("/api/mod/users/{bob_id}/kick"), json!({"reason": "bye"})).await.expect_status(204);
    assert_eq!(bob_gw.closed().await, Some(4001));
    bob.get("/api/me").await.expect_error(401, "unauthenticated");
    bob.login("bob", "member-password").await.expect_status(200);
    // Ban: sessions end and login is refused, with the reason, until unbanned.
    eve.post(&format!("/api/mod/users/{bob_id}/ban"), json!({"reason": "trolling"})).await.expect_status(204);
    bob.get("/api/me").await.expect_error(401, "unauthenticated");
    let r = bob.login("bob", "member-password").await.expect_error(403, "account_banned");
    assert!(r.text.contains("trolling"));
    let users = admin.get("/api/admin/users").await.body;
    assert!(users.as_array().is_some_and(|v| v.iter().any(|u| u["username"] == "bob" && u["banned"] == true)));
    eve.delete(&format!("/api/mod/users/{bob_id}/ban")).await.expect_status(204);
    bob.login("bob", "member-password").await.expect_status(200);

    // The audit log has every one of these, newest first, and only admins read it.
    let log = admin.get("/api/admin/audit").await.expect_status(200).body;
    let actions: Vec<&str> = log.as_array().map(|v| v.iter().filter_map(|e| e["action"].as_str()).collect()).unwrap_or_default();
    for a in ["role.create", "user.roles", "user.timeout", "user.kick", "user.ban", "user.unban"] {
        assert!(actions.contains(&a), "{a} missing from {actions:?}");
    }
    assert_eq!(log[0]["action"], "user.unban");
    assert!(log.as_array().is_some_and(|v| v.iter().any(|e| e["action"] == "user.ban" && e["detail"]["reason"] == "trolling")));
    eve.get("/api/admin/audit").await.expect_error(403, "admin_only");
    let page = admin.get(&format!("/api/admin/audit?before={}&limit=2", id(&log[0]))).await.expect_status(200).body;
    assert_eq!(page.as_array().map(Vec::len), Some(2));
    assert_eq!(page[0]["id"], log[1]["id"]);
}

/// A tiny HTTP server for previews: `/page` (OpenGraph tags), `/og.png`.
async fn preview_site() -> (u16, tokio::task::JoinHandle<()>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==";
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else { return };
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let n = s.read(&mut buf).await.unwrap_or(0);
                let req = String::from_utf8_lossy(&buf[..n]).to_string();
                let (ct, body): (&str, Vec<u8>) = if req.starts_with("GET /og.png") {
                    use base64::Engine;
                    ("image/png", base64::engine::general_purpose::STANDARD.decode(PNG).unwrap_or_default())
                } else {
                    (
                        "text/html; charset=utf-8",
                        br#"<!doctype html><html><head><title>Fallback</title>
<meta property="og:title" content="Pizza &amp; Games Night">
<meta property="og:description" content="Saturday at Bob's.">
<meta property="og:site_name" content="Local Test">
<meta property="og:image" content="/og.png"></head><body>hi</body></html>"#
                            .to_vec(),
                    )
                };
                let head = format!("HTTP/1.1 200 OK\r\nContent-Type: {ct}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
                let _ = s.write_all(head.as_bytes()).await;
                let _ = s.write_all(&body).await;
            });
        }
    });
    (port, task)
}

#[tokio::test]
async fn link_previews_come_from_the_box_and_private_addresses_are_refused() {
    let d = Daemon::start();
    let admin = d.admin().await;
    let bob = d.member(&admin, "bob").await;
    let general = admin.general().await;
    let (port, _site) = preview_site().await;
    let (mut gw, _) = bob.gateway(None).await;

    // Not allowlisted: 127.0.0.1 is loopback, so nothing is fetched and the refusal is logged.
    let m = send(&bob, &general, &format!("look http://127.0.0.1:{port}/page")).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let h = bob.get(&format!("/api/channels/{general}/messages")).await.body;
    assert!(h.as_array().and_then(|v| v.iter().find(|x| x["id"] == m["id"])).is_some_and(|x| x["embeds"] == json!([])));
    let logs = d.logs();
    assert!(logs.contains("fetch refused") && logs.contains("port_not_allowed"), "refusal not logged: {logs}");

    // Only admins change the settings; bad allowlist entries are refused by name.
    bob.patch("/api/admin/settings", json!({"embeds_enabled": false})).await.expect_error(403, "admin_only");
    let r = admin.patch("/api/admin/settings", json!({"embed_allowlist": ["not a host!"]})).await.expect_error(400, "invalid_allowlist");
    assert!(r.text.contains("not a host!"));
    // Allowlisted as a LAN service: the preview is fetched, its image re-encoded on the box.
    let s = admin.patch("/api/admin/settings", json!({"embed_allowlist": [format!("127.0.0.1:{port}")]})).await.expect_status(200).body;
    assert_eq!(s["embeds_enabled"], true);
    let m = send(&bob, &general, &format!("look again http://127.0.0.1:{port}/page")).await;
    let ev = loop {
        let e = gw.next_event("message.update").await;
        if e["d"]["id"] == m["id"] && !e["d"]["embeds"].as_array().is_some_and(Vec::is_empty) {
            break e;
        }
    };
    let e = &ev["d"]["embeds"][0];
    assert_eq!(e["title"], "Pizza & Games Night");
    assert_eq!(e["description"], "Saturday at Bob's.");
    assert_eq!(e["site_name"], "Local Test");
    let img = e["image_url"].as_str().expect("image url");
    assert!(img.starts_with("/api/embeds/"), "served from the box: {img}");
    let got = bob.get(img).await.expect_status(200);
    // Re-encoded on the box (an opaque image becomes a JPEG), not the site's bytes passed through.
    assert_eq!(got.headers["content-type"], "image/jpeg");
    assert_eq!(got.headers["x-content-type-options"], "nosniff");
    Client::new(&d).get(img).await.expect_error(401, "unauthenticated");
    // Switched off: no more previews.
    admin.patch("/api/admin/settings", json!({"embeds_enabled": false})).await.expect_status(200);
    let m = send(&bob, &general, &format!("third http://127.0.0.1:{port}/page?x=3")).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let h = bob.get(&format!("/api/channels/{general}/messages")).await.body;
    assert!(h.as_array().and_then(|v| v.iter().find(|x| x["id"] == m["id"])).is_some_and(|x| x["embeds"] == json!([])));
}
