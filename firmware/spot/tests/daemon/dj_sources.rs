//! The DJ's other sources on the real daemon: web audio, internet radio (ICY), M3U/PLS
//! playlists and Jellyfin, from a local HTTP server in the test (127.0.0.1 only). The daemon
//! reaches it the way a box reaches a LAN media server: the admin's allowlist entry
//! `127.0.0.1:PORT` — without it the box refuses, and says how to allow it. Jellyfin itself
//! cannot be installed here, so a fake speaks the subset of its HTTP API the box uses
//! (`/System/Info`, `/Items`, `/Audio/<id>/stream`), with its token check.
//!
//! The music is checked where it lands: a str0m peer in the room decodes the DJ's Opus and
//! finds each source's own tone (440 Hz file, 660 Hz radio, 550 Hz Jellyfin track).

use crate::harness::*;
use crate::voice::{join, voice_channel, Peer};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const KEY: &str = "0123456789abcdef0123456789abcdef";
const JF_ID: &str = "f00dfeed0123456789abcdef01234567";
/// The radio's metadata interval.
const METAINT: usize = 8192;

fn tone_wav(freq: f32, secs: f32) -> Vec<u8> {
    let rate = 48_000u32;
    let n = (rate as f32 * secs) as u32;
    let data_len = n * 4;
    let mut v = Vec::with_capacity(44 + data_len as usize);
    v.extend_from_slice(b"RIFF");
    v.extend_from_slice(&(36 + data_len).to_le_bytes());
    v.extend_from_slice(b"WAVEfmt ");
    for x in [16u32.to_le_bytes().as_slice(), &1u16.to_le_bytes(), &2u16.to_le_bytes(), &rate.to_le_bytes(), &(rate * 4).to_le_bytes(), &4u16.to_le_bytes(), &16u16.to_le_bytes()] {
        v.extend_from_slice(x);
    }
    v.extend_from_slice(b"data");
    v.extend_from_slice(&data_len.to_le_bytes());
    for i in 0..n {
        let s = (0.25 * (2.0 * std::f32::consts::PI * freq * i as f32 / rate as f32).sin() * 32767.0) as i16;
        v.extend_from_slice(&s.to_le_bytes());
        v.extend_from_slice(&s.to_le_bytes());
    }
    v
}

/// A sine as raw MP3 frames (no ID3 or Xing header, so copies can be sent back to back).
fn tone_mp3(freq: u32, secs: u32) -> Vec<u8> {
    let out = std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i"])
        .arg(format!("sine=frequency={freq}:sample_rate=44100:duration={secs}"))
        .args(["-ac", "2", "-b:a", "128k", "-write_xing", "0", "-id3v2_version", "0", "-f", "mp3", "pipe:1"])
        .output()
        .expect("ffmpeg (installed for the tests) makes the MP3");
    assert!(out.status.success() && out.stdout.len() > 10_000, "ffmpeg: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

/// The test's media server: what it serves, what it saw, how many connections are open.
struct Media {
    port: u16,
    open: Arc<AtomicUsize>,
    seen: Arc<Mutex<Vec<(String, HashMap<String, String>)>>>,
}

struct Files {
    wav440: Vec<u8>,
    wav550: Vec<u8>,
    mp3: Vec<u8>,
    port: u16,
}

async fn media_server() -> Media {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let files = Arc::new(Files { wav440: tone_wav(440.0, 8.0), wav550: tone_wav(550.0, 8.0), mp3: tone_mp3(660, 10), port });
    let media = Media { port, open: Arc::default(), seen: Arc::default() };
    let (open, seen) = (media.open.clone(), media.seen.clone());
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            let (files, open, seen) = (files.clone(), open.clone(), seen.clone());
            tokio::spawn(async move {
                open.fetch_add(1, Ordering::SeqCst);
                serve(s, &files, &seen).await;
                open.fetch_sub(1, Ordering::SeqCst);
            });
        }
    });
    media
}

fn head(status: &str, ctype: &str, extra: &str, len: Option<usize>) -> Vec<u8> {
    let len = len.map(|l| format!("content-length: {l}\r\n")).unwrap_or_default();
    format!("HTTP/1.1 {status}\r\ncontent-type: {ctype}\r\n{extra}{len}connection: close\r\n\r\n").into_bytes()
}

