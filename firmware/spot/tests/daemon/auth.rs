//! Accounts and security promises: each test fails when its protection is removed.

use crate::harness::*;
use base64::Engine;
use serde_json::json;
use sha2::Digest;

fn session_cookie(r: &Resp) -> String {
    r.headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("spot_session="))
        .expect("a session cookie")
        .to_owned()
}

fn token_of(cookie: &str) -> String {
    cookie.trim_start_matches("spot_session=").split(';').next().unwrap_or("").to_owned()
}

#[tokio::test]
async fn session_cookies_are_httponly_samesite_and_tokens_are_32_random_bytes_stored_hashed() {
    let d = Daemon::start();
    let a = Client::new(&d);
    let r1 = a.login("admin", ADMIN_PW).await.expect_status(200);
    let c1 = session_cookie(&r1);
    assert!(c1.contains("HttpOnly"), "{c1}");
    assert!(c1.contains("SameSite=Lax"), "{c1}");
    assert!(!c1.contains("Secure"), "plain HTTP must not set Secure (the browser would drop it): {c1}");
    let t1 = token_of(&c1);
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(&t1).expect("base64url token");
    assert_eq!(raw.len(), 32, "session tokens are 32 bytes");
    let b = Client::new(&d);
    let t2 = token_of(&session_cookie(&b.login("admin", ADMIN_PW).await.expect_status(200)));
    assert_ne!(t1, t2);
    // Stored hashed: the raw token is nowhere in the database, its SHA-256 is.
    let store = store::Store::open(d.db_path()).expect("open store");
    let hash = sha2::Sha256::digest(t1.as_bytes()).to_vec();
    assert!(store.session(&hash, server::now_ms()).expect("query").is_some());
    let mut bytes = std::fs::read(d.db_path()).unwrap_or_default();
    bytes.extend(std::fs::read(d.dir.path().join("spot.db-wal")).unwrap_or_default());
    assert!(!bytes.windows(t1.len()).any(|w| w == t1.as_bytes()), "raw session token found in the database");
}

#[tokio::test]
async fn passwords_are_hashed_with_bcrypt_cost_12() {
    let d = Daemon::start();
    let admin = d.admin().await;
    d.member(&admin, "bob").await;
    let store = store::Store::open(d.db_path()).expect("open store");
    for name in ["admin", "bob"] {
        let (_, hash) = store.user_credentials(name).expect("query").expect("user");
        assert!(hash.starts_with("$2b$12$"), "{name}: {hash}");
    }
}

#[tokio::test]
async fn there_is_no_open_registration() {
    let d = Daemon::start();
    let anon = Client::new(&d);
    let r = anon.post("/api/register", json!({"username": "eve", "password": "password123"})).await;
    assert_eq!(r.status, 404);
    anon.post("/api/admin/users", json!({"username": "eve", "password": "password123"})).await.expect_error(401, "unauthenticated");
    anon.post("/api/invites/not-a-real-token/accept", json!({"username": "eve", "password": "password123"}))
        .await
        .expect_error(404, "invite_invalid");
    let admin = d.admin().await;
    let bob = d.member(&admin, "bob").await;
    bob.post("/api/admin/users", json!({"username": "eve", "password": "password123"})).await.expect_error(403, "admin_only");
    bob.post("/api/admin/invites", json!({})).await.expect_error(403, "admin_only");
    anon.login("eve", "password123").await.expect_error(401, "invalid_credentials");
}

