use dj::{Input, Output, PlayState};

use crate::harness::*;

fn three() -> H {
    playing(
        &alice(),
        song("One", 200),
        vec![song("Two", 100), song("Three", 100)],
        &[&alice(), &bob()],
    )
}

#[test]
fn position_counts_from_started_and_pause_freezes_it() {
    let mut h = H::new();
    h.listeners(&[&alice()]);
    h.add(&alice(), song("A", 300));
    h.now += 5 * SEC;
    assert_eq!(h.position(), 0, "loading: the clock waits for Started");
    assert_eq!(
        h.view().now_playing.map(|n| n.state),
        Some(PlayState::Loading)
    );
    h.started();
    h.now += 30 * SEC;
    assert_eq!(h.position(), 30 * SEC);
    let np = h.view().now_playing.unwrap();
    assert_eq!(np.started_at_ms, Some(h.now - 30 * SEC));
    let out = h.text(&alice(), "!pause");
    assert!(has(&out, &Output::Pause) && has(&out, &Output::Changed));
    assert_eq!(public(&out), "Paused **A** by Band — `!resume` continues");
    h.now += 60 * SEC;
    assert_eq!(h.position(), 30 * SEC);
    assert_eq!(h.view().now_playing.unwrap().started_at_ms, None);
    refused(&h.text(&alice(), "!pause"), &alice(), "Already paused");
    let out = h.text(&alice(), "!resume");
    assert!(has(&out, &Output::Resume));
    h.now += 10 * SEC;
    assert_eq!(h.position(), 40 * SEC);
    refused(&h.text(&alice(), "!resume"), &alice(), "Already playing");
}

#[test]
fn pause_needs_the_room_and_something_playing() {
    let mut h = three();
    refused(
        &h.text(&carol(), "!pause"),
        &carol(),
        "Join the voice room to control playback",
    );
    h.text(&admin(), "!pause");
    assert_eq!(
        h.view().now_playing.unwrap().state,
        PlayState::Paused,
        "DJs can from anywhere"
    );
    let mut h = H::new();
    h.listeners(&[&alice()]);
    refused(&h.text(&alice(), "!pause"), &alice(), "Nothing is playing");
}

#[test]
fn position_reports_correct_the_clock_and_stale_events_are_ignored() {
    let mut h = three();
    h.now += 10 * SEC;
    let id = h.current_id();
    let out = h.input(Input::Position {
        entry: id,
        ms: 14 * SEC,
    });
    assert!(
        has(&out, &Output::Changed),
        "a jump of more than a second is shown"
    );
    assert_eq!(h.position(), 14 * SEC);
    h.now += SEC;
    let out = h.input(Input::Position {
        entry: id,
        ms: 15 * SEC + 200,
    });
    assert!(out.is_empty(), "a small correction changes nothing shown");
    assert!(h
        .input(Input::Ended {
            entry: dj::EntryId(999)
        })
        .is_empty());
    assert!(h
        .input(Input::Position {
            entry: dj::EntryId(999),
            ms: 0
        })
        .is_empty());
    assert_eq!(h.current().as_deref(), Some("One"));
}

#[test]
fn failed_tracks_are_told_and_skipped() {
    let mut h = three();
    let id = h.current_id();
    let out = h.input(Input::Failed {
        entry: id,
        words: "the file is damaged".into(),
    });
    assert_eq!(
        public(&out),
        "Could not play **One** by Band: the file is damaged — skipping it"
    );
    assert_eq!(played(&out).map(|p| p.0), Some("Two".into()));
    assert_eq!(h.view().history_len, 0, "a failed track did not play");
}

#[test]
fn icy_titles_are_the_subtitle() {
    let mut h = playing(&alice(), radio("Radio"), vec![], &[&alice()]);
    let id = h.current_id();
    let out = h.input(Input::Meta {
        entry: id,
        title: "Artist - Tune".into(),
    });
    assert!(has(&out, &Output::Changed));
    let np = h.view().now_playing.unwrap();
    assert_eq!(
        (np.live, np.icy_title.as_deref()),
        (true, Some("Artist - Tune"))
    );
    h.now += 65 * SEC;
    let out = h.text(&alice(), "!np");
    assert!(
        public(&out).contains("On air: Artist - Tune") && public(&out).contains("live · 1:05"),
        "{out:?}"
    );
}

