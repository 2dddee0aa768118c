use dj::{Command, Config, Output, Query};

use crate::harness::*;

#[test]
fn per_user_limit() {
    let mut h = H::with(Config {
        per_user_limit: 2,
        ..Config::default()
    });
    h.add(&alice(), song("Now", 100));
    h.add_many(&alice(), vec![song("A", 10), song("B", 10)]);
    refused(
        &h.text(&alice(), "!play more"),
        &alice(),
        "You can have at most 2 tracks in the queue",
    );
    // A playlist URL is cut at the limit, and the rest is told.
    let mut h = H::with(Config {
        per_user_limit: 2,
        ..Config::default()
    });
    h.add(&bob(), song("Now", 100));
    let out = h.add_many(&alice(), vec![song("A", 10), song("B", 10), song("C", 10)]);
    assert_eq!(public(&out), "Queued 2 tracks (#1–#2)");
    assert_eq!(
        private(&out, &alice()),
        "1 track not queued: You can have at most 2 tracks in the queue"
    );
    // Others and DJs are not held to Alice's count.
    h.add(&bob(), song("Bob's", 10));
    h.add_many(
        &admin(),
        vec![song("M1", 10), song("M2", 10), song("M3", 10)],
    );
    assert_eq!(h.view().queue_total, 6);
    // 0 means no limit.
    let mut h = H::with(Config {
        per_user_limit: 0,
        ..Config::default()
    });
    h.add_many(
        &alice(),
        (0..40).map(|i| song(&format!("S{i}"), 10)).collect(),
    );
    assert_eq!(h.view().queue_total, 39);
}

#[test]
fn max_queue() {
    let mut h = H::with(Config {
        max_queue: 3,
        per_user_limit: 0,
        ..Config::default()
    });
    h.add(&alice(), song("Now", 100));
    h.add_many(
        &alice(),
        vec![song("A", 10), song("B", 10), song("C", 10), song("D", 10)],
    );
    assert_eq!(h.view().queue_total, 3);
    refused(
        &h.text(&admin(), "!play x"),
        &admin(),
        "The queue is full (3 tracks)",
    );
}

#[test]
fn max_track_length_in_words() {
    let mut h = H::new();
    let out = h.add(&alice(), song("Epic", 4 * 3600));
    refused(
        &out,
        &alice(),
        "**Epic** by Band is 4:00:00 long: tracks can be at most 3:00:00",
    );
    assert!(h.current().is_none());
    // Live streams have no length.
    h.add(&alice(), radio("Radio"));
    assert_eq!(h.current().as_deref(), Some("Radio"));
    let mut h = H::with(Config {
        max_track_ms: None,
        ..Config::default()
    });
    h.add(&alice(), song("Epic", 4 * 3600));
    assert_eq!(h.current().as_deref(), Some("Epic"));
}

#[test]
fn seeking_past_the_end_or_in_a_stream_is_refused() {
    let mut h = playing(&alice(), song("Short", 192), vec![], &[&alice()]);
    refused(
        &h.text(&alice(), "!seek 3:12"),
        &alice(),
        "**Short** by Band is only 3:12 long (it is at 0:00)",
    );
    refused(
        &h.text(&alice(), "!ff 1:00:00"),
        &alice(),
        "is only 3:12 long",
    );
    let mut h = playing(&alice(), radio("Radio"), vec![], &[&alice()]);
    refused(
        &h.text(&alice(), "!seek 10"),
        &alice(),
        "**Radio** is a live stream",
    );
    refused(&h.text(&alice(), "!replay"), &alice(), "live stream");
    refused(
        &h.cmd(&alice(), Command::Forward { ms: u64::MAX }),
        &alice(),
        "live stream",
    );
}

#[test]
fn volume_out_of_range() {
    let mut h = playing(&alice(), song("A", 100), vec![], &[&alice()]);
    refused(
        &h.text(&alice(), "!volume 151"),
        &alice(),
        "The volume goes from 0 to 150: 151 is too loud",
    );
    refused(
        &h.cmd(
            &alice(),
            Command::Volume {
                percent: Some(u32::MAX),
            },
        ),
        &alice(),
        "0 to 150",
    );
    assert_eq!(h.view().volume, 100);
    let out = h.text(&alice(), "!volume 0");
    assert!(has(&out, &Output::Volume { percent: 0 }));
}

#[test]
fn pages_out_of_range() {
    let mut h = playing(
        &alice(),
        song("A", 100),
        (0..12).map(|i| song(&format!("S{i}"), 10)).collect(),
        &[&alice()],
    );
    refused(
        &h.text(&alice(), "!queue 3"),
        &alice(),
        "There are only 2 pages",
    );
    refused(
        &h.cmd(&alice(), Command::Queue { page: 0 }),
        &alice(),
        "only 2 pages",
    );
    refused(
        &h.text(&alice(), "!history 2"),
        &alice(),
        "There is only 1 page",
    );
    refused(&h.text(&alice(), "!pl list 2"), &alice(), "only 1 page");
}

#[test]
fn long_arguments_from_the_ui_are_refused_too() {
    let mut h = H::new();
    let long = "é".repeat(501);
    refused(
        &h.cmd(
            &alice(),
            Command::Play {
                query: Some(Query::Search(long.clone())),
            },
        ),
        &alice(),
        "at most 500",
    );
    refused(
        &h.cmd(&alice(), Command::Search { query: long }),
        &alice(),
        "at most 500",
    );
    refused(
        &h.cmd(
            &alice(),
            Command::Search {
                query: "   ".into(),
            },
        ),
        &alice(),
        "search for",
    );
}

#[test]
fn titles_and_names_are_escaped_and_unicode_is_fine() {
    let mut h = H::new();
    let mut t = song("**Bold** `code`", 100);
    t.artist = Some("Ünï_cødé 🎵".into());
    let out = h.add(&dj::User::new(8, "*Star*"), t);
    assert_eq!(
        public(&out),
        "Playing **\\*\\*Bold\\*\\* \\`code\\`** by Ünï\\_cødé 🎵"
    );
    let out = h.text(&alice(), "!np");
    assert!(
        public(&out).contains("queued by \\*Star\\*"),
        "{}",
        public(&out)
    );
}

#[test]
fn config_is_validated_by_key() {
    assert_eq!(Config::default().validate(), Ok(()));
    let bad = Config {
        vote_ratio: 0.0,
        ..Config::default()
    };
    assert_eq!(bad.validate().map_err(|e| e.key), Err("vote_ratio"));
    let bad = Config {
        prefix: 'a',
        ..Config::default()
    };
    assert_eq!(
        bad.validate().map_err(|e| e.to_string()),
        Err("dj.prefix: must be a symbol such as ! or .".into())
    );
    let parsed: Config =
        serde_json::from_str(r#"{"max_queue": 10, "max_track_ms": null}"#).unwrap();
    assert_eq!(
        (parsed.max_queue, parsed.max_track_ms, parsed.per_user_limit),
        (10, None, 25)
    );
    assert!(
        serde_json::from_str::<Config>(r#"{"max_qeue": 10}"#).is_err(),
        "unknown keys are refused"
    );
}