#[tokio::test]
async fn invites_are_single_use_revocable_and_expire() {
    let d = Daemon::start();
    let admin = d.admin().await;
    let inv = admin.post("/api/admin/invites", json!({"expires_in_hours": 24})).await.expect_status(201);
    let token = inv.body["token"].as_str().expect("token").to_owned();
    assert!(inv.body["url"].as_str().expect("url").ends_with(&format!("/invite/{token}")));
    let anon = Client::new(&d);
    anon.get(&format!("/api/invites/{token}")).await.expect_status(200);
    // Weak password refused without using the invite up.
    anon.post(&format!("/api/invites/{token}/accept"), json!({"username": "carol", "password": "short"}))
        .await
        .expect_error(400, "weak_password");
    let r = anon
        .post(&format!("/api/invites/{token}/accept"), json!({"username": "carol", "password": "carol-password", "display_name": "Carol"}))
        .await
        .expect_status(200);
    assert_eq!(r.body["user"]["role"], "member");
    *anon.csrf.lock().expect("lock") = r.body["csrf_token"].as_str().map(str::to_owned);
    assert_eq!(anon.get("/api/me").await.expect_status(200).body["user"]["username"], "carol");
    // Single use.
    let other = Client::new(&d);
    other
        .post(&format!("/api/invites/{token}/accept"), json!({"username": "mallory", "password": "mallory-password"}))
        .await
        .expect_error(404, "invite_invalid");
    other.get(&format!("/api/invites/{token}")).await.expect_error(404, "invite_invalid");
    // Revoked.
    let inv2 = admin.post("/api/admin/invites", json!({})).await.expect_status(201);
    let t2 = inv2.body["token"].as_str().expect("token").to_owned();
    admin.delete(&format!("/api/admin/invites/{}", inv2.body["id"].as_str().expect("id"))).await.expect_status(204);
    other.get(&format!("/api/invites/{t2}")).await.expect_error(404, "invite_invalid");
    // Expired (written straight into the store with an expiry in the past).
    let store = store::Store::open(d.db_path()).expect("store");
    let now = server::now_ms();
    let expired = "expired-invite-token-000000000000000000000";
    let h = sha2::Sha256::digest(expired.as_bytes()).to_vec();
    store.create_invite(&h, chat::UserId(1), chat::model::Role::Member, now - 10_000, now - 1).expect("invite");
    other
        .post(&format!("/api/invites/{expired}/accept"), json!({"username": "late", "password": "late-password"}))
        .await
        .expect_error(404, "invite_invalid");
    // Out-of-range expiry.
    admin.post("/api/admin/invites", json!({"expires_in_hours": 0})).await.expect_error(400, "invalid_expiry");
}

/// Every state-changing endpoint, with a body that would succeed.
fn state_changing(channel: &str, message: &str, bob: &str) -> Vec<(reqwest::Method, String, Option<serde_json::Value>)> {
    use reqwest::Method as M;
    vec![
        (M::POST, "/api/logout".into(), None),
        (M::POST, "/api/logout-all".into(), None),
        (M::PATCH, "/api/me".into(), Some(json!({"display_name": "X"}))),
        (M::POST, "/api/me/password".into(), Some(json!({"current_password": ADMIN_PW, "new_password": "new-password-1"}))),
        (M::POST, "/api/channels".into(), Some(json!({"name": "csrf-test"}))),
        (M::POST, "/api/channels/reorder".into(), Some(json!({"ids": [channel]}))),
        (M::PATCH, format!("/api/channels/{channel}"), Some(json!({"topic": "csrf"}))),
        (M::POST, format!("/api/channels/{channel}/messages"), Some(json!({"content": "csrf"}))),
        (M::POST, format!("/api/channels/{channel}/read"), Some(json!({"message_id": message}))),
        (M::PUT, format!("/api/channels/{channel}/notify"), Some(json!({"level": "nothing"}))),
        (M::PATCH, format!("/api/messages/{message}"), Some(json!({"content": "csrf edit"}))),
        (M::DELETE, format!("/api/messages/{message}"), None),
        (M::POST, "/api/admin/users".into(), Some(json!({"username": "csrf", "password": "csrf-password"}))),
        (M::PATCH, format!("/api/admin/users/{bob}"), Some(json!({"disabled": true}))),
        (M::POST, format!("/api/admin/users/{bob}/password"), Some(json!({"password": "csrf-password"}))),
        (M::POST, "/api/admin/invites".into(), Some(json!({}))),
        (M::DELETE, "/api/admin/invites/1".into(), None),
    ]
}

