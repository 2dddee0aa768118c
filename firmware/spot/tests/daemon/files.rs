//! Uploads, attachment downloads, custom emoji and exports on the real daemon: safe headers,
//! size limits and quotas, type sniffing, file-name sanitising, who may download what, files
//! removed with their message.

use crate::harness::*;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

// ---- test data, made here (no image crate in this test binary) ----

fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for x in data {
        a = (a + u32::from(*x)) % 65521;
        b = (b + a) % 65521;
    }
    (b << 16) | a
}

fn png_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let mut c = kind.to_vec();
    c.extend_from_slice(data);
    out.extend_from_slice(&c);
    out.extend_from_slice(&media::testdata::crc32(&c).to_be_bytes());
}

/// A valid grayscale PNG (stored, uncompressed deflate): `w`×`h`, about `w*h` bytes.
fn png(w: u32, h: u32) -> Vec<u8> {
    let mut raw = Vec::new();
    for y in 0..h {
        raw.push(0);
        raw.extend((0..w).map(|x| ((x * 7 + y * 3) % 251) as u8));
    }
    let mut z = vec![0x78, 0x01];
    let blocks: Vec<&[u8]> = raw.chunks(65_535).collect();
    for (i, b) in blocks.iter().enumerate() {
        z.push(u8::from(i + 1 == blocks.len()));
        let len = b.len() as u16;
        z.extend_from_slice(&len.to_le_bytes());
        z.extend_from_slice(&(!len).to_le_bytes());
        z.extend_from_slice(b);
    }
    z.extend_from_slice(&adler32(&raw).to_be_bytes());
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]);
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    png_chunk(&mut out, b"IHDR", &ihdr);
    png_chunk(&mut out, b"IDAT", &z);
    png_chunk(&mut out, b"IEND", &[]);
    out
}

/// A PNG whose header claims 100000×100000 pixels (40 GB decoded): a decompression bomb.
fn png_bomb() -> Vec<u8> {
    let mut v = png(1, 1);
    v[16..20].copy_from_slice(&100_000u32.to_be_bytes());
    v[20..24].copy_from_slice(&100_000u32.to_be_bytes());
    let crc = media::testdata::crc32(&v[12..29]);
    v[29..33].copy_from_slice(&crc.to_be_bytes());
    v
}

/// Width and height from a JPEG's frame header.
fn jpeg_size(b: &[u8]) -> (u16, u16) {
    assert!(b.starts_with(&[0xFF, 0xD8, 0xFF]), "not a JPEG");
    let i = b.windows(2).position(|w| w == [0xFF, 0xC0] || w == [0xFF, 0xC2]).expect("SOF");
    let be = |j: usize| u16::from_be_bytes([b[j], b[j + 1]]);
    (be(i + 7), be(i + 5))
}

/// The entries of a tar archive (GNU long names followed).
fn tar_entries(b: &[u8]) -> Vec<(String, Vec<u8>)> {
    let cstr = |s: &[u8]| String::from_utf8_lossy(&s[..s.iter().position(|c| *c == 0).unwrap_or(s.len())]).into_owned();
    let mut out = Vec::new();
    let (mut i, mut long) = (0usize, None::<String>);
    while i + 512 <= b.len() {
        let h = &b[i..i + 512];
        if h.iter().all(|c| *c == 0) {
            break;
        }
        let size = usize::from_str_radix(cstr(&h[124..136]).trim(), 8).expect("tar size");
        let data = b[i + 512..i + 512 + size].to_vec();
        i += 512 + size.div_ceil(512) * 512;
        if h[156] == b'L' {
            long = Some(cstr(&data));
            continue;
        }
        out.push((long.take().unwrap_or_else(|| cstr(&h[0..100])), data));
    }
    out
}

// ---- requests ----

/// One upload request, as it comes.
fn upload_request(c: &Client, path: &str, headers: &[(&str, &str)], bytes: Vec<u8>) -> reqwest::RequestBuilder {
    let mut rb = c.http.post(format!("{}{path}", c.base)).header("x-csrf-token", c.csrf_token()).body(bytes);
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    rb
}

async fn upload_once(c: &Client, path: &str, headers: &[(&str, &str)], bytes: Vec<u8>) -> Resp {
    Client::finish(upload_request(c, path, headers, bytes)).await
}

/// An upload, waiting out the upload rate limit (these tests upload more than its burst).
async fn upload_as(c: &Client, path: &str, headers: &[(&str, &str)], bytes: Vec<u8>) -> Resp {
    Client::patient_with(path, 20, || upload_request(c, path, headers, bytes.clone())).await
}

/// `POST /api/uploads` with a URL-encoded name and a claimed type.
async fn upload(c: &Client, name: &str, content_type: &str, bytes: Vec<u8>) -> Resp {
    upload_as(c, "/api/uploads", &[("x-filename", name), ("content-type", content_type)], bytes).await
}

async fn put(c: &Client, path: &str, body: Value) -> Resp {
    c.send(reqwest::Method::PUT, path, Some(body), true).await
}

async fn user_id(c: &Client) -> String {
    c.get("/api/me").await.expect_status(200).body["user"]["id"].as_str().expect("id").to_owned()
}

fn s(v: &Value) -> String {
    v.as_str().expect("a string").to_owned()
}

fn files_dir(d: &Daemon, sub: &str) -> PathBuf {
    d.dir.path().join("files").join(sub)
}

