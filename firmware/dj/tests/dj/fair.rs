use dj::Command;

use crate::harness::*;

fn order(h: &H) -> Vec<String> {
    h.titles()
}

/// Alice queues three, then Bob and Carol one or two each.
fn busy() -> H {
    let mut h = playing(&dave(), song("Now", 100), vec![], &[&alice()]);
    h.add_many(
        &alice(),
        vec![song("A1", 10), song("A2", 10), song("A3", 10)],
    );
    h.add(&bob(), song("B1", 10));
    h.add(&carol(), song("C1", 10));
    h.add(&bob(), song("B2", 10));
    h
}

#[test]
fn off_it_plays_in_the_order_queued() {
    let h = busy();
    assert_eq!(order(&h), ["A1", "A2", "A3", "B1", "C1", "B2"]);
}

#[test]
fn turning_it_on_interleaves_and_keeps_every_entry() {
    let mut h = busy();
    let out = h.text(&alice(), "!fairqueue on");
    assert_eq!(public(&out), "The fair queue is on: requesters take turns");
    assert!(h.view().fairqueue);
    assert_eq!(order(&h), ["A1", "B1", "C1", "A2", "B2", "A3"]);
    h.text(&alice(), "!fairqueue off");
    assert!(!h.view().fairqueue);
    assert_eq!(
        order(&h),
        ["A1", "B1", "C1", "A2", "B2", "A3"],
        "off keeps the order and the entries"
    );
    h.add(&bob(), song("B3", 10));
    assert_eq!(
        order(&h).last().map(String::as_str),
        Some("B3"),
        "off: new entries go last"
    );
}

#[test]
fn new_entries_take_their_requesters_turn() {
    let mut h = playing(&dave(), song("Now", 100), vec![], &[&alice()]);
    h.text(&alice(), "!fair on");
    h.add_many(
        &alice(),
        vec![song("A1", 10), song("A2", 10), song("A3", 10)],
    );
    assert_eq!(order(&h), ["A1", "A2", "A3"]);
    let out = h.add(&bob(), song("B1", 10));
    assert_eq!(public(&out), "Queued **B1** by Band (#2, in 1:50)");
    h.add(&carol(), song("C1", 10));
    h.add(&bob(), song("B2", 10));
    assert_eq!(order(&h), ["A1", "B1", "C1", "A2", "B2", "A3"]);
    // The view shows the order things will play in.
    h.ended();
    assert_eq!(h.current().as_deref(), Some("A1"));
    h.ended();
    assert_eq!(h.current().as_deref(), Some("B1"));
}

#[test]
fn one_person_cannot_fill_the_queue_ahead_of_others() {
    let mut h = playing(&dave(), song("Now", 100), vec![], &[&alice()]);
    h.text(&alice(), "!fair on");
    h.add_many(
        &alice(),
        (0..10).map(|i| song(&format!("A{i}"), 10)).collect(),
    );
    h.add(&bob(), song("B", 10));
    assert_eq!(order(&h).iter().position(|t| t == "B"), Some(1));
}

#[test]
fn setting_it_needs_charge_showing_it_does_not() {
    let mut h = busy();
    h.listeners(&[&alice(), &bob()]);
    refused(
        &h.text(&alice(), "!fairqueue on"),
        &alice(),
        "Only a DJ, or the only person",
    );
    let out = h.text(&alice(), "!fairqueue");
    assert!(public(&out).contains("is off"));
    h.cmd(&admin(), Command::FairQueue { on: Some(true) });
    assert!(h.view().fairqueue);
}

#[test]
fn shuffle_keeps_turns_when_fair() {
    let mut h = busy();
    h.text(&alice(), "!fair on");
    h.text(&alice(), "!shuffle");
    let rounds: Vec<char> = order(&h)
        .iter()
        .map(|t| t.chars().nth(1).unwrap_or('?'))
        .collect();
    // Round 1 entries (A1/B1/C1 in some order) come before round 2 and 3.
    assert_eq!(rounds.iter().filter(|c| **c == '1').count(), 3);
    assert!(rounds[..3].iter().all(|c| *c == '1'), "{:?}", order(&h));
}
