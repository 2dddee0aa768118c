//! The shared DJ on the real daemon: a track uploaded into the music library, `!play` typed in
//! the voice room's chat, and the music arriving at a real str0m peer in the room over UDP as
//! Opus that decodes to the uploaded tone; the panel's buttons, answers in words, the state
//! surviving a restart, and hostile uploads.

use crate::harness::*;
use crate::voice::{join, voice_channel, Peer};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// A WAV file of a sine at `freq` Hz, `amp` of full scale, 48 kHz stereo 16-bit.
fn tone_wav(freq: f32, amp: f32, secs: f32) -> Vec<u8> {
    let rate = 48_000u32;
    let n = (rate as f32 * secs) as u32;
    let data_len = n * 4;
    let mut v = Vec::with_capacity(44 + data_len as usize);
    v.extend_from_slice(b"RIFF");
    v.extend_from_slice(&(36 + data_len).to_le_bytes());
    v.extend_from_slice(b"WAVEfmt ");
    v.extend_from_slice(&16u32.to_le_bytes());
    v.extend_from_slice(&1u16.to_le_bytes());
    v.extend_from_slice(&2u16.to_le_bytes());
    v.extend_from_slice(&rate.to_le_bytes());
    v.extend_from_slice(&(rate * 4).to_le_bytes());
    v.extend_from_slice(&4u16.to_le_bytes());
    v.extend_from_slice(&16u16.to_le_bytes());
    v.extend_from_slice(b"data");
    v.extend_from_slice(&data_len.to_le_bytes());
    for i in 0..n {
        let s = (amp * (2.0 * std::f32::consts::PI * freq * i as f32 / rate as f32).sin() * 32767.0) as i16;
        v.extend_from_slice(&s.to_le_bytes());
        v.extend_from_slice(&s.to_le_bytes());
    }
    v
}

async fn upload_track(c: &Client, name: &str, bytes: Vec<u8>) -> Resp {
    let url = format!("{}/api/music/tracks", c.base);
    Client::patient_with("/api/music/tracks", 20, || {
        c.http
            .post(&url)
            .header("x-csrf-token", c.csrf_token())
            .header("x-filename", name)
            .header("content-type", "application/octet-stream")
            .body(bytes.clone())
    })
    .await
}

/// Power of `freq` in `samples` (mono, 48 kHz), Goertzel.
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

/// Runs the peer and collects every gateway frame (answering the box's offers) for about `d`.
async fn run(gw: &mut Gw, peer: &mut Peer, d: Duration, seen: &mut Vec<Value>) {
    let end = Instant::now() + d;
    while Instant::now() < end {
        peer.pump(Duration::from_millis(60)).await;
        while let Some(f) = gw.next_within(Duration::from_millis(10)).await {
            if f["op"] == "ephemeral" && f["t"] == "voice.offer" {
                let answer = peer.answer_offer(f["d"]["sdp"].as_str().expect("sdp"));
                let r = gw.request("ans", "voice.answer", json!({"sdp": answer})).await;
                assert_eq!(r["op"], "reply", "{r}");
            }
            seen.push(f);
        }
    }
}

fn ephemerals<'a>(seen: &'a [Value], t: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    seen.iter().filter(move |f| f["op"] == "ephemeral" && f["t"] == t).map(|f| &f["d"])
}

fn received(peer: &Peer) -> u64 {
    peer.received.values().sum()
}