async fn serve(mut s: TcpStream, f: &Files, seen: &Mutex<Vec<(String, HashMap<String, String>)>>) {
    let mut req = Vec::new();
    let mut b = [0u8; 1];
    while !req.ends_with(b"\r\n\r\n") {
        if s.read(&mut b).await.unwrap_or(0) == 0 || req.len() > 16384 {
            return;
        }
        req.push(b[0]);
    }
    let text = String::from_utf8_lossy(&req).into_owned();
    let mut lines = text.split("\r\n");
    let target = lines.next().unwrap_or_default().split(' ').nth(1).unwrap_or_default().to_owned();
    let h: HashMap<String, String> =
        lines.filter_map(|l| l.split_once(':')).map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned())).collect();
    seen.lock().expect("seen").push((target.clone(), h.clone()));
    let (path, query) = target.split_once('?').unwrap_or((target.as_str(), ""));
    let base = format!("http://127.0.0.1:{}", f.port);
    let authed = h.get("x-emby-token").map(String::as_str) == Some(KEY)
        || h.get("authorization").is_some_and(|a| a.contains(&format!("Token=\"{KEY}\"")));
    let json = "application/json; charset=utf-8";
    let body: Vec<u8> = match path {
        "/tone.wav" => [head("200 OK", "audio/wav", "", Some(f.wav440.len())), f.wav440.clone()].concat(),
        "/station.m3u" => {
            let pl = format!("#EXTM3U\n#EXTINF:-1,Spot Test FM\n{base}/radio\n#EXTINF:-1,Mirror\n{base}/radio?mirror\n");
            [head("200 OK", "audio/x-mpegurl", "", Some(pl.len())), pl.into_bytes()].concat()
        }
        "/two.pls" => {
            let pl = format!("[playlist]\nFile1={base}/tone.wav\nTitle1=One\nFile2={base}/Second%20Song.wav\nNumberOfEntries=2\nVersion=2\n");
            [head("200 OK", "audio/x-scpls", "", Some(pl.len())), pl.into_bytes()].concat()
        }
        "/Second%20Song.wav" => [head("200 OK", "audio/x-wav", "", Some(f.wav440.len())), f.wav440.clone()].concat(),
        "/page.html" => [head("200 OK", "text/html; charset=utf-8", "", Some(15)), b"<html>hi</html>".to_vec()].concat(),
        "/radio" => return radio(s, f, h.get("icy-metadata").map(String::as_str) == Some("1")).await,
        // About two seconds of music, then nothing, with the connection held open.
        "/stall.mp3" => {
            let _ = s.write_all(&head("200 OK", "audio/mpeg", "", None)).await;
            let _ = s.write_all(&f.mp3[..32 * 1024]).await;
            let _ = s.read(&mut b).await;
            return;
        }
        "/jf/System/Info" if authed => {
            let v = json!({"ServerName": "Fake Jellyfin", "Version": "10.9.11", "Id": "fake"}).to_string();
            [head("200 OK", json, "", Some(v.len())), v.into_bytes()].concat()
        }
        "/jf/Items" if authed => {
            let q: HashMap<String, String> = url::form_urlencoded::parse(query.as_bytes()).into_owned().collect();
            let hit = q.get("Ids").is_some_and(|i| i == JF_ID) || q.get("searchTerm").is_some_and(|t| t.to_lowercase().contains("jelly"));
            let item = json!({"Id": JF_ID, "Name": "Jelly Tone", "Type": "Audio", "Artists": ["Fake Band"], "Album": "Fake LP", "RunTimeTicks": 80_000_000u64});
            let items: Vec<Value> = if hit && q.get("IncludeItemTypes").is_none_or(|t| t == "Audio") { vec![item] } else { vec![] };
            let v = json!({"Items": items, "TotalRecordCount": items.len(), "StartIndex": 0}).to_string();
            [head("200 OK", json, "", Some(v.len())), v.into_bytes()].concat()
        }
        p if authed && p == format!("/jf/Audio/{JF_ID}/stream") && query.contains("static=true") => {
            [head("200 OK", "audio/wav", "", Some(f.wav550.len())), f.wav550.clone()].concat()
        }
        p if p.starts_with("/jf/") => head("401 Unauthorized", "text/plain", "", Some(0)),
        _ => head("404 Not Found", "text/plain", "", Some(0)),
    };
    let _ = s.write_all(&body).await;
}

