//! The fan-out hub: committed durable events and ephemeral signals go out to every connected
//! gateway socket through bounded broadcast rings; a socket that falls a ring behind is closed
//! and resumes from the database. Also tracks connections (to end them when their session ends)
//! and presence.

use chat::events::{Audience, Event, EventKind};
use chat::ids::{Seq, UserId};
use chat::model::Presence;
use chat::ids::ChannelId;
use chat::perms::Actor;
use chat::presence::PresenceTracker;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{broadcast, mpsc, watch};

/// Durable events a socket may be behind before it is closed (and resumes from SQLite).
pub const EVENT_RING: usize = 1024;
const EPHEMERAL_RING: usize = 256;

/// A durable event, framed once for every recipient.
#[derive(Debug)]
pub struct Outgoing {
    pub seq: Seq,
    pub kind: EventKind,
    pub audience: Audience,
    pub frame: String,
}

/// Typing, presence: not stored, no sequence number; lost if a socket is behind.
#[derive(Debug)]
pub struct Ephemeral {
    pub audience: Audience,
    pub frame: String,
}

/// Orders for one socket from elsewhere in the daemon.
#[derive(Debug, Clone)]
pub enum Control {
    /// Close with this WebSocket close code and reason.
    Close(u16, &'static str),
    /// Send this frame to this socket only (voice signalling for the socket that joined).
    Frame(Arc<str>),
}

struct Conn {
    user: UserId,
    token_hash: Vec<u8>,
    /// Frames for this socket only (voice signalling): bounded, dropped when the socket is far
    /// behind.
    control: mpsc::Sender<Control>,
    /// A close order: never dropped, never queued behind frames (a lost 4002 would leave the
    /// socket with a stale set of visible channels). The first order wins.
    close: watch::Sender<Option<(u16, &'static str)>>,
}

/// What a socket receives from the rest of the daemon ([`Hub::register`]).
pub struct Inbox {
    frames: mpsc::Receiver<Control>,
    close: watch::Receiver<Option<(u16, &'static str)>>,
}

impl Inbox {
    /// The next order: a close order first, whatever frames wait. `None`: the hub forgot this
    /// socket. Cancel-safe (for `select!`).
    pub async fn recv(&mut self) -> Option<Control> {
        if let Some((code, reason)) = *self.close.borrow_and_update() {
            return Some(Control::Close(code, reason));
        }
        tokio::select! {
            biased;
            changed = self.close.changed() => match changed {
                Ok(()) => self.close.borrow_and_update().map(|(c, r)| Control::Close(c, r)),
                Err(_) => None,
            },
            f = self.frames.recv() => f,
        }
    }
}

/// Too many sockets for one user.
#[derive(Debug)]
pub struct TooMany;

pub struct Hub {
    events: broadcast::Sender<Arc<Outgoing>>,
    ephemeral: broadcast::Sender<Arc<Ephemeral>>,
    conns: Mutex<HashMap<u64, Conn>>,
    presence: Mutex<PresenceTracker>,
    next_id: AtomicU64,
}

impl Default for Hub {
    fn default() -> Self {
        Self::new()
    }
}

pub fn event_frame(e: &Event) -> String {
    format!(r#"{{"op":"event","s":{},"t":"{}","d":{}}}"#, e.seq.0, e.kind.as_str(), e.data)
}

/// May `actor` receive something addressed to `audience`? `visible` are the channels the
/// permission table lets them see (computed by the store through `chat::perms`).
pub fn can_receive(actor: Actor, visible: &HashSet<ChannelId>, audience: Audience) -> bool {
    match audience {
        Audience::Everyone => true,
        Audience::User(u) => u == actor.id,
        Audience::Channel(c) => visible.contains(&c),
    }
}

impl Hub {
    pub fn new() -> Self {
        Hub {
            events: broadcast::channel(EVENT_RING).0,
            ephemeral: broadcast::channel(EPHEMERAL_RING).0,
            conns: Mutex::new(HashMap::new()),
            presence: Mutex::new(PresenceTracker::default()),
            next_id: AtomicU64::new(1),
        }
    }

    /// Called by the store's publisher, under its writer lock, in sequence order.
    pub fn publish(&self, events: &[Event]) {
        for e in events {
            let _ = self.events.send(Arc::new(Outgoing { seq: e.seq, kind: e.kind, audience: e.audience, frame: event_frame(e) }));
        }
    }

    pub fn subscribe(&self) -> (broadcast::Receiver<Arc<Outgoing>>, broadcast::Receiver<Arc<Ephemeral>>) {
        (self.events.subscribe(), self.ephemeral.subscribe())
    }

    pub fn send_ephemeral(&self, audience: Audience, t: &str, d: serde_json::Value) {
        let frame = serde_json::json!({"op": "ephemeral", "t": t, "d": d}).to_string();
        let _ = self.ephemeral.send(Arc::new(Ephemeral { audience, frame }));
    }

    fn announce(&self, user: UserId, p: Option<Presence>) {
        if let Some(status) = p {
            self.send_ephemeral(
                Audience::Everyone,
                "presence.update",
                serde_json::json!({"user_id": user, "status": status}),
            );
        }
    }

    /// Register a socket, unless `user` holds `max` already (checked and counted under one
    /// lock, so parallel upgrades cannot exceed it). Returns its id and its inbox.
    pub fn register(&self, user: UserId, token_hash: Vec<u8>, max: usize) -> Result<(u64, Inbox), TooMany> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        // Room for a few voice offers.
        let (tx, frames) = mpsc::channel(16);
        let (close, close_rx) = watch::channel(None);
        {
            let mut conns = self.conns.lock().unwrap_or_else(|e| e.into_inner());
            if conns.values().filter(|c| c.user == user).count() >= max {
                return Err(TooMany);
            }
            conns.insert(id, Conn { user, token_hash, control: tx, close });
        }
        let p = self.presence.lock().unwrap_or_else(|e| e.into_inner()).connect(user, id);
        self.announce(user, p);
        Ok((id, Inbox { frames, close: close_rx }))
    }

    pub fn unregister(&self, id: u64) {
        let conn = self.conns.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
        if let Some(c) = conn {
            let p = self.presence.lock().unwrap_or_else(|e| e.into_inner()).disconnect(c.user, id);
            self.announce(c.user, p);
        }
    }

    pub fn set_idle(&self, user: UserId, id: u64, idle: bool) {
        let p = self.presence.lock().unwrap_or_else(|e| e.into_inner()).set_idle(user, id, idle);
        self.announce(user, p);
    }

    pub fn presence_of(&self, user: UserId) -> Presence {
        self.presence.lock().unwrap_or_else(|e| e.into_inner()).status(user)
    }

    /// Send `control` to every socket matching `pred` (user, session token hash).
    pub fn control_where(&self, pred: impl Fn(UserId, &[u8]) -> bool, control: Control) {
        let conns = self.conns.lock().unwrap_or_else(|e| e.into_inner());
        for c in conns.values() {
            if pred(c.user, &c.token_hash) {
                match &control {
                    Control::Close(code, reason) => {
                        let order = (*code, *reason);
                        c.close.send_if_modified(|v| v.is_none() && v.replace(order).is_none());
                    }
                    Control::Frame(_) => {
                        let _ = c.control.try_send(control.clone());
                    }
                }
            }
        }
    }

    /// A frame for one socket; dropped if that socket is gone or far behind.
    pub fn send_to(&self, conn: u64, frame: String) {
        let conns = self.conns.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = conns.get(&conn) {
            let _ = c.control.try_send(Control::Frame(frame.into()));
        }
    }

    /// End the sockets of one session.
    pub fn end_session(&self, token_hash: &[u8]) {
        self.control_where(|_, h| h == token_hash, Control::Close(4001, "session ended"));
    }

    /// End every socket of a user, except those of session `keep`.
    pub fn end_user(&self, user: UserId, keep: Option<&[u8]>) {
        self.control_where(|u, h| u == user && Some(h) != keep, Control::Close(4001, "session ended"));
    }

    /// A user's role changed: their sockets reconnect so the gateway sees the new role.
    pub fn permissions_changed(&self, user: UserId) {
        self.control_where(|u, _| u == user, Control::Close(4002, "permissions changed"));
    }

    /// Roles or overrides changed: every socket reconnects with a fresh snapshot.
    pub fn permissions_changed_all(&self) {
        self.control_where(|_, _| true, Control::Close(4002, "permissions changed"));
    }

    /// Close everything (daemon shutting down): clients reconnect and resume.
    pub fn close_all(&self) {
        self.control_where(|_, _| true, Control::Close(1012, "server restarting"));
    }

    pub fn connection_count(&self) -> usize {
        self.conns.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_close_order_is_never_lost_behind_a_full_frame_queue() {
        let hub = Hub::new();
        let (id, mut inbox) = hub.register(UserId(1), vec![1], 4).expect("registered");
        // Far more frames than the queue holds: the extra ones are dropped ...
        for i in 0..100 {
            hub.send_to(id, format!("frame {i}"));
        }
        // ... but the close order is not, and it comes before the queued frames.
        hub.permissions_changed(UserId(1));
        hub.end_user(UserId(1), None);
        match inbox.recv().await {
            Some(Control::Close(code, _)) => assert_eq!(code, 4002, "the first order wins"),
            other => panic!("expected the close order first, got {other:?}"),
        }
    }

    #[test]
    fn a_user_holds_at_most_the_cap_of_sockets() {
        let hub = Hub::new();
        let held: Vec<_> = (0..3).map(|_| hub.register(UserId(7), vec![], 3).expect("within the cap")).collect();
        assert!(hub.register(UserId(7), vec![], 3).is_err());
        assert!(hub.register(UserId(8), vec![], 3).is_ok(), "other users are not affected");
        hub.unregister(held[0].0);
        assert!(hub.register(UserId(7), vec![], 3).is_ok(), "a closed socket frees its place");
    }
}