/// The names of the files in `files/<sub>`.
fn stored(d: &Daemon, sub: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(files_dir(d, sub))
        .map(|rd| rd.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

async fn send_with(c: &Client, channel: &str, content: &str, ids: &[&str]) -> Resp {
    c.post(&format!("/api/channels/{channel}/messages"), json!({"content": content, "attachments": ids})).await
}

// ---- tests ----

#[tokio::test]
async fn an_uploaded_image_is_attached_and_served_with_safe_headers_and_a_thumbnail() {
    let d = Daemon::start();
    let admin = d.admin().await;
    let bob = d.member(&admin, "bob").await;
    let ch = admin.general().await;
    let original = png(600, 300);

    let att = upload(&admin, "cat%20photo.png", "image/png", original.clone()).await.expect_status(201).body;
    assert_eq!(att["filename"], "cat photo.png");
    assert_eq!(att["content_type"], "image/png");
    assert_eq!(att["size"], original.len());
    assert_eq!((att["width"].as_i64(), att["height"].as_i64()), (Some(600), Some(300)));
    let id = s(&att["id"]);
    assert_eq!(att["url"], format!("/api/attachments/{id}/cat%20photo.png"));
    assert_eq!(att["thumb_url"], format!("/api/attachments/{id}/thumb"));
    // The file and its thumbnail, under random names that owe nothing to "cat photo.png".
    let names = stored(&d, "uploads");
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names.iter().all(|n| n.len() >= 32 && !n.contains("cat")), "{names:?}");

    let (mut gw, _) = bob.gateway(None).await;
    let msg = send_with(&admin, &ch, "look", &[&id]).await.expect_status(201).body;
    assert_eq!(msg["attachments"][0]["id"], id.as_str());
    let ev = gw.next_event("message.create").await;
    assert_eq!(ev["d"]["attachments"][0]["url"], att["url"]);
    let hist = bob.get(&format!("/api/channels/{ch}/messages")).await.expect_status(200).body;
    assert_eq!(hist[0]["attachments"][0]["filename"], "cat photo.png");

    // Another member of the channel downloads it: the same bytes, shown inline but inert.
    let r = bob.get_raw(&s(&att["url"])).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.bytes, original);
    assert_eq!(r.header("content-type"), "image/png");
    assert_eq!(r.header("x-content-type-options"), "nosniff");
    assert!(r.header("content-security-policy").contains("sandbox"), "{}", r.header("content-security-policy"));
    assert!(r.header("content-security-policy").contains("default-src 'none'"));
    assert!(r.header("content-disposition").starts_with("inline;"), "{}", r.header("content-disposition"));
    assert!(r.header("content-disposition").contains("filename*=UTF-8''cat%20photo.png"));
    assert!(r.header("cache-control").starts_with("private"), "{}", r.header("cache-control"));

    // The thumbnail was made on the box: 400 px on the long side, a JPEG (no transparency).
    let t = bob.get_raw(&s(&att["thumb_url"])).await;
    assert_eq!(t.status, 200);
    assert_eq!(t.header("content-type"), "image/jpeg");
    assert_eq!(t.header("x-content-type-options"), "nosniff");
    assert_eq!(jpeg_size(&t.bytes), (400, 200));

    // Small images are not enlarged.
    let small = upload(&admin, "dot.png", "image/png", png(40, 20)).await.expect_status(201).body;
    let t = admin.get_raw(&s(&small["thumb_url"])).await;
    assert_eq!(jpeg_size(&t.bytes), (40, 20));

    // A file that is not an image: a download, no thumbnail.
    let notes = upload(&admin, "notes.txt", "text/plain", b"shopping: milk".to_vec()).await.expect_status(201).body;
    assert_eq!(notes["content_type"], "application/octet-stream");
    assert!(notes["thumb_url"].is_null());
    assert!(notes["width"].is_null());
    send_with(&admin, &ch, "", &[&s(&notes["id"])]).await.expect_status(201);
    let r = bob.get_raw(&s(&notes["url"])).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.bytes, b"shopping: milk");
    assert_eq!(r.header("content-type"), "application/octet-stream");
    assert!(r.header("content-disposition").starts_with("attachment;"), "{}", r.header("content-disposition"));
    assert_eq!(bob.get_raw(&format!("/api/attachments/{}/thumb", s(&notes["id"]))).await.status, 404);

    let st = admin.get("/api/me/storage").await.expect_status(200).body;
    assert_eq!(st["used_bytes"].as_u64(), Some((original.len() + png(40, 20).len() + 14) as u64));
    assert_eq!(st["quota_bytes"].as_u64(), Some(1 << 30));
    assert_eq!(bob.get("/api/me/storage").await.body["used_bytes"], 0);
}

#[tokio::test]
async fn oversized_uploads_are_refused_early_and_the_quota_holds() {
    let d = Daemon::start_with("[uploads]\nmax_file_mb = 1\nquota_mb = 2\n", &[]);
    let admin = d.admin().await;
    let bob = d.member(&admin, "bob").await;

    // Announced too large: refused from the headers, before a byte of the body is read.
    let (status, body) = raw_upload(&d, &bob, "POST /api/uploads", Body::Announced(5 << 20)).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["error"]["code"], "file_too_large");
    assert!(body["error"]["message"].as_str().is_some_and(|m| m.contains("1 MB")), "{body}");
    // Not announced (chunked): counted while streaming, cut off past the limit.
    let (status, body) = raw_upload(&d, &bob, "POST /api/uploads", Body::Chunked(3 << 20)).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["error"]["code"], "file_too_large");
    // Just under the limit is fine.
    let ok = vec![7u8; (1 << 20) - 10];
    upload(&bob, "a.bin", "application/octet-stream", ok.clone()).await.expect_status(201);
    assert_eq!(bob.get("/api/me/storage").await.body["used_bytes"].as_u64(), Some(ok.len() as u64));

    // Quota 2 MB: a second file fits, a third does not, announced or not.
    upload(&bob, "b.bin", "application/octet-stream", ok.clone()).await.expect_status(201);
    let (status, body) = raw_upload(&d, &bob, "POST /api/uploads", Body::Announced(ok.len() as u64)).await;
    assert_eq!((status, body["error"]["code"].as_str()), (413, Some("storage_quota_exceeded")), "{body}");
    let (status, body) = raw_upload(&d, &bob, "POST /api/uploads", Body::Chunked(512 << 10)).await;
    assert_eq!((status, body["error"]["code"].as_str()), (413, Some("storage_quota_exceeded")), "{body}");
    let st = bob.get("/api/me/storage").await.body;
    assert_eq!((st["used_bytes"].as_u64(), st["quota_bytes"].as_u64()), (Some(2 * ok.len() as u64), Some(2 << 20)));
    // The quota is per user.
    upload(&admin, "c.bin", "application/octet-stream", ok).await.expect_status(201);

    // Nothing refused was kept.
    assert_eq!(stored(&d, "uploads").len(), 3);
    assert!(stored(&d, "tmp").is_empty(), "{:?}", stored(&d, "tmp"));
}

