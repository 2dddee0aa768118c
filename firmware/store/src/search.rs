//! Full-text search (SQLite FTS5) across the channels a user can see. The query was parsed by
//! `chat::search`; every user-given string is bound as a parameter.

use crate::messages::{hydrate, message_row, COLS};
use crate::{Result, Store};
use chat::ids::{ChannelId, MessageId, ID_EPOCH_MS};
use chat::model::Message;
use chat::perms::Actor;
use chat::search::Query;
use rusqlite::params;
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct SearchHit {
    pub message: Message,
    pub channel_id: ChannelId,
    /// Where it was said (threads the user does not follow are not in their channel list).
    pub channel: HitChannel,
    /// The matching text with matches between U+E000 and U+E001.
    pub snippet: String,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct HitChannel {
    pub name: String,
    pub kind: chat::model::ChannelKind,
    pub parent_id: Option<ChannelId>,
}

/// Matches ranked per query: the newest this many (after filters).
const RANK_WINDOW: usize = 5000;

/// Counting stops here (shown as "1000+").
const COUNT_CAP: i64 = 1000;

fn id_at(ms: i64) -> i64 {
    (ms - ID_EPOCH_MS).max(0) << 16
}

impl Store {
    pub fn search(&self, q: &Query, limit: usize, offset: usize, actor: Actor) -> Result<(Vec<SearchHit>, i64)> {
        self.read(|c| {
            let visible = crate::access::visible(c, actor)?;
            let mut channels: Vec<i64> = visible.iter().map(|c| c.0).collect();
            if !q.in_channels.is_empty() {
                let mut st = c.prepare_cached("SELECT id FROM channels WHERE lower(name) = ?1")?;
                let mut wanted = Vec::new();
                for name in &q.in_channels {
                    for id in st.query_map([name], |r| r.get::<_, i64>(0))? {
                        wanted.push(id?);
                    }
                }
                channels.retain(|c| wanted.contains(c));
            }
            let authors: Option<Vec<i64>> = if q.from.is_empty() {
                None
            } else {
                let mut st = c.prepare_cached("SELECT id FROM users WHERE username = ?1")?;
                let mut v = Vec::new();
                for name in &q.from {
                    for id in st.query_map([name], |r| r.get::<_, i64>(0))? {
                        v.push(id?);
                    }
                }
                Some(v)
            };
            let channels_json = serde_json::to_string(&channels).unwrap_or_else(|_| "[]".into());
            let authors_json = authors.map(|a| serde_json::to_string(&a).unwrap_or_else(|_| "[]".into()));
            let lo = q.after.map_or(0, id_at);
            let hi = q.before.map_or(i64::MAX, id_at);
            let filters = "m.deleted_at IS NULL
                AND m.channel_id IN (SELECT value FROM json_each(?2))
                AND (?3 IS NULL OR m.author_id IN (SELECT value FROM json_each(?3)))
                AND m.id >= ?4 AND m.id < ?5
                AND (?6 = 0 OR m.has_link = 1)
                AND (?7 = 0 OR EXISTS (SELECT 1 FROM attachments a WHERE a.message_id = m.id))";
            let cols = COLS.split(',').map(|c| format!("m.{}", c.trim())).collect::<Vec<_>>().join(", ");
            let n = COLS.split(',').count();
            let (rows, total) = match q.fts_match() {
                Some(m) => {
                    // Rank (bm25) the newest matches only: a very common word then costs a bounded
                    // amount of work, and in a chat the recent past is what people look for.
                    let top = format!(
                        "SELECT id FROM (SELECT m.id AS id, f.score AS score FROM
                             (SELECT rowid, bm25(messages_fts) AS score FROM messages_fts WHERE messages_fts MATCH ?1
                              ORDER BY rowid DESC) f
                           JOIN messages m ON m.id = f.rowid
                           WHERE {filters} LIMIT {RANK_WINDOW})
                         ORDER BY score, id DESC LIMIT ?8 OFFSET ?9"
                    );
                    let mut st = c.prepare_cached(&top)?;
                    let p = params![m, channels_json, authors_json, lo, hi, q.has_link as i64, q.has_file as i64, limit as i64, offset as i64];
                    let ids = st.query_map(p, |r| r.get::<_, i64>(0))?.collect::<rusqlite::Result<Vec<_>>>()?;
                    let mut snip = c.prepare_cached(&format!(
                        "SELECT {cols}, snippet(messages_fts, 0, char(57344), char(57345), '…', 24) FROM messages_fts
                         JOIN messages m ON m.id = messages_fts.rowid
                         WHERE messages_fts MATCH ?1 AND messages_fts.rowid IN (SELECT value FROM json_each(?2))"
                    ))?;
                    let ids_json = serde_json::to_string(&ids).unwrap_or_else(|_| "[]".into());
                    let mut found: Vec<(Message, String)> = snip
                        .query_map(params![m, ids_json], |r| Ok((message_row(r)?, r.get::<_, String>(n)?)))?
                        .collect::<rusqlite::Result<Vec<_>>>()?;
                    found.sort_by_key(|(msg, _)| ids.iter().position(|i| *i == msg.id.0).unwrap_or(usize::MAX));
                    let mut count = c.prepare_cached(&format!(
                        "SELECT count(*) FROM (SELECT 1 FROM messages_fts JOIN messages m ON m.id = messages_fts.rowid
                         WHERE messages_fts MATCH ?1 AND {filters} LIMIT {COUNT_CAP})"
                    ))?;
                    let total: i64 = count.query_row(
                        params![m, channels_json, authors_json, lo, hi, q.has_link as i64, q.has_file as i64],
                        |r| r.get(0),
                    )?;
                    (found, total)
                }
                None => {
                    let mut st = c.prepare_cached(&format!(
                        "SELECT {cols}, substr(m.content, 1, 200) FROM messages m
                         WHERE ?1 = '' AND {filters} ORDER BY m.id DESC LIMIT ?8 OFFSET ?9"
                    ))?;
                    let rows = st
                        .query_map(
                            params!["", channels_json, authors_json, lo, hi, q.has_link as i64, q.has_file as i64, limit as i64, offset as i64],
                            |r| Ok((message_row(r)?, r.get::<_, String>(n)?)),
                        )?
                        .collect::<rusqlite::Result<Vec<_>>>()?;
                    let mut count = c.prepare_cached(&format!(
                        "SELECT count(*) FROM (SELECT 1 FROM messages m WHERE ?1 = '' AND {filters} LIMIT {COUNT_CAP})"
                    ))?;
                    let total: i64 = count.query_row(
                        params!["", channels_json, authors_json, lo, hi, q.has_link as i64, q.has_file as i64],
                        |r| r.get(0),
                    )?;
                    (rows, total)
                }
            };
            let (mut msgs, snippets): (Vec<Message>, Vec<String>) = rows.into_iter().unzip();
            hydrate(c, &mut msgs)?;
            let mut names: std::collections::HashMap<ChannelId, HitChannel> = std::collections::HashMap::new();
            let mut hits = Vec::with_capacity(msgs.len());
            for (message, snippet) in msgs.into_iter().zip(snippets) {
                let channel = match names.get(&message.channel_id) {
                    Some(h) => h.clone(),
                    None => {
                        let ch = crate::channels::get_channel(c, message.channel_id)?;
                        let h = HitChannel { name: ch.name, kind: ch.kind, parent_id: ch.parent_id };
                        names.insert(message.channel_id, h.clone());
                        h
                    }
                };
                hits.push(SearchHit { channel_id: message.channel_id, channel, message, snippet });
            }
            Ok((hits, total))
        })
    }

    /// The newest message id (benchmarks).
    pub fn last_message_id(&self) -> Result<Option<MessageId>> {
        self.read(|c| Ok(c.query_row("SELECT max(id) FROM messages", [], |r| r.get::<_, Option<i64>>(0))?.map(MessageId)))
    }
}
