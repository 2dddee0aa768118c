//! Reading the durable event log back: for resuming clients and for pruning.

use crate::{Result, Store};
use chat::events::{Audience, Event, EventKind};
use chat::ids::{ChannelId, Seq, UserId};
use rusqlite::params;

pub type EventRow = Event;

impl Store {
    /// The newest sequence number (0 when the log is empty).
    pub fn current_seq(&self) -> Result<Seq> {
        self.read(|c| {
            // sqlite_sequence remembers the highest seq ever handed out, even after pruning.
            let v: Option<i64> = crate::optional(c.query_row(
                "SELECT seq FROM sqlite_sequence WHERE name = 'events'",
                [],
                |r| r.get(0),
            ))?;
            Ok(Seq(v.unwrap_or(0)))
        })
    }

    /// The oldest sequence number still in the log (`None` when empty).
    pub fn oldest_seq(&self) -> Result<Option<Seq>> {
        self.read(|c| Ok(c.query_row("SELECT min(seq) FROM events", [], |r| r.get::<_, Option<i64>>(0))?.map(Seq)))
    }

    /// Events with `after < seq <= upto`, oldest first, at most `limit`.
    pub fn events_after(&self, after: Seq, upto: Seq, limit: usize) -> Result<Vec<Event>> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT seq, kind, channel_id, user_id, payload FROM events WHERE seq > ?1 AND seq <= ?2 ORDER BY seq LIMIT ?3",
            )?;
            let rows = st
                .query_map(params![after.0, upto.0, limit as i64], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, Option<i64>>(2)?,
                        r.get::<_, Option<i64>>(3)?,
                        r.get::<_, String>(4)?,
                    ))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let mut out = Vec::with_capacity(rows.len());
            for (seq, kind, channel, user, payload) in rows {
                let Some(kind) = EventKind::parse(&kind) else {
                    tracing::warn!(seq, kind, "skipping unknown event kind");
                    continue;
                };
                let audience = match (channel, user) {
                    (Some(c), _) => Audience::Channel(ChannelId(c)),
                    (None, Some(u)) => Audience::User(UserId(u)),
                    (None, None) => Audience::Everyone,
                };
                out.push(Event { seq: Seq(seq), kind, audience, data: payload.into() });
            }
            Ok(out)
        })
    }

    /// Keep only the newest `keep` events. Clients behind the cut get a fresh snapshot.
    pub fn prune_events(&self, keep: i64) -> Result<usize> {
        self.write(|t| {
            let n = t.conn().execute(
                "DELETE FROM events WHERE seq <= (SELECT coalesce(max(seq), 0) FROM events) - ?1",
                [keep],
            )?;
            Ok(n)
        })
    }
}