#[tokio::test]
async fn every_state_changing_endpoint_requires_the_csrf_token_and_a_same_origin() {
    let d = Daemon::start();
    let admin = d.admin().await;
    let bob = d.member(&admin, "bob").await;
    let bob_id = bob.get("/api/me").await.body["user"]["id"].as_str().expect("id").to_owned();
    let ch = admin.general().await;
    let msg = admin.post(&format!("/api/channels/{ch}/messages"), json!({"content": "hi"})).await.expect_status(201);
    let msg_id = msg.body["id"].as_str().expect("id").to_owned();
    admin.post("/api/admin/invites", json!({})).await.expect_status(201);
    let csrf = admin.csrf.lock().expect("lock").clone().expect("csrf");
    for (method, path, body) in state_changing(&ch, &msg_id, &bob_id) {
        // No token.
        let mut rb = admin.http.request(method.clone(), format!("{}{}", admin.base, path));
        if let Some(b) = &body {
            rb = rb.json(b);
        }
        Client::finish(rb).await.expect_error(403, "csrf_failed");
        // Wrong token.
        let mut rb = admin.http.request(method.clone(), format!("{}{}", admin.base, path)).header("x-csrf-token", "0".repeat(64));
        if let Some(b) = &body {
            rb = rb.json(b);
        }
        Client::finish(rb).await.expect_error(403, "csrf_failed");
        // Right token, but sent from another site.
        let mut rb = admin
            .http
            .request(method.clone(), format!("{}{}", admin.base, path))
            .header("x-csrf-token", &csrf)
            .header("origin", "http://evil.example");
        if let Some(b) = &body {
            rb = rb.json(b);
        }
        Client::finish(rb).await.expect_error(403, "bad_origin");
    }
    // Nothing happened: still logged in, message intact, no channel created, bob enabled.
    admin.get("/api/me").await.expect_status(200);
    let chans = admin.get("/api/channels").await.body;
    assert_eq!(chans.as_array().map(Vec::len), Some(1));
    let hist = admin.get(&format!("/api/channels/{ch}/messages")).await.body;
    assert_eq!(hist[0]["content"], "hi");
    bob.get("/api/me").await.expect_status(200);
    // Same-origin with the token works.
    let ok = admin
        .http
        .post(format!("{}/api/channels", admin.base))
        .header("x-csrf-token", &csrf)
        .header("origin", admin.base.as_str())
        .json(&json!({"name": "fine"}));
    Client::finish(ok).await.expect_status(201);
    // Login from another site is refused too (login CSRF).
    let anon = Client::new(&d);
    let rb = anon
        .http
        .post(format!("{}/api/login", anon.base))
        .header("origin", "http://evil.example")
        .json(&json!({"username": "admin", "password": ADMIN_PW}));
    Client::finish(rb).await.expect_error(403, "bad_origin");
    // A form post (no JSON) cannot log in.
    let rb = anon
        .http
        .post(format!("{}/api/login", anon.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("username=admin&password={ADMIN_PW}"));
    Client::finish(rb).await.expect_error(400, "unsupported_media_type");
}

#[tokio::test]
async fn the_websocket_upgrade_checks_origin_and_session() {
    let d = Daemon::start();
    let admin = d.admin().await;
    let err = admin.gateway_raw(Some("http://evil.example")).await.err().expect("cross-origin upgrade refused");
    assert!(err.to_string().contains("403"), "{err}");
    admin.gateway_raw(Some(&d.url(""))).await.expect("same-origin upgrade");
    let anon = Client::new(&d);
    let err = anon.gateway_raw(None).await.err().expect("anonymous upgrade refused");
    assert!(err.to_string().contains("401"), "{err}");
}

#[tokio::test]
async fn login_is_rate_limited_per_user_with_a_clear_retry_time() {
    let d = Daemon::start();
    let c = Client::new(&d);
    for _ in 0..5 {
        c.login("admin", "wrong-password").await.expect_error(401, "invalid_credentials");
    }
    // Even the right password waits now.
    let r = c.login("admin", ADMIN_PW).await.expect_error(429, "rate_limited");
    let secs = r.body["error"]["retry_after_s"].as_u64().expect("retry_after_s");
    assert!((1..=60).contains(&secs));
    assert!(r.body["error"]["message"].as_str().unwrap_or("").contains(&format!("Try again in {secs} s")));
    assert_eq!(r.headers.get("retry-after").and_then(|v| v.to_str().ok()), Some(secs.to_string().as_str()));
    // Other users are not locked out by it.
    let admin_less = Client::new(&d);
    admin_less.login("nobody", "whatever-pass").await.expect_error(401, "invalid_credentials");
}

#[tokio::test]
async fn login_is_rate_limited_per_ip() {
    // Different user names each time isolate the per-IP limit (10 attempts).
    let d = Daemon::start();
    let c = Client::new(&d);
    for i in 0..10 {
        c.login(&format!("user{i}"), "wrong-password").await.expect_error(401, "invalid_credentials");
    }
    let r = c.login("admin", ADMIN_PW).await.expect_error(429, "rate_limited");
    assert!(r.body["error"]["retry_after_s"].as_u64().is_some());
}

#[tokio::test]
async fn logout_ends_the_session_and_its_sockets() {
    let d = Daemon::start();
    let a = d.admin().await;
    let (mut gw, _) = a.gateway(None).await;
    a.post("/api/logout", json!(null)).await.expect_status(204);
    assert_eq!(gw.closed().await, Some(4001));
    a.get("/api/me").await.expect_error(401, "unauthenticated");
}

#[tokio::test]
async fn logout_everywhere_ends_every_session() {
    let d = Daemon::start();
    let a1 = d.admin().await;
    let a2 = d.admin().await;
    let (mut gw2, _) = a2.gateway(None).await;
    a1.post("/api/logout-all", json!(null)).await.expect_status(204);
    a1.get("/api/me").await.expect_error(401, "unauthenticated");
    a2.get("/api/me").await.expect_error(401, "unauthenticated");
    assert_eq!(gw2.closed().await, Some(4001));
}

#[tokio::test]
async fn changing_the_password_ends_other_sessions_only() {
    let d = Daemon::start();
    let a1 = d.admin().await;
    let a2 = d.admin().await;
    a1.post("/api/me/password", json!({"current_password": "not-it-at-all", "new_password": "new-password-1"}))
        .await
        .expect_error(403, "wrong_password");
    a1.post("/api/me/password", json!({"current_password": ADMIN_PW, "new_password": "tiny"})).await.expect_error(400, "weak_password");
    a1.post("/api/me/password", json!({"current_password": ADMIN_PW, "new_password": "new-password-1"})).await.expect_status(204);
    a1.get("/api/me").await.expect_status(200);
    a2.get("/api/me").await.expect_error(401, "unauthenticated");
    Client::new(&d).login("admin", ADMIN_PW).await.expect_error(401, "invalid_credentials");
    Client::new(&d).login("admin", "new-password-1").await.expect_status(200);
}

#[tokio::test]
async fn disabled_users_lose_their_sessions_at_once() {
    let d = Daemon::start();
    let admin = d.admin().await;
    let bob = d.member(&admin, "bob").await;
    let bob_id = bob.get("/api/me").await.body["user"]["id"].as_str().expect("id").to_owned();
    let (mut gw, _) = bob.gateway(None).await;
    admin.patch(&format!("/api/admin/users/{bob_id}"), json!({"disabled": true})).await.expect_status(200);
    bob.get("/api/me").await.expect_error(401, "unauthenticated");
    assert_eq!(gw.closed().await, Some(4001));
    Client::new(&d).login("bob", "member-password").await.expect_error(403, "account_disabled");
    admin.patch(&format!("/api/admin/users/{bob_id}"), json!({"disabled": false})).await.expect_status(200);
    Client::new(&d).login("bob", "member-password").await.expect_status(200);
}

#[tokio::test]
async fn roles_decide_admin_powers_and_the_last_admin_stays() {
    let d = Daemon::start();
    let admin = d.admin().await;
    let bob = d.member(&admin, "bob").await;
    let bob_id = bob.get("/api/me").await.body["user"]["id"].as_str().expect("id").to_owned();
    bob.post("/api/channels", json!({"name": "nope"})).await.expect_error(403, "admin_only");
    bob.get("/api/admin/users").await.expect_error(403, "admin_only");
    let (mut gw, _) = bob.gateway(None).await;
    admin.patch(&format!("/api/admin/users/{bob_id}"), json!({"role": "admin"})).await.expect_status(200);
    // The gateway captured bob's role at connect: it makes him reconnect.
    assert_eq!(gw.closed().await, Some(4002));
    bob.post("/api/channels", json!({"name": "yes"})).await.expect_status(201);
    // Demote both: the second demotion would leave no admin.
    let admin_id = admin.get("/api/me").await.body["user"]["id"].as_str().expect("id").to_owned();
    admin.patch(&format!("/api/admin/users/{bob_id}"), json!({"role": "member"})).await.expect_status(200);
    admin.patch(&format!("/api/admin/users/{admin_id}"), json!({"role": "member"})).await.expect_error(409, "last_admin");
    admin.patch(&format!("/api/admin/users/{admin_id}"), json!({"disabled": true})).await.expect_error(409, "last_admin");
}

#[tokio::test]
async fn tls_sets_secure_cookies_and_plain_http_redirects_to_https() {
    let d = Daemon::start_with("", &["--tls", "self-signed", "--redirect-from", "127.0.0.1:0"]);
    assert_eq!(d.scheme, "https");
    let a = Client::new(&d);
    let r = a.login("admin", ADMIN_PW).await.expect_status(200);
    let cookie = session_cookie(&r);
    assert!(cookie.contains("; Secure"), "{cookie}");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    *a.csrf.lock().expect("lock") = r.body["csrf_token"].as_str().map(str::to_owned);
    // The gateway works over wss.
    let (_gw, ready) = a.gateway(None).await;
    assert_eq!(ready["d"]["resumed"], false);
    // Plain HTTP answers with a redirect to the HTTPS port.
    let redirect = d.banner.iter().find_map(|l| l.strip_prefix("spot redirect listening on ")).expect("redirect listener").to_owned();
    let https_port = d.addr.rsplit_once(':').expect("port").1.to_owned();
    let plain = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let r = plain.get(format!("{redirect}/channels/1?x=1")).send().await.expect("request");
    assert_eq!(r.status().as_u16(), 308);
    let loc = r.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or("");
    assert_eq!(loc, format!("https://127.0.0.1:{https_port}/channels/1?x=1"));
    // A hostile Host header cannot steer the redirect elsewhere with odd characters.
    let r = plain.get(format!("{redirect}/")).header("host", "evil.example/@x").send().await.expect("request");
    let loc = r.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or("");
    assert!(loc.starts_with("https://spot.local:"), "{loc}");

    // A certificate the user provides works the same way (here: the one just generated).
    let cert = d.dir.path().join("tls/cert.pem");
    let key = d.dir.path().join("tls/key.pem");
    let arg = format!("cert:{},{}", cert.display(), key.display());
    let d2 = Daemon::start_with("", &["--tls", &arg]);
    assert_eq!(d2.scheme, "https");
    Client::new(&d2).login("admin", ADMIN_PW).await.expect_status(200);
    // Garbage instead of a certificate is refused at init, naming the problem.
    let junk = d.dir.path().join("junk.pem");
    std::fs::write(&junk, "not a certificate").expect("write");
    let dir = tempfile::tempdir().expect("dir");
    let out = spot(dir.path())
        .args(["init", "--non-interactive", "--tls", &format!("cert:{},{}", junk.display(), key.display())])
        .output()
        .expect("init");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no PEM certificate"), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!dir.path().join("tls").exists(), "nothing written on a bad certificate");
}

/// Every state-changing route the server's source declares (`.route("…", post(…).delete(…))`),
/// read from the source itself: a route added later is in this list without anyone adding it.
fn declared_state_changing_routes() -> Vec<(reqwest::Method, String)> {
    fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).expect("read server sources").flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../server/src"), &mut files);
    let mut routes = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).expect("read");
        for line in text.lines().map(str::trim).filter(|l| l.starts_with(".route(\"")) {
            let rest = &line[".route(\"".len()..];
            let Some((path, handlers)) = rest.split_once('"') else { continue };
            // `{id}` segments become a plausible ID; the layer runs before the handler anyway.
            let path: String = path.split('/').map(|s| if s.starts_with('{') { "1" } else { s }).collect::<Vec<_>>().join("/");
            for (word, m) in [("post(", reqwest::Method::POST), ("put(", reqwest::Method::PUT), ("patch(", reqwest::Method::PATCH), ("delete(", reqwest::Method::DELETE)] {
                if handlers.contains(word) {
                    routes.push((m, format!("/api{path}")));
                }
            }
        }
    }
    routes
}