#[test]
fn nowplaying_draws_a_bar() {
    let mut h = three();
    h.now += 100 * SEC;
    let out = h.text(&carol(), "!np");
    let text = public(&out);
    assert!(
        text.starts_with("▶ **One** by Band — queued by Alice"),
        "{text}"
    );
    assert!(
        text.contains("`━━━━━━━━━━●─────────` 1:40 / 3:20"),
        "{text}"
    );
    let mut h = H::new();
    refused(&h.text(&alice(), "!np"), &alice(), "Nothing is playing");
}

#[test]
fn seek_forward_rewind_replay() {
    let mut h = three();
    h.now += 20 * SEC;
    let out = h.text(&alice(), "!seek 1:30");
    assert!(has(&out, &Output::Seek { ms: 90 * SEC }));
    assert_eq!(public(&out), "**One** by Band at 1:30");
    h.now += 5 * SEC;
    assert_eq!(h.position(), 95 * SEC);
    assert!(has(
        &h.text(&alice(), "!ff 30"),
        &Output::Seek { ms: 125 * SEC }
    ));
    assert!(has(
        &h.text(&alice(), "!rw"),
        &Output::Seek { ms: 115 * SEC }
    ));
    assert!(
        has(&h.text(&alice(), "!rw 10:00"), &Output::Seek { ms: 0 }),
        "rewinding stops at the start"
    );
    h.now += 50 * SEC;
    assert!(has(&h.text(&bob(), "!replay"), &Output::Seek { ms: 0 }));
    refused(
        &h.text(&carol(), "!seek 10"),
        &carol(),
        "Join the voice room",
    );
}

#[test]
fn volume_shows_and_sets() {
    let mut h = three();
    assert_eq!(public(&h.text(&carol(), "!volume")), "The volume is 100%");
    refused(
        &h.text(&carol(), "!volume 50"),
        &carol(),
        "Join the voice room",
    );
    let out = h.text(&bob(), "!vol 40");
    assert!(has(&out, &Output::Volume { percent: 40 }));
    assert_eq!(h.view().volume, 40);
}

#[test]
fn stop_keeps_the_place_and_play_continues() {
    let mut h = playing(
        &alice(),
        song("One", 200),
        vec![song("Two", 100)],
        &[&alice()],
    );
    h.now += 42 * SEC;
    let out = h.text(&alice(), "!stop");
    assert!(has(&out, &Output::Stop) && has(&out, &Output::Leave));
    assert_eq!(
        public(&out),
        "Stopped. `!play` continues **One** by Band from 0:42"
    );
    assert_eq!(h.view().now_playing.unwrap().state, PlayState::Stopped);
    assert_eq!(h.titles(), ["Two"], "the queue stays");
    h.now += 10 * MIN;
    assert_eq!(h.position(), 42 * SEC);
    refused(&h.text(&alice(), "!stop"), &alice(), "Already stopped");
    refused(&h.text(&alice(), "!skip"), &alice(), "Nothing is playing");
    let out = h.text(&alice(), "!play");
    assert!(has(&out, &Output::Join));
    assert_eq!(played(&out), Some(("One".into(), 42 * SEC)));
}

#[test]
fn stop_is_for_djs_or_the_only_listener() {
    let mut h = three();
    refused(
        &h.text(&alice(), "!stop"),
        &alice(),
        "Only a DJ, or the only person in the voice room",
    );
    h.listeners(&[&alice()]);
    assert!(has(&h.text(&alice(), "!stop"), &Output::Leave));
    let mut h = three();
    assert!(has(&h.text(&admin(), "!leave"), &Output::Leave));
}

#[test]
fn queueing_into_a_stopped_dj() {
    let mut h = playing(&alice(), song("One", 200), vec![], &[&alice()]);
    h.text(&alice(), "!stop");
    // From outside the room it only queues.
    let out = h.add(&bob(), song("Two", 10));
    assert_eq!(
        public(&out),
        "Queued **Two** by Band (#1) — `!play` continues"
    );
    assert!(!has(&out, &Output::Join));
    // From inside it continues.
    let out = h.add(&alice(), song("Three", 10));
    assert_eq!(played(&out), Some(("One".into(), 0)));
}