#[tokio::test]
async fn the_bytes_decide_the_type_and_disguised_html_is_refused() {
    let d = Daemon::start();
    let admin = d.admin().await;
    let bob = d.member(&admin, "bob").await;
    let ch = admin.general().await;
    let html = b"<!doctype html><script>fetch('/api/me')</script>".to_vec();

    // HTML (and SVG) claiming to be a PNG, by type or by name: refused.
    for (name, ct, bytes) in [
        ("cat.png", "image/png", html.clone()),
        ("cat.png", "application/octet-stream", html.clone()),
        ("cat.bin", "image/jpeg", b"  <html><body onload=alert(1)>".to_vec()),
        ("cat.gif", "image/gif", b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>".to_vec()),
        ("cat.webp", "image/webp", b"\xEF\xBB\xBF<script>alert(1)</script>".to_vec()),
    ] {
        upload(&bob, name, ct, bytes).await.expect_error(400, "bad_file");
    }
    // A PNG signature on garbage, and a decompression bomb: not images we can read.
    let mut fake = b"\x89PNG\r\n\x1a\n".to_vec();
    fake.extend_from_slice(&html);
    upload(&bob, "fake.png", "image/png", fake).await.expect_error(400, "bad_file");
    let r = upload(&bob, "bomb.png", "image/png", png_bomb()).await.expect_error(400, "bad_file");
    assert!(r.body["error"]["message"].as_str().is_some_and(|m| m.contains("too large")), "{}", r.text);
    upload(&bob, "empty.txt", "text/plain", Vec::new()).await.expect_error(400, "bad_file");
    assert!(stored(&d, "uploads").is_empty());

    // HTML that says what it is: kept, but only ever a download.
    let page = upload(&bob, "page.html", "text/html", html.clone()).await.expect_status(201).body;
    assert_eq!(page["content_type"], "application/octet-stream");
    let svg = upload(&bob, "logo.svg", "image/svg+xml", b"<svg onload='alert(1)'/>".to_vec()).await.expect_status(201).body;
    assert_eq!(svg["content_type"], "application/octet-stream");
    assert!(svg["thumb_url"].is_null());
    // A real PNG sent as text/html is a PNG: the client's word does not count.
    let real = upload(&bob, "pic.html", "text/html", png(10, 10)).await.expect_status(201).body;
    assert_eq!(real["content_type"], "image/png");

    send_with(&bob, &ch, "files", &[&s(&page["id"]), &s(&svg["id"]), &s(&real["id"])]).await.expect_status(201);
    for att in [&page, &svg] {
        let r = admin.get_raw(&s(&att["url"])).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-type"), "application/octet-stream");
        assert!(r.header("content-disposition").starts_with("attachment;"), "{}", r.header("content-disposition"));
        assert_eq!(r.header("x-content-type-options"), "nosniff");
        assert!(r.header("content-security-policy").starts_with("sandbox"));
    }
}

#[tokio::test]
async fn file_names_are_stripped_of_paths_and_control_characters() {
    let d = Daemon::start();
    let admin = d.admin().await;
    for (sent, kept) in [
        ("..%2F..%2Fetc%2Fpasswd", "passwd"),
        ("../../etc/passwd", "passwd"),
        ("..%5C..%5Cwindows%5Cwin.ini", "win.ini"),
        ("..\\x", "x"),
        ("%2e%2e%2fsecret.txt", "secret.txt"),
        ("a%00b%0D%0A.txt", "ab.txt"),
        (".bashrc", "bashrc"),
        ("photo%E2%80%AEgpj.exe", "photogpj.exe"),
        ("caf%C3%A9%20%F0%9F%93%8E.txt", "café 📎.txt"),
    ] {
        let r = upload(&admin, sent, "text/plain", b"x".to_vec()).await.expect_status(201);
        assert_eq!(r.body["filename"], kept, "sent {sent:?}");
        let url = s(&r.body["url"]);
        assert_eq!(url.matches('/').count(), 4, "{url}");
        assert_eq!(admin.get_raw(&url).await.status, 200, "{url}");
    }
    let long = format!("{}.txt", "n".repeat(300));
    let r = upload(&admin, &long, "text/plain", b"x".to_vec()).await.expect_status(201);
    assert_eq!(r.body["filename"].as_str().map(|n| n.chars().count()), Some(200));
    assert!(r.body["filename"].as_str().is_some_and(|n| n.ends_with(".txt")));
    for bad in ["%2e%2e%2f", "..", "...", "%00", "%20", "a%zz", "%FF"] {
        upload(&admin, bad, "text/plain", b"x".to_vec()).await.expect_error(400, "bad_filename");
    }
    upload_as(&admin, "/api/uploads", &[("content-type", "text/plain")], b"x".to_vec()).await.expect_error(400, "bad_filename");
    // Whatever the names, everything landed in the uploads directory under our own names.
    assert!(!d.dir.path().join("etc").exists() && !d.dir.path().join("files/etc").exists());
    let names = stored(&d, "uploads");
    assert_eq!(names.len(), 10);
    assert!(names.iter().all(|n| n.len() == 32 && n.bytes().all(|b| b.is_ascii_hexdigit())), "{names:?}");
}

#[tokio::test]
async fn only_people_who_can_see_the_channel_download_and_unsent_uploads_are_private() {
    let d = Daemon::start();
    let admin = d.admin().await;
    let bob = d.member(&admin, "bob").await;
    let carol = d.member(&admin, "carol").await;
    let ch = admin.general().await;

    // Unsent: the uploader's alone; nobody else may attach it either.
    let att = upload(&bob, "plan.png", "image/png", png(30, 30)).await.expect_status(201).body;
    let (url, thumb) = (s(&att["url"]), s(&att["thumb_url"]));
    assert_eq!(bob.get_raw(&url).await.status, 200);
    for path in [&url, &thumb] {
        let r = carol.get(path).await;
        r.expect_error(404, "unknown_attachment");
        admin.get(path).await.expect_error(404, "unknown_attachment");
    }
    send_with(&carol, &ch, "mine now", &[&s(&att["id"])]).await.expect_error(400, "unknown_attachment");

    // Anonymous: no.
    let anon = Client::new(&d);
    anon.get(&url).await.expect_error(401, "unauthenticated");
    anon.get(&thumb).await.expect_error(401, "unauthenticated");
    anon.get("/api/me/storage").await.expect_error(401, "unauthenticated");
    // Uploading needs the CSRF token like every state change.
    let r = Client::finish(carol.http.post(d.url("/api/uploads")).header("x-filename", "x.txt").body("x")).await;
    r.expect_error(403, "csrf_failed");

    // In a DM between bob and carol: the admin cannot see it, so cannot download it.
    let carol_id = user_id(&carol).await;
    let dm = bob.post("/api/dms", json!({"user_ids": [carol_id]})).await;
    assert!(dm.status == 200 || dm.status == 201, "{}", dm.text);
    let dm_id = s(&dm.body["id"]);
    send_with(&bob, &dm_id, "for you", &[&s(&att["id"])]).await.expect_status(201);
    assert_eq!(carol.get_raw(&url).await.status, 200);
    assert_eq!(carol.get_raw(&thumb).await.status, 200);
    admin.get(&url).await.expect_error(404, "unknown_attachment");
    admin.get(&thumb).await.expect_error(404, "unknown_attachment");
    // Attached once: it cannot be sent again.
    send_with(&bob, &ch, "again", &[&s(&att["id"])]).await.expect_error(400, "unknown_attachment");

    // A channel hidden from @everyone: members lose the file, the admin keeps it.
    let secret = admin.post("/api/channels", json!({"name": "secret"})).await.expect_status(201).body;
    let secret_id = s(&secret["id"]);
    let f = upload(&admin, "report.pdf", "application/pdf", b"%PDF-1.4 quarterly".to_vec()).await.expect_status(201).body;
    assert_eq!(f["content_type"], "application/pdf");
    send_with(&admin, &secret_id, "numbers", &[&s(&f["id"])]).await.expect_status(201);
    assert_eq!(bob.get_raw(&s(&f["url"])).await.status, 200, "visible before the override");
    put(&admin, &format!("/api/channels/{secret_id}/overrides/1"), json!({"allow": [], "deny": ["view"]})).await.expect_status(200);
    bob.get(&s(&f["url"])).await.expect_error(404, "unknown_attachment");
    assert_eq!(admin.get_raw(&s(&f["url"])).await.status, 200);
    // Unknown and malformed ids look the same as hidden ones.
    bob.get("/api/attachments/999999/x.png").await.expect_error(404, "unknown_attachment");
    bob.get("/api/attachments/abc/thumb").await.expect_error(404, "unknown_attachment");

    // Timed-out users cannot upload.
    let bob_id = user_id(&bob).await;
    admin.post(&format!("/api/mod/users/{bob_id}/timeout"), json!({"minutes": 5})).await.expect_status(200);
    upload(&bob, "late.txt", "text/plain", b"x".to_vec()).await.expect_error(403, "timed_out");
}

#[tokio::test]
async fn deleting_a_message_deletes_its_files_from_disk() {
    let d = Daemon::start();
    let admin = d.admin().await;
    let bob = d.member(&admin, "bob").await;
    let ch = admin.general().await;
    let a = upload(&bob, "one.png", "image/png", png(500, 100)).await.expect_status(201).body;
    let b = upload(&bob, "two.txt", "text/plain", b"two".to_vec()).await.expect_status(201).body;
    let kept = upload(&bob, "kept.txt", "text/plain", b"kept".to_vec()).await.expect_status(201).body;
    assert_eq!(stored(&d, "uploads").len(), 4, "two files, a thumbnail and the kept one");
    let m = send_with(&bob, &ch, "two files", &[&s(&a["id"]), &s(&b["id"])]).await.expect_status(201).body;
    send_with(&bob, &ch, "kept", &[&s(&kept["id"])]).await.expect_status(201);
    assert_eq!(m["attachments"].as_array().map(Vec::len), Some(2));

    admin.delete(&format!("/api/messages/{}", s(&m["id"]))).await.expect_status(204);
    // Removal runs right after the commit, on the blocking pool.
    for _ in 0..50 {
        if stored(&d, "uploads").len() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(stored(&d, "uploads").len(), 1, "{:?}", stored(&d, "uploads"));
    for path in [&a["url"], &a["thumb_url"], &b["url"]] {
        bob.get(&s(path)).await.expect_error(404, "unknown_attachment");
    }
    assert_eq!(bob.get_raw(&s(&kept["url"])).await.status, 200);
    assert_eq!(bob.get("/api/me/storage").await.body["used_bytes"].as_u64(), Some(4));
    let hist = bob.get(&format!("/api/channels/{ch}/messages")).await.body;
    assert!(hist.as_array().is_some_and(|h| h.iter().all(|m| m["deleted"] == true || m["content"] == "kept")));
}

#[tokio::test]
async fn admins_manage_custom_emoji_and_everyone_sees_them() {
    let d = Daemon::start();
    let admin = d.admin().await;
    let bob = d.member(&admin, "bob").await;
    let (mut gw, _) = bob.gateway(None).await;

    upload_as(&bob, "/api/admin/emoji", &[("x-emoji-name", "party")], png(64, 64)).await.expect_error(403, "admin_only");
    let e = upload_as(&admin, "/api/admin/emoji", &[("x-emoji-name", ":Party_Cat:")], png(300, 200)).await.expect_status(201).body;
    assert_eq!(e["name"], "party_cat");
    let id = s(&e["id"]);
    assert_eq!(e["url"], format!("/api/emoji/{id}"));
    let ev = gw.next_event("emoji.create").await;
    assert_eq!(ev["d"]["name"], "party_cat");

    let list = bob.get("/api/emoji").await.expect_status(200).body;
    assert_eq!(list, json!([{"id": id, "name": "party_cat", "url": format!("/api/emoji/{id}")}]));
    Client::new(&d).get("/api/emoji").await.expect_error(401, "unauthenticated");
    // Re-encoded on the box to at most 128 px.
    let img = bob.get_raw(&s(&e["url"])).await;
    assert_eq!(img.status, 200);
    assert_eq!(img.header("content-type"), "image/jpeg");
    assert_eq!(img.header("x-content-type-options"), "nosniff");
    assert_eq!(jpeg_size(&img.bytes), (128, 85));
    assert_eq!(stored(&d, "emoji").len(), 1);

    upload_as(&admin, "/api/admin/emoji", &[("x-emoji-name", "party_cat")], png(8, 8)).await.expect_error(409, "emoji_exists");
    upload_as(&admin, "/api/admin/emoji", &[("x-emoji-name", "no way")], png(8, 8)).await.expect_error(400, "invalid_emoji_name");
    upload_as(&admin, "/api/admin/emoji", &[("x-emoji-name", "html")], b"<html>".to_vec()).await.expect_error(400, "bad_file");
    upload_as(&admin, "/api/admin/emoji", &[("x-emoji-name", "bomb")], png_bomb()).await.expect_error(400, "bad_file");
    upload_as(&admin, "/api/admin/emoji", &[("x-emoji-name", "huge")], png(600, 600)).await.expect_error(413, "file_too_large");
    assert_eq!(stored(&d, "emoji").len(), 1, "nothing refused was kept");

    bob.delete(&format!("/api/admin/emoji/{id}")).await.expect_error(403, "admin_only");
    admin.delete(&format!("/api/admin/emoji/{id}")).await.expect_status(204);
    assert_eq!(gw.next_event("emoji.delete").await["d"]["id"], id.as_str());
    assert_eq!(bob.get("/api/emoji").await.body, json!([]));
    bob.get(&format!("/api/emoji/{id}")).await.expect_error(404, "unknown_emoji");
    admin.delete(&format!("/api/admin/emoji/{id}")).await.expect_error(404, "unknown_emoji");
    assert!(stored(&d, "emoji").is_empty());

    let audit = admin.get("/api/admin/audit").await.expect_status(200).body;
    let actions: Vec<&str> = audit.as_array().map(|a| a.iter().filter_map(|e| e["action"].as_str()).collect()).unwrap_or_default();
    assert!(actions.contains(&"emoji.create") && actions.contains(&"emoji.delete"), "{actions:?}");
}

#[tokio::test]
async fn users_export_their_own_messages_as_json() {
    let d = Daemon::start();
    let admin = d.admin().await;
    let bob = d.member(&admin, "bob").await;
    let ch = admin.general().await;
    let att = upload(&bob, "list.txt", "text/plain", b"eggs".to_vec()).await.expect_status(201).body;
    send_with(&bob, &ch, "first", &[]).await.expect_status(201);
    send_with(&bob, &ch, "second, with a file", &[&s(&att["id"])]).await.expect_status(201);
    let gone = send_with(&bob, &ch, "deleted", &[]).await.expect_status(201).body;
    bob.delete(&format!("/api/messages/{}", s(&gone["id"]))).await.expect_status(204);
    send_with(&admin, &ch, "not bob's", &[]).await.expect_status(201);

    let r = bob.get_raw("/api/me/export").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-disposition"), "attachment; filename=\"spot-export-bob.json\"");
    assert!(r.header("content-type").starts_with("application/json"));
    let doc: Value = serde_json::from_slice(&r.bytes).expect("JSON");
    assert_eq!(doc["user"]["username"], "bob");
    let msgs = doc["messages"].as_array().expect("messages");
    let contents: Vec<&str> = msgs.iter().filter_map(|m| m["content"].as_str()).collect();
    assert_eq!(contents, ["first", "second, with a file"]);
    assert_eq!(msgs[0]["channel_id"], ch.as_str());
    assert_eq!(msgs[0]["channel_name"], "general");
    assert!(msgs[0]["created_at"].as_i64().is_some() && msgs[0]["edited_at"].is_null());
    assert_eq!(msgs[1]["attachments"][0]["filename"], "list.txt");
    assert_eq!(msgs[1]["attachments"][0]["size"], 4);

    Client::new(&d).get("/api/me/export").await.expect_error(401, "unauthenticated");
}

#[tokio::test]
async fn admins_export_a_channel_with_its_files_as_a_tar() {
    let d = Daemon::start();
    let admin = d.admin().await;
    let bob = d.member(&admin, "bob").await;
    let carol = d.member(&admin, "carol").await;
    let ch = admin.general().await;
    let image = png(120, 80);
    let a = upload(&bob, "photo.png", "image/png", image.clone()).await.expect_status(201).body;
    let b = upload(&admin, "notes.txt", "text/plain", b"notes".to_vec()).await.expect_status(201).body;
    send_with(&bob, &ch, "a photo", &[&s(&a["id"])]).await.expect_status(201);
    send_with(&admin, &ch, "and notes", &[&s(&b["id"])]).await.expect_status(201);
    for i in 0..3 {
        send_with(&bob, &ch, &format!("chat {i}"), &[]).await.expect_status(201);
    }

    let path = format!("/api/admin/channels/{ch}/export");
    bob.get(&path).await.expect_error(403, "admin_only");
    Client::new(&d).get(&path).await.expect_error(401, "unauthenticated");
    let r = admin.get_raw(&path).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), "application/x-tar");
    assert!(r.header("content-disposition").starts_with("attachment; filename=\"spot-channel-general-"), "{}", r.header("content-disposition"));
    let entries = tar_entries(&r.bytes);
    let names: Vec<&str> = entries.iter().map(|(n, _)| n.as_str()).collect();
    let (aid, bid) = (s(&a["id"]), s(&b["id"]));
    assert_eq!(names, ["channel.json".to_owned(), format!("attachments/{aid}-photo.png"), format!("attachments/{bid}-notes.txt")]);
    assert_eq!(entries[1].1, image);
    assert_eq!(entries[2].1, b"notes");
    let doc: Value = serde_json::from_slice(&entries[0].1).expect("channel.json");
    assert_eq!(doc["channel"]["id"], ch.as_str());
    assert_eq!(doc["channel"]["name"], "general");
    let msgs = doc["messages"].as_array().expect("messages");
    assert_eq!(msgs.len(), 5);
    assert_eq!(msgs[0]["content"], "a photo");
    assert_eq!(msgs[0]["attachments"][0]["id"], aid.as_str());
    assert!(stored(&d, "tmp").is_empty(), "the archive is not left behind: {:?}", stored(&d, "tmp"));

    // A DM stays private to its members, admin or not.
    let carol_id = user_id(&carol).await;
    let dm = bob.post("/api/dms", json!({"user_ids": [carol_id]})).await;
    admin.get(&format!("/api/admin/channels/{}/export", s(&dm.body["id"]))).await.expect_error(404, "unknown_channel");
    admin.get("/api/admin/channels/999999/export").await.expect_error(404, "unknown_channel");
}

