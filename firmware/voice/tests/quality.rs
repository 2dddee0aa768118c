//! Connection quality as the SFU measures it (str0m's ICE and RTCP statistics), on the fake clock:
//! a clean link grades good, a lossy, slow one poor, a change is told promptly and steady figures
//! only now and then.
#![allow(clippy::unwrap_used)]

mod common;
use common::*;
use voice::Grade;

fn quality(w: &World, idx: u8) -> Quality {
    *w.quality.get(&World::pid(idx)).unwrap_or_else(|| panic!("no quality told for {idx}"))
}

#[test]
fn a_clean_link_grades_good_and_a_lossy_slow_one_poor() {
    let mut w = World::new(0.0);
    // Client 2 is on a bad mobile link: 15 % loss each way and a quarter second each way.
    w.links.insert(2, (0.15, Duration::from_millis(250)));
    room_of(&mut w, 3, 0.0);
    w.run(Duration::from_secs(8));
    for idx in 0..2 {
        let q = quality(&w, idx);
        assert_eq!(q.grade, Grade::Good, "client {idx}: {q:?}");
        let rtt = q.rtt_ms.expect("a round trip is measured");
        // 10–20 ms each way on the simulated LAN.
        assert!((15..=60).contains(&rtt), "client {idx}: rtt {rtt} ms");
        assert!(q.loss_pct < 1.0, "client {idx}: {q:?}");
    }
    let q = quality(&w, 2);
    assert_eq!(q.grade, Grade::Poor, "{q:?}");
    assert!(q.rtt_ms.is_some_and(|r| r > 400) || q.loss_pct >= 8.0, "{q:?}");
    assert!(q.loss_pct >= 5.0, "15 % loss each way is seen: {q:?}");
    // The room state (what the daemon shows in `voice.state`) carries the same figures.
    assert_eq!(w.sfu.participant(World::pid(2)).unwrap().quality.map(|q| q.grade), Some(Grade::Poor));
}

#[test]
fn a_lone_participant_still_gets_a_round_trip() {
    // Nobody to forward to, so no RTCP from it about our streams: the ICE checks still measure.
    let mut w = World::new(0.0);
    room_of(&mut w, 1, 0.0);
    w.run(Duration::from_secs(5));
    let q = quality(&w, 0);
    assert_eq!(q.grade, Grade::Good, "{q:?}");
    assert!(q.rtt_ms.is_some(), "{q:?}");
}

#[test]
fn a_change_is_told_promptly_and_steady_figures_rarely() {
    let mut w = World::new(0.0);
    room_of(&mut w, 2, 0.0);
    w.run(Duration::from_secs(2));
    assert_eq!(quality(&w, 1).grade, Grade::Good);
    // A steady call: at most one refresh per 5 s per person (plus the first).
    let from = w.now;
    w.run(Duration::from_secs(20));
    let told = w.quality_told.iter().filter(|(t, p)| *t > from && *p == World::pid(0)).count();
    assert!(told <= 5, "told {told} times in 20 s of a steady call");

    // Client 1's link goes bad: poor within a few seconds.
    w.links.insert(1, (0.25, Duration::from_millis(300)));
    let bad_at = w.now;
    let mut poor_after = None;
    for _ in 0..80 {
        w.run(Duration::from_millis(100));
        if quality(&w, 1).grade == Grade::Poor {
            poor_after = Some(w.now - bad_at);
            break;
        }
    }
    let after = poor_after.expect("the bad link was graded poor");
    assert!(after <= Duration::from_secs(6), "took {after:?}");
    assert_eq!(quality(&w, 0).grade, Grade::Good, "the other person's grade is their own");

    // And back: good again soon after the link recovers (receiver reports come every few
    // seconds, and one good report does not clear a bad spell at once).
    w.links.remove(&1);
    let good_at = w.now;
    let mut good_after = None;
    for _ in 0..200 {
        w.run(Duration::from_millis(100));
        if quality(&w, 1).grade == Grade::Good {
            good_after = Some(w.now - good_at);
            break;
        }
    }
    let after = good_after.unwrap_or_else(|| panic!("still {:?} 20 s after the link recovered", quality(&w, 1)));
    assert!(after <= Duration::from_secs(15), "took {after:?}");
}
