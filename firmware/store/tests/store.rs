//! The store against a real SQLite file: the event log, idempotent sends, read positions,
//! migrations.

use chat::events::EventKind;
use chat::ids::{ChannelId, MessageId, RoleId, Seq, UserId};
use chat::model::Role;
use chat::perms::Perms;
use std::sync::{Arc, Mutex};
use store::{NewMessage, Page, Store};

fn setup() -> (tempfile::TempDir, Store, UserId, ChannelId) {
    let dir = tempfile::tempdir().expect("dir");
    let s = Store::open(dir.path().join("t.db")).expect("open");
    let u = s.create_user("ann", "Ann", "hash", Role::Admin, 1).expect("user").id;
    let c = s.create_channel("general", "", 1).expect("channel").id;
    (dir, s, u, c)
}

fn actor(s: &Store, u: UserId) -> chat::perms::Actor {
    s.actor(u, 1_800_000_000_000).expect("actor")
}

fn new<'a>(c: ChannelId, u: UserId, content: &'a str, nonce: Option<&'a str>) -> NewMessage<'a> {
    NewMessage { channel: c, author: u, content, reply_to: None, nonce, attachments: &[] }
}

fn send(s: &Store, c: ChannelId, u: UserId, text: &str, nonce: Option<&str>) -> (chat::model::Message, bool) {
    s.send_message(new(c, u, text, nonce), 1_800_000_000_000, actor(s, u)).expect("send")
}

