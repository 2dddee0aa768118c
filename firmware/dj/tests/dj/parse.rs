use dj::parse::COMMANDS;
use dj::{parse, parse_with, Chat, Command, Config, LoopMode, ParseError, PlaylistAction, Query};

use crate::harness::*;

fn ok(text: &str) -> Command {
    match parse(text) {
        Ok(Some(c)) => c,
        other => panic!("{text:?} gave {other:?}"),
    }
}

fn invalid(text: &str) -> String {
    match parse(text) {
        Err(ParseError::Invalid(w)) => w,
        other => panic!("{text:?} gave {other:?}"),
    }
}

#[test]
fn chat_that_is_not_a_command() {
    for text in [
        "hello",
        "",
        "   ",
        "!",
        "!!!",
        "! wow",
        "!1",
        "!?",
        "wow !play x",
        "!!play",
    ] {
        assert_eq!(parse(text), Ok(None), "{text:?}");
    }
}

#[test]
fn words_are_case_insensitive_and_whitespace_is_loose() {
    assert_eq!(
        ok("!PLAY  some \t song\n now"),
        Command::Play {
            query: Some(Query::Search("some song now".into()))
        }
    );
    assert_eq!(ok("   !Skip please"), Command::Skip);
    assert_eq!(ok("!NP"), Command::NowPlaying);
    assert_eq!(
        ok("!play Ünïcødé 曲 🎵"),
        Command::Play {
            query: Some(Query::Search("Ünïcødé 曲 🎵".into()))
        }
    );
}

#[test]
fn every_command_and_alias_parses() {
    let args = |name: &str| match name {
        "playnext" | "playnow" | "search" => " x",
        "pick" | "skipto" | "remove" => " 1",
        "seek" => " 1:00",
        "move" => " 1 2",
        _ => "",
    };
    for spec in COMMANDS {
        for word in std::iter::once(&spec.name).chain(spec.aliases) {
            let line = format!("!{word}{}", args(spec.name));
            assert!(
                matches!(parse(&line), Ok(Some(_))),
                "{line} → {:?}",
                parse(&line)
            );
        }
    }
    assert!(COMMANDS.len() >= 20);
}

#[test]
fn queries_are_urls_tracks_or_searches() {
    let q = |t: &str| match ok(t) {
        Command::Play { query: Some(q) } => q,
        c => panic!("{c:?}"),
    };
    assert_eq!(
        q("!play https://x.test/a?b=1"),
        Query::Url("https://x.test/a?b=1".into())
    );
    assert_eq!(
        q("!play <HTTP://x.test/a>"),
        Query::Url("HTTP://x.test/a".into())
    );
    assert_eq!(q("!play library:12"), Query::Track("library:12".into()));
    assert_eq!(q("!play ac:dc"), Query::Search("ac:dc".into()));
    assert_eq!(
        q("!play https://x.test/a and more"),
        Query::Search("https://x.test/a and more".into())
    );
    assert_eq!(q("!play 2"), Query::Search("2".into()));
    assert_eq!(ok("!play"), Command::Play { query: None });
    let schemes = Config {
        track_schemes: vec!["jellyfin".into()],
        ..Config::default()
    };
    assert_eq!(
        parse_with(&schemes, "!p jellyfin:abc"),
        Ok(Some(Command::Play {
            query: Some(Query::Track("jellyfin:abc".into()))
        }))
    );
}

#[test]
fn arguments() {
    assert_eq!(ok("!volume 80%"), Command::Volume { percent: Some(80) });
    assert_eq!(ok("!vol"), Command::Volume { percent: None });
    assert_eq!(
        ok("!volume 200"),
        Command::Volume { percent: Some(200) },
        "the range is checked when it runs"
    );
    assert!(invalid("!volume loud").contains("0 to 150"));
    assert_eq!(ok("!seek 1:02:03"), Command::Seek { ms: 3_723_000 });
    assert_eq!(ok("!seek 90"), Command::Seek { ms: 90_000 });
    assert!(invalid("!seek 1:99").contains("not a time"));
    assert!(invalid("!seek").contains("To what time"));
    assert_eq!(ok("!ff"), Command::Forward { ms: 10_000 });
    assert_eq!(ok("!rw 30"), Command::Rewind { ms: 30_000 });
    assert_eq!(
        ok("!loop TRACK"),
        Command::Loop {
            mode: Some(LoopMode::Track)
        }
    );
    assert_eq!(
        ok("!repeat all"),
        Command::Loop {
            mode: Some(LoopMode::Queue)
        }
    );
    assert_eq!(ok("!loop"), Command::Loop { mode: None });
    assert!(invalid("!loop sideways").contains("loop queue"));
    assert_eq!(ok("!move #5 1"), Command::Move { from: 5, to: 1 });
    assert!(invalid("!move 5").contains("!move 5 1"));
    assert!(invalid("!remove 99999999999999999999999").contains("not a number"));
    assert!(invalid("!pick").contains("Which one"));
    assert_eq!(ok("!queue"), Command::Queue { page: 1 });
    assert_eq!(ok("!q 3"), Command::Queue { page: 3 });
    assert!(invalid("!q three").contains("page"));
    assert_eq!(ok("!fair on"), Command::FairQueue { on: Some(true) });
    assert!(invalid("!fairqueue maybe").contains("fairqueue on"));
    assert_eq!(
        ok("!help !Play"),
        Command::Help {
            topic: Some("play".into())
        }
    );
    assert!(invalid("!playnext").contains("What should I play"));
    assert!(invalid("!search   ").contains("search for"));
}

