use dj::{Command, Output, Query, Request, Ticket};

use crate::harness::*;

#[test]
fn play_a_url_joins_and_plays() {
    let mut h = H::new();
    h.listeners(&[&alice()]);
    let out = h.text(&alice(), "!play https://music.test/a");
    assert_eq!(request(&out), Request::Url("https://music.test/a".into()));
    assert!(
        !has(&out, &Output::Changed),
        "nothing changed before the answer"
    );
    let out = h.resolve(ticket(&out), Ok(vec![song("Song", 200)]));
    let kinds: Vec<&str> = out
        .iter()
        .map(|o| match o {
            Output::Join => "join",
            Output::Volume { .. } => "volume",
            Output::Play { .. } => "play",
            Output::Reply { .. } => "reply",
            Output::Changed => "changed",
            _ => "other",
        })
        .collect();
    assert_eq!(kinds, ["join", "volume", "play", "reply", "changed"]);
    assert_eq!(played(&out), Some(("Song".into(), 0)));
    assert_eq!(public(&out), "Playing **Song** by Band");
}

#[test]
fn queued_answers_say_where_and_when() {
    let mut h = playing(&alice(), song("One", 200), vec![], &[&alice()]);
    h.now += 50 * SEC;
    h.add(&bob(), song("Two", 100));
    let out = h.add(&bob(), song("Three", 60));
    // 150 s left of One, then 100 s of Two.
    assert_eq!(public(&out), "Queued **Three** by Band (#2, in 4:10)");
    let out = h.add(&bob(), radio("Radio"));
    assert_eq!(public(&out), "Queued **Radio** (#3, in 5:10)");
    let out = h.add(&bob(), song("After radio", 60));
    assert_eq!(
        public(&out),
        "Queued **After radio** by Band (#4)",
        "no time after a live stream"
    );
}

#[test]
fn a_search_takes_the_first_hit_and_a_key_is_a_track() {
    let mut h = H::new();
    let out = h.text(&alice(), "!play never gonna");
    assert_eq!(
        request(&out),
        Request::Search {
            query: "never gonna".into(),
            limit: 1
        }
    );
    let out = h.resolve(
        ticket(&out),
        Ok(vec![song("Best", 100), song("Second", 100)]),
    );
    assert_eq!(played(&out).map(|p| p.0), Some("Best".into()));
    assert!(h.titles().is_empty(), "only the first hit is queued");
    let out = h.text(&alice(), "!play library:42");
    assert_eq!(request(&out), Request::Track("library:42".into()));
    let out = h.cmd(
        &alice(),
        Command::Play {
            query: Some(Query::Track("library:7".into())),
        },
    );
    assert_eq!(request(&out), Request::Track("library:7".into()));
}

#[test]
fn a_playlist_url_queues_all_of_it() {
    let mut h = playing(&alice(), song("Now", 100), vec![], &[&alice()]);
    let out = h.add_many(&bob(), vec![song("A", 10), song("B", 10), song("C", 10)]);
    assert_eq!(public(&out), "Queued 3 tracks (#1–#3)");
    assert_eq!(h.titles(), ["A", "B", "C"]);
}

#[test]
fn lookups_that_fail_or_find_nothing_are_told() {
    let mut h = H::new();
    let out = h.text(&alice(), "!play https://nowhere.test");
    let out = h.resolve(ticket(&out), Err("the site answered 404".into()));
    refused(
        &out,
        &alice(),
        "Could not get “https://nowhere.test”: the site answered 404",
    );
    let out = h.text(&alice(), "!play zzzz");
    let out = h.resolve(ticket(&out), Ok(vec![]));
    refused(&out, &alice(), "Nothing found for “zzzz”");
}

#[test]
fn unknown_and_answered_tickets_are_ignored() {
    let mut h = H::new();
    assert!(h.resolve(Ticket(999), Ok(vec![song("X", 10)])).is_empty());
    let out = h.text(&alice(), "!play https://a.test");
    let t = ticket(&out);
    h.resolve(t, Ok(vec![song("X", 10)]));
    assert!(
        h.resolve(t, Ok(vec![song("X", 10)])).is_empty(),
        "answered twice"
    );
    assert_eq!(h.titles().len(), 0);
}

