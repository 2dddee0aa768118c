//! In-process simulation of rooms: forwarding, mute/deafen, speaking, loss, reconnects,
//! ICE-TCP, address changes (the harness is `common/`).
#![allow(clippy::unwrap_used)]

mod common;
use common::*;
#[test]
fn everyone_hears_everyone_else_and_not_themselves() {
    let mut w = World::new(0.0);
    room_of(&mut w, 4, 0.0);
    let before = w.snapshot();
    w.run(Duration::from_secs(2));
    for to in 0..4 {
        assert_eq!(delta(&before, &w, to, to), 0, "{to} hears itself");
        for from in (0..4).filter(|f| *f != to) {
            // 2 s of 20 ms frames is 100; allow for the pipeline's edges.
            let n = delta(&before, &w, to, from);
            assert!(n >= 95, "{to} got {n} frames from {from}");
        }
    }
    assert!(w.offers_seen >= 3, "server-initiated renegotiation happened");
}

#[test]
fn rooms_are_separate() {
    let mut w = World::new(0.0);
    w.join(0, RoomId(1));
    w.join(1, RoomId(1));
    w.join(2, RoomId(2));
    w.run(Duration::from_secs(3));
    assert!(w.received(0, 1) > 50);
    assert_eq!(w.received(0, 2), 0);
    assert_eq!(w.received(2, 0), 0);
}

#[test]
fn muted_participant_is_not_forwarded_and_unmute_restores() {
    let mut w = World::new(0.0);
    room_of(&mut w, 3, 0.0);
    w.sfu.set_muted(w.now, ParticipantId(1), true).unwrap();
    w.run(Duration::from_millis(100)); // in flight
    let before = w.snapshot();
    w.run(Duration::from_secs(1));
    assert_eq!(delta(&before, &w, 0, 1), 0);
    assert_eq!(delta(&before, &w, 2, 1), 0);
    assert!(delta(&before, &w, 1, 0) >= 45, "a muted person still hears");
    assert_eq!(w.speaking.get(&ParticipantId(1)), Some(&false), "muted is never speaking");
    w.sfu.set_muted(w.now, ParticipantId(1), false).unwrap();
    let before = w.snapshot();
    w.run(Duration::from_secs(1));
    assert!(delta(&before, &w, 0, 1) >= 45);
}

#[test]
fn deafened_participant_receives_nothing_but_is_heard() {
    let mut w = World::new(0.0);
    room_of(&mut w, 3, 0.0);
    w.sfu.set_deafened(ParticipantId(2), true).unwrap();
    w.run(Duration::from_millis(100));
    let before = w.snapshot();
    w.run(Duration::from_secs(1));
    assert_eq!(delta(&before, &w, 2, 0) + delta(&before, &w, 2, 1), 0);
    assert!(delta(&before, &w, 0, 2) >= 45, "deafened is still heard");
}

#[test]
fn departed_participant_stops_and_its_track_is_renegotiated_away() {
    let mut w = World::new(0.0);
    room_of(&mut w, 3, 0.0);
    let offers = w.offers_seen;
    w.leave(2);
    w.run(Duration::from_millis(200));
    assert!(w.offers_seen > offers, "the others got an offer that stops the track");
    let before = w.snapshot();
    w.run(Duration::from_secs(1));
    assert_eq!(delta(&before, &w, 0, 2), 0);
    assert!(delta(&before, &w, 0, 1) >= 45, "the rest of the room keeps going");
    assert_eq!(w.sfu.participants().count(), 2);
}

#[test]
fn reconnecting_client_gets_its_streams_back() {
    let mut w = World::new(0.0);
    room_of(&mut w, 3, 0.0);
    // A network blip: the client throws its connection away and joins again with a fresh one.
    w.join(1, ROOM);
    w.run(Duration::from_secs(3));
    let before = w.snapshot();
    w.run(Duration::from_secs(1));
    assert!(delta(&before, &w, 1, 0) >= 45, "it hears the others again");
    assert!(delta(&before, &w, 1, 2) >= 45);
    assert!(delta(&before, &w, 0, 1) >= 45, "the others hear it again");
    assert_eq!(w.sfu.participants().count(), 3);
}

