//! Presence from connections: online while any socket is active, idle when every socket says
//! idle, offline when none is left. Returns the changes to announce.

use crate::ids::UserId;
use crate::model::Presence;
use std::collections::HashMap;

#[derive(Debug, Default)]
struct Conns {
    /// connection id -> idle?
    sockets: HashMap<u64, bool>,
}

impl Conns {
    fn status(&self) -> Presence {
        if self.sockets.is_empty() {
            Presence::Offline
        } else if self.sockets.values().all(|idle| *idle) {
            Presence::Idle
        } else {
            Presence::Online
        }
    }
}

#[derive(Debug, Default)]
pub struct PresenceTracker {
    users: HashMap<UserId, Conns>,
}

impl PresenceTracker {
    pub fn status(&self, user: UserId) -> Presence {
        self.users.get(&user).map_or(Presence::Offline, Conns::status)
    }

    fn update(&mut self, user: UserId, f: impl FnOnce(&mut Conns)) -> Option<Presence> {
        let before = self.status(user);
        let conns = self.users.entry(user).or_default();
        f(conns);
        if conns.sockets.is_empty() {
            self.users.remove(&user);
        }
        let after = self.status(user);
        (before != after).then_some(after)
    }

    /// A socket opened. Returns the new status if it changed.
    pub fn connect(&mut self, user: UserId, conn: u64) -> Option<Presence> {
        self.update(user, |c| {
            c.sockets.insert(conn, false);
        })
    }

    pub fn set_idle(&mut self, user: UserId, conn: u64, idle: bool) -> Option<Presence> {
        self.update(user, |c| {
            if let Some(v) = c.sockets.get_mut(&conn) {
                *v = idle;
            }
        })
    }

    pub fn disconnect(&mut self, user: UserId, conn: u64) -> Option<Presence> {
        self.update(user, |c| {
            c.sockets.remove(&conn);
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn online_idle_offline() {
        let mut p = PresenceTracker::default();
        let u = UserId(7);
        assert_eq!(p.connect(u, 1), Some(Presence::Online));
        assert_eq!(p.connect(u, 2), None);
        assert_eq!(p.set_idle(u, 1, true), None);
        assert_eq!(p.set_idle(u, 2, true), Some(Presence::Idle));
        assert_eq!(p.disconnect(u, 2), None);
        assert_eq!(p.set_idle(u, 1, false), Some(Presence::Online));
        assert_eq!(p.disconnect(u, 1), Some(Presence::Offline));
        assert_eq!(p.status(u), Presence::Offline);
    }
}
