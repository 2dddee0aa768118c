//! Login limits under parallel attempts, lockout of the owner, the password lane, and the Host
//! check against DNS rebinding.

use crate::harness::*;
use serde_json::json;
use std::net::IpAddr;
use std::time::Instant;

fn addr(i: u8) -> IpAddr {
    IpAddr::from([127, 0, 1, i])
}

async fn wrong_logins_at_once(d: &Daemon, clients: &[Client], user: &str) -> (usize, usize) {
    let answers = futures_util::future::join_all(clients.iter().map(|c| c.login(user, "wrong-password-x"))).await;
    let checked = answers.iter().filter(|r| r.status == 401).count();
    let limited = answers.iter().filter(|r| r.status == 429).count();
    assert_eq!(checked + limited, answers.len(), "only 401 or 429: {:?}", answers.iter().map(|r| r.status).collect::<Vec<_>>());
    for r in answers.iter().filter(|r| r.status == 429) {
        assert_eq!(r.code(), "rate_limited");
    }
    let _ = d;
    (checked, limited)
}

#[tokio::test]
async fn parallel_wrong_passwords_from_one_address_are_charged_before_the_work() {
    let d = Daemon::start();
    // Ten at once from one address, against a per-user-and-source limit of 5.
    let clients: Vec<Client> = (0..10).map(|_| Client::from_ip(&d, addr(1))).collect();
    let (checked, limited) = wrong_logins_at_once(&d, &clients, "admin").await;
    assert_eq!(checked, 5, "exactly the burst was checked against the hash");
    assert_eq!(limited, 5);
}

#[tokio::test]
async fn parallel_wrong_passwords_from_many_addresses_are_capped_per_user() {
    let d = Daemon::start();
    // Thirty at once, each from its own address (so no per-address limit applies).
    let clients: Vec<Client> = (0..30).map(|i| Client::from_ip(&d, addr(10 + i))).collect();
    let (checked, limited) = wrong_logins_at_once(&d, &clients, "admin").await;
    assert!(checked <= 10, "at most the per-user burst of 10 was checked, got {checked}");
    assert!(limited >= 20);
}

#[tokio::test]
async fn an_attacker_cannot_lock_the_admin_out() {
    let d = Daemon::start();
    // The admin's phone logged in before (it holds a session and a device cookie).
    let phone = Client::from_ip(&d, addr(2));
    phone.login("admin", ADMIN_PW).await.expect_status(200);
    let laptop = Client::from_ip(&d, addr(3));
    laptop.login("admin", ADMIN_PW).await.expect_status(200);
    laptop.post("/api/logout", json!(null)).await.expect_status(204);

    // An attacker with many addresses spends every per-user attempt, and keeps trying.
    for round in 0..3u8 {
        let clients: Vec<Client> = (0..12).map(|i| Client::from_ip(&d, addr(100 + round * 12 + i))).collect();
        wrong_logins_at_once(&d, &clients, "admin").await;
    }
    // A stranger's device now waits, even with the right password ...
    let stranger = Client::from_ip(&d, addr(200));
    stranger.login("admin", ADMIN_PW).await.expect_error(429, "rate_limited");
    // ... the phone's session was never affected ...
    phone.get("/api/me").await.expect_status(200);
    // ... and the laptop, a known device without a session, logs in with the right password.
    let r = laptop.login("admin", ADMIN_PW).await.expect_status(200);
    assert!(r.body["user"]["username"] == "admin");
    // Its device cookie is HttpOnly and only for the API.
    let device = r.headers.get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()).find(|v| v.starts_with("spot_device=")).expect("device cookie").to_owned();
    assert!(device.contains("HttpOnly") && device.contains("Path=/api") && device.contains("SameSite=Strict"), "{device}");
}

#[tokio::test]
async fn a_forged_or_foreign_device_cookie_gets_no_bucket_of_its_own() {
    let d = Daemon::start();
    let admin = d.admin().await;
    let _bob = d.member(&admin, "bob").await;
    // Bob's own device cookie, presented for the admin's name, is not a known device of the admin.
    let bobs = Client::from_ip(&d, addr(4));
    bobs.login("bob", "member-password").await.expect_status(200);
    bobs.post("/api/logout", json!(null)).await.expect_status(204);
    let attacker_ip = addr(5);
    for _ in 0..5 {
        bobs.login("admin", "wrong-password-x").await.expect_error(401, "invalid_credentials");
    }
    bobs.login("admin", "wrong-password-x").await.expect_error(429, "rate_limited");
    // A made-up cookie is ignored too.
    let forged = Client::from_ip(&d, attacker_ip);
    let url: reqwest::Url = d.url("/api").parse().expect("url");
    forged.jar.add_cookie_str("spot_device=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA; Path=/api", &url);
    for _ in 0..5 {
        forged.login("admin", "wrong-password-x").await.expect_error(401, "invalid_credentials");
    }
    forged.login("admin", "wrong-password-x").await.expect_error(429, "rate_limited");
}

#[tokio::test]
async fn password_change_is_under_the_login_limits() {
    let d = Daemon::start();
    let admin = d.admin().await;
    let bob = d.member(&admin, "bob").await;
    for _ in 0..5 {
        bob.post("/api/me/password", json!({"current_password": "guess-guess-1", "new_password": "a-new-password-9"}))
            .await
            .expect_error(403, "wrong_password");
    }
    // A stolen cookie is not an unlimited guessing oracle.
    bob.post("/api/me/password", json!({"current_password": "member-password", "new_password": "a-new-password-9"}))
        .await
        .expect_error(429, "rate_limited");
}