#[tokio::test]
async fn uploads_are_rate_limited_per_user() {
    let d = Daemon::start();
    let admin = d.admin().await;
    let bob = d.member(&admin, "bob").await;
    let mut limited = None;
    for i in 0..15 {
        let r = upload_once(&bob, "/api/uploads", &[("x-filename", "n.txt")], vec![b'x'; 1]).await;
        if r.status == 429 {
            limited = Some((i, r));
            break;
        }
        r.expect_status(201);
    }
    let (i, r) = limited.expect("a burst of uploads is limited");
    assert!(i >= 10, "the first 10 pass, got limited at {i}");
    let r = r.expect_error(429, "rate_limited");
    assert!(r.body["error"]["retry_after_ms"].as_u64().is_some());
    // Per user: the admin is not held back by bob.
    upload_once(&admin, "/api/uploads", &[("x-filename", "n.txt")], vec![b'x'; 1]).await.expect_status(201);
}

#[tokio::test]
async fn a_photo_loses_its_location_but_keeps_its_orientation() {
    let d = Daemon::start();
    let admin = d.admin().await;
    // A real JPEG made by the box (a thumbnail), then given EXIF like a phone's: orientation 6
    // and a location.
    let src = upload(&admin, "src.png", "image/png", png(60, 30)).await.expect_status(201).body;
    let jpeg = admin.get_raw(&s(&src["thumb_url"])).await.bytes;
    let mut tiff = b"II\x2a\0\x08\0\0\0\x01\0\x12\x01\x03\0\x01\0\0\0\x06\0\0\0\0\0\0\0".to_vec();
    tiff.extend_from_slice(b"GPSLatitude 52.5200N GPSLongitude 13.4050E");
    let mut body = b"Exif\0\0".to_vec();
    body.extend_from_slice(&tiff);
    let mut photo = jpeg[..2].to_vec();
    photo.extend_from_slice(&[0xFF, 0xE1]);
    photo.extend_from_slice(&((body.len() + 2) as u16).to_be_bytes());
    photo.extend_from_slice(&body);
    photo.extend_from_slice(&jpeg[2..]);
    let up = upload(&admin, "IMG_0001.jpg", "image/jpeg", photo.clone()).await.expect_status(201).body;
    // Shown as taken: 30 wide and 60 tall after the rotation.
    assert_eq!((up["width"].as_i64(), up["height"].as_i64()), (Some(30), Some(60)), "{up}");
    let got = admin.get_raw(&s(&up["url"])).await;
    assert_eq!(got.status, 200);
    assert!(!got.bytes.windows(3).any(|w| w == b"GPS"), "the location is still in the file");
    assert!(got.bytes.windows(6).any(|w| w == b"Exif\0\0"), "the orientation block is kept");
    assert!(got.bytes.len() < photo.len());
    assert_eq!(up["size"].as_u64(), Some(got.bytes.len() as u64), "the size is what is stored");
    assert_eq!(jpeg_size(&got.bytes), jpeg_size(&jpeg), "the image data is untouched");
}

