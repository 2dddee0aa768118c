//! Saved playlists: the queue (with what plays first) under a name, for everyone to load.
//!
//! Names are 1–32 characters of letters, digits, spaces and `- _ . '`, compared without
//! regard to case. The owner (or a DJ) may overwrite or delete one; anyone may load one.

use serde::{Deserialize, Serialize};

use crate::dj::{Asker, Dj, Place};
use crate::format::{self, duration};
use crate::listing::page_range;
use crate::model::{Requester, TrackInfo};
use crate::parse::PlaylistAction;

pub const NAME_MAX: usize = 32;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Playlist {
    pub name: String,
    pub owner: Requester,
    pub tracks: Vec<TrackInfo>,
    pub saved_at_ms: u64,
}

/// The name as stored (trimmed, inner spaces single), or words saying what a name may be.
pub fn validate_name(name: &str) -> Result<String, String> {
    let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
    let len = name.chars().count();
    let ok_chars = name
        .chars()
        .all(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_' | '.' | '\''));
    if len == 0 || len > NAME_MAX || !ok_chars {
        return Err(format!(
            "A playlist name is 1 to {NAME_MAX} letters, digits, spaces or - _ . '"
        ));
    }
    Ok(name)
}

impl Dj {
    fn find_playlist(&self, name: &str) -> Option<usize> {
        let lower = name.to_lowercase();
        self.playlists
            .iter()
            .position(|pl| pl.name.to_lowercase() == lower)
    }

    pub(crate) fn playlist(&mut self, asker: &Asker, action: PlaylistAction) -> Result<(), String> {
        match action {
            PlaylistAction::Save { name } => self.save_playlist(asker, &name),
            PlaylistAction::Load { name } => self.load_playlist(asker, &name),
            PlaylistAction::List { page } => self.list_playlists(asker, page),
            PlaylistAction::Delete { name } => self.delete_playlist(asker, &name),
        }
    }

    fn save_playlist(&mut self, asker: &Asker, name: &str) -> Result<(), String> {
        let name = validate_name(name)?;
        let mut tracks: Vec<TrackInfo> =
            self.current.iter().map(|c| c.entry.track.clone()).collect();
        tracks.extend(self.queue.entries().iter().map(|e| e.track.clone()));
        if tracks.is_empty() {
            return Err("Nothing to save: the queue is empty".into());
        }
        let max = self.config.playlist_len.max(1);
        let cut = tracks.len() > max;
        tracks.truncate(max);
        let owner = Requester {
            id: asker.user.id,
            name: asker.user.name.clone(),
        };
        let n = tracks.len();
        let shown = format::md(&name);
        let verb = match self.find_playlist(&name) {
            Some(i) => {
                let pl = self
                    .playlists
                    .get_mut(i)
                    .ok_or("That playlist just went away")?;
                if pl.owner.id != asker.user.id && !asker.user.dj {
                    return Err(format!(
                        "**{}** belongs to {}: pick another name",
                        format::md(&pl.name),
                        format::md(&pl.owner.name)
                    ));
                }
                *pl = Playlist {
                    name,
                    owner,
                    tracks,
                    saved_at_ms: self.now,
                };
                "Updated"
            }
            None => {
                if self.playlists.len() >= self.config.max_playlists {
                    return Err(format!(
                        "There are already {} playlists: delete one first",
                        self.config.max_playlists
                    ));
                }
                self.playlists.push(Playlist {
                    name,
                    owner,
                    tracks,
                    saved_at_ms: self.now,
                });
                "Saved"
            }
        };
        self.dirty = true;
        let mut text = format!("{verb} playlist **{shown}** ({})", format::tracks(n));
        if cut {
            text.push_str(&format!(" — only the first {max} fit"));
        }
        self.say(asker.chat, text);
        Ok(())
    }

    fn load_playlist(&mut self, asker: &Asker, name: &str) -> Result<(), String> {
        let p = self.config.prefix;
        let pl = self
            .find_playlist(name)
            .and_then(|i| self.playlists.get(i))
            .ok_or_else(|| {
                format!(
                    "There is no playlist “{}”: `{p}playlist list` shows them",
                    format::short(name, 40)
                )
            })?;
        let from = format!("Playlist **{}**", format::md(&pl.name));
        let tracks = pl.tracks.clone();
        let done = self.enqueue(asker, Place::Back, tracks)?;
        self.announce(asker, &done, Some(&from));
        Ok(())
    }

    fn list_playlists(&mut self, asker: &Asker, page: usize) -> Result<(), String> {
        let p = self.config.prefix;
        if self.playlists.is_empty() && page <= 1 {
            self.say(
                asker.chat,
                format!("No playlists yet: `{p}playlist save NAME` saves the queue"),
            );
            return Ok(());
        }
        let (range, pages) = page_range(page, self.playlists.len())?;
        let mut text = "**Playlists**".to_string();
        if pages > 1 {
            text.push_str(&format!(" (page {page}/{pages})"));
        }
        for pl in self.playlists.get(range).unwrap_or_default() {
            let total: u64 = pl.tracks.iter().filter_map(|t| t.duration_ms).sum();
            text.push_str(&format!(
                "\n- **{}** — {}, {}, by {}",
                format::md(&pl.name),
                format::tracks(pl.tracks.len()),
                duration(total),
                format::md(&pl.owner.name)
            ));
        }
        self.say(asker.chat, text);
        Ok(())
    }

    fn delete_playlist(&mut self, asker: &Asker, name: &str) -> Result<(), String> {
        let i = self
            .find_playlist(name)
            .ok_or_else(|| format!("There is no playlist “{}”", format::short(name, 40)))?;
        let pl = self
            .playlists
            .get(i)
            .ok_or("That playlist just went away")?;
        if pl.owner.id != asker.user.id && !asker.user.dj {
            return Err(format!(
                "**{}** belongs to {}: only they or a DJ can delete it",
                format::md(&pl.name),
                format::md(&pl.owner.name)
            ));
        }
        let pl = self.playlists.remove(i);
        self.dirty = true;
        self.say(
            asker.chat,
            format!("Deleted playlist **{}**", format::md(&pl.name)),
        );
        Ok(())
    }
}