#[tokio::test]
async fn a_login_flood_is_refused_by_the_password_lane_and_chat_does_not_wait_behind_it() {
    let d = Daemon::start();
    let admin = d.admin().await;
    let general = admin.general().await;
    // Forty logins at once, for forty names from forty addresses: no login limit applies, so
    // only the password lane stands between them and the box's CPU.
    let clients: Vec<Client> = (0..40).map(|i| Client::from_ip(&d, addr(50 + i))).collect();
    let flood = futures_util::future::join_all(clients.iter().enumerate().map(|(i, c)| async move {
        let r = c.login(&format!("nobody{i}"), "wrong-password-x").await;
        (r.status, Instant::now())
    }));
    let chat = async {
        // Give the flood a head start onto the box, then use the chat.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        admin.post(&format!("/api/channels/{general}/messages"), json!({"content": "still here"})).await.expect_status(201);
        admin.get(&format!("/api/channels/{general}/messages")).await.expect_status(200);
        Instant::now()
    };
    let (answers, chat_done) = tokio::join!(flood, chat);
    let refused = answers.iter().filter(|(s, _)| *s == 429).count();
    let checked: Vec<Instant> = answers.iter().filter(|(s, _)| *s == 401).map(|(_, t)| *t).collect();
    assert!(refused > 0, "a full lane refuses at once: {:?}", answers.iter().map(|a| a.0).collect::<Vec<_>>());
    assert!(!checked.is_empty());
    // The chat requests were answered before the first password check finished: they did not
    // queue behind bcrypt.
    let first_check = checked.iter().min().copied().expect("a check");
    assert!(chat_done < first_check, "chat answered {:?} after the first password check", chat_done - first_check);
}

#[tokio::test]
async fn the_api_answers_only_to_the_boxs_own_names_against_dns_rebinding() {
    let d = Daemon::start();
    let admin = d.admin().await;
    let port = d.addr.rsplit(':').next().expect("port").to_owned();
    let get = |host: String| {
        let rb = admin.http.get(d.url("/api/me")).header("host", host);
        Client::finish(rb)
    };
    // A rebinding page's name is refused, even for a GET with a valid session.
    get(format!("evil.example:{port}")).await.expect_error(403, "unknown_host");
    get("evil.example".into()).await.expect_error(403, "unknown_host");
    // The box's names and addresses are fine.
    for host in [format!("127.0.0.1:{port}"), format!("localhost:{port}"), "spot.local".into(), format!("[::1]:{port}")] {
        get(host.clone()).await.expect_status(200);
    }
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").expect("hostname").trim().to_ascii_lowercase();
    get(format!("{hostname}.local:{port}")).await.expect_status(200);
    // A rebinding page cannot claim an unclaimed box either.
    let fresh = Daemon::start_unclaimed(|_| {}, &[]);
    let rb = reqwest::Client::new()
        .post(fresh.url("/api/setup/claim"))
        .header("host", "evil.example")
        .header("origin", "http://evil.example")
        .json(&json!({"username": "mallory", "password": "correct-horse-battery-1"}));
    Client::finish(rb).await.expect_error(403, "unknown_host");
}

#[tokio::test]
async fn the_configured_public_origin_is_one_of_the_boxs_names() {
    let d = Daemon::start_with("public_origin = \"https://chat.example.org\"", &[]);
    let admin = d.admin().await;
    let r = Client::finish(admin.http.get(d.url("/api/me")).header("host", "chat.example.org")).await;
    r.expect_status(200);
}

#[tokio::test]
async fn invite_links_start_with_an_address_friends_can_reach_and_say_which() {
    // On loopback only: the one address is loopback, and it is said so.
    let d = Daemon::start();
    let admin = d.admin().await;
    let r = admin.get("/api/admin/invite-links").await.expect_status(200);
    let bases = r.body["bases"].as_array().expect("bases").clone();
    assert_eq!(bases.len(), 1, "{}", r.text);
    assert_eq!(bases[0]["kind"], "browser");
    assert_eq!(bases[0]["loopback"], true);
    let inv = admin.post("/api/admin/invites", json!({})).await.expect_status(201);
    assert!(inv.body["url"].as_str().unwrap_or("").starts_with(bases[0]["url"].as_str().unwrap_or("?")), "{}", inv.text);
    let member = d.member(&admin, "bob").await;
    member.get("/api/admin/invite-links").await.expect_error(403, "admin_only");

    // The configured public origin comes first, whatever the admin's browser used.
    let d = Daemon::start_with("public_origin = \"https://chat.example.org\"", &[]);
    let admin = d.admin().await;
    let r = admin.get("/api/admin/invite-links").await.expect_status(200);
    assert_eq!(r.body["bases"][0], json!({"url": "https://chat.example.org", "kind": "public_origin", "loopback": false}), "{}", r.text);
    let inv = admin.post("/api/admin/invites", json!({})).await.expect_status(201);
    assert!(inv.body["url"].as_str().unwrap_or("").starts_with("https://chat.example.org/invite/"), "{}", inv.text);
}
