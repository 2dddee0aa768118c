//! Getting tracks into the queue: a query becomes a [`Request`] (or a pick from the
//! person's last search), the IO layer answers, and the answer passes the limits.

use crate::dj::{Asker, Dj, Found, Pending, PendingKind, Place};
use crate::format::{self, duration, short};
use crate::model::{EntryId, Output, Request, Ticket, TrackInfo, User};
use crate::parse::{Query, MAX_INPUT};

/// Lookups one person may have running at once.
const PENDING_PER_USER: usize = 3;

/// How an enqueue went, for the answer.
pub(crate) struct Queued {
    pub first: EntryId,
    pub count: usize,
    pub refused: usize,
    pub reason: Option<String>,
}

impl Dj {
    pub(crate) fn request(
        &mut self,
        asker: &Asker,
        query: Query,
        place: Place,
    ) -> Result<(), String> {
        let (what, request) = match query {
            Query::Search(text) => {
                let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
                if let Ok(n) = text.trim_start_matches('#').parse::<usize>() {
                    if self.searches.contains_key(&asker.user.id) {
                        return self.pick(asker, n, place);
                    }
                }
                (
                    text.clone(),
                    Request::Search {
                        query: text,
                        limit: 1,
                    },
                )
            }
            Query::Url(url) => (url.clone(), Request::Url(url)),
            Query::Track(key) => (key.clone(), Request::Track(key)),
        };
        self.lookup(asker, what, request, PendingKind::Enqueue(place))
    }

    pub(crate) fn search(&mut self, asker: &Asker, query: String) -> Result<(), String> {
        let p = self.config.prefix;
        let query = query.split_whitespace().collect::<Vec<_>>().join(" ");
        if query.is_empty() {
            return Err(format!("What should I search for? `{p}search words`"));
        }
        let limit = self.config.search_results.clamp(1, 25);
        self.lookup(
            asker,
            query.clone(),
            Request::Search { query, limit },
            PendingKind::Search,
        )
    }

    fn lookup(
        &mut self,
        asker: &Asker,
        what: String,
        request: Request,
        kind: PendingKind,
    ) -> Result<(), String> {
        if what.trim().is_empty() {
            return Err("What should I look for?".into());
        }
        if what.chars().count() > MAX_INPUT {
            return Err(format!("That is too long: at most {MAX_INPUT} characters"));
        }
        if kind != PendingKind::Search {
            self.room_for(&asker.user)?;
        }
        let mine = self
            .pending
            .values()
            .filter(|p| p.asker.user.id == asker.user.id)
            .count();
        if mine >= PENDING_PER_USER {
            return Err("Wait a moment: I am still looking up your last requests".into());
        }
        let ticket = Ticket(self.next_ticket);
        self.next_ticket += 1;
        let first_only = matches!(request, Request::Search { .. });
        self.pending.insert(
            ticket,
            Pending {
                asker: asker.clone(),
                what,
                kind,
                first_only,
                at: self.now,
            },
        );
        self.emit(Output::Resolve { ticket, request });
        Ok(())
    }

    /// Refuses early (before a lookup) when nothing could be added anyway.
    fn room_for(&self, user: &User) -> Result<(), String> {
        if self.queue.len() >= self.config.max_queue {
            return Err(format!(
                "The queue is full ({})",
                format::tracks(self.config.max_queue)
            ));
        }
        let limit = self.config.per_user_limit;
        if limit > 0 && !user.dj && self.queue.count_of(user.id) >= limit {
            return Err(format!(
                "You can have at most {} in the queue",
                format::tracks(limit)
            ));
        }
        Ok(())
    }

    fn admit(&self, user: &User, t: &TrackInfo) -> Result<(), String> {
        if let (false, Some(len), Some(max)) = (t.live, t.duration_ms, self.config.max_track_ms) {
            if len > max {
                return Err(format!(
                    "{} is {} long: tracks can be at most {}",
                    format::track(t),
                    duration(len),
                    duration(max)
                ));
            }
        }
        self.room_for(user)
    }

    pub(crate) fn pick(&mut self, asker: &Asker, n: usize, place: Place) -> Result<(), String> {
        let p = self.config.prefix;
        let found = self
            .searches
            .get(&asker.user.id)
            .ok_or_else(|| format!("You have no search results: `{p}search words` first"))?;
        if self.now >= found.at.saturating_add(self.config.search_expiry_ms) {
            self.searches.remove(&asker.user.id);
            return Err(format!("Your search results expired: `{p}search` again"));
        }
        let track = n
            .checked_sub(1)
            .and_then(|i| found.tracks.get(i))
            .cloned()
            .ok_or_else(|| format!("Pick a number from 1 to {}", found.tracks.len()))?;
        let done = self.enqueue(asker, place, vec![track])?;
        self.announce(asker, &done, None);
        Ok(())
    }