/// An endless station: the MP3 over and over, with a new `StreamTitle` every four metadata
/// blocks (about two seconds) when the client asked for metadata.
async fn radio(mut s: TcpStream, f: &Files, icy: bool) {
    let extra = if icy { format!("icy-name: Spot Test FM\r\nicy-metaint: {METAINT}\r\n") } else { "icy-name: Spot Test FM\r\n".into() };
    if s.write_all(&head("200 OK", "audio/mpeg", &extra, None)).await.is_err() {
        return;
    }
    let (mut at, mut blocks) = (0usize, 0usize);
    loop {
        let mut chunk = Vec::with_capacity(METAINT + 64);
        while chunk.len() < METAINT {
            let n = (METAINT - chunk.len()).min(f.mp3.len() - at);
            chunk.extend_from_slice(&f.mp3[at..at + n]);
            at = (at + n) % f.mp3.len();
        }
        if icy {
            let mut meta = format!("StreamTitle='Spot Test - Song {}';", blocks / 4 + 1).into_bytes();
            meta.resize(meta.len().div_ceil(16) * 16, 0);
            chunk.push((meta.len() / 16) as u8);
            chunk.extend_from_slice(&meta);
        }
        blocks += 1;
        if s.write_all(&chunk).await.is_err() {
            return;
        }
    }
}

