//! First-run setup against the real daemon: claiming (once, under races, only by name),
//! password rules, the captive portal, the local CA and the switch to HTTPS, the Raspberry Pi
//! Imager preset, factory reset.

use crate::harness::{spot, Client, Daemon};
use serde_json::json;

const PW: &str = "correct horse battery";

fn claim_body(user: &str, pw: &str) -> serde_json::Value {
    json!({"box_name": "Anna's box", "username": user, "password": pw, "timezone": "Europe/Berlin"})
}

async fn claim(d: &Daemon) -> Client {
    let c = Client::new(d);
    let r = c.send(reqwest::Method::POST, "/api/setup/claim", Some(claim_body("anna", PW)), false).await.expect_status(200);
    *c.csrf.lock().expect("lock") = r.body["csrf_token"].as_str().map(str::to_owned);
    c
}

fn admins(d: &Daemon) -> Vec<String> {
    let out = spot(d.dir.path()).args(["user", "list"]).output().expect("user list");
    String::from_utf8_lossy(&out.stdout).lines().filter(|l| l.contains(" admin ")).map(|l| l.split_whitespace().next().unwrap_or("").to_owned()).collect()
}

#[tokio::test]
async fn an_unclaimed_box_is_claimed_exactly_once_even_by_racing_browsers() {
    let d = Daemon::start_unclaimed(|_| {}, &[]);
    let c = Client::new(&d);
    let info = c.get("/api/setup").await.expect_status(200);
    assert_eq!(info.body["claimed"], false);
    assert_eq!(info.body["open"], true);
    assert!(admins(&d).is_empty(), "no admin exists before the wizard");
    assert!(!d.logs().contains("password"), "nothing secret is printed: {}", d.logs());
    // Eight browsers finish the wizard at the same moment: one wins, the others are told.
    let mut tasks = Vec::new();
    for i in 0..8 {
        let c = Client::new(&d);
        tasks.push(tokio::spawn(async move {
            c.send(reqwest::Method::POST, "/api/setup/claim", Some(claim_body(&format!("user{i}"), PW)), false).await
        }));
    }
    let mut ok = 0;
    for t in tasks {
        let r = t.await.expect("task");
        match r.status {
            200 => ok += 1,
            409 => assert_eq!(r.code(), "already_claimed"),
            429 => assert_eq!(r.code(), "rate_limited"),
            s => panic!("unexpected {s}: {}", r.text),
        }
    }
    assert_eq!(ok, 1, "exactly one claim wins");
    assert_eq!(admins(&d).len(), 1);
    let info = c.get("/api/setup").await.expect_status(200);
    assert_eq!(info.body["claimed"], true);
    assert_eq!(info.body["open"], false);
    assert_eq!(info.body["box_name"], "Anna's box");
    assert_eq!(info.body["timezone"], "Europe/Berlin");
    // Closed for good: a later claim is refused, and the winner's session works.
    c.send(reqwest::Method::POST, "/api/setup/claim", Some(claim_body("late", PW)), false).await.expect_error(409, "already_claimed");
    assert!(!d.logs().contains(PW), "the password is never logged");
}

#[tokio::test]
async fn weak_passwords_and_bad_answers_are_refused_in_words_and_claim_nothing() {
    let d = Daemon::start_unclaimed(|_| {}, &[]);
    let c = Client::new(&d);
    let post = |b: serde_json::Value| {
        let c = &c;
        async move { c.send(reqwest::Method::POST, "/api/setup/claim", Some(b), false).await }
    };
    for pw in ["short", "password123", "raspberry1", "anna-rocks-hard", "aaaaaaaaaaaaa"] {
        let r = post(claim_body("anna", pw)).await.expect_error(400, "weak_password");
        assert!(r.body["error"]["message"].as_str().is_some_and(|m| m.len() > 20), "{pw}: words: {}", r.text);
    }
    let mut b = claim_body("anna", PW);
    b["timezone"] = json!("../../etc/shadow");
    post(b).await.expect_error(400, "invalid_timezone");
    let mut b = claim_body("anna", PW);
    b["box_name"] = json!("evil\nname");
    post(b).await.expect_error(400, "invalid_box_name");
    post(claim_body("bad name!", PW)).await.expect_status(400);
    let mut b = claim_body("anna", PW);
    b["role"] = json!("admin");
    assert_eq!(post(b).await.status, 400, "unknown fields are refused");
    let r = c.send(reqwest::Method::POST, "/api/setup/claim", None, false).await;
    assert!(r.status == 400 || r.status == 415, "{}", r.status);
    assert!(admins(&d).is_empty(), "nothing was claimed");
    // DNS rebinding: a page on the internet resolving its own name to the box is refused.
    let r = Client::finish(
        c.http.post(d.url("/api/setup/claim")).header("host", "rebind.attacker.example").json(&claim_body("anna", PW)),
    )
    .await;
    // Refused before the claim even looks (the API answers only to the box's names).
    r.expect_error(403, "unknown_host");
    assert!(admins(&d).is_empty());
}