#[test]
fn playlist_subcommands() {
    let pl = |t: &str| match ok(t) {
        Command::Playlist { action } => action,
        c => panic!("{c:?}"),
    };
    assert_eq!(
        pl("!playlist save  Road   Trip "),
        PlaylistAction::Save {
            name: "Road Trip".into()
        }
    );
    assert_eq!(pl("!pl load x"), PlaylistAction::Load { name: "x".into() });
    assert_eq!(pl("!pl"), PlaylistAction::List { page: 1 });
    assert_eq!(pl("!pl list 2"), PlaylistAction::List { page: 2 });
    assert_eq!(pl("!pl del x"), PlaylistAction::Delete { name: "x".into() });
    assert!(invalid("!pl save").contains("playlist save NAME"));
    assert!(invalid("!pl frobnicate x").contains("playlist load NAME"));
}

#[test]
fn too_long_lines_are_refused_in_words() {
    let long = format!("!play {}", "a".repeat(600));
    assert!(invalid(&long).contains("at most 500"));
    // Chat that is not a command may be as long as it likes.
    assert_eq!(parse(&"a".repeat(5000)), Ok(None));
}

#[test]
fn the_prefix_is_configurable() {
    let c = Config {
        prefix: '.',
        ..Config::default()
    };
    assert_eq!(parse_with(&c, ".skip"), Ok(Some(Command::Skip)));
    assert_eq!(parse_with(&c, "!skip"), Ok(None));
}

#[test]
fn unknown_commands_are_answered_in_the_room_only() {
    let mut h = H::new();
    let out = h.text(&alice(), "!frobnicate now");
    refused(
        &out,
        &alice(),
        "Unknown command `!frobnicate` — `!help` lists them",
    );
    assert!(h
        .text_in(Chat::Channel(7), &alice(), "!frobnicate")
        .is_empty());
    assert!(h.text(&alice(), "!").is_empty());
    assert!(h.text(&alice(), "!!!").is_empty());
    assert!(h.text(&alice(), "just chatting").is_empty());
    // A known command with bad words is answered anywhere.
    let out = h.text_in(Chat::Channel(7), &alice(), "!volume loud");
    refused(&out, &alice(), "0 to 150");
    // A huge unknown word is cut in the answer.
    let out = h.text(&alice(), &format!("!{}", "x".repeat(400)));
    assert!(said(&out).chars().count() < 120, "{}", said(&out));
}

#[test]
fn help_lists_and_explains() {
    let mut h = H::new();
    let out = h.text(&alice(), "!help");
    let text = private(&out, &alice());
    for spec in COMMANDS {
        assert!(
            text.contains(&format!("`!{}`", spec.name)),
            "{} missing from help",
            spec.name
        );
    }
    let out = h.text(&alice(), "!help np");
    let text = private(&out, &alice());
    assert!(
        text.contains("`!nowplaying`") && text.contains("`!np`"),
        "{text}"
    );
    let out = h.text(&alice(), "!h skip");
    assert!(private(&out, &alice()).contains("requester"));
    refused(
        &h.text(&alice(), "!help frob"),
        &alice(),
        "There is no command `!frob`",
    );
}

#[test]
fn commands_travel_as_json() {
    let cmd = Command::Play {
        query: Some(Query::Url("https://x.test".into())),
    };
    let json = serde_json::to_string(&cmd).unwrap();
    assert_eq!(json, r#"{"cmd":"play","query":{"url":"https://x.test"}}"#);
    let back: Command = serde_json::from_str(r#"{"cmd":"skip"}"#).unwrap();
    assert_eq!(back, Command::Skip);
    let mv: Command = serde_json::from_str(r#"{"cmd":"move","from":3,"to":1}"#).unwrap();
    assert_eq!(mv, Command::Move { from: 3, to: 1 });
}
