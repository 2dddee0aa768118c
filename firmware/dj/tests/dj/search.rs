use dj::{Config, Request};

use crate::harness::*;

fn searched(h: &mut H) {
    let out = h.text(&alice(), "!search  blue   monday");
    assert_eq!(
        request(&out),
        Request::Search {
            query: "blue monday".into(),
            limit: 5
        }
    );
    let hits = (1..=7).map(|i| song(&format!("Hit {i}"), 100)).collect();
    let out = h.resolve(ticket(&out), Ok(hits));
    let text = private(&out, &alice());
    assert!(text.starts_with("Results for “blue monday”"), "{text}");
    assert!(
        text.contains("1. **Hit 1** by Band (1:40)") && text.contains("5. **Hit 5**"),
        "{text}"
    );
    assert!(
        !text.contains("Hit 6"),
        "only search_results are shown: {text}"
    );
    assert!(
        public(&out).is_empty(),
        "results are for the one who searched"
    );
}

#[test]
fn search_then_pick_or_play_a_number() {
    let mut h = H::new();
    searched(&mut h);
    let out = h.text(&alice(), "!pick 2");
    assert!(
        !out.iter().any(|o| matches!(o, dj::Output::Resolve { .. })),
        "a pick needs no lookup"
    );
    assert_eq!(played(&out).map(|p| p.0), Some("Hit 2".into()));
    let out = h.text(&alice(), "!play 3");
    assert_eq!(public(&out), "Queued **Hit 3** by Band (#1, in 1:40)");
    let out = h.text(&alice(), "!choose #4");
    assert!(public(&out).contains("Hit 4"));
}

#[test]
fn picks_belong_to_the_searcher() {
    let mut h = H::new();
    searched(&mut h);
    refused(
        &h.text(&bob(), "!pick 1"),
        &bob(),
        "You have no search results",
    );
    // For Bob, a number is just a search.
    let out = h.text(&bob(), "!play 2");
    assert_eq!(
        request(&out),
        Request::Search {
            query: "2".into(),
            limit: 1
        }
    );
}

#[test]
fn picks_out_of_range_are_refused() {
    let mut h = H::new();
    searched(&mut h);
    refused(
        &h.text(&alice(), "!pick 6"),
        &alice(),
        "Pick a number from 1 to 5",
    );
    refused(
        &h.text(&alice(), "!pick 0"),
        &alice(),
        "Pick a number from 1 to 5",
    );
    refused(&h.text(&alice(), "!pick two"), &alice(), "not a number");
}

#[test]
fn results_expire() {
    let mut h = H::new();
    searched(&mut h);
    h.wait(4 * MIN);
    assert!(
        public(&h.text(&alice(), "!pick 1")).contains("Hit 1"),
        "still fresh"
    );
    h.wait(MIN + SEC);
    refused(
        &h.text(&alice(), "!pick 2"),
        &alice(),
        "Your search results expired",
    );
    // Once told, a number is a search again.
    assert_eq!(
        request(&h.text(&alice(), "!play 2")),
        Request::Search {
            query: "2".into(),
            limit: 1
        }
    );
}

#[test]
fn a_new_search_replaces_the_results_and_limits_apply_to_picks() {
    let mut h = H::with(Config {
        per_user_limit: 1,
        ..Config::default()
    });
    searched(&mut h);
    h.text(&alice(), "!pick 1"); // plays
    h.text(&alice(), "!pick 2"); // queued: 1 of 1
    refused(
        &h.text(&alice(), "!pick 3"),
        &alice(),
        "at most 1 track in the queue",
    );
    let out = h.text(&alice(), "!search other");
    let out = h.resolve(ticket(&out), Ok(vec![song("Other", 10)]));
    assert!(private(&out, &alice()).contains("1. **Other**"));
    refused(&h.text(&bob(), "!search"), &bob(), "search for");
}
