//! The answers that show things: the queue, now playing, the history, help.

use crate::dj::{Asker, Dj, Phase};
use crate::format::{self, duration};
use crate::model::{Entry, LoopMode};
use crate::parse::{lookup, COMMANDS};

/// Lines on a page of `!queue`, `!history`, `!playlist list`.
pub const PAGE: usize = 10;

/// The page's slice of `len` items, or words for a page that is not there.
pub(crate) fn page_range(
    page: usize,
    len: usize,
) -> Result<(std::ops::Range<usize>, usize), String> {
    let pages = len.div_ceil(PAGE).max(1);
    if page == 0 || page > pages {
        return Err(if pages == 1 {
            "There is only 1 page".into()
        } else {
            format!("There are only {pages} pages")
        });
    }
    let start = (page - 1) * PAGE;
    Ok((start..(start + PAGE).min(len), pages))
}

fn line(n: usize, e: &Entry) -> String {
    format!(
        "{n}. {} ({}) — {}",
        format::track(&e.track),
        format::length(&e.track),
        format::md(&e.requester.name)
    )
}

impl Dj {
    pub(crate) fn show_queue(&mut self, asker: &Asker, page: usize) -> Result<(), String> {
        let p = self.config.prefix;
        let len = self.queue.len();
        if len == 0 && page <= 1 {
            self.say(
                asker.chat,
                format!("The queue is empty: `{p}play song or URL` queues something"),
            );
            return Ok(());
        }
        let (range, pages) = page_range(page, len)?;
        let entries = self.queue.entries();
        let total: u64 = entries.iter().filter_map(|e| e.track.duration_ms).sum();
        let unknown = entries
            .iter()
            .any(|e| e.track.live || e.track.duration_ms.is_none());
        let mut text = format!(
            "**Queue** — {}, {}{}",
            format::tracks(len),
            duration(total),
            if unknown { " + live/unknown" } else { "" }
        );
        if pages > 1 {
            text.push_str(&format!(" (page {page}/{pages})"));
        }
        if self.queue.fair() {
            text.push_str(" · fair queue");
        }
        if self.loop_mode != LoopMode::Off {
            text.push_str(" · looping");
        }
        for i in range {
            if let Some(e) = entries.get(i) {
                text.push('\n');
                text.push_str(&line(i + 1, e));
            }
        }
        self.say(asker.chat, text);
        Ok(())
    }

    pub(crate) fn now_playing(&mut self, asker: &Asker) -> Result<(), String> {
        let p = self.config.prefix;
        let now = self.now;
        let c = self.current.as_ref().ok_or("Nothing is playing")?;
        let t = &c.entry.track;
        let pos = c.position(now);
        let (icon, state) = match c.phase {
            Phase::Loading | Phase::Playing { .. } => ("▶", String::new()),
            Phase::Paused => ("⏸", " (paused)".to_string()),
            Phase::Stopped => ("⏹", format!(" (stopped — `{p}play` continues)")),
        };
        let mut text = format!(
            "{icon} {} — queued by {}{state}",
            format::track(t),
            format::md(&c.entry.requester.name)
        );
        if let Some(icy) = &c.icy {
            text.push_str(&format!("\nOn air: {}", format::md(icy)));
        }
        match (t.live, t.duration_ms) {
            (false, Some(len)) => text.push_str(&format!(
                "\n`{}` {} / {}",
                format::bar(pos, len, 20),
                duration(pos),
                duration(len)
            )),
            _ => text.push_str(&format!("\n🔴 live · {}", duration(pos))),
        }
        match self.loop_mode {
            LoopMode::Off => {}
            LoopMode::Track => text.push_str(" · looping the track"),
            LoopMode::Queue => text.push_str(" · looping the queue"),
        }
        self.say(asker.chat, text);
        Ok(())
    }

    pub(crate) fn show_history(&mut self, asker: &Asker, page: usize) -> Result<(), String> {
        if self.history.is_empty() && page <= 1 {
            self.say(asker.chat, "Nothing has been played yet".into());
            return Ok(());
        }
        let (range, pages) = page_range(page, self.history.len())?;
        let mut text = "**Recently played**".to_string();
        if pages > 1 {
            text.push_str(&format!(" (page {page}/{pages})"));
        }
        for i in range {
            if let Some(played) = self.history.get(i) {
                text.push('\n');
                text.push_str(&line(i + 1, &played.entry));
            }
        }
        self.say(asker.chat, text);
        Ok(())
    }

    pub(crate) fn help(&mut self, asker: &Asker, topic: Option<String>) -> Result<(), String> {
        let p = self.config.prefix;
        let text = match topic {
            None => {
                let names: Vec<String> = COMMANDS
                    .iter()
                    .map(|s| format!("`{p}{}`", s.name))
                    .collect();
                format!(
                    "**DJ commands:** {}\n`{p}help command` explains one. The buttons in the room do the same.",
                    names.join(" ")
                )
            }
            Some(t) => {
                let s = lookup(&t).ok_or_else(|| {
                    format!(
                        "There is no command `{p}{}`: `{p}help` lists them",
                        format::short(&t, 32)
                    )
                })?;
                let usage = if s.args.is_empty() {
                    s.name.to_string()
                } else {
                    format!("{} {}", s.name, s.args)
                };
                let mut text = format!("`{p}{usage}` — {}", s.about);
                if !s.aliases.is_empty() {
                    let aliases: Vec<String> =
                        s.aliases.iter().map(|a| format!("`{p}{a}`")).collect();
                    text.push_str(&format!("\nAlso: {}", aliases.join(", ")));
                }
                text
            }
        };
        self.tell(asker, text);
        Ok(())
    }
}
