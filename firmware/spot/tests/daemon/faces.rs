//! Avatars on the real daemon: the box cuts the asked square out of the original, serves its own
//! square copies (no metadata) under a name that changes with every picture, cached for good,
//! only to logged-in users; hostile pictures and squares are refused with their codes; every
//! client hears `user.update`; a moderator removes someone's picture (audit-logged).

use crate::harness::*;
use image::{DynamicImage, ImageFormat, Rgb, RgbImage};
use media::testdata;
use serde_json::{json, Value};
use std::io::Cursor;
use std::path::PathBuf;

/// Left half red, right half blue.
fn halves(w: u32, h: u32, format: ImageFormat) -> Vec<u8> {
    let img = RgbImage::from_fn(w, h, |x, _| if x < w / 2 { Rgb([230, 20, 20]) } else { Rgb([20, 20, 230]) });
    let mut v = Vec::new();
    DynamicImage::ImageRgb8(img).write_to(&mut Cursor::new(&mut v), format).expect("encode");
    v
}

/// Two 40×40 frames, red then blue.
fn animated_gif() -> Vec<u8> {
    use image::codecs::gif::GifEncoder;
    use image::{Delay, Frame, Rgba, RgbaImage};
    let mut v = Vec::new();
    {
        let mut enc = GifEncoder::new(&mut v);
        let frames = [Rgba([255, 0, 0, 255]), Rgba([0, 0, 255, 255])]
            .map(|c| Frame::from_parts(RgbaImage::from_pixel(40, 40, c), 0, 0, Delay::from_numer_denom_ms(100, 1)));
        enc.encode_frames(frames).expect("gif");
    }
    v
}

/// `PUT /api/me/avatar?{query}` with the picture as the body, waiting out the upload limit.
async fn put_avatar(c: &Client, query: &str, bytes: Vec<u8>) -> Resp {
    Client::patient_with("PUT /api/me/avatar", 20, || {
        c.http.put(format!("{}/api/me/avatar?{query}", c.base)).header("x-csrf-token", c.csrf_token()).body(bytes.clone())
    })
    .await
}

