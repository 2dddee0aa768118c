//! Link previews: one row per URL (a cache: fetched once, reused by every message that links
//! it), tied to messages in order. The fetching happens in the server, through `fetch`.

use crate::messages::get_message;
use crate::{optional, Result, Store};
use chat::events::{Audience, EventKind};
use chat::ids::{EmbedId, MessageId};
use chat::perms::{Actor, Perms};
use rusqlite::params;

/// What the cache knows about a URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedEmbed {
    pub id: EmbedId,
    /// `ok` or a refusal/failure code.
    pub status: String,
    pub fetched_at: i64,
}

/// A fetched preview to store.
#[derive(Debug, Clone, Default)]
pub struct NewEmbed<'a> {
    pub url: &'a str,
    pub title: &'a str,
    pub description: &'a str,
    pub site_name: &'a str,
    pub image_file: Option<&'a str>,
    pub status: &'a str,
}

impl Store {
    pub fn cached_embed(&self, url: &str) -> Result<Option<CachedEmbed>> {
        self.read(|c| {
            optional(c.query_row("SELECT id, status, fetched_at FROM embeds WHERE url = ?1", [url], |r| {
                Ok(CachedEmbed { id: EmbedId(r.get(0)?), status: r.get(1)?, fetched_at: r.get(2)? })
            }))
        })
    }

    /// Insert or refresh a URL's preview. Returns its id and the image file it replaced (to
    /// remove from disk).
    pub fn save_embed(&self, e: &NewEmbed<'_>, now: i64) -> Result<(EmbedId, Option<String>)> {
        self.write(|t| {
            let old: Option<Option<String>> =
                optional(t.conn().query_row("SELECT image_file FROM embeds WHERE url = ?1", [e.url], |r| r.get(0)))?;
            t.conn().execute(
                "INSERT INTO embeds (url, title, description, site_name, image_file, status, fetched_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT(url) DO UPDATE SET title = excluded.title, description = excluded.description,
                   site_name = excluded.site_name, image_file = excluded.image_file, status = excluded.status,
                   fetched_at = excluded.fetched_at",
                params![e.url, e.title, e.description, e.site_name, e.image_file, e.status, now],
            )?;
            let id: i64 = t.conn().query_row("SELECT id FROM embeds WHERE url = ?1", [e.url], |r| r.get(0))?;
            let replaced = old.flatten().filter(|f| Some(f.as_str()) != e.image_file);
            Ok((EmbedId(id), replaced))
        })
    }

    /// Show these previews (in this order) under a message, if it still exists and still has
    /// this content (an edit may have raced the fetch: then the newer job decides).
    pub fn set_message_embeds(&self, message: MessageId, content: &str, embeds: &[EmbedId], now: i64) -> Result<()> {
        self.write(|t| {
            let msg = get_message(t.conn(), message)?;
            if msg.deleted || msg.content != content {
                return Ok(());
            }
            let current: Vec<EmbedId> = msg.embeds.iter().map(|e| e.id).collect();
            t.conn().execute("DELETE FROM message_embeds WHERE message_id = ?1", [message.0])?;
            for (i, e) in embeds.iter().enumerate() {
                t.conn().execute(
                    "INSERT OR IGNORE INTO message_embeds (message_id, embed_id, position) VALUES (?1, ?2, ?3)",
                    params![message.0, e.0, i as i64],
                )?;
            }
            let msg = get_message(t.conn(), message)?;
            let now_ids: Vec<EmbedId> = msg.embeds.iter().map(|e| e.id).collect();
            if now_ids != current {
                t.emit(EventKind::MessageUpdate, Audience::Channel(msg.channel_id), &msg, now)?;
            }
            Ok(())
        })
    }

    /// A preview image's file, if `actor` can see a message showing it.
    pub fn embed_image(&self, id: EmbedId, actor: Actor) -> Result<Option<String>> {
        self.read(|c| {
            let file: Option<Option<String>> = optional(c.query_row("SELECT image_file FROM embeds WHERE id = ?1", [id.0], |r| r.get(0)))?;
            let Some(Some(file)) = file else { return Ok(None) };
            let mut st = c.prepare_cached(
                "SELECT DISTINCT m.channel_id FROM message_embeds me JOIN messages m ON m.id = me.message_id WHERE me.embed_id = ?1 LIMIT 50",
            )?;
            let channels = st.query_map([id.0], |r| r.get::<_, i64>(0))?.collect::<rusqlite::Result<Vec<_>>>()?;
            for ch in channels {
                let ch = crate::channels::get_channel(c, chat::ids::ChannelId(ch))?;
                if crate::access::here(c, actor, &ch)?.perms.contains(Perms::VIEW) {
                    return Ok(Some(file));
                }
            }
            Ok(None)
        })
    }
}
