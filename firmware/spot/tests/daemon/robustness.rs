//! Bad input at every boundary gets a stable error code and a 4xx or an error event: never a
//! 500, a panic, or a dead server.

use crate::harness::*;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn malformed_http_input_gets_stable_4xx_codes() {
    let d = Daemon::start();
    let admin = d.admin().await;
    let ch = admin.general().await;
    let csrf = admin.csrf.lock().expect("lock").clone().expect("csrf");
    let raw = |path: &str, body: Vec<u8>, ct: &str| {
        admin
            .http
            .post(format!("{}{}", admin.base, path))
            .header("x-csrf-token", &csrf)
            .header("content-type", ct.to_owned())
            .body(body)
    };
    let msgs = format!("/api/channels/{ch}/messages");
    Client::finish(raw(&msgs, b"{not json".to_vec(), "application/json")).await.expect_error(400, "invalid_json");
    Client::finish(raw(&msgs, b"{\"content\": \"\xff\xfe\"}".to_vec(), "application/json")).await.expect_error(400, "invalid_json");
    Client::finish(raw(&msgs, b"{\"content\": 5}".to_vec(), "application/json")).await.expect_error(400, "invalid_body");
    Client::finish(raw(&msgs, b"{\"content\": \"a\", \"evil\": 1}".to_vec(), "application/json")).await.expect_error(400, "invalid_body");
    Client::finish(raw(&msgs, b"[]".to_vec(), "application/json")).await.expect_error(400, "invalid_body");
    Client::finish(raw(&msgs, b"hello".to_vec(), "text/plain")).await.expect_error(400, "unsupported_media_type");
    let huge = format!("{{\"content\": \"{}\"}}", "a".repeat(70_000));
    Client::finish(raw(&msgs, huge.into_bytes(), "application/json")).await.expect_error(413, "body_too_large");
    admin.post(&msgs, json!({"content": "a".repeat(4001)})).await.expect_error(413, "message_too_long");
    admin.post(&msgs, json!({"content": "   \n "})).await.expect_error(400, "empty_message");
    admin.post(&msgs, json!({"content": "nul \u{0} byte"})).await.expect_error(400, "invalid_characters");
    admin.post(&msgs, json!({"content": "x", "nonce": "n".repeat(65)})).await.expect_error(400, "invalid_nonce");
    admin.post(&msgs, json!({"content": "x", "reply_to": "abc"})).await.expect_error(400, "invalid_body");
    admin.post(&msgs, json!({"content": "x", "reply_to": -4})).await.expect_error(400, "invalid_body");
    admin.post("/api/channels/12345/messages", json!({"content": "x"})).await.expect_error(404, "unknown_channel");
    admin.post("/api/channels/notanid/messages", json!({"content": "x"})).await.expect_error(404, "unknown_id");
    admin.post("/api/channels/99999999999999999999999/messages", json!({"content": "x"})).await.expect_error(404, "unknown_id");
    admin.patch("/api/messages/42", json!({"content": "x"})).await.expect_error(404, "unknown_message");
    admin.delete("/api/messages/42").await.expect_error(404, "unknown_message");
    admin.patch("/api/admin/users/77", json!({"disabled": true})).await.expect_error(404, "unknown_user");
    admin.post("/api/admin/users", json!({"username": "../etc", "password": "password123"})).await.expect_error(400, "invalid_username");
    admin.post("/api/admin/users", json!({"username": "bob", "password": "password123", "role": "root"})).await.expect_error(400, "invalid_body");
    admin.post("/api/admin/users", json!({"username": "bob", "password": "p".repeat(80)})).await.expect_error(400, "password_too_long");
    admin.post("/api/admin/users", json!({"username": "admin", "password": "password123"})).await.expect_error(409, "username_taken");
    admin.get("/api/nope").await.expect_error(404, "not_found");
    Client::new(&d).login(&"a".repeat(100_000), "x").await.expect_error(413, "body_too_large");
    Client::new(&d).login(&"a".repeat(60_000), "x").await.expect_error(400, "invalid_credentials");
    let r = admin.get(&format!("/api/channels/{ch}/messages?limit=1&limit=2")).await;
    assert_eq!((r.status, r.code()), (400, "invalid_query"), "{}", r.text);
    // A hostile cookie is just "not logged in".
    let rb = admin.http.get(format!("{}/api/me", admin.base)).header("cookie", format!("spot_session={}", "A".repeat(5000)));
    Client::finish(rb).await.expect_error(401, "unauthenticated");
    // The daemon is alive and well.
    admin.post(&msgs, json!({"content": "still here"})).await.expect_status(201);
    assert!(!d.logs().contains("panicked"), "{}", d.logs());
}

