//! The authorization matrix: every HTTP endpoint and gateway action × every kind of caller
//! (admin, member with the channel permission, member without it, timed out, banned, disabled,
//! anonymous), with the expected allow/deny generated from one table of what each endpoint needs.
//!
//! The fixture: channel #club is hidden from `@everyone`; the role "club" opens it (view, send,
//! pin, manage messages, manage channel) and carries the box-wide `moderate` permission. Wendy has
//! the role, Walt does not, Tim has it but is timed out; Bart is banned and Dora disabled after
//! logging in (their old sessions must stop working); Vic is the target of moderation.

use crate::harness::*;
use serde_json::{json, Value};

/// What an endpoint needs, decided by the policy (README "Permissions"), not by the code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Need {
    /// Nobody needs to be logged in.
    Public,
    /// Any logged-in user.
    Auth,
    /// Logged in and not timed out (uploads, starting DMs).
    AuthActive,
    /// See #club.
    View,
    /// Post (react, start threads) in #club.
    Send,
    Pin,
    ManageMessages,
    ManageChannel,
    /// Only the author (the admin) may.
    Author,
    Moderate,
    Admin,
    /// Checks the caller's own password (sent wrong here): refused with 403 for anyone logged
    /// in, 401 for everyone else. Guards that it is under the session check at all.
    OwnPassword,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Admin,
    With,
    Without,
    TimedOut,
    Banned,
    Disabled,
    Anonymous,
}

/// The expected HTTP status class: `None` = allowed (2xx), else the refusal status.
fn expect(need: Need, who: Who) -> Option<u16> {
    use Need::*;
    match who {
        _ if need == Public => None,
        Who::Anonymous | Who::Banned | Who::Disabled => Some(401),
        _ if need == OwnPassword => Some(403),
        Who::Admin => None,
        Who::Without => match need {
            Auth | AuthActive => None,
            View | Send | Pin | ManageMessages | ManageChannel | Author => Some(404),
            Moderate | Admin => Some(403),
            Public | OwnPassword => None,
        },
        Who::With => match need {
            Author | Admin => Some(403),
            _ => None,
        },
        Who::TimedOut => match need {
            Send | AuthActive | Author | Admin => Some(403),
            _ => None,
        },
    }
}

struct World {
    d: Daemon,
    admin: Client,
    callers: Vec<(Who, Client)>,
    club: String,
    /// A voice room only the club role sees.
    club_voice: String,
    general: String,
    vic: String,
    spare_role: String,
    attachment_url: String,
    thumb_url: String,
    thread: String,
}

fn png() -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==")
        .unwrap_or_default()
}

/// A custom emoji made by the admin for one case.
async fn new_emoji(w: &World, n: usize) -> String {
    let csrf = w.admin.csrf.lock().expect("lock").clone().unwrap_or_default();
    let r = loop {
        let r = Client::finish(
            w.admin.http.post(w.d.url("/api/admin/emoji")).header("x-csrf-token", csrf.clone()).header("content-type", "image/png").header("x-emoji-name", format!("e{n}")).body(png()),
        )
        .await;
        if r.status != 429 {
            break r.expect_status(201);
        }
        tokio::time::sleep(std::time::Duration::from_millis(r.body["error"]["retry_after_ms"].as_u64().unwrap_or(500) + 20)).await;
    };
    r.body["id"].as_str().unwrap_or_default().to_owned()
}

