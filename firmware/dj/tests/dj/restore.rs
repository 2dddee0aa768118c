use dj::{Config, Dj, EntryId, Input, Output, PlayState, State, View};

use crate::harness::*;

fn through_json(h: &H) -> State {
    let json = serde_json::to_string(&h.dj.snapshot(h.now)).unwrap();
    serde_json::from_str(&json).unwrap()
}

/// A DJ mid-track with a queue, settings, history and a playlist.
fn busy() -> H {
    let mut h = playing(
        &alice(),
        song("Warmup", 50),
        vec![song("One", 300), song("Two", 100)],
        &[&alice()],
    );
    h.ended(); // Warmup into history
    h.started();
    h.add(&bob(), radio("Radio"));
    h.text(&alice(), "!volume 70");
    h.text(&alice(), "!loop queue");
    h.text(&alice(), "!fair on");
    h.text(&alice(), "!pl save keep");
    h.now += 75 * SEC;
    h
}

/// The view without what a restart changes on purpose (stopped, out of the room).
fn steady(v: &View) -> View {
    let mut v = v.clone();
    if let Some(np) = v.now_playing.as_mut() {
        np.state = PlayState::Stopped;
        np.started_at_ms = None;
    }
    v.joined = false;
    v
}

#[test]
fn a_snapshot_restores_the_same_view() {
    let h = busy();
    let before = h.view();
    let state = through_json(&h);
    let restored = Dj::restore(Config::default(), state.clone(), h.now + 5 * SEC);
    let after = restored.view(h.now + 5 * SEC);
    assert_eq!(steady(&after), steady(&before));
    let np = after.now_playing.unwrap();
    assert_eq!(
        (np.entry.track.title.as_str(), np.position_ms, np.state),
        ("One", 75 * SEC, PlayState::Stopped)
    );
    assert_eq!(
        (
            after.volume,
            after.loop_mode,
            after.fairqueue,
            after.history_len
        ),
        (70, dj::LoopMode::Queue, true, 1)
    );
    // And again: a restored DJ snapshots the same state.
    assert_eq!(restored.snapshot(h.now + 5 * SEC), state);
}

#[test]
fn it_does_not_play_into_an_empty_room_and_resumes_when_someone_comes() {
    let h = busy();
    let at = h.now;
    let mut dj = Dj::restore(Config::default(), through_json(&h), at);
    assert!(
        dj.handle(at + MIN, Input::Tick).is_empty(),
        "nobody there: nothing happens"
    );
    assert!(dj.handle(at + MIN, Input::Listeners(vec![])).is_empty());
    let out = dj.handle(at + 2 * MIN, Input::Listeners(vec![bob().id]));
    assert_eq!(out.first(), Some(&Output::Join));
    assert_eq!(played(&out), Some(("One".into(), 75 * SEC)));
}

#[test]
fn play_resumes_at_the_kept_position() {
    let h = busy();
    let mut r = H {
        dj: Dj::restore(Config::default(), through_json(&h), h.now),
        now: h.now,
    };
    let out = r.text(&admin(), "!play");
    assert_eq!(played(&out), Some(("One".into(), 75 * SEC)));
}

#[test]
fn a_paused_or_stopped_dj_waits_for_someone_to_ask() {
    for verb in ["!pause", "!stop"] {
        let mut h = busy();
        h.text(&alice(), verb);
        let mut r = H {
            dj: Dj::restore(Config::default(), through_json(&h), h.now),
            now: h.now,
        };
        assert!(played(&r.listeners(&[&alice()])).is_none(), "{verb}");
        assert_eq!(
            played(&r.text(&alice(), "!resume")),
            Some(("One".into(), 75 * SEC)),
            "{verb}"
        );
    }
}

#[test]
fn ids_are_never_reused() {
    let h = busy();
    let mut state = through_json(&h);
    let highest = state.queue.iter().map(|e| e.id.0).max().unwrap();
    state.next_id = 1; // even from a damaged snapshot
    let mut r = H {
        dj: Dj::restore(Config::default(), state, h.now),
        now: h.now,
    };
    r.add(&carol(), song("New", 10));
    let new = r
        .view()
        .queue
        .iter()
        .find(|e| e.track.title == "New")
        .map(|e| e.id)
        .unwrap();
    assert!(new > EntryId(highest), "{new:?}");
}

#[test]
fn out_of_range_values_are_brought_back() {
    let h = busy();
    let mut state = through_json(&h);
    state.volume = 9000;
    if let Some(c) = state.current.as_mut() {
        c.position_ms = u64::MAX;
    }
    let dj = Dj::restore(
        Config {
            history_len: 0,
            ..Config::default()
        },
        state,
        h.now,
    );
    let v = dj.view(h.now);
    assert_eq!((v.volume, v.history_len), (150, 0));
    assert_eq!(v.now_playing.unwrap().position_ms, 300 * SEC);
}

#[test]
fn the_snapshot_is_plain_json() {
    let h = busy();
    let json = serde_json::to_value(h.dj.snapshot(h.now)).unwrap();
    assert_eq!(json["version"], 1);
    assert_eq!(json["current"]["position_ms"], 75_000);
    assert_eq!(json["current"]["state"], "playing");
    assert_eq!(json["loop_mode"], "queue");
    assert_eq!(json["playlists"][0]["name"], "keep");
}

#[test]
fn restarting_twice_before_anyone_came_still_resumes() {
    let h = busy();
    let once = Dj::restore(Config::default(), through_json(&h), h.now);
    let json = serde_json::to_string(&once.snapshot(h.now)).unwrap();
    let mut twice = Dj::restore(
        Config::default(),
        serde_json::from_str(&json).unwrap(),
        h.now,
    );
    let out = twice.handle(h.now, Input::Listeners(vec![alice().id]));
    assert_eq!(played(&out), Some(("One".into(), 75 * SEC)));
}