// ---- metadata: nothing but the pixels (and the orientation) is kept, wherever it hides ----

use media::testdata as td;

/// Upload `bytes`; check that no file the box stored and not the served original holds any of
/// `gone`, and that the original still decodes to `size`. Returns the attachment.
async fn upload_clean(d: &Daemon, c: &Client, name: &str, ct: &str, bytes: Vec<u8>, gone: &[&[u8]], size: (u32, u32)) -> Value {
    for g in gone {
        assert!(td::contains(&bytes, g), "the test image lacks {}", String::from_utf8_lossy(g));
    }
    let att = upload(c, name, ct, bytes.clone()).await.expect_status(201).body;
    let served = c.get_raw(&s(&att["url"])).await;
    assert_eq!(served.status, 200);
    for n in stored(d, "uploads") {
        let on_disk = std::fs::read(files_dir(d, "uploads").join(&n)).expect("stored file");
        for g in gone {
            assert!(!td::contains(&on_disk, g), "{} is still in the stored {n}", String::from_utf8_lossy(g));
            assert!(!td::contains(&served.bytes, g), "{} is still in what is served", String::from_utf8_lossy(g));
        }
    }
    assert_eq!(att["size"].as_u64(), Some(served.bytes.len() as u64), "the size is what is stored");
    assert!(served.bytes.len() < bytes.len());
    let img = image::load_from_memory(&served.bytes).expect("the stored original still decodes");
    assert_eq!((img.width(), img.height()), size);
    att
}