#[tokio::test]
async fn a_track_played_from_the_room_chat_reaches_the_room_as_the_uploaded_tone() {
    let mut d = Daemon::start();
    let admin = d.admin().await;
    let bob = d.member(&admin, "bob").await;
    let lounge = voice_channel(&admin, "lounge", 0).await;

    // Bob adds a tone to the library: the box reads its length and names it from the file.
    let r = upload_track(&bob, "Test%20Tone.wav", tone_wav(440.0, 0.25, 6.0)).await.expect_status(201);
    assert_eq!(r.body["title"], "Test Tone", "{}", r.body);
    assert_eq!(r.body["codec"], "pcm", "{}", r.body);
    assert!((r.body["duration_ms"].as_i64().expect("ms") - 6000).abs() < 50, "{}", r.body);
    let list = bob.get("/api/music/tracks?q=tone").await.expect_status(200);
    assert_eq!(list.body["total"], 1);

    let (mut gw, _) = bob.gateway(None).await;
    let mut peer = join(&mut gw, &lounge, 1).await;
    peer.keep = true;
    let mut seen = Vec::new();
    run(&mut gw, &mut peer, Duration::from_secs(2), &mut seen).await;
    let before = received(&peer);
    assert_eq!(before, 0, "alone in the room, nothing is forwarded");

    // `!play` in the room's own chat: the DJ answers, joins and plays.
    bob.post(&format!("/api/channels/{lounge}/messages"), json!({"content": "!play test tone"})).await.expect_status(201);
    // About 4 s on this machine; patient for slow ones (the aarch64 build runs under emulation).
    let end = Instant::now() + Duration::from_secs(30);
    while received(&peer) < 150 && Instant::now() < end {
        run(&mut gw, &mut peer, Duration::from_millis(500), &mut seen).await;
    }
    let replies: Vec<&Value> = ephemerals(&seen, "dj.reply").collect();
    assert!(replies.iter().any(|r| r["text"].as_str().unwrap_or("").contains("Test Tone") && r["private"] == false), "{replies:?}");
    let states: Vec<&Value> = ephemerals(&seen, "dj.state").collect();
    let last = states.last().expect("a dj.state");
    assert_eq!(last["dj"]["now_playing"]["entry"]["track"]["title"], "Test Tone", "{last}");
    assert_eq!(last["dj"]["now_playing"]["state"], "playing", "{last}");
    let voice = ephemerals(&seen, "voice.state").filter(|v| v["channel_id"] == lounge.as_str()).last().expect("voice.state");
    assert!(voice["dj"]["participant"].as_str().is_some_and(|p| p.starts_with('p')), "the DJ sits in the room: {voice}");
    assert!(ephemerals(&seen, "voice.state").any(|v| v["dj"]["speaking"] == true), "the DJ speaks while the music is loud");

    // The music arrived as Opus, about 50 frames a second, and decodes to the 440 Hz tone.
    let got = received(&peer);
    assert!(got >= 150, "only {got} DJ frames in 30 s");
    let mut dec = opus::Decoder::new(48_000, opus::Channels::Stereo).expect("decoder");
    let mut pcm = Vec::new();
    let mut buf = vec![0f32; 5760 * 2];
    for p in peer.payloads.iter().skip(20).take(100) {
        let n = dec.decode_float(p, &mut buf, false).expect("the DJ sends Opus");
        pcm.extend(buf[..n * 2].chunks(2).map(|c| c[0]));
    }
    let (at, off) = (power(&pcm, 440.0), power(&pcm, 1000.0).max(power(&pcm, 300.0)));
    assert!(at > 100.0 * off, "440 Hz should dominate: {at} vs {off}");
    let rms = (pcm.iter().map(|x| x * x).sum::<f32>() / pcm.len() as f32).sqrt();
    assert!(rms > 0.02, "the music is heard, rms {rms}");

    // The panel's buttons: pause stops the frames, a bad volume is answered to Bob alone.
    bob.post(&format!("/api/channels/{lounge}/dj"), json!({"text": "!pause"})).await.expect_status(200);
    run(&mut gw, &mut peer, Duration::from_millis(600), &mut seen).await;
    let paused_at = received(&peer);
    run(&mut gw, &mut peer, Duration::from_secs(1), &mut seen).await;
    assert!(received(&peer) - paused_at < 5, "paused: no more music");
    let view = bob.get(&format!("/api/channels/{lounge}/dj")).await.expect_status(200);
    assert_eq!(view.body["dj"]["now_playing"]["state"], "paused", "{}", view.body);
    seen.clear();
    bob.post(&format!("/api/channels/{lounge}/dj"), json!({"text": "volume 999"})).await.expect_status(200);
    run(&mut gw, &mut peer, Duration::from_millis(500), &mut seen).await;
    let r = ephemerals(&seen, "dj.reply").last().expect("an answer").clone();
    assert_eq!(r["private"], true, "{r}");
    assert!(r["text"].as_str().unwrap_or("").contains("150"), "{r}");
    bob.post(&format!("/api/channels/{lounge}/dj"), json!({"text": "!volume 40"})).await.expect_status(200);
    run(&mut gw, &mut peer, Duration::from_millis(800), &mut seen).await;

    // Hostile commands on the panel's route are refused in words.
    let general = admin.general().await;
    bob.post(&format!("/api/channels/{general}/dj"), json!({"text": "!skip"})).await.expect_error(400, "not_voice_channel");
    bob.post(&format!("/api/channels/{lounge}/dj"), json!({"text": ""})).await.expect_error(400, "bad_command");
    bob.post(&format!("/api/channels/{lounge}/dj"), json!({"text": "x".repeat(600)})).await.expect_error(400, "bad_command");
    bob.post(&format!("/api/channels/{lounge}/dj"), json!({"text": "!nosuchthing"})).await.expect_error(400, "bad_command");
    bob.post("/api/channels/999999/dj", json!({"text": "!skip"})).await.expect_error(404, "unknown_channel");

    // The queue, the paused track's place and the volume survive a restart.
    drop(gw);
    d.stop();
    d.restart_same_port();
    // The pooled keep-alive connection died with the old process.
    let _ = bob.http.get(format!("{}/api/me", bob.base)).send().await;
    let view = Client::patient_with("dj view", 20, || bob.http.get(format!("{}/api/channels/{lounge}/dj", bob.base))).await.expect_status(200);
    let np = &view.body["dj"]["now_playing"];
    assert_eq!(np["entry"]["track"]["title"], "Test Tone", "{}", view.body);
    assert!(np["position_ms"].as_u64().expect("position") > 1000, "{}", view.body);
    assert_eq!(view.body["dj"]["volume"], 40, "{}", view.body);
}

