use dj::playlists::validate_name;
use dj::{Command, Config, PlaylistAction};

use crate::harness::*;

fn saved() -> H {
    let mut h = playing(
        &alice(),
        song("One", 100),
        vec![song("Two", 100), song("Three", 60)],
        &[&alice()],
    );
    let out = h.text(&alice(), "!playlist save Road Trip");
    assert_eq!(public(&out), "Saved playlist **Road Trip** (3 tracks)");
    h
}

#[test]
fn save_includes_what_plays_and_load_appends() {
    let mut h = saved();
    h.text(&admin(), "!clear");
    let out = h.text(&bob(), "!playlist load road trip");
    assert_eq!(
        public(&out),
        "Playlist **Road Trip**: queued 3 tracks (#1–#3)"
    );
    assert_eq!(h.titles(), ["One", "Two", "Three"]);
    assert_eq!(
        h.view().queue[0].requester.name,
        "Bob",
        "the loader requested them"
    );
    assert_eq!(
        h.current().as_deref(),
        Some("One"),
        "loading does not interrupt"
    );
}

#[test]
fn loading_meets_the_limits() {
    let mut h = saved();
    h.dj.set_config(Config {
        per_user_limit: 2,
        ..Config::default()
    });
    let out = h.text(&bob(), "!pl load Road Trip");
    assert_eq!(
        public(&out),
        "Playlist **Road Trip**: queued 2 tracks (#3–#4)"
    );
    assert!(private(&out, &bob()).contains("1 track not queued"));
    refused(
        &h.text(&bob(), "!pl load nothing here"),
        &bob(),
        "There is no playlist “nothing here”",
    );
}

#[test]
fn list_shows_them() {
    let mut h = saved();
    h.text(&bob(), "!pl save bobs");
    let text = public(&h.text(&carol(), "!playlist list"));
    assert_eq!(text, "**Playlists**\n- **Road Trip** — 3 tracks, 4:20, by Alice\n- **bobs** — 3 tracks, 4:20, by Bob");
    let mut h = H::new();
    assert!(public(&h.text(&alice(), "!pl")).contains("No playlists yet"));
}

#[test]
fn delete_own_or_as_dj() {
    let mut h = saved();
    refused(
        &h.text(&bob(), "!pl delete road trip"),
        &bob(),
        "**Road Trip** belongs to Alice: only they or a DJ can delete it",
    );
    assert_eq!(
        public(&h.text(&alice(), "!pl delete ROAD TRIP")),
        "Deleted playlist **Road Trip**"
    );
    refused(
        &h.text(&alice(), "!pl delete Road Trip"),
        &alice(),
        "There is no playlist",
    );
    h.text(&bob(), "!pl save mine");
    h.cmd(
        &admin(),
        Command::Playlist {
            action: PlaylistAction::Delete {
                name: "mine".into(),
            },
        },
    );
    assert!(h.dj.snapshot(h.now).playlists.is_empty());
}

#[test]
fn overwrite_only_your_own() {
    let mut h = saved();
    refused(
        &h.text(&bob(), "!pl save road trip"),
        &bob(),
        "**Road Trip** belongs to Alice: pick another name",
    );
    h.text(&admin(), "!clear");
    let out = h.text(&alice(), "!pl save Road Trip");
    assert_eq!(public(&out), "Updated playlist **Road Trip** (1 track)");
}

#[test]
fn names_are_checked() {
    assert_eq!(
        validate_name("  Late   Night ").as_deref(),
        Ok("Late Night")
    );
    assert_eq!(
        validate_name("Ünï-cødé_1.0 'mix'").as_deref(),
        Ok("Ünï-cødé_1.0 'mix'")
    );
    for bad in ["", "   ", "a/b", "**x**", "<script>", &"x".repeat(33)] {
        assert!(validate_name(bad).is_err(), "{bad:?}");
    }
    let mut h = saved();
    refused(
        &h.text(&alice(), "!pl save a/b"),
        &alice(),
        "A playlist name is 1 to 32",
    );
}

#[test]
fn count_and_length_limits() {
    let mut h = playing(
        &alice(),
        song("One", 100),
        vec![song("Two", 1), song("Three", 1)],
        &[&alice()],
    );
    h.dj.set_config(Config {
        max_playlists: 2,
        playlist_len: 2,
        ..Config::default()
    });
    assert_eq!(
        public(&h.text(&alice(), "!pl save a")),
        "Saved playlist **a** (2 tracks) — only the first 2 fit"
    );
    h.text(&alice(), "!pl save b");
    refused(
        &h.text(&alice(), "!pl save c"),
        &alice(),
        "There are already 2 playlists: delete one first",
    );
    let mut h = H::new();
    refused(
        &h.text(&alice(), "!pl save empty"),
        &alice(),
        "Nothing to save: the queue is empty",
    );
}