/// Power of `freq` in mono 48 kHz samples (Goertzel).
fn power(samples: &[f32], freq: f32) -> f32 {
    let w = 2.0 * std::f32::consts::PI * freq / 48_000.0;
    let (mut s1, mut s2) = (0.0f32, 0.0f32);
    for x in samples {
        let s0 = x + 2.0 * w.cos() * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    (s1 * s1 + s2 * s2 - 2.0 * w.cos() * s1 * s2) / (samples.len() as f32).powi(2)
}

/// The DJ's Opus from payload `from` on decodes to `freq` (and is loud enough to hear).
fn assert_tone(peer: &Peer, from: usize, freq: f32) {
    let frames: Vec<&Vec<u8>> = peer.payloads.iter().skip(from + 10).take(60).collect();
    assert!(frames.len() >= 40, "only {} DJ frames since the track started", frames.len());
    let mut dec = opus::Decoder::new(48_000, opus::Channels::Stereo).expect("decoder");
    let (mut pcm, mut buf) = (Vec::new(), vec![0f32; 5760 * 2]);
    for p in frames {
        let n = dec.decode_float(p, &mut buf, false).expect("the DJ sends Opus");
        pcm.extend(buf[..n * 2].chunks(2).map(|c| c[0]));
    }
    let at = power(&pcm, freq);
    let off = [300.0, 440.0, 550.0, 660.0, 1000.0].iter().filter(|f| (**f - freq).abs() > 1.0).map(|f| power(&pcm, *f)).fold(0.0, f32::max);
    assert!(at > 20.0 * off, "{freq} Hz should dominate: {at} vs {off}");
    let rms = (pcm.iter().map(|x| x * x).sum::<f32>() / pcm.len() as f32).sqrt();
    assert!(rms > 0.02, "the music is heard, rms {rms}");
}

struct Room {
    gw: Gw,
    peer: Peer,
    seen: Vec<Value>,
    /// `until` looks at frames from here on (what came after the last command).
    from: usize,
}

impl Room {
    /// Runs the peer, answering the box's offers, for about `d`.
    async fn run(&mut self, d: Duration) {
        let end = Instant::now() + d;
        while Instant::now() < end {
            self.peer.pump(Duration::from_millis(60)).await;
            while let Some(f) = self.gw.next_within(Duration::from_millis(10)).await {
                if f["op"] == "ephemeral" && f["t"] == "voice.offer" {
                    let answer = self.peer.answer_offer(f["d"]["sdp"].as_str().expect("sdp"));
                    let r = self.gw.request("ans", "voice.answer", json!({"sdp": answer})).await;
                    assert_eq!(r["op"], "reply", "{r}");
                }
                self.seen.push(f);
            }
        }
    }

    /// Runs until `pred` holds for some frame's `d` of type `t` (or panics after `within`).
    async fn until(&mut self, t: &str, within: Duration, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let end = Instant::now() + within;
        loop {
            if let Some(v) = self.seen[self.from..].iter().rev().find(|f| f["op"] == "ephemeral" && f["t"] == t && pred(&f["d"])) {
                return v["d"].clone();
            }
            assert!(Instant::now() < end, "{what}: not seen within {within:?}; replies: {:?}", self.replies());
            self.run(Duration::from_millis(300)).await;
        }
    }

    async fn reply(&mut self, what: &str, contains: &str) -> String {
        let r = self.until("dj.reply", Duration::from_secs(15), what, |d| d["text"].as_str().is_some_and(|t| t.contains(contains))).await;
        r["text"].as_str().unwrap_or_default().to_owned()
    }

    async fn playing(&mut self, title: &str) -> Value {
        self.until("dj.state", Duration::from_secs(20), title, |d| {
            d["dj"]["now_playing"]["entry"]["track"]["title"] == title && d["dj"]["now_playing"]["state"] == "playing"
        })
        .await
    }

    fn replies(&self) -> Vec<String> {
        self.seen.iter().filter(|f| f["t"] == "dj.reply").map(|f| f["d"]["text"].as_str().unwrap_or_default().to_owned()).collect()
    }
}

impl Room {
    /// A chat line in the room; what is looked for next comes after it.
    async fn say(&mut self, c: &Client, room: &str, text: &str) {
        self.run(Duration::from_millis(50)).await;
        self.from = self.seen.len();
        c.post(&format!("/api/channels/{room}/messages"), json!({"content": text})).await.expect_status(201);
    }
}

/// No link previews: `!play <url>` lines are chat messages, and the preview worker would
/// look their hosts up (this test sends nothing beyond loopback).
async fn no_previews(admin: &Client) {
    admin.patch("/api/admin/settings", json!({"embeds_enabled": false})).await.expect_status(200);
}

async fn in_room(c: &Client, lounge: &str) -> Room {
    let (mut gw, _) = c.gateway(None).await;
    let mut peer = join(&mut gw, lounge, 1).await;
    peer.keep = true;
    Room { gw, peer, seen: Vec::new(), from: 0 }
}

async fn allow(admin: &Client, entry: &str) {
    admin.patch("/api/admin/settings", json!({"embed_allowlist": [entry]})).await.expect_status(200);
}

impl Room {
    /// Keeps the room running until at most `left` connections are open at the server.
    async fn wait_closed(&mut self, m: &Media, left: usize, what: &str) {
        let end = Instant::now() + Duration::from_secs(15);
        while m.open.load(Ordering::SeqCst) > left {
            assert!(Instant::now() < end, "{what}: {} connections still open", m.open.load(Ordering::SeqCst));
            self.run(Duration::from_millis(200)).await;
        }
    }
}

#[tokio::test]
async fn web_audio_radio_and_playlists_play_in_the_room_and_refusals_are_words() {
    let d = Daemon::start();
    let admin = d.admin().await;
    let bob = d.member(&admin, "bob").await;
    let lounge = voice_channel(&admin, "lounge", 0).await;
    no_previews(&admin).await;
    let m = media_server().await;
    let base = format!("http://127.0.0.1:{}", m.port);
    let mut room = in_room(&bob, &lounge).await;

    // Not allowlisted yet: the box refuses its own loopback and says how to allow it.
    room.say(&bob, &lounge, &format!("!play {base}/tone.wav")).await;
    let w = room.reply("unlisted", "allowlist").await;
    assert!(w.contains(&format!("127.0.0.1:{}", m.port)), "{w}");
    assert!(m.seen.lock().expect("seen").is_empty(), "nothing reached the server");
    room.say(&bob, &lounge, "!play https://www.youtube.com/watch?v=dQw4w9WgXcQ").await;
    room.reply("youtube", "YouTube is not supported").await;
    room.say(&bob, &lounge, "!play http://10.255.255.1:8000/stream").await;
    room.reply("a LAN address", "local network").await;
    room.say(&bob, &lounge, "!play http://example.invalid:25/x.mp3").await;
    room.reply("a low port", "port 25").await;

    allow(&admin, &format!("127.0.0.1:{}", m.port)).await;
    room.say(&bob, &lounge, &format!("!play {base}/page.html")).await;
    room.reply("html", "That page is not an audio file or a playlist").await;

    // (a) A file: it plays, named from its file name, and decodes to its 440 Hz.
    room.say(&bob, &lounge, &format!("!play {base}/tone.wav")).await;
    let s = room.playing("tone").await;
    let mark = room.peer.payloads.len();
    assert_eq!(s["dj"]["now_playing"]["entry"]["track"]["live"], false, "{s}");
    room.run(Duration::from_secs(3)).await;
    assert_tone(&room.peer, mark, 440.0);

    // (b, c) An M3U of a radio station: its mirror is not queued, the station plays live with
    // the changing ICY titles; the box asked for them.
    room.say(&bob, &lounge, &format!("!play {base}/station.m3u")).await;
    room.reply("m3u queued", "Spot Test FM").await;
    room.say(&bob, &lounge, "!skip").await;
    let s = room.playing("Spot Test FM").await;
    let mark = room.peer.payloads.len();
    assert_eq!(s["dj"]["now_playing"]["entry"]["track"]["live"], true, "{s}");
    // The titles keep changing while it plays (one every ~2 s of audio; they are shown a few
    // seconds early, as they are read off the network ahead of the buffered audio).
    let title = |d: &Value| d["dj"]["now_playing"]["icy_title"].as_str().and_then(|t| t.strip_prefix("Spot Test - Song ")).and_then(|n| n.parse::<u32>().ok());
    let first = room.until("dj.state", Duration::from_secs(15), "an ICY title", |d| title(d).is_some()).await;
    let first = title(&first).unwrap_or_default();
    room.run(Duration::from_secs(3)).await;
    room.until("dj.state", Duration::from_secs(15), "a later ICY title", |d| title(d).is_some_and(|n| n > first + 1)).await;
    assert_tone(&room.peer, mark, 660.0);
    let radio_requests: Vec<_> = m.seen.lock().expect("seen").iter().filter(|(p, _)| p.starts_with("/radio")).cloned().collect();
    assert!(radio_requests.iter().all(|(p, _)| p == "/radio"), "the mirror was never queued: {radio_requests:?}");
    assert!(radio_requests.iter().all(|(_, h)| h.get("icy-metadata").map(String::as_str) == Some("1")), "{radio_requests:?}");
    let view = bob.get(&format!("/api/channels/{lounge}/dj")).await.expect_status(200);
    assert_eq!(view.body["dj"]["queue"].as_array().map(Vec::len), Some(0), "one station, not its mirror: {}", view.body);
    assert!(m.open.load(Ordering::SeqCst) >= 1, "the station is streaming");

    // (e) then the PLS behind a stream that stalls: the stall ends in words, the DJ moves on,
    // and no connection is left behind (the radio's closed when the DJ moved on from it).
    room.say(&bob, &lounge, &format!("!play {base}/stall.mp3")).await;
    room.say(&bob, &lounge, &format!("!play {base}/two.pls")).await;
    room.reply("the pls", "2 tracks").await;
    room.say(&bob, &lounge, "!skip").await;
    room.playing("stall").await;
    room.wait_closed(&m, 1, "the radio after the skip").await;
    let w = room.reply("the stall", "Could not play").await;
    assert!(w.contains("stopped sending"), "{w}");
    room.playing("tone").await;
    let view = bob.get(&format!("/api/channels/{lounge}/dj")).await.expect_status(200);
    assert_eq!(view.body["dj"]["queue"][0]["track"]["title"], "Second Song", "{}", view.body);
    room.wait_closed(&m, 1, "the stalled stream").await;

    // Leaving: the DJ stops, and nothing stays open at the server.
    room.say(&bob, &lounge, "!stop").await;
    room.run(Duration::from_secs(1)).await;
    room.wait_closed(&m, 0, "after stop").await;
}

#[tokio::test]
async fn jellyfin_is_set_up_by_the_admin_searched_and_played() {
    let d = Daemon::start();
    let admin = d.admin().await;
    let bob = d.member(&admin, "bob").await;
    let lounge = voice_channel(&admin, "lounge", 0).await;
    no_previews(&admin).await;
    let m = media_server().await;
    let url = format!("http://127.0.0.1:{}/jf/", m.port);

    bob.get("/api/admin/jellyfin").await.expect_error(403, "admin_only");
    bob.get("/api/music/jellyfin?q=jelly").await.expect_error(404, "jellyfin_not_configured");
    let r = admin.get("/api/admin/jellyfin").await.expect_status(200);
    assert_eq!(r.body["configured"], false);

    // A LAN server needs its allowlist entry; the answer says which.
    let r = admin.put("/api/admin/jellyfin", json!({"url": url, "api_key": KEY})).await.expect_error(400, "jellyfin_unreachable");
    let msg = r.body["error"]["message"].as_str().unwrap_or_default();
    assert!(msg.contains("allowlist") && msg.contains(&format!("127.0.0.1:{}", m.port)), "{msg}");
    allow(&admin, &format!("127.0.0.1:{}", m.port)).await;
    let r = admin.put("/api/admin/jellyfin", json!({"url": url, "api_key": "wrongkey0000"})).await.expect_error(400, "jellyfin_unreachable");
    assert!(r.body["error"]["message"].as_str().unwrap_or_default().contains("refused the API key"), "{}", r.body);
    admin.put("/api/admin/jellyfin", json!({"url": url, "api_key": "bad\"key"})).await.expect_error(400, "bad_jellyfin_key");
    assert_eq!(admin.get("/api/admin/jellyfin").await.body["configured"], false, "a failed test stores nothing");
    let r = admin.put("/api/admin/jellyfin", json!({"url": url, "api_key": KEY})).await.expect_status(200);
    assert_eq!(r.body["message"], "Connected to “Fake Jellyfin” (Jellyfin 10.9.11).", "{}", r.body);
    // The key never comes back whole; a PUT without it keeps it.
    let r = admin.get("/api/admin/jellyfin").await.expect_status(200);
    assert_eq!(r.body["api_key"], "••••cdef", "{}", r.body);
    assert!(!r.body.to_string().contains(KEY));
    admin.put("/api/admin/jellyfin", json!({"url": url})).await.expect_status(200);

    // The web UI's search route.
    let r = bob.get("/api/music/jellyfin?q=jelly").await.expect_status(200);
    assert_eq!(r.body["items"][0]["source"], format!("jellyfin:{JF_ID}"), "{}", r.body);
    assert_eq!(r.body["items"][0]["artist"], "Fake Band");
    assert_eq!(r.body["items"][0]["duration_ms"], 8000);
    assert_eq!(bob.get("/api/music/jellyfin?q=nothing").await.body["items"], json!([]));

    // `!play words` finds it on Jellyfin (the library is empty) and it plays its 550 Hz.
    let mut room = in_room(&bob, &lounge).await;
    room.say(&bob, &lounge, "!play jelly tone").await;
    let s = room.playing("Jelly Tone").await;
    let mark = room.peer.payloads.len();
    assert_eq!(s["dj"]["now_playing"]["entry"]["track"]["album"], "Fake LP", "{s}");
    room.run(Duration::from_secs(3)).await;
    assert_tone(&room.peer, mark, 550.0);
    // By its source key too: `jellyfin:` is a track scheme once Jellyfin is set up.
    room.say(&bob, &lounge, &format!("!play jellyfin:{JF_ID}")).await;
    room.reply("by key", "Jelly Tone").await;
    let streams: Vec<_> = m.seen.lock().expect("seen").iter().filter(|(p, _)| p.starts_with("/jf/Audio/")).cloned().collect();
    assert!(!streams.is_empty());
    for (p, h) in &streams {
        assert!(!p.contains(KEY), "the key is a header, never in a URL: {p}");
        assert_eq!(h.get("x-emby-token").map(String::as_str), Some(KEY));
    }

    // Switched off: the source is gone, in words.
    admin.put("/api/admin/jellyfin", json!({"url": ""})).await.expect_status(200);
    bob.get("/api/music/jellyfin?q=jelly").await.expect_error(404, "jellyfin_not_configured");
}