fn avatars(d: &Daemon, side: u32) -> Vec<String> {
    let dir: PathBuf = d.dir.path().join("files").join("avatars").join(side.to_string());
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| rd.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

fn s(v: &Value) -> String {
    v.as_str().expect("a string").to_owned()
}

#[tokio::test]
async fn a_picture_becomes_square_copies_of_the_asked_part_served_cached_and_announced() {
    let d = Daemon::start();
    let admin = d.admin().await;
    let bob = d.member(&admin, "bob").await;
    let (mut gw, _) = admin.gateway(None).await;

    // A phone photo with its location: the right (blue) half is the face.
    let photo = testdata::jpeg_with_exif(&halves(400, 200, ImageFormat::Jpeg), None);
    assert!(testdata::contains(&photo, testdata::GPS_MARKER));
    let u = put_avatar(&bob, "x=200&y=0&side=200", photo).await.expect_status(200).body;
    let name = s(&u["avatar"]);
    assert!(name.ends_with(".jpg") && name.len() == 36, "{name}");
    let ev = gw.next_event("user.update").await;
    assert_eq!((ev["d"]["username"].as_str(), ev["d"]["avatar"].as_str()), (Some("bob"), Some(name.as_str())));
    assert_eq!(admin.get("/api/users").await.body.as_array().and_then(|a| a.iter().find(|x| x["username"] == "bob")).map(|b| b["avatar"].clone()), Some(json!(name)));

    for side in [256u32, 64] {
        let img = admin.get_raw(&format!("/api/avatars/{side}/{name}")).await;
        assert_eq!(img.status, 200);
        assert_eq!(img.header("content-type"), "image/jpeg");
        assert_eq!(img.header("x-content-type-options"), "nosniff");
        assert_eq!(img.header("cache-control"), "private, max-age=31536000, immutable");
        assert!(!testdata::contains(&img.bytes, testdata::GPS_MARKER), "no location in the copy");
        assert!(!testdata::contains(&img.bytes, b"Exif"), "no EXIF at all");
        let px = image::load_from_memory(&img.bytes).expect("decodes").to_rgb8();
        assert_eq!(px.dimensions(), (side, side));
        let c = px.get_pixel(side / 2, side / 2).0;
        assert!(c[2] > 180 && c[0] < 70, "the asked (blue) square, got {c:?}");
    }
    // Only for people who are logged in; names that are not ours are not found.
    Client::new(&d).get(&format!("/api/avatars/64/{name}")).await.expect_error(401, "unauthenticated");
    admin.get(&format!("/api/avatars/128/{name}")).await.expect_error(404, "unknown_avatar");
    admin.get("/api/avatars/64/..%2Fspot.db").await.expect_error(404, "unknown_avatar");
    admin.get("/api/avatars/64/0123456789abcdef0123456789abcdef.jpg").await.expect_error(404, "unknown_avatar");

    // A new picture (a transparent PNG stays PNG) replaces the old copies under a new name.
    let mut t = image::RgbaImage::from_pixel(100, 100, image::Rgba([0, 200, 0, 255]));
    t.put_pixel(0, 0, image::Rgba([0, 0, 0, 0]));
    let mut png = Vec::new();
    DynamicImage::ImageRgba8(t).write_to(&mut Cursor::new(&mut png), ImageFormat::Png).expect("png");
    let u2 = put_avatar(&bob, "x=0&y=0&side=100", png).await.expect_status(200).body;
    let name2 = s(&u2["avatar"]);
    assert!(name2.ends_with(".png") && name2 != name);
    assert_eq!(avatars(&d, 256), [name2.clone()], "the old copies are deleted");
    assert_eq!(avatars(&d, 64), [name2.clone()]);
    assert_eq!(admin.get_raw(&format!("/api/avatars/64/{name2}")).await.header("content-type"), "image/png");
    admin.get(&format!("/api/avatars/64/{name}")).await.expect_error(404, "unknown_avatar");

    // Removing it: the default again, the files gone, everyone told.
    let u3 = bob.delete("/api/me/avatar").await.expect_status(200).body;
    assert_eq!(u3["avatar"], Value::Null);
    assert_eq!(gw.next_event("user.update").await["d"]["avatar"], json!(name2));
    assert_eq!(gw.next_event("user.update").await["d"]["avatar"], Value::Null);
    assert!(avatars(&d, 256).is_empty() && avatars(&d, 64).is_empty());
}

#[tokio::test]
async fn hostile_pictures_and_squares_are_refused_with_their_codes_and_leave_nothing() {
    let d = Daemon::start();
    let admin = d.admin().await;
    let bob = d.member(&admin, "bob").await;
    let ok = halves(100, 80, ImageFormat::Png);

    put_avatar(&bob, "x=0&y=0&side=50", b"<svg onload=alert(1)>".to_vec()).await.expect_error(400, "bad_file");
    put_avatar(&bob, "x=0&y=0&side=50", b"<!doctype html><script>x()</script>".to_vec()).await.expect_error(400, "bad_file");
    put_avatar(&bob, "x=0&y=0&side=50", Vec::new()).await.expect_error(400, "bad_file");
    // A 100000×100000 header: refused from the header, before any pixel is allocated.
    let mut bomb = halves(1, 1, ImageFormat::Png);
    bomb[16..20].copy_from_slice(&100_000u32.to_be_bytes());
    bomb[20..24].copy_from_slice(&100_000u32.to_be_bytes());
    let crc = testdata::crc32(&bomb[12..29]);
    bomb[29..33].copy_from_slice(&crc.to_be_bytes());
    put_avatar(&bob, "x=0&y=0&side=50", bomb).await.expect_error(400, "bad_file");
    // Squares outside the picture, too small, missing, or not whole pixels.
    for q in ["x=60&y=0&side=50", "x=0&y=0&side=81", "x=0&y=0&side=8", "x=4294967295&y=0&side=50", "x=0&y=0", "", "x=-1&y=0&side=50", "x=0.5&y=0&side=50"] {
        let r = put_avatar(&bob, q, ok.clone()).await.expect_error(400, "bad_crop");
        assert!(r.body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{q}: words");
    }
    // Too large a body: 413 before it is all read.
    // One byte over, announced by Content-Length over a raw connection: the box answers before
    // the body (a client that first writes the whole body may meet the close as a broken pipe).
    let (status, body) = loop {
        let (status, body) = raw_upload(&d, &bob, "PUT /api/me/avatar?x=0&y=0&side=50", Body::Announced((10 << 20) + 1)).await;
        if status != 429 {
            break (status, body);
        }
        let wait = body["error"]["retry_after_ms"].as_u64().unwrap_or(500);
        tokio::time::sleep(std::time::Duration::from_millis(wait + 20)).await;
    };
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["error"]["code"], "file_too_large", "{body}");
    assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "error without words");
    // An animation gives its first frame.
    let u = put_avatar(&bob, "x=0&y=0&side=40", animated_gif()).await.expect_status(200).body;
    let img = bob.get_raw(&format!("/api/avatars/64/{}", s(&u["avatar"]))).await;
    let c = image::load_from_memory(&img.bytes).expect("decodes").to_rgb8().get_pixel(32, 32).0;
    assert!(c[0] > 200 && c[2] < 60, "the first (red) frame, got {c:?}");
    assert_eq!(avatars(&d, 64).len(), 1, "nothing refused was kept");

    // Without the CSRF token, or logged out: refused, nothing changed.
    let rb = bob.http.put(format!("{}/api/me/avatar?x=0&y=0&side=50", bob.base)).body(ok.clone());
    Client::finish(rb).await.expect_error(403, "csrf_failed");
    bob.send(reqwest::Method::DELETE, "/api/me/avatar", None, false).await.expect_error(403, "csrf_failed");
    let anon = Client::new(&d);
    let rb = anon.http.put(format!("{}/api/me/avatar?x=0&y=0&side=50", anon.base)).body(ok);
    Client::finish(rb).await.expect_error(401, "unauthenticated");
    assert_eq!(bob.get("/api/me").await.body["user"]["avatar"], u["avatar"]);
}