#[tokio::test]
async fn the_csrf_layer_covers_every_declared_route_and_routes_that_do_not_exist_yet() {
    let d = Daemon::start();
    let admin = d.admin().await;
    let mut routes = declared_state_changing_routes();
    assert!(routes.len() >= 40, "the route scan found the routers: {}", routes.len());
    assert!(routes.iter().any(|(m, p)| m == reqwest::Method::PUT && p == "/api/channels/1/overrides/1"));
    // A route nobody has written yet is covered too: the check is a layer, not per handler.
    routes.push((reqwest::Method::POST, "/api/some/future/route".into()));
    routes.push((reqwest::Method::DELETE, "/api/another-one/1".into()));
    for (method, path) in routes {
        let rb = admin.http.request(method.clone(), format!("{}{}", admin.base, path)).json(&json!({}));
        let r = Client::finish(rb).await;
        assert_eq!((r.status, r.code()), (403, "csrf_failed"), "{method} {path}: {}", r.text);
    }
    admin.get("/api/me").await.expect_status(200);
    // A cookie whose session has ended carries no authority: it does not stop a login.
    let stale = Client::new(&d);
    stale.login("admin", ADMIN_PW).await.expect_status(200);
    stale.post("/api/logout", json!(null)).await.expect_status(204);
    let url: reqwest::Url = d.url("/").parse().expect("url");
    stale.jar.add_cookie_str("spot_session=not-a-live-session-token; Path=/", &url);
    stale.login("admin", ADMIN_PW).await.expect_status(200);
}