async fn world() -> World {
    let d = Daemon::start_with("[limits]\nsend_burst = 100000\nsend_interval_ms = 1\n", &[]);
    let admin = d.admin().await;
    let general = admin.general().await;
    let club = admin.post("/api/channels", json!({"name": "club"})).await.expect_status(201).body["id"].as_str().unwrap_or_default().to_owned();
    let role = admin
        .post("/api/admin/roles", json!({"name": "club", "permissions": ["moderate"]}))
        .await
        .expect_status(201)
        .body["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let spare_role = admin.post("/api/admin/roles", json!({"name": "spare", "permissions": []})).await.expect_status(201).body["id"].as_str().unwrap_or_default().to_owned();
    admin.put(&format!("/api/channels/{club}/overrides/1"), json!({"deny": ["view"]})).await.expect_status(200);
    admin
        .put(&format!("/api/channels/{club}/overrides/{role}"), json!({"allow": ["view", "send", "pin", "manage_messages", "manage_channel"]}))
        .await
        .expect_status(200);
    let club_voice = admin.post("/api/channels", json!({"name": "club-voice", "kind": "voice"})).await.expect_status(201).body["id"].as_str().unwrap_or_default().to_owned();
    admin.put(&format!("/api/channels/{club_voice}/overrides/1"), json!({"deny": ["view"]})).await.expect_status(200);
    admin.put(&format!("/api/channels/{club_voice}/overrides/{role}"), json!({"allow": ["view", "send"]})).await.expect_status(200);
    let uid = |c: &Value| c["user"]["id"].as_str().unwrap_or_default().to_owned();
    let mut callers = vec![];
    let wendy = d.member(&admin, "wendy").await;
    let walt = d.member(&admin, "walt").await;
    let tim = d.member(&admin, "tim").await;
    let bart = d.member(&admin, "bart").await;
    let dora = d.member(&admin, "dora").await;
    let vic = d.member(&admin, "vic").await;
    for c in [&wendy, &tim] {
        let id = uid(&c.get("/api/me").await.body);
        admin.put(&format!("/api/admin/users/{id}/roles"), json!({"role_ids": [role]})).await.expect_status(200);
    }
    let tim_id = uid(&tim.get("/api/me").await.body);
    admin.post(&format!("/api/mod/users/{tim_id}/timeout"), json!({"minutes": 60})).await.expect_status(200);
    let bart_id = uid(&bart.get("/api/me").await.body);
    admin.post(&format!("/api/mod/users/{bart_id}/ban"), json!({})).await.expect_status(204);
    let dora_id = uid(&dora.get("/api/me").await.body);
    admin.patch(&format!("/api/admin/users/{dora_id}"), json!({"disabled": true})).await.expect_status(200);
    let vic_id = uid(&vic.get("/api/me").await.body);
    // An image in #club, for the download row.
    let csrf = admin.csrf.lock().expect("lock").clone().unwrap_or_default();
    let up = Client::finish(
        admin.http.post(d.url("/api/uploads")).header("x-csrf-token", csrf).header("content-type", "image/png").header("x-filename", "dot.png").body(png()),
    )
    .await
    .expect_status(201);
    let att = up.body["id"].as_str().unwrap_or_default().to_owned();
    let m = admin.post(&format!("/api/channels/{club}/messages"), json!({"content": "pic", "attachments": [att]})).await.expect_status(201).body;
    let attachment_url = m["attachments"][0]["url"].as_str().unwrap_or_default().to_owned();
    let thumb_url = m["attachments"][0]["thumb_url"].as_str().unwrap_or_default().to_owned();
    let thread = admin.post(&format!("/api/messages/{}/thread", m["id"].as_str().unwrap_or_default()), json!({})).await.expect_status(201).body["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    callers.push((Who::Admin, admin.clone_session(&d).await));
    callers.push((Who::With, wendy));
    callers.push((Who::Without, walt));
    callers.push((Who::TimedOut, tim));
    callers.push((Who::Banned, bart));
    callers.push((Who::Disabled, dora));
    callers.push((Who::Anonymous, Client::new(&d)));
    World { d, admin, callers, club, club_voice, general, vic: vic_id, spare_role, attachment_url, thumb_url, thread }
}

impl Client {
    /// A second session of the same admin (the matrix may end sessions of the first).
    async fn clone_session(&self, d: &Daemon) -> Client {
        let c = Client::new(d);
        c.login("admin", ADMIN_PW).await.expect_status(200);
        c
    }
}

/// A fresh message by the admin in #club (the thing most rows act on).
async fn fresh_message(w: &World) -> String {
    w.admin.post(&format!("/api/channels/{}/messages", w.club), json!({"content": "fixture"})).await.expect_status(201).body["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn every_http_endpoint_against_every_kind_of_caller() {
    let w = world().await;
    use reqwest::Method as M;
    // (method, path with {club} {general} {msg} {vic} {role} {att}, body, need)
    let table: Vec<(M, &str, Option<Value>, Need)> = vec![
        (M::GET, "/api/health", None, Need::Public),
        (M::GET, "/api/me", None, Need::Auth),
        (M::PATCH, "/api/me", Some(json!({"display_name": "Someone"})), Need::Auth),
        (M::GET, "/api/users", None, Need::Auth),
        (M::GET, "/api/channels", None, Need::Auth),
        (M::GET, "/api/roles", None, Need::Auth),
        (M::GET, "/api/emoji", None, Need::Auth),
        (M::GET, "/api/me/storage", None, Need::Auth),
        (M::GET, "/api/me/export", None, Need::Auth),
        (M::GET, "/api/search?q=fixture", None, Need::Auth),
        (M::POST, "/api/channels/{general}/read", Some(json!({"message_id": "{gmsg}"})), Need::Auth),
        (M::POST, "/api/dms", Some(json!({"user_ids": ["{vic}"]})), Need::AuthActive),
        (M::GET, "/api/channels/{club}/messages", None, Need::View),
        (M::GET, "/api/channels/{club}/threads", None, Need::View),
        (M::GET, "/api/channels/{club}/pins", None, Need::View),
        (M::POST, "/api/channels/{club}/read", Some(json!({"message_id": "{msg}"})), Need::View),
        (M::PUT, "/api/channels/{club}/settings", Some(json!({"muted": true})), Need::View),
        (M::PUT, "/api/channels/{club}/notify", Some(json!({"level": "mentions"})), Need::View),
        (M::DELETE, "/api/messages/{msg}/reactions/%F0%9F%91%8D", None, Need::View),
        (M::GET, "{att}", None, Need::View),
        (M::POST, "/api/channels/{club}/messages", Some(json!({"content": "hello"})), Need::Send),
        (M::PUT, "/api/messages/{msg}/reactions/%F0%9F%91%8D", Some(json!({})), Need::Send),
        (M::POST, "/api/messages/{msg}/thread", Some(json!({})), Need::Send),
        (M::PUT, "/api/messages/{msg}/pin", Some(json!({})), Need::Pin),
        (M::DELETE, "/api/messages/{msg}/pin", None, Need::Pin),
        (M::DELETE, "/api/messages/{msg}", None, Need::ManageMessages),
        (M::PATCH, "/api/messages/{msg}", Some(json!({"content": "edited"})), Need::Author),
        (M::PATCH, "/api/channels/{club}", Some(json!({"topic": "t"})), Need::ManageChannel),
        (M::GET, "/api/channels/{club}/overrides", None, Need::ManageChannel),
        (M::PUT, "/api/channels/{club}/overrides/{role}", Some(json!({"allow": ["pin"]})), Need::ManageChannel),
        (M::POST, "/api/mod/users/{vic}/kick", Some(json!({})), Need::Moderate),
        (M::POST, "/api/mod/users/{vic}/timeout", Some(json!({"minutes": 0})), Need::Moderate),
        (M::POST, "/api/mod/users/{vic}/ban", Some(json!({})), Need::Moderate),
        (M::DELETE, "/api/mod/users/{vic}/ban", None, Need::Moderate),
        (M::POST, "/api/uploads", None, Need::AuthActive),
        (M::POST, "/api/channels", Some(json!({"name": "new-one"})), Need::Admin),
        (M::POST, "/api/channels/reorder", Some(json!({"ids": "{order}"})), Need::Admin),
        (M::GET, "/api/admin/users", None, Need::Admin),
        (M::POST, "/api/admin/users", Some(json!({"username": "x{n}", "password": "long-enough-pw"})), Need::Admin),
        (M::PATCH, "/api/admin/users/{vic}", Some(json!({"disabled": false})), Need::Admin),
        (M::POST, "/api/admin/users/{vic}/password", Some(json!({"password": "another-long-pw"})), Need::Admin),
        (M::PUT, "/api/admin/users/{vic}/roles", Some(json!({"role_ids": []})), Need::Admin),
        (M::GET, "/api/admin/invites", None, Need::Admin),
        (M::POST, "/api/admin/invites", Some(json!({})), Need::Admin),
        (M::POST, "/api/admin/roles", Some(json!({"name": "r{n}", "permissions": []})), Need::Admin),
        (M::PATCH, "/api/admin/roles/{role}", Some(json!({"name": "spare"})), Need::Admin),
        (M::DELETE, "/api/admin/roles/{freshrole}", None, Need::Admin),
        (M::DELETE, "/api/admin/invites/{invite}", None, Need::Admin),
        (M::POST, "/api/me/password", Some(json!({"current_password": "not-my-password-1", "new_password": "a-new-password-9"})), Need::OwnPassword),
        (M::GET, "/api/admin/audit", None, Need::Admin),
        (M::GET, "/api/admin/settings", None, Need::Admin),
        (M::PATCH, "/api/admin/settings", Some(json!({"embeds_enabled": true})), Need::Admin),
        (M::GET, "/api/admin/channels/{club}/export", None, Need::Admin),
        (M::POST, "/api/admin/emoji", None, Need::Admin),
        (M::DELETE, "/api/admin/emoji/{emoji}", None, Need::Admin),
        (M::GET, "/api/emoji/{emoji}", None, Need::Auth),
        (M::GET, "{thumb}", None, Need::View),
        (M::PUT, "/api/channels/{thread}/follow", Some(json!({})), Need::View),
        (M::DELETE, "/api/channels/{thread}/follow", None, Need::View),
        (M::GET, "/api/channels/{thread}/messages", None, Need::View),
        (M::POST, "/api/channels/{thread}/messages", Some(json!({"content": "in thread"})), Need::Send),
        // Last: it ends the caller's session.
        (M::POST, "/api/logout", Some(json!({})), Need::Auth),
    ];
    let mut failures = Vec::new();
    let mut n = 0;
    for (method, path, body, need) in &table {
        for (who, client) in &w.callers {
            n += 1;
            let msg = fresh_message(&w).await;
            let gmsg = w.admin.post(&format!("/api/channels/{}/messages", w.general), json!({"content": "g"})).await.body["id"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let order = if path.contains("reorder") {
                let list = w.admin.get("/api/channels").await.body;
                let ids: Vec<Value> = list
                    .as_array()
                    .map(|v| v.iter().filter(|c| c["kind"] == "text" || c["kind"] == "voice").map(|c| c["id"].clone()).collect())
                    .unwrap_or_default();
                Value::Array(ids).to_string()
            } else {
                String::new()
            };
            let emoji = if path.contains("{emoji}") { new_emoji(&w, n).await } else { String::new() };
            let fresh_role = if path.contains("{freshrole}") {
                let r = w.admin.post("/api/admin/roles", json!({"name": format!("tmp{n}"), "permissions": []})).await.expect_status(201);
                r.body["id"].as_str().unwrap_or_default().to_owned()
            } else {
                String::new()
            };
            let invite = if path.contains("{invite}") {
                let r = w.admin.post("/api/admin/invites", json!({})).await.expect_status(201);
                r.body["id"].as_str().unwrap_or_default().to_owned()
            } else {
                String::new()
            };
            let fill = |s: &str| {
                s.replace("\"{order}\"", &order)
                    .replace("{club}", &w.club)
                    .replace("{thread}", &w.thread)
                    .replace("{thumb}", &w.thumb_url)
                    .replace("{emoji}", &emoji)
                    .replace("{freshrole}", &fresh_role)
                    .replace("{invite}", &invite)
                    .replace("{general}", &w.general)
                    .replace("{msg}", &msg)
                    .replace("{gmsg}", &gmsg)
                    .replace("{vic}", &w.vic)
                    .replace("{role}", &w.spare_role)
                    .replace("{att}", &w.attachment_url)
                    .replace("{n}", &n.to_string())
            };
            let url = fill(path);
            let r = if url == "/api/uploads" {
                let csrf = client.csrf.lock().expect("lock").clone().unwrap_or_default();
                Client::finish(
                    client.http.post(w.d.url(&url)).header("x-csrf-token", csrf).header("content-type", "text/plain").header("x-filename", "a.txt").body("hi"),
                )
                .await
            } else if url == "/api/admin/emoji" {
                let csrf = client.csrf.lock().expect("lock").clone().unwrap_or_default();
                Client::finish(
                    client.http.post(w.d.url(&url)).header("x-csrf-token", csrf).header("content-type", "image/png").header("x-emoji-name", format!("m{n}")).body(png()),
                )
                .await
            } else {
                let body = body.as_ref().map(|b| serde_json::from_str::<Value>(&fill(&b.to_string())).unwrap_or(Value::Null));
                client.patient(method.clone(), &url, body).await
            };
            let want = expect(*need, *who);
            let ok = match want {
                None => (200..300).contains(&r.status),
                Some(s) => r.status == s && !r.code().is_empty(),
            };
            if !ok {
                failures.push(format!("{method} {path} as {who:?}: want {want:?}, got {} {}", r.status, r.text.chars().take(160).collect::<String>()));
            }
        }
        // Moderation rows may have ended Vic's sessions or banned him: that is fine, he is only a target.
    }
    assert!(failures.is_empty(), "{} of {n} cases wrong:\n{}", failures.len(), failures.join("\n"));
    assert!(n > 350, "the matrix shrank: {n} cases");
}

#[tokio::test]
async fn every_gateway_action_against_every_kind_of_caller() {
    let w = world().await;
    let mut failures = Vec::new();
    let mut cases = 0;
    for (who, client) in &w.callers {
        let conn = client.gateway_raw(None).await;
        let mut gw = match (conn, *who) {
            (Ok(gw), Who::Admin | Who::With | Who::Without | Who::TimedOut) => gw,
            (Err(_), Who::Banned | Who::Disabled | Who::Anonymous) => {
                cases += 1;
                continue;
            }
            (r, who) => {
                failures.push(format!("connect as {who:?}: {}", if r.is_ok() { "allowed" } else { "refused" }));
                continue;
            }
        };
        let _ = gw.next_op("hello").await;
        gw.send(json!({"op": "resume", "d": {"seq": null}})).await;
        let _ = gw.next_op("ready").await;
        let msg = fresh_message(&w).await;
        let table: Vec<(&str, Value, Need)> = vec![
            ("presence.set", json!({"status": "idle"}), Need::Auth),
            ("read.ack", json!({"channel_id": w.club, "message_id": msg}), Need::View),
            ("reaction.remove", json!({"message_id": msg, "emoji": "👍"}), Need::View),
            ("message.send", json!({"channel_id": w.club, "content": "hi"}), Need::Send),
            ("typing.start", json!({"channel_id": w.club}), Need::Send),
            ("reaction.add", json!({"message_id": msg, "emoji": "👍"}), Need::Send),
            ("message.edit", json!({"message_id": msg, "content": "changed"}), Need::Author),
            ("message.delete", json!({"message_id": msg}), Need::ManageMessages),
            // Voice: an SDP that is not one is refused with `bad_sdp` only after the caller was
            // allowed into the (hidden) room.
            ("voice.join", json!({"channel_id": w.club_voice, "sdp": "v=0"}), Need::Send),
        ];
        for (i, (t, d, need)) in table.into_iter().enumerate() {
            cases += 1;
            let r = gw.request(&format!("q{i}"), t, d).await;
            let allowed = r["op"] == "reply";
            let want_allowed = expect(need, *who).is_none();
            let code = r["d"]["code"].as_str().unwrap_or("");
            // `bad_sdp` and `voice_unavailable` mean the permission check passed.
            let allowed = allowed || matches!(code, "bad_sdp" | "voice_unavailable");
            let right_code = allowed || matches!(code, "unknown_channel" | "missing_permission" | "timed_out" | "not_author" | "admin_only");
            if allowed != want_allowed || !right_code {
                failures.push(format!("{t} as {who:?}: want allowed={want_allowed}, got {r}"));
            }
        }
    }
    assert!(failures.is_empty(), "{} wrong:\n{}", failures.len(), failures.join("\n"));
    // Signalling without a seat is refused for everyone, with its code, and nobody gets a seat.
    for (who, client) in w.callers.iter().filter(|(w, _)| matches!(w, Who::Admin | Who::With | Who::Without | Who::TimedOut)) {
        let Ok(mut gw) = client.gateway_raw(None).await else { continue };
        let _ = gw.next_op("hello").await;
        gw.send(json!({"op": "resume", "d": {"seq": null}})).await;
        let _ = gw.next_op("ready").await;
        for (i, (t, d)) in [
            ("voice.offer", json!({"sdp": "v=0"})),
            ("voice.answer", json!({"sdp": "v=0"})),
            ("voice.candidate", json!({"candidate": "candidate:1 1 udp 1 127.0.0.1 9 typ host"})),
            ("voice.state", json!({"muted": true})),
            ("voice.leave", json!({})),
        ]
        .into_iter()
        .enumerate()
        {
            cases += 1;
            let r = gw.request(&format!("v{i}"), t, d).await;
            if r["d"]["code"] != "not_in_voice" {
                failures.push(format!("{t} without a seat as {who:?}: {r}"));
            }
        }
    }
    assert!(failures.is_empty(), "{} wrong:\n{}", failures.len(), failures.join("\n"));
    assert!(cases >= 55, "the matrix shrank: {cases}");
}