#[tokio::test]
async fn hostile_gateway_frames_get_error_events_and_the_server_stays_up() {
    let d = Daemon::start();
    let admin = d.admin().await;
    let ch = admin.general().await;
    let (mut gw, _) = admin.gateway(None).await;
    let expect = |frame: &'static str, code: &'static str| (frame.to_owned(), code);
    let cases = vec![
        expect("{not json", "invalid_json"),
        expect("[1,2,3]", "invalid_envelope"),
        expect("{\"op\": 5}", "invalid_envelope"),
        expect("{\"op\": \"teleport\"}", "unknown_op"),
        expect("{\"op\": \"request\", \"id\": \"a\", \"t\": \"message.explode\", \"d\": {}}", "unknown_request"),
        expect("{\"op\": \"request\", \"id\": \"a\", \"t\": \"message.send\", \"d\": {\"channel_id\": 1}}", "invalid_request"),
        expect("{\"op\": \"request\", \"id\": \"a\", \"t\": \"message.send\", \"d\": {\"channel_id\": \"x\", \"content\": \"y\"}}", "invalid_request"),
        expect("{\"op\": \"request\", \"id\": \"a\", \"t\": \"message.send\", \"d\": {\"channel_id\": \"999\", \"content\": \"y\"}}", "unknown_channel"),
        expect("{\"op\": \"request\", \"id\": \"a\", \"t\": \"message.edit\", \"d\": {\"message_id\": \"999\", \"content\": \"y\"}}", "unknown_message"),
        expect("{\"op\": \"request\", \"id\": \"a\", \"t\": \"message.delete\", \"d\": {\"message_id\": \"999\"}}", "unknown_message"),
        expect("{\"op\": \"request\", \"id\": \"a\", \"t\": \"typing.start\", \"d\": null}", "invalid_request"),
        expect("{\"op\": \"request\", \"id\": \"a\", \"t\": \"read.ack\", \"d\": {\"channel_id\": \"1\", \"message_id\": \"5\"}}", "unknown_message"),
    ];
    for (frame, code) in cases {
        assert!(gw.send_raw(Message::Text(frame.clone().into())).await);
        let f = gw.next().await.unwrap_or_else(|| panic!("socket closed after {frame}"));
        assert_eq!(f["op"], "error", "{frame} -> {f}");
        assert_eq!(f["d"]["code"], code, "{frame} -> {f}");
        assert!(f["d"]["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    // Too long for a message, or for a frame.
    let r = gw.request("big", "message.send", json!({"channel_id": ch, "content": "a".repeat(4001)})).await;
    assert_eq!(r["d"]["code"], "message_too_long");
    gw.send_raw(Message::Text(format!("{{\"op\":\"heartbeat\",\"pad\":\"{}\"}}", "x".repeat(70_000)).into())).await;
    assert_eq!(gw.next().await.expect("frame")["d"]["code"], "frame_too_large");
    gw.send_raw(Message::Binary(vec![1, 2, 3].into())).await;
    assert_eq!(gw.next().await.expect("frame")["d"]["code"], "binary_unsupported");
    // Still usable.
    let ok = gw.request("fine", "message.send", json!({"channel_id": ch, "content": "fine"})).await;
    assert_eq!(ok["op"], "reply", "{ok}");

    // Protocol-level abuse closes only that socket, with the protocol's code.
    let (mut huge, _) = admin.gateway(None).await;
    huge.send_raw(Message::Text("x".repeat(2 << 20).into())).await;
    let code = huge.closed().await;
    assert_eq!(code, Some(1009), "an oversized frame is closed with 1009, not just dropped");

    let (mut bad_utf8, _) = admin.gateway(None).await;
    // A text frame that is not UTF-8, written as raw bytes under the WebSocket framing.
    let frame = tokio_tungstenite::tungstenite::protocol::frame::Frame::message(
        vec![0xff, 0xfe, 0xfd],
        tokio_tungstenite::tungstenite::protocol::frame::coding::OpCode::Data(
            tokio_tungstenite::tungstenite::protocol::frame::coding::Data::Text,
        ),
        true,
    );
    bad_utf8.send_raw(Message::Frame(frame)).await;
    let code = bad_utf8.closed().await;
    assert_eq!(code, Some(1007), "invalid UTF-8 is closed with 1007, not just dropped");

    // Everyone else is unaffected.
    let ok = gw.request("after", "message.send", json!({"channel_id": ch, "content": "after abuse"})).await;
    assert_eq!(ok["op"], "reply", "{ok}");
    admin.get("/api/health").await.expect_status(200);
    assert!(!d.logs().contains("panicked"));
}

#[tokio::test]
async fn a_silent_socket_is_closed_after_missed_heartbeats() {
    let d = Daemon::start_with("[gateway]\nheartbeat_ms = 1000", &[]);
    let admin = d.admin().await;
    let (mut gw, _) = admin.gateway(None).await;
    // No heartbeats: closed with 4009 after 2 intervals + 5 s grace.
    assert_eq!(gw.closed().await, Some(4009));
}

#[tokio::test]
async fn the_web_app_is_embedded_and_served_with_safe_headers() {
    let d = Daemon::start();
    let c = Client::new(&d);
    let r = c.get("/").await.expect_status(200);
    assert!(r.text.contains("<div id=\"app\"") || r.text.contains("<html"), "{}", &r.text[..r.text.len().min(300)]);
    let ct = r.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
    assert!(ct.starts_with("text/html"));
    let csp = r.headers.get("content-security-policy").and_then(|v| v.to_str().ok()).unwrap_or("");
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(r.headers.get("x-content-type-options").and_then(|v| v.to_str().ok()), Some("nosniff"));
    // Client-side routes get the app shell; missing hashed assets are 404s.
    let deep = c.get("/channels/1").await.expect_status(200);
    assert_eq!(deep.text, r.text);
    c.get("/assets/does-not-exist.js").await.expect_status(404);
}

/// A GET of `path` with this `Accept-Encoding` (reqwest here decompresses nothing by itself).
async fn get_encoded(d: &Daemon, path: &str, accept: &str) -> (reqwest::header::HeaderMap, Vec<u8>) {
    let r = reqwest::Client::new().get(d.url(path)).header("accept-encoding", accept).send().await.expect("get");
    assert_eq!(r.status(), 200, "{path}");
    let h = r.headers().clone();
    (h, r.bytes().await.expect("body").to_vec())
}

#[tokio::test]
async fn the_web_app_goes_out_gzipped_to_browsers_that_accept_it() {
    use std::io::Read as _;
    let d = Daemon::start();
    let (_, shell) = get_encoded(&d, "/", "identity").await;
    let shell = String::from_utf8(shell).expect("utf-8");
    let script = shell.split("src=\"").nth(1).and_then(|s| s.split('"').next()).expect("a script in the shell");
    assert!(script.starts_with("/assets/") && script.ends_with(".js"), "{script}");
    let style = shell.split("href=\"").find_map(|s| s.split('"').next().filter(|h| h.ends_with(".css"))).expect("a style sheet");
    let enc = |h: &reqwest::header::HeaderMap| h.get("content-encoding").map(|v| v.to_str().unwrap().to_owned());
    // The shell itself is under 1 KiB: not worth a gzip copy.
    let (shell_h, _) = get_encoded(&d, "/", "gzip").await;
    assert_eq!(enc(&shell_h), None);
    for path in [script, style] {
        let (plain_h, plain) = get_encoded(&d, path, "br;q=1, gzip;q=0").await;
        assert_eq!(enc(&plain_h), None, "{path}: gzip refused by q=0");
        let (gz_h, gz) = get_encoded(&d, path, "gzip, deflate, br").await;
        assert_eq!(enc(&gz_h).as_deref(), Some("gzip"), "{path}");
        assert_eq!(gz_h.get("vary").and_then(|v| v.to_str().ok()), Some("accept-encoding"), "{path}");
        assert!(gz_h.get("content-security-policy").is_some(), "{path}: the safe headers stay");
        let mut unzipped = Vec::new();
        flate2::read::GzDecoder::new(&gz[..]).read_to_end(&mut unzipped).expect("valid gzip");
        assert_eq!(unzipped, plain, "{path}: the same bytes");
        assert!(gz.len() * 2 < plain.len(), "{path}: {} gzipped vs {} plain", gz.len(), plain.len());
    }
}