#[tokio::test]
async fn hostile_music_uploads_are_refused_in_words_and_leave_nothing_behind() {
    let d = Daemon::start();
    let admin = d.admin().await;
    let bob = d.member(&admin, "bob").await;
    upload_track(&bob, "empty.mp3", Vec::new()).await.expect_error(400, "empty");
    upload_track(&bob, "noise.mp3", (0..50_000u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect()).await.expect_error(400, "unsupported_format");
    // A WAV header claiming an absurd rate.
    let mut bad = tone_wav(440.0, 0.2, 0.5);
    bad[24..28].copy_from_slice(&4_000_000u32.to_le_bytes());
    let r = upload_track(&bob, "fast.wav", bad).await;
    assert_eq!(r.status, 400, "{}", r.body);
    // Truncated after the header: no audio.
    let short = tone_wav(440.0, 0.2, 1.0)[..44].to_vec();
    assert_eq!(upload_track(&bob, "short.wav", short).await.status, 400);
    // The same bytes twice: the second is named as the first.
    let t = tone_wav(300.0, 0.2, 1.0);
    upload_track(&bob, "a.wav", t.clone()).await.expect_status(201);
    let r = upload_track(&bob, "b.wav", t).await.expect_error(409, "track_exists");
    assert!(r.body["error"]["message"].as_str().unwrap_or("").contains('a'), "{}", r.body);
    // Without a file name the upload is refused; nobody but the uploader (or a moderator) deletes.
    let r = Client::finish(bob.http.post(format!("{}/api/music/tracks", bob.base)).header("x-csrf-token", bob.csrf_token()).body("x")).await;
    assert_eq!(r.status, 400, "{}", r.body);
    let list = bob.get("/api/music/tracks").await.expect_status(200);
    assert_eq!(list.body["total"], 1, "{}", list.body);
    let id = list.body["tracks"][0]["id"].as_str().expect("id").to_owned();
    let carol = d.member(&admin, "carol").await;
    carol.delete(&format!("/api/music/tracks/{id}")).await.expect_error(403, "not_yours");
    admin.delete(&format!("/api/music/tracks/{id}")).await.expect_status(204);
    assert_eq!(bob.get("/api/music/tracks").await.body["total"], 0);
    // Nothing is left in the music directory or the temp directory.
    let files = d.dir.path().join("files");
    let left: Vec<_> = std::fs::read_dir(files.join("music")).map(|r| r.flatten().filter(|e| e.path().is_file()).collect()).unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
    let tmp: Vec<_> = std::fs::read_dir(files.join("tmp")).map(|r| r.flatten().collect()).unwrap_or_default();
    assert!(tmp.is_empty(), "{tmp:?}");
}

/// Admin → Audio once the speaker's thread has tried its device (it starts as "starting").
async fn settled(admin: &Client) -> Resp {
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let r = admin.get("/api/admin/audio").await.expect_status(200);
        if r.body["speaker"]["state"]["state"] != "starting" || Instant::now() > end {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn admin_audio_lists_the_hardware_and_keeps_the_speaker_settings() {
    let mut d = Daemon::start();
    let admin = d.admin().await;
    let bob = d.member(&admin, "bob").await;
    bob.get("/api/admin/audio").await.expect_error(403, "admin_only");
    bob.put("/api/admin/audio", json!({"enabled": false, "device": null, "mixer": null, "volume": 50, "room_id": null})).await.expect_error(403, "admin_only");
    // This machine has no sound card: the list is empty and the report says why, in words.
    let r = admin.get("/api/admin/audio").await.expect_status(200);
    assert_eq!(r.body["cards"], json!([]), "{}", r.body);
    assert!(r.body["report"].as_str().unwrap_or("").contains("no sound card found"), "{}", r.body);
    assert_eq!(r.body["settings"]["enabled"], false);
    assert_eq!(r.body["speaker"], Value::Null);

    // Refused in words: on without an output, a name ALSA would choke on, a volume past 100,
    // a room that is not a voice room, unknown fields.
    let lounge = voice_channel(&admin, "lounge", 0).await;
    let general = admin.general().await;
    let put = |v: Value| admin.put("/api/admin/audio", v);
    put(json!({"enabled": true, "device": null, "mixer": null, "volume": 50, "room_id": null})).await.expect_error(400, "no_audio_device");
    put(json!({"enabled": true, "device": "hw:CARD=x; rm -rf", "mixer": null, "volume": 50, "room_id": null})).await.expect_error(400, "bad_audio_settings");
    put(json!({"enabled": true, "device": "hw:0", "mixer": null, "volume": 101, "room_id": null})).await.expect_error(400, "bad_audio_settings");
    put(json!({"enabled": true, "device": "hw:0", "mixer": null, "volume": 50, "room_id": general})).await.expect_error(400, "not_voice_channel");
    put(json!({"enabled": true, "device": "hw:0", "volume": 50, "room_id": null, "extra": 1})).await.expect_status(400);
    // A tone with the speaker off, or on an output that is not there, is answered in words.
    admin.post("/api/admin/audio/tone", json!({})).await.expect_error(400, "no_audio_device");
    let r = admin.post("/api/admin/audio/tone", json!({"device": "hw:CARD=Nope,DEV=0"})).await.expect_error(400, "audio_device_failed");
    assert!(r.body["error"]["message"].as_str().unwrap_or("").contains("hw:CARD=Nope,DEV=0"), "{}", r.body);

    // A USB DAC that is not plugged in yet: saved, and the speaker waits for it.
    let want = json!({"enabled": true, "device": "hw:CARD=Dac,DEV=0", "mixer": "software", "volume": 55, "room_id": lounge});
    put(want.clone()).await.expect_status(200);
    let r = settled(&admin).await;
    assert_eq!(r.body["settings"], want);
    assert_eq!(r.body["speaker"]["state"]["state"], "waiting_for_device", "{}", r.body);
    assert!(r.body["speaker"]["state"]["reason"].as_str().unwrap_or("").starts_with("the device is not there"), "plain words first: {}", r.body);
    // What the page polls: the same state without scanning the hardware.
    let st = admin.get("/api/admin/audio/status").await.expect_status(200);
    assert_eq!((st.body["settings"].clone(), st.body["speaker"]["state"]["state"].clone()), (want.clone(), json!("waiting_for_device")));
    assert!(st.body.get("cards").is_none());
    bob.get("/api/admin/audio/status").await.expect_error(403, "admin_only");
    let r = admin.get("/api/admin/audit").await.expect_status(200);
    assert!(r.body.to_string().contains("audio.update"), "{}", r.body);

    // Kept across a restart, and `spot doctor audio` prints the same facts for a terminal.
    d.stop();
    let out = spot(d.dir.path()).args(["doctor", "audio"]).output().expect("doctor audio");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains("no sound card found") && text.contains("hw:CARD=Dac,DEV=0"), "{text}");
    d.restart_same_port();
    let _ = admin.http.get(format!("{}/api/me", admin.base)).send().await;
    Client::patient_with("audio", 20, || admin.http.get(format!("{}/api/admin/audio", admin.base))).await.expect_status(200);
    let r = settled(&admin).await;
    assert_eq!(r.body["settings"], want);
    assert_eq!(r.body["speaker"]["state"]["state"], "waiting_for_device", "{}", r.body);
}

#[tokio::test]
async fn admin_dj_settings_limit_the_queue_and_open_a_text_channel_to_commands() {
    let mut d = Daemon::start();
    let admin = d.admin().await;
    let bob = d.member(&admin, "bob").await;
    let lounge = voice_channel(&admin, "lounge", 0).await;
    let general = admin.general().await;
    bob.get("/api/admin/dj").await.expect_error(403, "admin_only");
    let r = admin.get("/api/admin/dj").await.expect_status(200);
    assert_eq!(r.body["settings"], r.body["defaults"]);
    // Bad values are refused naming the key; a voice room is no command channel.
    let mut s = r.body["settings"].clone();
    s["config"]["vote_ratio"] = json!(3.0);
    let e = admin.put("/api/admin/dj", s).await.expect_error(400, "bad_dj_settings");
    assert!(e.body["error"]["message"].as_str().unwrap_or("").contains("vote_ratio"), "{}", e.body);
    let mut s = r.body["settings"].clone();
    s["command_channels"] = json!([lounge]);
    admin.put("/api/admin/dj", s).await.expect_error(400, "bad_dj_settings");
    let mut s = r.body["settings"].clone();
    s["nonsense"] = json!(1);
    admin.put("/api/admin/dj", s).await.expect_status(400);

    // One track per person, and #general takes commands.
    let mut s = r.body["settings"].clone();
    s["config"]["per_user_limit"] = json!(1);
    s["command_channels"] = json!([general]);
    admin.put("/api/admin/dj", s.clone()).await.expect_status(200);
    for (i, f) in [440.0, 550.0, 660.0].iter().enumerate() {
        upload_track(&bob, &format!("t{i}.wav"), tone_wav(*f, 0.2, 30.0)).await.expect_status(201);
    }

    // Not in a room: a command in #general is answered privately there.
    let (mut gw, _) = bob.gateway(None).await;
    let mut seen = Vec::new();
    bob.post(&format!("/api/channels/{general}/messages"), json!({"content": "!np"})).await.expect_status(201);
    let mut dummy = None;
    let end = Instant::now() + Duration::from_secs(3);
    while Instant::now() < end && dummy.is_none() {
        if let Some(f) = gw.next_within(Duration::from_millis(200)).await {
            if f["t"] == "dj.reply" {
                dummy = Some(f["d"].clone());
            }
        }
    }
    let reply = dummy.expect("a private answer in #general");
    assert_eq!((reply["channel_id"].as_str(), reply["private"].as_bool()), (Some(general.as_str()), Some(true)), "{reply}");
    assert!(reply["text"].as_str().unwrap_or("").contains("Join a voice room"), "{reply}");

    // In the room: #general drives the room's DJ, answering in #general; the limit holds.
    let mut peer = join(&mut gw, &lounge, 1).await;
    run(&mut gw, &mut peer, Duration::from_secs(1), &mut seen).await;
    seen.clear();
    bob.post(&format!("/api/channels/{general}/messages"), json!({"content": "!play t0"})).await.expect_status(201);
    bob.post(&format!("/api/channels/{general}/messages"), json!({"content": "!play t1"})).await.expect_status(201);
    bob.post(&format!("/api/channels/{general}/messages"), json!({"content": "!play t2"})).await.expect_status(201);
    run(&mut gw, &mut peer, Duration::from_secs(3), &mut seen).await;
    let replies: Vec<&Value> = ephemerals(&seen, "dj.reply").collect();
    assert!(replies.iter().all(|r| r["channel_id"] == general.as_str()), "answers go where the command was: {replies:?}");
    assert!(replies.iter().any(|r| r["private"] == true && r["text"].as_str().unwrap_or("").contains("You can have at most 1")), "the per-user limit answers: {replies:?}");
    let view = bob.get(&format!("/api/channels/{lounge}/dj")).await.expect_status(200);
    assert_eq!(view.body["dj"]["now_playing"]["entry"]["track"]["title"], "t0", "{}", view.body);
    assert_eq!(view.body["dj"]["queue_total"], 1, "{}", view.body);
    assert!(received(&peer) > 50, "the music plays in the room");

    // The settings survive a restart.
    drop(gw);
    d.stop();
    d.restart_same_port();
    let _ = admin.http.get(format!("{}/api/me", admin.base)).send().await;
    let r = Client::patient_with("dj settings", 20, || admin.http.get(format!("{}/api/admin/dj", admin.base))).await.expect_status(200);
    assert_eq!(r.body["settings"]["config"]["per_user_limit"], 1);
    assert_eq!(r.body["settings"]["command_channels"], json!([general]));
}
