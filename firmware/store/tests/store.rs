//! The store against a real SQLite file: the event log, idempotent sends, read positions,
//! migrations.

use chat::events::EventKind;
use chat::ids::{ChannelId, MessageId, Seq, UserId};
use chat::model::Role;
use std::sync::{Arc, Mutex};
use store::{NewMessage, Page, Store};

fn setup() -> (tempfile::TempDir, Store, UserId, ChannelId) {
    let dir = tempfile::tempdir().expect("dir");
    let s = Store::open(dir.path().join("t.db")).expect("open");
    let u = s.create_user("ann", "Ann", "hash", Role::Admin, 1).expect("user").id;
    let c = s.create_channel("general", "", 1).expect("channel").id;
    (dir, s, u, c)
}

fn send(s: &Store, c: ChannelId, u: UserId, text: &str, nonce: Option<&str>) -> (chat::model::Message, bool) {
    s.send_message(NewMessage { channel: c, author: u, content: text, reply_to: None, nonce }, 1_800_000_000_000, |_| Ok(()))
        .expect("send")
}

#[test]
fn every_change_gets_the_next_sequence_number_and_is_published_in_order() {
    let (_d, s, u, c) = setup();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s2 = seen.clone();
    s.set_publisher(move |evs| s2.lock().expect("lock").extend(evs.iter().map(|e| (e.seq, e.kind))));
    let before = s.current_seq().expect("seq");
    let (m, _) = send(&s, c, u, "one", None);
    s.edit_message(m.id, "two", 2, |_, _| Ok(())).expect("edit");
    s.delete_message(m.id, 3, |_| Ok(())).expect("delete");
    let seen = seen.lock().expect("lock").clone();
    assert_eq!(
        seen,
        vec![
            (Seq(before.0 + 1), EventKind::MessageCreate),
            (Seq(before.0 + 2), EventKind::MessageUpdate),
            (Seq(before.0 + 3), EventKind::MessageDelete),
        ]
    );
    let replay = s.events_after(before, s.current_seq().expect("seq"), 100).expect("events");
    assert_eq!(replay.iter().map(|e| (e.seq, e.kind)).collect::<Vec<_>>(), seen);
}

#[test]
fn a_failed_transaction_emits_nothing_and_leaves_no_trace() {
    let (_d, s, u, c) = setup();
    let before = s.current_seq().expect("seq");
    let err = s
        .send_message(NewMessage { channel: c, author: u, content: "x", reply_to: None, nonce: None }, 5, |_| {
            Err(chat::Error::forbidden("nope", "no"))
        })
        .expect_err("refused");
    assert_eq!(err.domain().map(|e| e.code), Some("nope"));
    assert_eq!(s.current_seq().expect("seq"), before);
    assert_eq!(s.message_count().expect("count"), 0);
}

#[test]
fn a_repeated_nonce_returns_the_first_message() {
    let (_d, s, u, c) = setup();
    let (a, created_a) = send(&s, c, u, "hello", Some("n1"));
    let (b, created_b) = send(&s, c, u, "hello again", Some("n1"));
    assert!(created_a && !created_b);
    assert_eq!(a, b);
    assert_eq!(s.message_count().expect("count"), 1);
}

#[test]
fn pruning_keeps_the_newest_events_and_sequence_numbers_are_never_reused() {
    let (_d, s, u, c) = setup();
    for i in 0..20 {
        send(&s, c, u, &format!("m{i}"), None);
    }
    let head = s.current_seq().expect("seq");
    s.prune_events(5).expect("prune");
    assert_eq!(s.oldest_seq().expect("oldest"), Some(Seq(head.0 - 4)));
    assert_eq!(s.current_seq().expect("seq"), head);
    send(&s, c, u, "after", None);
    assert_eq!(s.current_seq().expect("seq"), Seq(head.0 + 1));
}

#[test]
fn read_positions_only_move_forward_and_count_unread_from_others() {
    let (_d, s, u, c) = setup();
    let bob = s.create_user("bob", "Bob", "h", Role::Member, 1).expect("bob").id;
    let ids: Vec<MessageId> = (0..5).map(|i| send(&s, c, u, &format!("m{i}"), None).0.id).collect();
    assert_eq!(s.channels_for(bob).expect("channels")[0].unread_count, 5);
    assert_eq!(s.channels_for(u).expect("channels")[0].unread_count, 0);
    s.mark_read(bob, c, ids[3], 1).expect("read");
    let back = s.mark_read(bob, c, ids[1], 1).expect("read");
    assert_eq!(back.last_read_id, Some(ids[3]));
    assert_eq!(s.channels_for(bob).expect("channels")[0].unread_count, 1);
}

#[test]
fn history_pages_are_oldest_first() {
    let (_d, s, u, c) = setup();
    let ids: Vec<MessageId> = (0..10).map(|i| send(&s, c, u, &format!("m{i}"), None).0.id).collect();
    let latest = s.history(c, Page::Latest, 3).expect("page");
    assert_eq!(latest.iter().map(|m| m.id).collect::<Vec<_>>(), ids[7..].to_vec());
    let around = s.history(c, Page::Around(ids[5]), 3).expect("page");
    assert_eq!(around.iter().map(|m| m.id).collect::<Vec<_>>(), ids[4..7].to_vec());
}

#[test]
fn reopening_applies_no_migration_twice_and_ids_keep_increasing() {
    let dir = tempfile::tempdir().expect("dir");
    let p = dir.path().join("t.db");
    let (u, c, last) = {
        let s = Store::open(&p).expect("open");
        let u = s.create_user("ann", "Ann", "h", Role::Admin, 1).expect("user").id;
        let c = s.create_channel("g", "", 1).expect("channel").id;
        // A message stamped far in the future (clock later stepped back).
        let (m, _) = s
            .send_message(NewMessage { channel: c, author: u, content: "future", reply_to: None, nonce: None }, 4_000_000_000_000, |_| Ok(()))
            .expect("send");
        (u, c, m.id)
    };
    let s = Store::open(&p).expect("reopen");
    let (m, _) = send(&s, c, u, "now", None);
    assert!(m.id > last, "IDs stay increasing across restarts even if the clock went back");
    assert_eq!(s.integrity_check().expect("check"), "ok");
}

#[test]
fn the_last_admin_cannot_be_demoted_or_disabled() {
    let (_d, s, u, _c) = setup();
    let e = s.set_role(u, Role::Member, 1).expect_err("refused");
    assert_eq!(e.domain().map(|e| e.code), Some("last_admin"));
    let e = s.set_disabled(u, true, 1).expect_err("refused");
    assert_eq!(e.domain().map(|e| e.code), Some("last_admin"));
}

#[test]
fn usernames_are_unique() {
    let (_d, s, _u, _c) = setup();
    let e = s.create_user("ann", "Other Ann", "h", Role::Member, 1).expect_err("refused");
    assert_eq!(e.domain().map(|e| e.code), Some("username_taken"));
}

#[test]
fn an_online_backup_is_a_complete_database() {
    let (d, s, u, c) = setup();
    send(&s, c, u, "keep me", None);
    let dest = d.path().join("backup.db");
    s.backup_to(&dest).expect("backup");
    let b = Store::open(&dest).expect("open backup");
    assert_eq!(b.message_count().expect("count"), 1);
}
