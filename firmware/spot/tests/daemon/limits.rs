//! Work that fans out to everyone is throttled and minimal: channel overrides, profile changes,
//! gateway sockets per user, slow request bodies.

use crate::harness::*;
use serde_json::json;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn an_override_writes_its_event_skips_no_ops_and_reconnects_only_the_sockets_it_affects() {
    let d = Daemon::start();
    let admin = d.admin().await;
    let bob = d.member(&admin, "bob").await;
    let carol = d.member(&admin, "carol").await;
    let general = admin.general().await;
    let role = admin.post("/api/admin/roles", json!({"name": "guests"})).await.expect_status(201).body["id"].as_str().expect("id").to_owned();
    let bob_id = bob.get("/api/me").await.body["user"]["id"].as_str().expect("id").to_owned();
    admin.put(&format!("/api/admin/users/{bob_id}/roles"), json!({"role_ids": [role]})).await.expect_status(200);
    // Reconnect after the role change closed bob's sockets.
    let (mut bob_gw, _) = bob.gateway(None).await;
    let (mut carol_gw, _) = carol.gateway(None).await;
    let (mut admin_gw, _) = admin.gateway(None).await;
    let path = format!("/api/channels/{general}/overrides/{role}");
    // Hide #general from guests: only bob's view changed, so only bob's socket reconnects ...
    let deny_view = json!({"allow": [], "deny": ["view"]});
    let r = admin.put(&path, deny_view.clone()).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(bob_gw.closed().await, Some(4002));
    // ... and the change is an event the others receive (durable: it has a sequence number).
    let ev = carol_gw.next_event("channel.update").await;
    assert!(ev["s"].as_i64().is_some_and(|s| s > 0), "{ev}");
    admin_gw.next_event("channel.update").await;
    // The same override again changes nothing: no event, no reconnects.
    admin.put(&path, deny_view).await.expect_status(200);
    assert!(carol_gw.next_within(Duration::from_millis(500)).await.is_none_or(|f| f["t"] != "channel.update"));
    // Carol's and the admin's sockets stayed open all along.
    let r = carol_gw.request("1", "typing.start", json!({"channel_id": general})).await;
    assert_ne!(r["op"], "closed", "{r}");
    // And it is throttled.
    let mut limited = false;
    for i in 0..30 {
        let body = if i % 2 == 0 { json!({"allow": ["pin"], "deny": ["view"]}) } else { json!({"allow": [], "deny": ["view"]}) };
        let r = admin.put(&path, body).await;
        if r.status == 429 {
            assert_eq!(r.code(), "rate_limited");
            limited = true;
            break;
        }
        assert_eq!(r.status, 200, "{}", r.text);
    }
    assert!(limited, "30 override changes in a row were not rate limited");
}

#[tokio::test]
async fn profile_changes_are_throttled() {
    let d = Daemon::start();
    let admin = d.admin().await;
    let mut statuses = Vec::new();
    for i in 0..8 {
        statuses.push(admin.patch("/api/me", json!({"display_name": format!("Name {i}")})).await.status);
    }
    assert_eq!(&statuses[..5], &[200; 5]);
    assert!(statuses[5..].iter().all(|s| *s == 429), "{statuses:?}");
}