#[tokio::test]
async fn a_moderator_removes_someone_s_picture_and_it_is_audit_logged() {
    let d = Daemon::start();
    let admin = d.admin().await;
    let bob = d.member(&admin, "bob").await;
    let eve = d.member(&admin, "eve").await;
    let bob_id = s(&bob.get("/api/me").await.body["user"]["id"]);
    let admin_id = s(&admin.get("/api/me").await.body["user"]["id"]);
    put_avatar(&bob, "x=0&y=0&side=80", halves(100, 80, ImageFormat::Png)).await.expect_status(200);
    put_avatar(&admin, "x=0&y=0&side=80", halves(100, 80, ImageFormat::Png)).await.expect_status(200);

    eve.delete(&format!("/api/mod/users/{bob_id}/avatar")).await.expect_error(403, "missing_permission");
    let mods = s(&admin.post("/api/admin/roles", json!({"name": "mods", "permissions": ["moderate"]})).await.expect_status(201).body["id"]);
    let eve_id = s(&eve.get("/api/me").await.body["user"]["id"]);
    admin.put(&format!("/api/admin/users/{eve_id}/roles"), json!({"role_ids": [mods]})).await.expect_status(200);
    eve.delete(&format!("/api/mod/users/{admin_id}/avatar")).await.expect_error(403, "cannot_moderate_admin");
    eve.delete("/api/mod/users/999999/avatar").await.expect_error(404, "unknown_user");
    eve.delete("/api/mod/users/nope/avatar").await.expect_error(404, "unknown_id");
    eve.send(reqwest::Method::DELETE, &format!("/api/mod/users/{bob_id}/avatar"), None, false).await.expect_error(403, "csrf_failed");
    let (mut gw, _) = bob.gateway(None).await;
    let u = eve.delete(&format!("/api/mod/users/{bob_id}/avatar")).await.expect_status(200).body;
    assert_eq!(u["avatar"], Value::Null);
    let ev = gw.next_event("user.update").await;
    assert_eq!((ev["d"]["id"].as_str(), &ev["d"]["avatar"]), (Some(bob_id.as_str()), &Value::Null));
    assert_eq!(avatars(&d, 256).len(), 1, "only the admin's copies are left");

    let audit = admin.get("/api/admin/audit").await.expect_status(200).body;
    let entry = audit.as_array().and_then(|a| a.iter().find(|e| e["action"] == "user.avatar_remove")).cloned().expect("audited");
    assert_eq!((entry["actor_id"].as_str(), entry["target"].as_str()), (Some(eve_id.as_str()), Some(format!("user:{bob_id}").as_str())));
}