#[tokio::test]
async fn an_mpf_photo_loses_the_second_image_after_its_end_and_that_image_s_location() {
    let d = Daemon::start();
    let admin = d.admin().await;
    let photo = td::mpf_jpeg();
    upload_clean(&d, &admin, "DSC_0001.JPG", "image/jpeg", photo, &[td::GPS_MARKER, b"MPF\0", b"Exif"], (32, 16)).await;
}

#[tokio::test]
async fn a_motion_photo_is_stored_without_its_video_and_its_xmp() {
    let d = Daemon::start();
    let admin = d.admin().await;
    let photo = td::motion_photo();
    let gone: [&[u8]; 4] = [b"ftypmp42", b"mdat", b"MotionPhoto", td::GPS_MARKER];
    upload_clean(&d, &admin, "PXL_20240101.MP.jpg", "image/jpeg", photo, &gone, (32, 16)).await;
}

#[tokio::test]
async fn a_webp_loses_its_exif_and_xmp_chunks_but_keeps_its_orientation() {
    let d = Daemon::start();
    let admin = d.admin().await;
    let photo = td::webp_with_exif(Some(6));
    let gone: [&[u8]; 4] = [td::GPS_MARKER, b"XMP ", b"xmpmeta", b"trailing bytes"];
    let att = upload_clean(&d, &admin, "photo.webp", "image/webp", photo, &gone, (6, 4)).await;
    assert_eq!((att["width"].as_i64(), att["height"].as_i64()), (Some(4), Some(6)), "shown as taken: {att}");
    let served = admin.get_raw(&s(&att["url"])).await.bytes;
    use image::ImageDecoder;
    let mut dec = image::codecs::webp::WebPDecoder::new(std::io::Cursor::new(&served)).expect("webp");
    assert_eq!(dec.orientation().expect("orientation"), image::metadata::Orientation::Rotate90);
}