#[test]
fn speaking_follows_the_audio_level_extension() {
    let mut w = World::new(0.0);
    room_of(&mut w, 2, 0.0);
    assert_eq!(w.speaking.get(&ParticipantId(0)), Some(&true));
    w.clients[0].level = -100; // silence
    w.run(Duration::from_secs(1));
    assert_eq!(w.speaking.get(&ParticipantId(0)), Some(&false));
    assert_eq!(w.speaking.get(&ParticipantId(1)), Some(&true));
}

#[test]
fn loss_is_survived_and_most_audio_arrives() {
    let mut w = World::new(0.0);
    room_of(&mut w, 3, 0.05);
    let before = w.snapshot();
    w.run(Duration::from_secs(4));
    for to in 0..3u8 {
        for from in (0..3u8).filter(|f| *f != to) {
            // 200 frames sent over two lossy hops (5 % each); NACK may recover some.
            let n = delta(&before, &w, to, from);
            assert!(n >= 160, "{to} got {n} of 200 frames from {from}");
        }
    }
}

#[test]
fn malformed_signalling_is_an_error_and_leaves_the_room_alone() {
    let mut w = World::new(0.0);
    room_of(&mut w, 2, 0.0);
    let e = w.sfu.join(w.now, ParticipantId(0), ROOM, "x", "v=0 nonsense").unwrap_err();
    assert_eq!(e.code(), "bad_sdp");
    let e = w.sfu.add_candidate(ParticipantId(0), "candidate:garbage").unwrap_err();
    assert_eq!(e.code(), "bad_candidate");
    let e = w.sfu.answer(w.now, ParticipantId(0), "v=0").unwrap_err();
    assert_eq!(e.code(), "bad_sdp");
    assert_eq!(w.sfu.add_candidate(ParticipantId(9), "").unwrap_err().code(), "not_in_voice");
    // Datagram garbage on the port is dropped.
    w.sfu.handle_input(SfuInput::Receive {
        now: w.now,
        proto: Protocol::Udp,
        source: "10.9.9.9:1".parse().unwrap(),
        destination: SFU_ADDR.parse().unwrap(),
        contents: &[0xff; 40],
    });
    let before = w.snapshot();
    w.run(Duration::from_secs(1));
    assert!(delta(&before, &w, 0, 1) >= 45);
    assert!(delta(&before, &w, 1, 0) >= 45);
}

#[test]
fn answers_offer_passive_tcp_candidates_next_to_udp() {
    let now = Instant::now();
    let mut sfu = Sfu::new(
        SfuConfig {
            host_candidates: vec![SFU_ADDR.parse().unwrap()],
            tcp_candidates: vec![SFU_TCP_ADDR.parse().unwrap()],
            public_address: Some("203.0.113.7:5000".parse().unwrap()),
        },
        now,
    );
    let mut rtc = Rtc::builder().clear_codecs().enable_opus(true, false).build(now);
    let mut api = rtc.sdp_api();
    api.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None);
    let (offer, _) = api.apply().unwrap();
    let answer = sfu.join(now, ParticipantId(1), ROOM, "u1", &offer.to_sdp_string()).unwrap();
    let cands: Vec<&str> = answer.lines().filter(|l| l.starts_with("a=candidate:")).collect();
    let has = |needle: &[&str]| cands.iter().any(|c| needle.iter().all(|n| c.contains(n)));
    assert!(has(&[" udp ", "10.0.0.1 5000 typ host"]), "{cands:?}");
    assert!(has(&[" tcp ", "10.0.0.1 5000 typ host", "tcptype passive"]), "{cands:?}");
    assert!(has(&[" udp ", "203.0.113.7 5000 typ srflx"]), "{cands:?}");
    assert!(has(&[" tcp ", "203.0.113.7 5000 typ srflx", "tcptype passive"]), "{cands:?}");
    // UDP is preferred whenever it works: every TCP candidate ranks below every UDP host one.
    let prio = |c: &str| c.split(' ').nth(3).unwrap().parse::<u32>().unwrap();
    let udp_host = cands.iter().filter(|c| c.contains(" udp ") && c.contains("typ host")).map(|c| prio(c)).min().unwrap();
    assert!(cands.iter().filter(|c| c.contains(" tcp ")).all(|c| prio(c) < udp_host));
}