#[tokio::test]
async fn captive_probes_open_the_wizard_until_setup_is_complete_then_say_online() {
    let d = Daemon::start_unclaimed(|_| {}, &[]);
    let c = Client::new(&d);
    let probes = [
        ("connectivitycheck.gstatic.com", "/generate_204", 204, ""),
        ("clients3.google.com", "/generate_204", 204, ""),
        ("captive.apple.com", "/hotspot-detect.html", 200, "Success"),
        ("www.msftconnecttest.com", "/connecttest.txt", 200, "Microsoft Connect Test"),
        ("www.msftncsi.com", "/ncsi.txt", 200, "Microsoft NCSI"),
        ("detectportal.firefox.com", "/success.txt", 200, "success"),
        ("nmcheck.gnome.org", "/check_network_status.txt", 200, "NetworkManager is online"),
    ];
    let get = |host: &'static str, path: &'static str| {
        let (c, url) = (&c, d.url(path));
        async move { Client::finish(c.http.get(url).header("host", host)).await }
    };
    for (host, path, _, _) in probes {
        let r = get(host, path).await.expect_status(302);
        let loc = r.headers.get("location").and_then(|v| v.to_str().ok()).unwrap_or("");
        assert_eq!(loc, format!("http://{}/setup", d.addr), "{host}{path}");
    }
    let admin = claim(&d).await;
    admin.post("/api/setup/step", json!({"step": "network", "outcome": "skipped"})).await.expect_status(204);
    admin.post("/api/setup/finish", json!({})).await.expect_status(204);
    assert_eq!(c.get("/api/setup").await.body["complete"], true);
    for (host, path, status, body) in probes {
        let r = get(host, path).await.expect_status(status);
        assert!(r.text.contains(body), "{host}{path}: {}", r.text);
    }
    // The box's own names are never treated as probes.
    c.get("/api/health").await.expect_status(200);
}

#[tokio::test]
async fn the_local_ca_is_downloadable_and_https_switches_on_with_a_certificate_it_signed() {
    let mut d = Daemon::start_unclaimed(|_| {}, &[]);
    let c = Client::new(&d);
    let pem = c.get("/api/setup/ca.pem").await.expect_status(200);
    assert!(pem.text.starts_with("-----BEGIN CERTIFICATE-----"), "{}", pem.text);
    let crt = Client::finish(c.http.get(d.url("/api/setup/ca.crt"))).await.expect_status(200);
    assert_eq!(crt.headers.get("content-type").and_then(|v| v.to_str().ok()), Some("application/x-x509-ca-cert"));
    let mc = c.get("/api/setup/ca.mobileconfig").await.expect_status(200);
    assert!(mc.text.contains("com.apple.security.root") && mc.text.contains("<plist"), "{}", mc.text);
    let admin = claim(&d).await;
    // Only the admin switches TLS; a bad upload is refused in words.
    Client::new(&d).post("/api/setup/tls", json!({"mode": "local_ca"})).await.expect_status(401);
    admin
        .post("/api/setup/tls", json!({"mode": "upload", "cert_pem": "nope", "key_pem": "nope"}))
        .await
        .expect_error(400, "bad_certificate");
    let before = d.after.lock().expect("lock").len();
    let r = admin.post("/api/setup/tls", json!({"mode": "local_ca"})).await.expect_status(200);
    assert!(r.body["https_url"].as_str().is_some_and(|u| u.starts_with("https://")), "{}", r.text);
    let line = d.wait_line("spot listening on ", before);
    assert_eq!(line, format!("https://{}", d.addr), "restarted on the same port, now HTTPS");
    d.scheme = "https";
    // A client that trusts only the box's CA (as a phone that installed it) connects.
    let ca = reqwest::Certificate::from_pem(pem.text.as_bytes()).expect("ca");
    let port = d.addr.rsplit_once(':').map(|(_, p)| p.to_owned()).expect("port");
    let strict = reqwest::Client::builder()
        .add_root_certificate(ca)
        .tls_built_in_root_certs(false)
        .resolve("localhost", format!("127.0.0.1:{port}").parse().expect("addr"))
        .build()
        .expect("client");
    let r = Client::finish(strict.get(format!("https://localhost:{port}/api/setup"))).await.expect_status(200);
    assert_eq!(r.body["tls"]["enabled"], true);
    assert_eq!(r.body["steps"]["tls"], "done");
    // Signing in over HTTPS now gives a Secure cookie.
    let c = Client::new(&d);
    let r = c.login("anna", PW).await.expect_status(200);
    let cookie = r.headers.get("set-cookie").and_then(|v| v.to_str().ok()).unwrap_or("");
    assert!(cookie.contains("; Secure"), "{cookie}");
    let cfg = std::fs::read_to_string(d.dir.path().join("spot.toml")).expect("config");
    assert!(cfg.contains("[tls]"), "{cfg}");
}