#[tokio::test]
async fn a_gif_loses_its_comments_and_xmp_but_keeps_its_frames() {
    let d = Daemon::start();
    let admin = d.admin().await;
    let gif = td::gif_with_comment(&td::animated_gif());
    let gone: [&[u8]; 3] = [td::COMMENT_MARKER, b"XMP DataXMP", b"after the trailer"];
    let att = upload_clean(&d, &admin, "party.gif", "image/gif", gif, &gone, (16, 8)).await;
    assert_eq!(td::gif_frames(&admin.get_raw(&s(&att["url"])).await.bytes).len(), 2, "still animated");
}

// ---- one decode budget for uploads, emoji and link-preview images ----

/// A PNG of one colour: a tiny file that decodes to `w`×`h` RGB pixels.
fn flat_png(w: u32, h: u32) -> Vec<u8> {
    let mut v = Vec::new();
    image::DynamicImage::ImageRgb8(image::RgbImage::from_pixel(w, h, image::Rgb([40, 90, 160])))
        .write_to(&mut std::io::Cursor::new(&mut v), image::ImageFormat::Png)
        .expect("png");
    v
}

async fn media_stats(admin: &Client) -> Value {
    admin.get("/api/admin/media").await.expect_status(200).body
}

fn n(v: &Value, k: &str) -> u64 {
    v[k].as_u64().unwrap_or_else(|| panic!("{k} in {v}"))
}

#[tokio::test]
async fn concurrent_large_decodes_wait_for_the_one_budget_instead_of_adding_up() {
    // 24 MiB for all decodes; each of these images needs over half of it (12 MB of pixels).
    let d = Daemon::start_with("[media]\ndecode_budget_mb = 24\n", &[]);
    let admin = d.admin().await;
    let before = media_stats(&admin).await;
    assert_eq!(n(&before, "decode_budget_bytes"), 24 << 20);
    let image = flat_png(2000, 2000);
    let uploads = (0..6).map(|_| upload_once(&admin, "/api/uploads", &[("x-filename", "big.png")], image.clone()));
    for r in futures_util::future::join_all(uploads).await {
        r.expect_status(201);
    }
    let st = media_stats(&admin).await;
    assert_eq!(n(&st, "decodes"), 6, "{st}");
    assert_eq!(n(&st, "decode_in_use_bytes"), 0, "everything given back: {st}");
    assert!(n(&st, "decode_peak_bytes") > 12 << 20, "one decode's share was measured: {st}");
    assert!(n(&st, "decode_peak_bytes") <= 24 << 20, "decodes together took more than the budget: {st}");
    assert!(n(&st, "decode_waits") >= 1, "six arrived together, so some waited their turn: {st}");
    Client::new(&d).get("/api/admin/media").await.expect_error(401, "unauthenticated");
    let bob = d.member(&admin, "bob").await;
    bob.get("/api/admin/media").await.expect_error(403, "admin_only");
}

#[tokio::test]
async fn an_image_needing_more_than_the_whole_budget_is_refused_with_image_too_large() {
    let d = Daemon::start_with("[media]\ndecode_budget_mb = 8\n", &[]);
    let admin = d.admin().await;
    // 2000×2000 RGB is 12 MB of pixels: more than the box gives all decodes together.
    let big = flat_png(2000, 2000);
    assert!(big.len() < 100 << 10, "a small file");
    let r = upload(&admin, "big.png", "image/png", big.clone()).await.expect_error(413, "image_too_large");
    assert!(r.body["error"]["message"].as_str().is_some_and(|m| m.contains("8 MB")), "{}", r.text);
    upload_as(&admin, "/api/admin/emoji", &[("x-emoji-name", "big")], big).await.expect_error(413, "image_too_large");
    assert!(stored(&d, "uploads").is_empty() && stored(&d, "emoji").is_empty(), "nothing refused was kept");
    assert!(stored(&d, "tmp").is_empty(), "{:?}", stored(&d, "tmp"));
    let st = media_stats(&admin).await;
    assert_eq!((n(&st, "decode_refusals"), n(&st, "decodes")), (2, 0), "{st}");
    // Ordinary images still fit.
    upload(&admin, "small.png", "image/png", flat_png(300, 200)).await.expect_status(201);
}

