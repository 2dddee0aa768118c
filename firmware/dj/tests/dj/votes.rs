use dj::{Command, Config, SkipVotes};

use crate::harness::*;

fn room() -> H {
    // Erin queued it; four people listen.
    playing(
        &erin(),
        song("Long", 300),
        vec![song("Next", 100)],
        &[&alice(), &bob(), &carol(), &dave()],
    )
}

#[test]
fn half_the_room_skips() {
    let mut h = room();
    assert_eq!(
        h.view().skip_votes,
        SkipVotes {
            count: 0,
            needed: 2
        }
    );
    let out = h.text(&alice(), "!skip");
    assert_eq!(
        public(&out),
        "Alice voted to skip **Long** by Band (1/2, 1 more needed)"
    );
    assert_eq!(
        h.view().skip_votes,
        SkipVotes {
            count: 1,
            needed: 2
        }
    );
    assert_eq!(h.current().as_deref(), Some("Long"));
    let out = h.text(&bob(), "!s");
    assert_eq!(public(&out), "Skipped **Long** by Band (2/2 votes)");
    assert_eq!(played(&out).map(|p| p.0), Some("Next".into()));
    assert_eq!(h.view().skip_votes.count, 0, "votes end with the track");
}

#[test]
fn the_ratio_is_configurable() {
    let mut h = H::with(Config {
        vote_ratio: 0.75,
        ..Config::default()
    });
    h.listeners(&[&alice(), &bob(), &carol(), &dave()]);
    h.add(&erin(), song("Long", 300));
    assert_eq!(h.view().skip_votes.needed, 3);
    h.text(&alice(), "!skip");
    h.text(&bob(), "!skip");
    assert_eq!(h.current().as_deref(), Some("Long"));
    h.text(&carol(), "!skip");
    assert_eq!(h.current(), None);
}

#[test]
fn voting_twice_counts_once() {
    let mut h = room();
    h.text(&alice(), "!skip");
    refused(
        &h.text(&alice(), "!skip"),
        &alice(),
        "You already voted to skip (1/2)",
    );
    assert_eq!(h.current().as_deref(), Some("Long"));
}

#[test]
fn votes_from_outside_the_room_do_not_count() {
    let mut h = room();
    refused(
        &h.text(&dj::User::new(77, "Outsider"), "!skip"),
        &dj::User::new(77, "Outsider"),
        "Only people in the voice room",
    );
    assert_eq!(h.view().skip_votes.count, 0);
}

#[test]
fn people_leaving_can_make_the_votes_enough() {
    let mut h = room();
    h.text(&alice(), "!skip");
    // Carol and Dave leave: 1 of 2 is enough now.
    let out = h.listeners(&[&alice(), &bob()]);
    assert_eq!(public(&out), "Enough votes now: skipped **Long** by Band");
    assert_eq!(h.current().as_deref(), Some("Next"));
}

#[test]
fn a_voter_leaving_takes_their_vote_along() {
    let mut h = room();
    h.text(&alice(), "!skip");
    h.listeners(&[&bob(), &carol(), &dave()]);
    assert_eq!(
        h.view().skip_votes,
        SkipVotes {
            count: 0,
            needed: 2
        }
    );
    h.text(&bob(), "!skip");
    assert_eq!(
        h.current().as_deref(),
        Some("Long"),
        "Alice's vote no longer counts"
    );
}

#[test]
fn the_requester_and_djs_skip_at_once() {
    let mut h = room();
    let out = h.text(&erin(), "!skip");
    assert_eq!(public(&out), "Erin skipped **Long** by Band");
    assert_eq!(h.current().as_deref(), Some("Next"));
    let out = h.text(&admin(), "!skip");
    assert_eq!(public(&out), "Mod skipped **Next** by Band");
    assert!(
        has(&out, &dj::Output::Stop),
        "nothing left: the player stops"
    );
    refused(&h.text(&alice(), "!skip"), &alice(), "Nothing is playing");
}

#[test]
fn forceskip_is_for_djs() {
    let mut h = room();
    refused(
        &h.text(&erin(), "!forceskip"),
        &erin(),
        "Only a DJ can do that",
    );
    refused(&h.text(&alice(), "!fs"), &alice(), "Only a DJ can do that");
    h.cmd(&admin(), Command::ForceSkip);
    assert_eq!(h.current().as_deref(), Some("Next"));
}

#[test]
fn alone_in_the_room_one_vote_is_enough() {
    let mut h = playing(&erin(), song("A", 100), vec![], &[&alice()]);
    h.text(&alice(), "!skip");
    assert_eq!(h.current(), None);
}