    pub(crate) fn resolved(&mut self, ticket: Ticket, result: Result<Vec<TrackInfo>, String>) {
        // A ticket the core gave up on (or never gave) is ignored.
        let Some(pending) = self.pending.remove(&ticket) else {
            return;
        };
        let asker = pending.asker;
        let what = short(&pending.what, 80);
        let tracks = match result {
            Err(words) => {
                return self.tell(
                    &asker,
                    format!("Could not get “{what}”: {}", short(&words, 200)),
                )
            }
            Ok(t) if t.is_empty() => {
                return self.tell(&asker, format!("Nothing found for “{what}”"))
            }
            Ok(t) => t,
        };
        match pending.kind {
            PendingKind::Search => {
                let p = self.config.prefix;
                let limit = self.config.search_results.clamp(1, 25);
                let tracks: Vec<TrackInfo> = tracks.into_iter().take(limit).collect();
                let mut text = format!("Results for “{what}” — `{p}pick N` queues one:");
                for (i, t) in tracks.iter().enumerate() {
                    text.push_str(&format!(
                        "\n{}. {} ({})",
                        i + 1,
                        format::track(t),
                        format::length(t)
                    ));
                }
                self.searches.insert(
                    asker.user.id,
                    Found {
                        tracks,
                        at: self.now,
                    },
                );
                self.tell(&asker, text);
            }
            PendingKind::Enqueue(place) => {
                // A search answers with its best hit only; a URL may be a whole playlist.
                let tracks = if pending.first_only {
                    tracks.into_iter().take(1).collect()
                } else {
                    tracks
                };
                match self.enqueue(&asker, place, tracks) {
                    Ok(done) => self.announce(&asker, &done, None),
                    Err(words) => self.tell(&asker, words),
                }
            }
        }
    }

    /// Adds what passes the limits; `Err` when nothing did. Starts playback if it can.
    pub(crate) fn enqueue(
        &mut self,
        asker: &Asker,
        place: Place,
        tracks: Vec<TrackInfo>,
    ) -> Result<Queued, String> {
        let user = asker.user.clone();
        let mut first = None;
        let (mut count, mut refused, mut reason) = (0, 0, None);
        let mut front = 0;
        for t in tracks {
            if let Err(words) = self.admit(&user, &t) {
                refused += 1;
                reason.get_or_insert(words);
                continue;
            }
            let e = self.new_entry(t, &user);
            first.get_or_insert(e.id);
            count += 1;
            match place {
                Place::Back => {
                    self.queue.push(e);
                }
                Place::Next | Place::Now => {
                    self.queue.insert(front, e);
                    front += 1;
                }
            }
        }
        let Some(first) = first else {
            return Err(reason.unwrap_or_else(|| "Nothing to queue".into()));
        };
        self.dirty = true;
        if place == Place::Now {
            if let Some(i) = self.queue.index_of(first) {
                if let Some(e) = self.queue.remove(i) {
                    self.interrupt_with(e);
                }
            }
        } else {
            let may_resume = user.dj || self.in_room(user.id);
            self.kick(may_resume);
        }
        Ok(Queued {
            first,
            count,
            refused,
            reason,
        })
    }

    /// "Queued **Song** by Artist (#3, in 4:12)", "Playing **Song**", "Queued 12 tracks (#3–#14)".
    pub(crate) fn announce(&mut self, asker: &Asker, done: &Queued, from: Option<&str>) {
        let p = self.config.prefix;
        let playing = self
            .current
            .as_ref()
            .filter(|c| c.entry.id == done.first && c.active());
        let mut text = match (playing, self.queue.index_of(done.first)) {
            (Some(c), _) if done.count == 1 => format!("Playing {}", format::track(&c.entry.track)),
            (Some(c), _) => format!(
                "Playing {} and queued {} more",
                format::track(&c.entry.track),
                done.count - 1
            ),
            (None, Some(i)) if done.count == 1 => {
                let what = self
                    .queue
                    .get(i)
                    .map(|e| format::track(&e.track))
                    .unwrap_or_default();
                match self.eta(i) {
                    Some(ms) => format!("Queued {what} (#{}, in {})", i + 1, duration(ms)),
                    None => format!("Queued {what} (#{})", i + 1),
                }
            }
            (None, Some(i)) => format!(
                "Queued {} (#{}–#{})",
                format::tracks(done.count),
                i + 1,
                i + done.count
            ),
            (None, None) => format!("Queued {}", format::tracks(done.count)),
        };
        if let Some(from) = from {
            text = format!("{from}: {}", lower_first(&text));
        }
        if self.current.as_ref().is_some_and(|c| !c.active()) {
            text.push_str(&format!(" — `{p}play` continues"));
        }
        self.say(asker.chat, text);
        if done.refused > 0 {
            let why = done.reason.clone().unwrap_or_default();
            self.tell(
                asker,
                format!("{} not queued: {why}", format::tracks(done.refused)),
            );
        }
    }

    /// Time until queue position `i` starts, if every length before it is known.
    pub(crate) fn eta(&self, i: usize) -> Option<u64> {
        let mut ms = match self.current.as_ref() {
            None => 0,
            Some(c) if !c.active() || c.entry.track.live => return None,
            Some(c) => c
                .entry
                .track
                .duration_ms?
                .saturating_sub(c.position(self.now)),
        };
        for e in self.queue.entries().get(..i)? {
            if e.track.live {
                return None;
            }
            ms = ms.saturating_add(e.track.duration_ms?);
        }
        Some(ms)
    }
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}