#[test]
fn skipto_drops_the_tracks_before() {
    let mut h = playing(
        &alice(),
        song("One", 200),
        vec![song("Two", 1), song("Three", 1), song("Four", 1)],
        &[&alice()],
    );
    let out = h.text(&alice(), "!skipto 2");
    assert_eq!(public(&out), "Skipped to **Three** by Band");
    assert_eq!(h.current().as_deref(), Some("Three"));
    assert_eq!(h.titles(), ["Four"]);
    refused(
        &h.text(&alice(), "!skipto 5"),
        &alice(),
        "There is no #5: the queue has 1 track",
    );
    h.listeners(&[&alice(), &bob()]);
    refused(&h.text(&alice(), "!skipto 1"), &alice(), "Only a DJ");
}

#[test]
fn remove_own_tracks_or_any_as_dj() {
    let mut h = three();
    h.add(&bob(), song("Bob's", 10));
    refused(
        &h.text(&bob(), "!remove 1"),
        &bob(),
        "#1 is Alice's: you can only remove your own tracks",
    );
    let out = h.text(&bob(), "!rm 3");
    assert_eq!(public(&out), "Removed **Bob's** by Band (#3)");
    refused(
        &h.text(&bob(), "!remove 3"),
        &bob(),
        "There is no #3: the queue has 2 tracks",
    );
    refused(&h.text(&bob(), "!remove 0"), &bob(), "There is no #0");
    h.text(&admin(), "!remove 1");
    assert_eq!(h.titles(), ["Three"]);
}

#[test]
fn move_reorders() {
    let mut h = playing(
        &alice(),
        song("One", 200),
        vec![song("A", 1), song("B", 1), song("C", 1)],
        &[&alice()],
    );
    let out = h.text(&alice(), "!move 3 1");
    assert_eq!(public(&out), "Moved **C** by Band to #1");
    assert_eq!(h.titles(), ["C", "A", "B"]);
    refused(&h.text(&alice(), "!move 1 4"), &alice(), "There is no #4");
    h.listeners(&[&alice(), &bob()]);
    refused(&h.text(&alice(), "!mv 1 2"), &alice(), "Only a DJ");
}

#[test]
fn clear_own_or_all_as_dj() {
    let mut h = three();
    h.add(&bob(), song("B1", 1));
    h.add(&bob(), song("B2", 1));
    let out = h.text(&bob(), "!clear");
    assert_eq!(public(&out), "Removed your 2 tracks from the queue");
    assert_eq!(h.titles(), ["Two", "Three"]);
    refused(
        &h.text(&bob(), "!clear"),
        &bob(),
        "You have no tracks in the queue",
    );
    let out = h.text(&admin(), "!clear");
    assert_eq!(public(&out), "Cleared the queue (2 tracks)");
    refused(&h.text(&admin(), "!clear"), &admin(), "already empty");
    assert_eq!(
        h.current().as_deref(),
        Some("One"),
        "clear leaves what plays"
    );
}

#[test]
fn removedupes() {
    let mut h = playing(
        &alice(),
        song("One", 200),
        vec![song("A", 1), song("One", 200), song("A", 1), song("B", 1)],
        &[&alice()],
    );
    assert_eq!(public(&h.text(&alice(), "!dedupe")), "Removed 2 duplicates");
    assert_eq!(h.titles(), ["A", "B"]);
    refused(
        &h.text(&alice(), "!removedupes"),
        &alice(),
        "There are no duplicates",
    );
}

#[test]
fn shuffle_permutes() {
    let tracks: Vec<_> = (0..20).map(|i| song(&format!("S{i:02}"), 1)).collect();
    let mut h = playing(&alice(), song("One", 200), tracks, &[&alice()]);
    let before = h.titles();
    assert_eq!(public(&h.text(&alice(), "!shuffle")), "Shuffled 20 tracks");
    let after = h.titles();
    assert_ne!(before, after);
    let mut sorted = after.clone();
    sorted.sort();
    assert_eq!(sorted, before, "the same entries");
    h.text(&admin(), "!clear");
    h.add(&alice(), song("Only", 1));
    refused(
        &h.text(&alice(), "!shuffle"),
        &alice(),
        "nothing to shuffle",
    );
    h.listeners(&[&alice(), &bob()]);
    refused(&h.text(&alice(), "!mix"), &alice(), "Only a DJ");
}