#[tokio::test]
async fn an_imager_preset_becomes_the_admin_and_its_hash_is_replaced_by_bcrypt() {
    let params = sha_crypt::Sha512Params::new(5000).expect("params");
    let hash = sha_crypt::sha512_simple("imager-pass-42", &params).expect("hash");
    let preset = json!({"admin": {"username": "pi-owner", "password_hash": hash}, "box_name": "Den box", "timezone": "Europe/Paris"});
    let d = Daemon::start_unclaimed(|dir| std::fs::write(dir.join("preset.json"), preset.to_string()).expect("write"), &[]);
    assert!(!d.dir.path().join("preset.json").exists(), "the hand-off file is removed");
    let c = Client::new(&d);
    let info = c.get("/api/setup").await.expect_status(200);
    assert_eq!(info.body["claimed"], true);
    assert_eq!(info.body["preset_admin"], "pi-owner");
    assert_eq!(info.body["box_name"], "Den box");
    // The wizard is closed: the Imager user is the admin.
    c.send(reqwest::Method::POST, "/api/setup/claim", Some(claim_body("anna", PW)), false).await.expect_error(409, "already_claimed");
    c.login("pi-owner", "wrong-password").await.expect_status(401);
    c.login("pi-owner", "imager-pass-42").await.expect_status(200);
    let db = rusqlite_hash(&d, "pi-owner");
    assert!(db.starts_with("$2b$12$"), "upgraded to bcrypt cost 12: {db}");
    Client::new(&d).login("pi-owner", "imager-pass-42").await.expect_status(200);
    assert!(!d.logs().contains(&hash) && !d.logs().contains("imager-pass-42"), "neither hash nor password is logged");
}

/// The stored hash, read through `spot backup` (no SQL client in the tests).
fn rusqlite_hash(d: &Daemon, user: &str) -> String {
    let copy = d.dir.path().join("copy.db");
    let _ = std::fs::remove_file(&copy);
    assert!(spot(d.dir.path()).arg("backup").arg(&copy).status().expect("backup").success());
    let bytes = std::fs::read(&copy).expect("db");
    let text = String::from_utf8_lossy(&bytes);
    let at = text.find(user).expect("user row");
    let rest = &text[at..];
    let start = rest.find("$2b$").or_else(|| rest.find("$6$")).expect("a hash");
    rest[start..].chars().take_while(|c| c.is_ascii_graphic()).take(60).collect()
}

#[tokio::test]
async fn a_broken_or_hostile_preset_is_ignored_and_removed_and_the_wizard_stays_open() {
    for bad in [
        json!({"admin": {"username": "x; rm -rf /", "password_hash": "$6$abc$def"}}).to_string(),
        json!({"admin": {"username": "mallory", "password_hash": "plaintext-password"}}).to_string(),
        json!({"admin": {"username": "mallory", "password_hash": "$6$rounds=999999999$salt$hash"}}).to_string(),
        "{\"admin\": {\"username\": \"trunc".to_owned(),
        "x".repeat(100_000),
    ] {
        let d = Daemon::start_unclaimed(|dir| std::fs::write(dir.join("preset.json"), &bad).expect("write"), &[]);
        assert!(!d.dir.path().join("preset.json").exists());
        let info = Client::new(&d).get("/api/setup").await.expect_status(200);
        if bad.contains("rounds=999999999") {
            // Accepted as a hash, but a login against it is refused without the work.
            assert_eq!(info.body["claimed"], true);
            Client::new(&d).login("mallory", "x").await.expect_status(401);
        } else {
            assert_eq!(info.body["claimed"], false, "{bad:.60}");
        }
    }
}

#[tokio::test]
async fn factory_reset_asks_for_the_password_then_wipes_everything_back_to_the_wizard() {
    let d = Daemon::start_unclaimed(|_| {}, &[]);
    let admin = claim(&d).await;
    let general = admin.general().await;
    admin.post(&format!("/api/channels/{general}/messages"), json!({"content": "before the reset"})).await.expect_status(201);
    admin.post("/api/admin/factory-reset", json!({"password": "not it"})).await.expect_error(403, "wrong_password");
    admin.send(reqwest::Method::POST, "/api/admin/factory-reset", Some(json!({"password": PW})), false).await.expect_error(403, "csrf_failed");
    let before = d.after.lock().expect("lock").len();
    admin.post("/api/admin/factory-reset", json!({"password": PW})).await.expect_status(202);
    d.wait_line("spot listening on ", before);
    let c = Client::new(&d);
    let info = c.get("/api/setup").await.expect_status(200);
    assert_eq!(info.body["claimed"], false, "back to the wizard");
    assert_eq!(info.body["open"], true);
    assert!(admins(&d).is_empty());
    admin.get("/api/me").await.expect_status(401);
    // A new owner claims the fresh box; the old messages are gone.
    let fresh = claim(&d).await;
    let general = fresh.general().await;
    let h = fresh.get(&format!("/api/channels/{general}/messages")).await.expect_status(200);
    assert!(!h.text.contains("before the reset"), "{}", h.text);
}
