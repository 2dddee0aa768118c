//! Local senders (the DJ): a participant inside the box that only sends audio. Its frames must
//! reach everyone in its room like a person's, follow the same mute/deafen rules and speaking
//! state, reach people who join later, and go away cleanly.
#![allow(clippy::unwrap_used)]

mod common;
use common::*;
use voice::{LocalFrame, VoiceError};

const DJ: ParticipantId = ParticipantId(1 << 62);
/// The first byte of the DJ's payloads (the clients count frames by it).
const DJ_TAG: u8 = 200;

/// Steps the world for `d`, the DJ sending one frame every 20 ms at `level`.
fn play(w: &mut World, d: Duration, level: i8) -> (usize, usize) {
    let end = w.now + d;
    let (mut frames, mut writes) = (0, 0);
    while w.now < end {
        w.step();
        if w.ticks % 20 == 0 {
            let opus = [DJ_TAG; 50];
            writes += w.sfu.send_local(w.now, DJ, LocalFrame { opus: &opus, samples: 960, level }).unwrap();
            frames += 1;
            w.route_outputs();
        }
    }
    (frames, writes)
}

fn dj(w: &World, to: u8) -> u64 {
    w.received(to, DJ_TAG)
}

#[test]
fn everyone_in_the_room_hears_the_dj_and_nobody_elsewhere() {
    let mut w = World::new(0.0);
    room_of(&mut w, 2, 0.0);
    w.join(5, RoomId(2));
    w.run(Duration::from_secs(2));
    w.sfu.add_local(w.now, DJ, ROOM, "dj").unwrap();
    // The listeners are offered the DJ's track (a renegotiation), then frames flow.
    w.run(Duration::from_millis(500));
    let (frames, _) = play(&mut w, Duration::from_secs(3), -20);
    assert!(frames >= 149, "{frames}");
    for c in [0, 1] {
        assert!(dj(&w, c) >= 140, "client {c} got {} of {frames} DJ frames", dj(&w, c));
    }
    assert_eq!(dj(&w, 5), 0, "another room hears nothing");
    // The people in the room still hear each other.
    assert!(w.received(0, 1) > 100 && w.received(1, 0) > 100);
    // The browsers can tell it is the DJ: its stream id is p<id>.
    let offer = &w.offers.iter().rev().find(|(p, _)| *p == World::pid(0)).unwrap().1;
    assert!(offer.contains(&format!("p{}", DJ.0)), "{offer}");
}

#[test]
fn the_dj_speaks_while_the_music_is_loud_and_not_when_quiet() {
    let mut w = World::new(0.0);
    room_of(&mut w, 2, 0.0);
    w.sfu.add_local(w.now, DJ, ROOM, "dj").unwrap();
    w.run(Duration::from_millis(500));
    play(&mut w, Duration::from_secs(1), -20);
    assert_eq!(w.speaking.get(&DJ), Some(&true));
    play(&mut w, Duration::from_secs(1), -100);
    assert_eq!(w.speaking.get(&DJ), Some(&false));
    let info: Vec<_> = w.sfu.locals().collect();
    assert_eq!(info.len(), 1);
    assert_eq!((info[0].room, info[0].speaking), (ROOM, false));
}

