//! The music library's rows and the DJ's saved state against a real SQLite file.

use chat::ids::{ChannelId, TrackId, UserId};
use chat::model::Role;
use store::{NewTrack, Store};

fn setup() -> (tempfile::TempDir, Store, UserId, ChannelId) {
    let dir = tempfile::tempdir().expect("dir");
    let s = Store::open(dir.path().join("t.db")).expect("open");
    let u = s.create_user("ann", "Ann", "hash", Role::Admin, 1).expect("user").id;
    let c = s.create_channel("general", "", 1).expect("channel").id;
    (dir, s, u, c)
}

fn track<'a>(u: UserId, stored: &'a str, title: &'a str, artist: &'a str, sha: &'a str) -> NewTrack<'a> {
    NewTrack {
        stored_name: stored,
        filename: "song.flac",
        title,
        artist,
        album: "Album",
        track_no: Some(3),
        duration_ms: 180_000,
        codec: "flac",
        sample_rate: 44_100,
        channels: 2,
        gain_db: Some(-6.5),
        peak: Some(0.9),
        cover_name: Some("c1"),
        size: 1234,
        sha256: sha,
        uploaded_by: u,
    }
}

#[test]
fn tracks_are_created_searched_and_deleted_with_their_events() {
    let (_d, s, u, _c) = setup();
    let seq0 = s.current_seq().expect("seq");
    let a = s.create_track(&track(u, "f1", "Around the World", "Daft Punk", "aa"), 10).expect("create");
    let mut b = track(u, "f2", "Windowlicker", "Aphex Twin", "bb");
    b.cover_name = None;
    let b = s.create_track(&b, 11).expect("create");
    assert_eq!(a.cover_url.as_deref(), Some(format!("/api/music/tracks/{}/cover", a.id).as_str()));
    assert_eq!(b.cover_url, None);

    // Newest first without a query; prefix words, every word, across title and artist.
    let (all, total) = s.tracks(None, 0, 50).expect("list");
    assert_eq!((all.iter().map(|t| t.id).collect::<Vec<_>>(), total), (vec![b.id, a.id], 2));
    assert_eq!(s.tracks(Some("daft wor"), 0, 50).expect("q").0.iter().map(|t| t.id).collect::<Vec<_>>(), vec![a.id]);
    assert_eq!(s.tracks(Some("aphex"), 0, 50).expect("q").1, 1);
    assert_eq!(s.tracks(Some("daft aphex"), 0, 50).expect("q").1, 0);
    // FTS syntax typed in is only text.
    assert_eq!(s.tracks(Some("\"OR* NEAR("), 0, 50).expect("hostile").1, 0);
    assert_eq!(s.tracks(Some("!!"), 0, 50).expect("nothing").1, 0);

    let f = s.track_file(a.id).expect("file");
    assert_eq!((f.stored_name.as_str(), f.gain_db, f.peak), ("f1", Some(-6.5), Some(0.9)));
    assert_eq!(s.known_music_names().expect("names").len(), 3);

    // The same bytes again are refused, naming the track.
    let e = s.create_track(&track(u, "f3", "Copy", "X", "aa"), 12).expect_err("dup");
    assert!(e.to_string().contains("Around the World"), "{e}");

    assert_eq!(s.delete_track(a.id, u, 13).expect("delete"), ("f1".to_owned(), Some("c1".to_owned())));
    assert!(s.track_file(a.id).is_err());
    assert_eq!(s.tracks(Some("daft"), 0, 50).expect("q").1, 0, "gone from the index too");
    assert!(s.delete_track(TrackId(999), u, 14).is_err());

    let kinds: Vec<String> = s.events_after(seq0, chat::ids::Seq(i64::MAX), 100).expect("events").iter().map(|e| e.kind.as_str().to_owned()).collect();
    assert_eq!(kinds, ["track.create", "track.create", "track.delete"]);
}

#[test]
fn dj_state_is_saved_per_room_and_goes_with_its_channel() {
    let (_d, s, u, c) = setup();
    assert!(s.dj_states().expect("none").is_empty());
    s.save_dj_state(c, "{\"v\":1}", 5).expect("save");
    s.save_dj_state(c, "{\"v\":2}", 6).expect("save again");
    assert_eq!(s.dj_states().expect("states"), vec![(c, "{\"v\":2}".to_owned())]);
    let _ = u;
}