#[test]
fn lookups_give_up_after_the_timeout() {
    let mut h = H::new();
    let t = ticket(&h.text(&alice(), "!play https://slow.test"));
    assert_eq!(h.dj.poll_timeout(), Some(h.now + 2 * MIN));
    let out = h.wait(2 * MIN);
    assert!(private(&out, &alice()).contains("took too long"), "{out:?}");
    assert!(
        h.resolve(t, Ok(vec![song("Late", 10)])).is_empty(),
        "a late answer is ignored"
    );
    assert!(h.current().is_none());
}

#[test]
fn one_person_has_at_most_three_lookups_running() {
    let mut h = H::new();
    for i in 0..3 {
        ticket(&h.text(&alice(), &format!("!play https://a.test/{i}")));
    }
    refused(
        &h.text(&alice(), "!play https://a.test/4"),
        &alice(),
        "still looking up",
    );
    ticket(&h.text(&bob(), "!play https://a.test/5"));
}

#[test]
fn play_alone_resumes_or_says_why_not() {
    let mut h = H::new();
    h.listeners(&[&alice()]);
    refused(&h.text(&alice(), "!play"), &alice(), "The queue is empty");
    h.add(&alice(), song("A", 100));
    h.started();
    refused(
        &h.text(&alice(), "!play"),
        &alice(),
        "Already playing **A**",
    );
    h.text(&alice(), "!pause");
    let out = h.text(&alice(), "!play");
    assert!(has(&out, &Output::Resume));
    refused(&h.text(&bob(), "!resume"), &bob(), "Join the voice room");
}

#[test]
fn playnext_goes_to_the_front() {
    let mut h = playing(
        &alice(),
        song("Now", 100),
        vec![song("A", 10), song("B", 10)],
        &[&alice()],
    );
    let out = h.answer(
        &alice(),
        "!playnext https://x.test/n",
        vec![song("Next", 10)],
    );
    assert_eq!(public(&out), "Queued **Next** by Band (#1, in 1:40)");
    assert_eq!(h.titles(), ["Next", "A", "B"]);
    h.listeners(&[&alice(), &bob()]);
    refused(
        &h.text(&alice(), "!playnext x"),
        &alice(),
        "Only a DJ, or the only person",
    );
    ticket(&h.text(&admin(), "!playnext x"));
}

#[test]
fn playnow_interrupts_and_the_interrupted_track_continues_later() {
    let mut h = playing(
        &alice(),
        song("Long", 300),
        vec![song("A", 10)],
        &[&alice()],
    );
    h.now += 70 * SEC;
    let out = h.answer(
        &alice(),
        "!playnow https://x.test/now",
        vec![song("Urgent", 30)],
    );
    assert_eq!(played(&out), Some(("Urgent".into(), 0)));
    assert_eq!(public(&out), "Playing **Urgent** by Band");
    assert_eq!(h.titles(), ["Long", "A"]);
    h.started();
    let out = h.ended();
    assert_eq!(
        played(&out),
        Some(("Long".into(), 70 * SEC)),
        "continues where it was"
    );
    h.listeners(&[&alice(), &bob()]);
    refused(&h.text(&bob(), "!playnow x"), &bob(), "Only a DJ");
}

#[test]
fn queueing_from_another_channel_starts_an_idle_dj() {
    let mut h = H::new();
    let out = h.text_in(dj::Chat::Channel(5), &bob(), "!play https://a.test");
    let out = h.resolve(ticket(&out), Ok(vec![song("A", 10)]));
    assert!(has(&out, &Output::Join));
    assert!(out.iter().any(|o| matches!(
        o,
        Output::Reply {
            chat: dj::Chat::Channel(5),
            to: None,
            ..
        }
    )));
}