/// A tiny HTTP server: each path with its content type and body.
async fn site(routes: Vec<(&'static str, &'static str, Vec<u8>)>) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let routes = std::sync::Arc::new(routes);
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else { return };
            let routes = routes.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let got = sock.read(&mut buf).await.unwrap_or(0);
                let req = String::from_utf8_lossy(&buf[..got]).to_string();
                let path = req.split(' ').nth(1).unwrap_or("/").to_owned();
                let (ct, body) = routes.iter().find(|(p, _, _)| *p == path).map_or(("text/plain", b"nope".to_vec()), |(_, c, b)| (*c, b.clone()));
                let head = format!("HTTP/1.1 200 OK\r\nContent-Type: {ct}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
                let _ = sock.write_all(head.as_bytes()).await;
                let _ = sock.write_all(&body).await;
            });
        }
    });
    port
}

fn og_page(title: &str, image: &str) -> Vec<u8> {
    format!("<!doctype html><html><head><meta property=\"og:title\" content=\"{title}\"><meta property=\"og:image\" content=\"{image}\"></head></html>").into_bytes()
}

#[tokio::test]
async fn link_preview_images_take_their_share_of_the_same_budget() {
    let d = Daemon::start_with("[media]\ndecode_budget_mb = 8\n", &[]);
    let admin = d.admin().await;
    let ch = admin.general().await;
    let port = site(vec![
        ("/big", "text/html", og_page("Big", "/big.png")),
        ("/small", "text/html", og_page("Small", "/small.png")),
        ("/big.png", "image/png", flat_png(2000, 2000)),
        ("/small.png", "image/png", flat_png(64, 64)),
    ])
    .await;
    admin.patch("/api/admin/settings", json!({"embed_allowlist": [format!("127.0.0.1:{port}")]})).await.expect_status(200);
    let (mut gw, _) = admin.gateway(None).await;
    let mut embed_of = async |path: &str| -> Value {
        let m = admin.post(&format!("/api/channels/{ch}/messages"), json!({"content": format!("see http://127.0.0.1:{port}{path}")})).await;
        let id = m.expect_status(201).body["id"].clone();
        loop {
            let e = gw.next_event("message.update").await;
            if e["d"]["id"] == id && !e["d"]["embeds"].as_array().is_some_and(Vec::is_empty) {
                return e["d"]["embeds"][0].clone();
            }
        }
    };
    // Over the budget: the preview stands, without its image.
    let big = embed_of("/big").await;
    assert_eq!(big["title"], "Big");
    assert!(big["image_url"].is_null(), "{big}");
    let st = media_stats(&admin).await;
    assert_eq!((n(&st, "decode_refusals"), n(&st, "decodes")), (1, 0), "{st}");
    // Within it: decoded under the same budget.
    let small = embed_of("/small").await;
    assert!(small["image_url"].as_str().is_some_and(|u| u.starts_with("/api/embeds/")), "{small}");
    assert_eq!(n(&media_stats(&admin).await, "decodes"), 1);
}

// ---- the user export is streamed ----

#[tokio::test]
async fn a_big_export_is_streamed_while_it_is_read_and_stays_complete_json() {
    let d = Daemon::start_with("[limits]\nmessage_max_chars = 16000\nsend_burst = 100000\nsend_interval_ms = 1\n", &[]);
    let admin = d.admin().await;
    let bob = d.member(&admin, "bob").await;
    let ch = admin.general().await;
    // 600 messages of 16 000 characters, nearly all quotes: each 32 kB as JSON, 19 MB in all,
    // far more than the socket buffers between the box and a client that stops reading.
    let text = "\"".repeat(15_990);
    const N: usize = 600;
    let path = format!("/api/channels/{ch}/messages");
    for batch in (0..N).collect::<Vec<_>>().chunks(8) {
        let sends = batch.iter().map(|i| bob.post(&path, json!({"content": format!("{i} {text}")})));
        for r in futures_util::future::join_all(sends).await {
            r.expect_status(201);
        }
    }
    let mut resp = bob.http.get(format!("{}/api/me/export", bob.base)).send().await.expect("export");
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().get("content-length").is_none(), "the whole body was built before sending: {:?}", resp.headers());
    assert_eq!(resp.headers().get("transfer-encoding").and_then(|v| v.to_str().ok()), Some("chunked"));
    let mut body = resp.chunk().await.expect("read").expect("a first piece").to_vec();
    // The export is under way and waits for us. A message written now comes after every
    // message it has read so far: it is in the file only if the file is still being written.
    bob.post(&format!("/api/channels/{ch}/messages"), json!({"content": "written during the export"})).await.expect_status(201);
    while let Some(piece) = resp.chunk().await.expect("read") {
        body.extend_from_slice(&piece);
    }
    let doc: Value = serde_json::from_slice(&body).expect("the export is valid JSON");
    assert_eq!(doc["format"], "spot-export-v1");
    assert_eq!(doc["user"]["username"], "bob");
    let msgs = doc["messages"].as_array().expect("messages");
    assert_eq!(msgs.len(), N + 1, "every message, once");
    let mut ids: Vec<u64> = msgs.iter().map(|m| s(&m["id"]).parse().expect("id")).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "oldest first");
    ids.dedup();
    assert_eq!(ids.len(), N + 1);
    assert!(msgs[..N].iter().all(|m| m["content"].as_str().is_some_and(|c| c.ends_with(&text))));
    assert_eq!(msgs[N]["content"], "written during the export", "the export was built before it was sent");
}