#[test]
fn udp_blocked_everyone_connects_over_ice_tcp() {
    let mut w = World::new(0.0);
    w.udp_blocked = true;
    for i in 0..3 {
        w.join_with(i, ROOM, true);
    }
    w.run(Duration::from_secs(3));
    for c in &w.clients {
        assert!(c.connected, "client {} connected over TCP", c.idx);
    }
    let before = w.snapshot();
    w.run(Duration::from_secs(2));
    for to in 0..3u8 {
        for from in (0..3u8).filter(|f| *f != to) {
            let n = delta(&before, &w, to, from);
            assert!(n >= 95, "{to} got {n} frames from {from} over TCP");
        }
    }
    assert_eq!(w.delivered.get(&Protocol::Udp), None, "nothing crossed on UDP");
    assert!(w.delivered.get(&Protocol::Tcp).copied().unwrap_or(0) > 1000);
}

#[test]
fn sessions_on_an_address_that_left_the_box_are_disconnected_and_new_answers_use_the_new_ones() {
    let mut w = World::new(0.0);
    room_of(&mut w, 2, 0.0);
    let (sfu, other): (SocketAddr, SocketAddr) = (SFU_ADDR.parse().unwrap(), "10.0.0.2:5000".parse().unwrap());
    // An address joins: nobody is disturbed.
    w.sfu.set_addresses(w.now, vec![sfu, other], vec![sfu, other]);
    w.run(Duration::from_millis(200));
    assert!(w.disconnected.is_empty(), "{:?}", w.disconnected);
    // The one everyone's media used leaves: both are told (their clients re-join).
    w.sfu.set_addresses(w.now, vec![other], vec![other]);
    w.route_outputs();
    assert_eq!(w.disconnected, vec![ParticipantId(0), ParticipantId(1)]);
    assert_eq!(w.sfu.participants().count(), 0);
    let mut rtc = Rtc::builder().clear_codecs().enable_opus(true, false).build(w.now);
    let mut api = rtc.sdp_api();
    api.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None);
    let (offer, _) = api.apply().unwrap();
    let answer = w.sfu.join(w.now, ParticipantId(5), ROOM, "u5", &offer.to_sdp_string()).unwrap();
    assert!(answer.contains(" 10.0.0.2 5000 typ host") && !answer.contains(" 10.0.0.1 "), "{answer}");
}

#[test]
fn at_most_two_tracks_per_participant_are_forwarded() {
    // (Video cannot even be negotiated: the SFU's sessions carry Opus only, so a video m-line
    // is answered without a payload type and never becomes a track.)
    let mut w = World::new(0.0);
    // Participant 0 offers a microphone and three more audio tracks.
    w.join_media(0, ROOM, false, &[MediaKind::Audio, MediaKind::Audio, MediaKind::Audio]);
    w.join(1, ROOM);
    w.run(Duration::from_secs(3));
    let (_, offer) = w.offers.iter().rev().find(|(p, _)| *p == World::pid(1)).expect("participant 1 was offered the others' tracks");
    let sections: Vec<&str> = offer.split("\r\nm=").skip(1).collect();
    let sent = |kind: &str| sections.iter().filter(|m| m.starts_with(kind) && m.contains("a=sendonly")).count();
    assert_eq!(sent("audio"), voice::sfu::MAX_TRACKS_IN, "at most MAX_TRACKS_IN audio tracks: {offer}");
    // The microphone still works.
    let before = w.snapshot();
    w.run(Duration::from_secs(1));
    assert!(delta(&before, &w, 1, 0) >= 40, "1 hears 0");
}
