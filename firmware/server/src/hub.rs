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
use tokio::sync::{broadcast, mpsc};

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
    control: mpsc::Sender<Control>,
}

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

    /// Register a socket. Returns its id and the receiving end of its control channel.
    pub fn register(&self, user: UserId, token_hash: Vec<u8>) -> (u64, mpsc::Receiver<Control>) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        // Room for a few voice offers next to a close order.
        let (tx, rx) = mpsc::channel(16);
        self.conns.lock().unwrap_or_else(|e| e.into_inner()).insert(id, Conn { user, token_hash, control: tx });
        let p = self.presence.lock().unwrap_or_else(|e| e.into_inner()).connect(user, id);
        self.announce(user, p);
        (id, rx)
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
                let _ = c.control.try_send(control.clone());
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