#[test]
fn a_deafened_listener_gets_nothing_and_a_muted_dj_is_heard_by_nobody() {
    let mut w = World::new(0.0);
    room_of(&mut w, 2, 0.0);
    w.sfu.add_local(w.now, DJ, ROOM, "dj").unwrap();
    w.run(Duration::from_millis(500));
    w.sfu.set_deafened(World::pid(1), true).unwrap();
    play(&mut w, Duration::from_secs(2), -20);
    assert!(dj(&w, 0) > 80);
    assert_eq!(dj(&w, 1), 0, "deafened");

    w.sfu.set_local_muted(w.now, DJ, true).unwrap();
    // What was already on the wire lands first.
    w.run(Duration::from_millis(100));
    let before = w.snapshot();
    let (_, writes) = play(&mut w, Duration::from_secs(1), -20);
    assert_eq!(writes, 0);
    w.run(Duration::from_millis(200));
    assert_eq!(delta(&before, &w, 0, DJ_TAG), 0, "muted for the room");
    assert_eq!(w.speaking.get(&DJ).copied().unwrap_or(false), false, "a muted DJ is not speaking");
    w.sfu.set_local_muted(w.now, DJ, false).unwrap();
    play(&mut w, Duration::from_secs(1), -20);
    assert!(delta(&before, &w, 0, DJ_TAG) > 40, "unmuted again");
}

#[test]
fn someone_joining_later_is_offered_the_dj_too() {
    let mut w = World::new(0.0);
    room_of(&mut w, 1, 0.0);
    w.sfu.add_local(w.now, DJ, ROOM, "dj").unwrap();
    play(&mut w, Duration::from_secs(1), -20);
    w.join(3, ROOM);
    play(&mut w, Duration::from_secs(4), -20);
    assert!(dj(&w, 3) > 100, "late joiner got {}", dj(&w, 3));
}

#[test]
fn a_removed_dj_is_renegotiated_away_and_cannot_send() {
    let mut w = World::new(0.0);
    room_of(&mut w, 2, 0.0);
    w.sfu.add_local(w.now, DJ, ROOM, "dj").unwrap();
    play(&mut w, Duration::from_secs(2), -20);
    let offers = w.offers_seen;
    w.sfu.remove_local(w.now, DJ).unwrap();
    w.run(Duration::from_millis(500));
    assert!(w.offers_seen >= offers + 2, "each listener was offered the track's end");
    let opus = [DJ_TAG; 10];
    let r = w.sfu.send_local(w.now, DJ, LocalFrame { opus: &opus, samples: 960, level: -20 });
    assert_eq!(r, Err(VoiceError::NotInRoom));
    assert_eq!(w.sfu.remove_local(w.now, DJ), Err(VoiceError::NotInRoom));
    // People still hear each other after the renegotiation.
    let before = w.snapshot();
    w.run(Duration::from_secs(1));
    assert!(delta(&before, &w, 0, 1) > 40);
}

#[test]
fn a_person_id_cannot_be_a_local_sender_or_the_other_way_round() {
    let mut w = World::new(0.0);
    room_of(&mut w, 1, 0.0);
    assert_eq!(w.sfu.add_local(w.now, World::pid(0), ROOM, "dj"), Err(VoiceError::NotInRoom));
    w.sfu.add_local(w.now, World::pid(7), ROOM, "dj").unwrap();
    let mut rtc = Rtc::builder().clear_codecs().enable_opus(true, false).build(w.now);
    let mut api = rtc.sdp_api();
    api.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None);
    let (offer, _) = api.apply().unwrap();
    assert!(w.sfu.join(w.now, World::pid(7), ROOM, "u7", &offer.to_sdp_string()).is_err());
}

#[test]
fn after_a_pause_the_rtp_clock_has_moved_on_with_time() {
    let mut w = World::new(0.0);
    room_of(&mut w, 1, 0.0);
    w.sfu.add_local(w.now, DJ, ROOM, "dj").unwrap();
    w.run(Duration::from_millis(500));
    play(&mut w, Duration::from_secs(1), -20);
    let before = w.client(0).last_time[&DJ_TAG];
    // Two seconds without frames (paused), then one more frame.
    w.run(Duration::from_secs(2));
    play(&mut w, Duration::from_millis(20), -20);
    w.run(Duration::from_millis(100));
    let after = w.client(0).last_time[&DJ_TAG];
    let gap = after - before;
    assert!((2 * 48_000..(2 * 48_000 + 4_800)).contains(&gap), "RTP advanced {gap} samples over ~2 s");
}