#[test]
fn queue_pages_and_totals() {
    let tracks: Vec<_> = (1..=12).map(|i| song(&format!("S{i}"), 60)).collect();
    let mut h = playing(&alice(), song("One", 200), tracks, &[&alice()]);
    let text = public(&h.text(&carol(), "!queue"));
    assert!(
        text.starts_with("**Queue** — 12 tracks, 12:00 (page 1/2)"),
        "{text}"
    );
    assert!(
        text.contains("\n1. **S1** by Band (1:00) — Alice") && text.contains("\n10. **S10**"),
        "{text}"
    );
    assert!(!text.contains("S11"));
    let text = public(&h.text(&carol(), "!q 2"));
    assert!(
        text.contains("11. **S11**") && text.contains("12. **S12**") && !text.contains("S10"),
        "{text}"
    );
    let mut h = H::new();
    assert!(public(&h.text(&alice(), "!queue")).contains("The queue is empty"));
}

#[test]
fn the_view_holds_the_first_hundred_and_the_total() {
    let tracks: Vec<_> = (0..150).map(|i| song(&format!("S{i}"), 60)).collect();
    let mut h = H::with(dj::Config {
        per_user_limit: 0,
        ..dj::Config::default()
    });
    h.add_many(&alice(), tracks);
    let v = h.view();
    assert_eq!(
        (v.queue.len(), v.queue_total, v.queue_ms),
        (100, 149, 149 * 60 * SEC)
    );
    let json = serde_json::to_value(&v).unwrap();
    assert!(
        json.get("now_playing").is_some() && json.get("skip_votes").is_some(),
        "snake_case JSON"
    );
}

#[test]
fn history_and_prev() {
    let mut h = three();
    refused(&h.text(&alice(), "!prev"), &alice(), "Only a DJ");
    h.listeners(&[&alice()]);
    refused(
        &h.text(&alice(), "!prev"),
        &alice(),
        "Nothing has been played yet",
    );
    assert_eq!(
        public(&h.text(&alice(), "!history")),
        "Nothing has been played yet"
    );
    h.ended();
    h.started();
    h.ended();
    h.started();
    assert_eq!(h.current().as_deref(), Some("Three"));
    let text = public(&h.text(&alice(), "!history"));
    assert_eq!(
        text,
        "**Recently played**\n1. **Two** by Band (1:40) — Alice\n2. **One** by Band (3:20) — Alice"
    );
    h.now += 30 * SEC;
    let out = h.text(&alice(), "!prev");
    assert_eq!(public(&out), "Playing **Two** by Band again");
    assert_eq!(played(&out), Some(("Two".into(), 0)));
    assert_eq!(
        h.titles(),
        ["Three"],
        "the interrupted one waits at the front"
    );
    assert_eq!(h.view().queue[0].resume_ms, 30 * SEC);
    h.started();
    assert_eq!(
        played(&h.text(&alice(), "!prev")).map(|p| p.0),
        Some("One".into()),
        "prev again goes further back"
    );
}

#[test]
fn history_is_capped() {
    let mut h = H::with(dj::Config {
        history_len: 2,
        ..dj::Config::default()
    });
    h.add_many(
        &alice(),
        (0..5).map(|i| song(&format!("S{i}"), 1)).collect(),
    );
    for _ in 0..4 {
        h.started();
        h.ended();
    }
    assert_eq!(h.view().history_len, 2);
}

#[test]
fn the_queue_running_out_leaves_after_a_while() {
    let mut h = playing(&alice(), song("One", 200), vec![], &[&alice()]);
    let out = h.ended();
    assert!(!has(&out, &Output::Leave) && !has(&out, &Output::Stop));
    assert!(h.current().is_none());
    assert!(h.wait(59 * SEC).is_empty());
    let out = h.wait(SEC);
    assert_eq!(out, [Output::Leave, Output::Changed]);
    // Queueing again joins again.
    assert!(has(&h.add(&alice(), song("Two", 1)), &Output::Join));
}
