use dj::{Output, PlayState};

use crate::harness::*;

#[test]
fn an_empty_room_stops_and_leaves_after_a_minute() {
    let mut h = playing(
        &alice(),
        song("Long", 600),
        vec![song("Next", 10)],
        &[&alice()],
    );
    h.now += 30 * SEC;
    h.listeners(&[]);
    assert_eq!(h.dj.poll_timeout(), Some(h.now + MIN));
    assert!(h.wait(59 * SEC).is_empty(), "not yet");
    let out = h.wait(SEC);
    assert!(
        has(&out, &Output::Stop) && has(&out, &Output::Leave),
        "{out:?}"
    );
    assert_eq!(
        public(&out),
        "Nobody is in the voice room, so I stopped. `!play` continues **Long** by Band at 1:30"
    );
    let np = h.view().now_playing.unwrap();
    assert_eq!((np.state, np.position_ms), (PlayState::Stopped, 90 * SEC));
    assert_eq!(h.titles(), ["Next"], "the queue stays");
    assert!(!h.view().joined);
    // Coming back does not restart it; asking does, where it was.
    assert!(played(&h.listeners(&[&alice()])).is_none());
    h.wait(5 * MIN);
    let out = h.text(&alice(), "!resume");
    assert!(has(&out, &Output::Join));
    assert_eq!(played(&out), Some(("Long".into(), 90 * SEC)));
}

#[test]
fn someone_coming_back_in_time_keeps_it_playing() {
    let mut h = playing(&alice(), song("Long", 600), vec![], &[&alice()]);
    h.listeners(&[]);
    h.wait(50 * SEC);
    h.listeners(&[&bob()]);
    assert!(h.wait(5 * MIN).is_empty());
    assert!(h.view().joined);
    assert_eq!(h.dj.poll_timeout(), None);
}

#[test]
fn a_paused_dj_in_an_empty_room_leaves_too() {
    let mut h = playing(&alice(), song("Long", 600), vec![], &[&alice()]);
    h.now += 10 * SEC;
    h.text(&alice(), "!pause");
    h.listeners(&[]);
    let out = h.wait(MIN);
    assert!(has(&out, &Output::Leave));
    assert_eq!(h.view().now_playing.unwrap().position_ms, 10 * SEC);
}

#[test]
fn playing_into_an_empty_room_gives_up_after_a_minute() {
    let mut h = H::new();
    h.add(&bob(), song("Long", 600));
    h.started();
    assert!(h.view().joined);
    let out = h.wait(MIN);
    assert!(has(&out, &Output::Leave));
}

#[test]
fn any_input_fires_due_timers_first() {
    let mut h = playing(&alice(), song("Long", 600), vec![], &[&alice()]);
    h.listeners(&[]);
    h.now += 2 * MIN;
    let out = h.text(&bob(), "!np");
    let first_reply = out.iter().position(|o| matches!(o, Output::Reply { .. }));
    let leave = out.iter().position(|o| *o == Output::Leave);
    assert!(leave.is_some() && leave < first_reply, "{out:?}");
    assert!(public(&out).contains("(stopped"));
}