#[test]
fn every_change_gets_the_next_sequence_number_and_is_published_in_order() {
    let (_d, s, u, c) = setup();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s2 = seen.clone();
    s.set_publisher(move |evs| s2.lock().expect("lock").extend(evs.iter().map(|e| (e.seq, e.kind))));
    let before = s.current_seq().expect("seq");
    let (m, _) = send(&s, c, u, "one", None);
    s.edit_message(m.id, "two", 2, actor(&s, u)).expect("edit");
    s.delete_message(m.id, 3, actor(&s, u)).expect("delete");
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
    s.set_override(c, RoleId::EVERYONE, Perms::NONE, Perms::SEND, 2, actor(&s, u)).expect("override");
    let bob = s.create_user("bob", "Bob", "h", Role::Member, 1).expect("bob").id;
    let before = s.current_seq().expect("seq").max(before);
    let err = s.send_message(new(c, bob, "x", None), 5, actor(&s, bob)).expect_err("refused");
    assert_eq!(err.domain().map(|e| e.code), Some("missing_permission"));
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
    assert_eq!(s.channels_for(actor(&s, bob)).expect("channels")[0].unread_count, 5);
    assert_eq!(s.channels_for(actor(&s, u)).expect("channels")[0].unread_count, 0);
    s.mark_read(bob, c, ids[3], 1).expect("read");
    let back = s.mark_read(bob, c, ids[1], 1).expect("read");
    assert_eq!(back.last_read_id, Some(ids[3]));
    assert_eq!(s.channels_for(actor(&s, bob)).expect("channels")[0].unread_count, 1);
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
        let (m, _) = s.send_message(new(c, u, "future", None), 4_000_000_000_000, actor(&s, u)).expect("send");
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

#[test]
fn migrating_a_version_2_database_keeps_its_data_and_foreign_keys() {
    let dir = tempfile::tempdir().expect("dir");
    let p = dir.path().join("old.db");
    {
        // A database as the previous release left it: schema version 2 with a message.
        let c = rusqlite::Connection::open(&p).expect("open");
        c.execute_batch(include_str!("../migrations/0001_init.sql")).expect("v1");
        c.execute_batch(include_str!("../migrations/0002_voice_channels.sql")).expect("v2");
        c.execute_batch(
            "PRAGMA user_version = 2;
             INSERT INTO users (id, username, display_name, password_hash, role, created_at) VALUES (1, 'ann', 'Ann', 'h', 'admin', 1);
             INSERT INTO channels (id, name, position, created_at, kind, user_limit) VALUES (7, 'lounge', 0, 1, 'voice', 5);
             INSERT INTO channels (id, name, position, created_at) VALUES (8, 'general', 1, 1);
             INSERT INTO messages (id, channel_id, author_id, content, created_at) VALUES (65536, 8, 1, 'pizza tonight', 1);",
        )
        .expect("data");
    }
    let s = Store::open(&p).expect("migrate");
    let ann = actor(&s, UserId(1));
    let chans = s.channels_for(ann).expect("channels");
    assert_eq!(chans.iter().map(|c| (c.channel.id.0, c.channel.user_limit)).collect::<Vec<_>>(), vec![(7, 5), (8, 0)]);
    let q = chat::search::parse("pizza").expect("query");
    assert_eq!(s.search(&q, 10, 0, ann).expect("search").1, 1, "old messages are searchable");
    assert_eq!(s.integrity_check().expect("check"), "ok");
}

#[test]
fn reactions_pins_threads_and_mentions_are_part_of_the_message() {
    let (_d, s, u, c) = setup();
    let bob = s.create_user("bob", "Bob", "h", Role::Member, 1).expect("bob").id;
    let (m, _) = send(&s, c, u, "hey @bob and @nobody", None);
    assert_eq!(m.mentions, vec![bob]);
    s.react(m.id, "👍", true, 2, actor(&s, bob)).expect("react");
    let m2 = s.react(m.id, "👍", true, 3, actor(&s, u)).expect("react");
    assert_eq!(m2.reactions.len(), 1);
    assert_eq!(m2.reactions[0].user_ids, vec![bob, u]);
    let e = s.pin(m.id, true, 4, actor(&s, bob)).expect_err("members cannot pin");
    assert_eq!(e.domain().map(|e| e.code), Some("missing_permission"));
    assert!(s.pin(m.id, true, 4, actor(&s, u)).expect("pin").pinned_at.is_some());
    let (t, created) = s.create_thread(m.id, None, 5, actor(&s, bob)).expect("thread");
    assert!(created);
    send(&s, t.id, bob, "in the thread", None);
    let parent = s.history(c, Page::Latest, 10).expect("history").pop().expect("parent");
    let summary = parent.thread.expect("summary");
    assert_eq!((summary.id, summary.reply_count), (t.id, 1));
    // Bob follows the thread (he started it), so it is listed for him.
    assert!(s.channels_for(actor(&s, bob)).expect("channels").iter().any(|v| v.channel.id == t.id && v.following));
    // Unread mentions are counted per channel.
    let view = s.channels_for(actor(&s, bob)).expect("channels").into_iter().find(|v| v.channel.id == c).expect("c");
    assert_eq!(view.mention_count, 1);
}

#[test]
fn an_override_hides_a_channel_from_lists_search_and_history_rights() {
    let (_d, s, u, c) = setup();
    let bob = s.create_user("bob", "Bob", "h", Role::Member, 1).expect("bob").id;
    send(&s, c, u, "secret plans", None);
    let q = chat::search::parse("secret").expect("q");
    assert_eq!(s.search(&q, 10, 0, actor(&s, bob)).expect("search").1, 1);
    s.set_override(c, RoleId::EVERYONE, Perms::NONE, Perms::VIEW, 2, actor(&s, u)).expect("override");
    assert_eq!(s.search(&q, 10, 0, actor(&s, bob)).expect("search").1, 0);
    assert!(s.channels_for(actor(&s, bob)).expect("channels").is_empty());
    assert!(!s.visible_channels(actor(&s, bob)).expect("visible").contains(&c));
    let e = s.authorize(actor(&s, bob), c, chat::perms::Action::ViewChannel).expect_err("hidden");
    assert_eq!(e.domain().map(|e| e.code), Some("unknown_channel"));
    // A role can open it again for its members.
    let r = s.create_role("crew", "", Perms::NONE, 3, u).expect("role");
    s.set_override(c, r.id, Perms::VIEW, Perms::NONE, 4, actor(&s, u)).expect("override");
    s.set_user_roles(bob, &[r.id], 5, u).expect("roles");
    assert_eq!(s.search(&q, 10, 0, actor(&s, bob)).expect("search").1, 1);
    assert_eq!(s.audit_log(None, 10).expect("audit").len(), 4);
}

#[test]
fn durability_pragmas_are_what_acknowledged_writes_rely_on() {
    let (_dir, s, _, _) = setup();
    let (mode, synchronous, foreign_keys) = s.pragmas().expect("pragmas");
    assert_eq!(mode, "wal", "write-ahead log");
    // 2 = FULL: every commit is fsynced before the server acknowledges it (NORMAL = 1 may
    // lose the last commits in a power cut in WAL mode).
    assert_eq!(synchronous, 2, "synchronous = FULL");
    assert_eq!(foreign_keys, 1, "foreign keys enforced");
}

#[test]
fn avatars_change_with_their_event_and_only_moderators_remove_someone_else_s() {
    let (_d, s, ann, _c) = setup();
    let bob = s.create_user("bob", "Bob", "h", Role::Member, 1).expect("bob").id;
    let cat = s.create_user("cat", "Cat", "h", Role::Member, 1).expect("cat").id;
    let a = "0123456789abcdef0123456789abcdef.jpg";
    let b = "fedcba9876543210fedcba9876543210.png";
    let before = s.current_seq().expect("seq");
    let (u, old) = s.set_avatar(bob, Some(a), 2, actor(&s, bob)).expect("set");
    assert_eq!((u.avatar.as_deref(), old), (Some(a), None));
    let (u, old) = s.set_avatar(bob, Some(b), 3, actor(&s, bob)).expect("replace");
    assert_eq!((u.avatar.as_deref(), old.as_deref()), (Some(b), Some(a)), "the replaced name is handed back");
    let evs = s.events_after(before, Seq(i64::MAX), 10).expect("events");
    assert_eq!(evs.iter().map(|e| e.kind).collect::<Vec<_>>(), [EventKind::UserUpdate, EventKind::UserUpdate]);
    assert!(evs[1].data.contains(b));

    // Cat is no moderator: neither removing nor setting Bob's is allowed.
    let e = s.set_avatar(bob, None, 4, actor(&s, cat)).expect_err("refused");
    assert_eq!(e.domain().map(|e| e.code), Some("missing_permission"));
    let mods = s.create_role("mods", "#3366ff", Perms::MODERATE, 4, ann).expect("role").id;
    s.set_user_roles(cat, &[mods], 4, ann).expect("roles");
    let e = s.set_avatar(bob, Some(a), 5, actor(&s, cat)).expect_err("refused");
    assert_eq!(e.domain().map(|e| e.code), Some("not_yours"));
    let e = s.set_avatar(ann, None, 5, actor(&s, cat)).expect_err("refused");
    assert_eq!(e.domain().map(|e| e.code), Some("cannot_moderate_admin"));
    let (u, old) = s.set_avatar(bob, None, 6, actor(&s, cat)).expect("removed by a moderator");
    assert_eq!((u.avatar, old.as_deref()), (None, Some(b)));
    let log = s.audit_log(None, 10).expect("audit");
    assert_eq!((log[0].action.as_str(), log[0].target.as_str()), ("user.avatar_remove", format!("user:{bob}").as_str()));
    assert_eq!(s.user(bob).expect("bob").avatar, None);
    // Nothing to remove: no event.
    let seq = s.current_seq().expect("seq");
    s.set_avatar(bob, None, 7, actor(&s, bob)).expect("no-op");
    assert_eq!(s.current_seq().expect("seq"), seq);
}
