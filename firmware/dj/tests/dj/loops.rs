use dj::{Input, LoopMode, Output};

use crate::harness::*;

#[test]
fn loop_track_plays_the_same_entry_again() {
    let mut h = playing(
        &alice(),
        song("One", 100),
        vec![song("Two", 100)],
        &[&alice()],
    );
    let out = h.text(&alice(), "!loop track");
    assert_eq!(public(&out), "Looping the track");
    let id = h.current_id();
    let out = h.ended();
    match out.iter().find(|o| matches!(o, Output::Play { .. })) {
        Some(Output::Play { entry, from_ms }) => assert_eq!((entry.id, *from_ms), (id, 0)),
        _ => panic!("no replay: {out:?}"),
    }
    assert_eq!(h.titles(), ["Two"]);
    // A skip moves on (and the loop keeps going on the next one).
    h.started();
    h.text(&alice(), "!skip");
    assert_eq!(h.current().as_deref(), Some("Two"));
    h.started();
    h.ended();
    assert_eq!(h.current().as_deref(), Some("Two"));
}

#[test]
fn loop_queue_puts_ended_and_skipped_entries_last() {
    let mut h = playing(
        &alice(),
        song("One", 100),
        vec![song("Two", 100), song("Three", 100)],
        &[&alice()],
    );
    h.text(&alice(), "!repeat queue");
    assert_eq!(h.view().loop_mode, LoopMode::Queue);
    h.ended();
    assert_eq!(h.titles(), ["Three", "One"]);
    h.started();
    h.text(&alice(), "!skip");
    assert_eq!(h.current().as_deref(), Some("Three"));
    assert_eq!(h.titles(), ["One", "Two"]);
    // Round and round, never running out.
    for _ in 0..7 {
        h.started();
        h.ended();
    }
    assert_eq!(h.view().queue_total, 2);
    assert!(h.current().is_some());
}

#[test]
fn loop_queue_with_skipto_keeps_the_skipped() {
    let mut h = playing(
        &alice(),
        song("One", 100),
        vec![song("Two", 1), song("Three", 1), song("Four", 1)],
        &[&alice()],
    );
    h.text(&alice(), "!loop queue");
    h.text(&alice(), "!skipto 3");
    assert_eq!(h.current().as_deref(), Some("Four"));
    assert_eq!(h.titles(), ["One", "Two", "Three"]);
}

#[test]
fn failing_tracks_are_never_looped() {
    for mode in ["track", "queue"] {
        let mut h = playing(
            &alice(),
            song("Bad", 100),
            vec![song("Bad2", 100)],
            &[&alice()],
        );
        h.text(&alice(), &format!("!loop {mode}"));
        for _ in 0..2 {
            let entry = h.current_id();
            h.input(Input::Failed {
                entry,
                words: "cannot decode".into(),
            });
        }
        assert!(h.current().is_none(), "{mode}: both dropped");
        assert_eq!(h.view().queue_total, 0, "{mode}");
    }
}

#[test]
fn loop_off_and_showing_the_mode() {
    let mut h = playing(&alice(), song("One", 100), vec![], &[&alice(), &bob()]);
    h.text(&bob(), "!loop track");
    assert!(public(&h.text(&carol(), "!loop")).starts_with("Looping the track — `!loop off`"));
    refused(
        &h.text(&carol(), "!loop off"),
        &carol(),
        "Join the voice room",
    );
    h.text(&bob(), "!loop off");
    h.ended();
    assert!(h.current().is_none());
}