#[tokio::test]
async fn one_user_cannot_hold_unlimited_gateway_sockets() {
    let d = Daemon::start();
    let admin = d.admin().await;
    let mut held = Vec::new();
    for _ in 0..16 {
        held.push(admin.gateway_raw(None).await.expect("within the cap"));
    }
    let err = admin.gateway_raw(None).await.err().expect("the 17th is refused");
    assert!(err.to_string().contains("429"), "{err}");
    // Another user is not affected, and closing one frees a place.
    let bob = d.member(&admin, "bob").await;
    bob.gateway_raw(None).await.expect("bob connects");
    drop(held.pop());
    let mut ok = false;
    for _ in 0..50 {
        if admin.gateway_raw(None).await.is_ok() {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ok, "a closed socket freed its place");
}

#[tokio::test]
async fn a_json_body_that_trickles_in_is_cut_off_with_a_clear_error() {
    let d = Daemon::start();
    let mut s = tokio::net::TcpStream::connect(&d.addr).await.expect("connect");
    let head = format!(
        "POST /api/login HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: 60\r\n\r\n{{\"username\":",
        d.addr
    );
    s.write_all(head.as_bytes()).await.expect("write");
    // Then nothing more: the server answers on its own instead of waiting for ever.
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(30), async {
        let mut chunk = [0u8; 1024];
        loop {
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    buf.extend_from_slice(&chunk[..n]);
                    if buf.windows(4).any(|w| w == b"\r\n\r\n") && String::from_utf8_lossy(&buf).contains("body_timeout") {
                        break;
                    }
                }
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the server did not give up on the body");
    let text = String::from_utf8_lossy(&buf);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("body_timeout"), "{text}");
}

/// Send `head` and the first bytes of a body, then stall; the answer the server gives on its
/// own (within `within`), or what it sent before it closed the connection.
async fn stall(d: &Daemon, head: &str, part: &[u8], within: Duration) -> Option<String> {
    let mut s = tokio::net::TcpStream::connect(&d.addr).await.expect("connect");
    s.write_all(head.as_bytes()).await.expect("write head");
    s.write_all(part).await.expect("write body");
    let mut buf = Vec::new();
    let read = tokio::time::timeout(within, async {
        let mut chunk = [0u8; 1024];
        loop {
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
            let text = String::from_utf8_lossy(&buf);
            if text.contains("\r\n\r\n") && text.trim_end().ends_with('}') {
                break;
            }
        }
    })
    .await;
    read.ok().map(|()| String::from_utf8_lossy(&buf).into_owned())
}

/// The request head of a POST with the client's session and CSRF token, announcing `len`
/// body bytes.
fn post_head(d: &Daemon, c: &Client, path: &str, extra: &str, len: usize) -> String {
    let cookie = c.cookie_header().expect("logged in");
    let csrf = c.csrf.lock().expect("lock").clone().expect("csrf");
    format!("POST {path} HTTP/1.1\r\nHost: {}\r\nCookie: {cookie}\r\nX-CSRF-Token: {csrf}\r\n{extra}Content-Length: {len}\r\n\r\n", d.addr)
}

fn files_in(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir).map(|rd| rd.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect()).unwrap_or_default()
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_dropped() {
    let d = Daemon::start_with("[limits]\nheader_timeout_ms = 1000", &[]);
    let head = format!("GET /api/health HTTP/1.1\r\nHost: {}\r\nX-Slow: ", d.addr);
    let started = std::time::Instant::now();
    let got = stall(&d, &head, b"", Duration::from_secs(8)).await;
    assert!(got.is_some(), "the connection was still open after 8 s of an unfinished request head");
    assert!(started.elapsed() >= Duration::from_millis(900), "dropped before the header timeout");
    // An idle keep-alive connection goes the same way; a whole request is answered.
    let ok = stall(&d, &format!("GET /api/health HTTP/1.1\r\nHost: {}\r\n\r\n", d.addr), b"", Duration::from_secs(8)).await;
    assert!(ok.as_deref().is_some_and(|t| t.starts_with("HTTP/1.1 200")), "{ok:?}");
}

#[tokio::test]
async fn uploads_and_emoji_that_stall_are_cut_off_and_leave_no_temp_file() {
    let d = Daemon::start_with("[limits]\nbody_idle_ms = 1000", &[]);
    let admin = d.admin().await;
    let tmp = d.dir.path().join("files").join("tmp");
    let head = post_head(&d, &admin, "/api/uploads", "X-Filename: notes.txt\r\nContent-Type: text/plain\r\n", 50_000);
    let text = stall(&d, &head, &[b'a'; 1000], Duration::from_secs(10)).await.expect("the server gave up on the upload");
    assert!(text.starts_with("HTTP/1.1 400") && text.contains("upload_interrupted"), "{text}");
    assert_eq!(files_in(&tmp), Vec::<String>::new(), "the temp file is gone");

    let head = post_head(&d, &admin, "/api/admin/emoji", "X-Emoji-Name: party\r\nContent-Type: image/png\r\n", 20_000);
    let text = stall(&d, &head, b"\x89PNG\r\n\x1a\n", Duration::from_secs(10)).await.expect("the server gave up on the emoji");
    assert!(text.starts_with("HTTP/1.1 400") && text.contains("upload_interrupted"), "{text}");

    // A whole upload still works.
    let head = post_head(&d, &admin, "/api/uploads", "X-Filename: notes.txt\r\nContent-Type: text/plain\r\n", 5);
    let text = stall(&d, &head, b"hello", Duration::from_secs(10)).await.expect("answered");
    assert!(text.starts_with("HTTP/1.1 201"), "{text}");
}

#[tokio::test]
async fn an_update_bundle_that_stalls_is_cut_off_and_leaves_no_partial_file() {
    let mut d = Daemon::start_with("[limits]\nbody_idle_ms = 500", &[]);
    d.stop();
    // Managed (a helper socket is named), though no helper is needed before the body is whole.
    let sock = d.dir.path().join("no-helper.sock");
    d.spawn_env("127.0.0.1:0", &[("SPOT_HELPER_SOCKET", sock.to_str().expect("utf-8"))]);
    let admin = d.admin().await;
    let incoming = d.db_path().with_file_name("ota").join("incoming");
    let head = post_head(&d, &admin, "/api/admin/updates/upload", "Content-Type: application/octet-stream\r\n", 1 << 20);
    let started = std::time::Instant::now();
    let text = stall(&d, &head, b"SPOTOTA\x01", Duration::from_secs(10)).await.expect("the server gave up on the bundle");
    assert!(text.starts_with("HTTP/1.1 400") && text.contains("upload_interrupted"), "{text}");
    assert!(started.elapsed() >= Duration::from_millis(900), "a bundle gets twice the idle time");
    assert_eq!(files_in(&incoming), Vec::<String>::new(), "the partial bundle is gone");
}

#[tokio::test]
async fn an_optional_json_body_that_trickles_in_is_cut_off_with_a_clear_error() {
    let d = Daemon::start();
    let admin = d.admin().await;
    let bob = d.member(&admin, "bob").await;
    let bob_id = bob.get("/api/me").await.body["user"]["id"].as_str().expect("id").to_owned();
    let head = post_head(&d, &admin, &format!("/api/mod/users/{bob_id}/kick"), "Content-Type: application/json\r\n", 60);
    let text = stall(&d, &head, b"{\"reason\":", Duration::from_secs(30)).await.expect("the server gave up on the body");
    assert!(text.starts_with("HTTP/1.1 408") && text.contains("body_timeout"), "{text}");
    // Too large is our error, not axum's plain text.
    let huge = format!("{{\"reason\": \"{}\"}}", "a".repeat(70_000));
    let r = admin.post(&format!("/api/mod/users/{bob_id}/kick"), serde_json::from_str(&huge).expect("json")).await;
    r.expect_error(413, "body_too_large");
}
