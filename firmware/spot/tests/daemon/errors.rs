//! Every error the box sends has the README's shape `{"error": {code, message}}` with a stable
//! code, also the ones the framework makes before a handler runs (a wrong method, a body that is
//! not JSON, a missing content type, an unknown route, a path that cannot be decoded).

use crate::harness::*;
use reqwest::Method;

#[tokio::test]
async fn framework_errors_have_the_json_error_shape() {
    let d = Daemon::start();
    let admin = d.admin().await;
    let ch = admin.general().await;
    let csrf = admin.csrf.lock().expect("lock").clone().expect("csrf");
    let req = |method: Method, path: &str| admin.http.request(method, format!("{}{}", admin.base, path)).header("x-csrf-token", &csrf);
    let json_error = |r: &Resp| {
        let ct = r.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
        assert!(ct.starts_with("application/json"), "content type {ct:?}; body: {}", r.text);
    };

    // A wrong method: 405 with the allowed ones in `Allow`.
    let r = Client::finish(req(Method::PUT, "/api/channels")).await.expect_error(405, "method_not_allowed");
    json_error(&r);
    assert!(r.headers.get("allow").is_some(), "Allow header");
    Client::finish(req(Method::DELETE, &format!("/api/channels/{ch}/messages"))).await.expect_error(405, "method_not_allowed");
    // A malformed JSON body, a missing content type, a body that is no JSON object.
    let r = Client::finish(req(Method::POST, "/api/channels").header("content-type", "application/json").body("{\"name\": ")).await;
    json_error(&r);
    r.expect_error(400, "invalid_json");
    let r = Client::finish(req(Method::POST, "/api/channels").body("{\"name\": \"x\"}")).await;
    json_error(&r);
    r.expect_error(400, "unsupported_media_type");
    // An unknown route under /api, whatever the method.
    Client::finish(req(Method::GET, "/api/no/such/thing")).await.expect_error(404, "not_found");
    Client::finish(req(Method::POST, "/api/no/such/thing").header("content-type", "application/json").body("{}"))
        .await
        .expect_error(404, "not_found");
    // Bad path parameters: not an ID, and not even UTF-8.
    Client::finish(req(Method::GET, "/api/channels/notanid/messages")).await.expect_error(404, "unknown_id");
    let r = Client::finish(req(Method::GET, "/api/channels/%FF%FE/messages")).await;
    json_error(&r);
    r.expect_error(400, "invalid_path");
    // The gateway asked for without a WebSocket upgrade.
    let r = Client::finish(req(Method::GET, "/api/gateway")).await;
    json_error(&r);
    assert!(r.status >= 400 && r.status < 500, "{} {}", r.status, r.text);
    assert_eq!(r.code(), "websocket_required", "{}", r.text);
    assert!(!d.logs().contains("panicked"), "{}", d.logs());
}
