//! One voice room's DJ task: the only owner of that room's `dj::Dj`. It is fed by a bounded
//! queue (chat commands, buttons, listeners, lookups answered), the player's events and a
//! one-second tick, and carries out the core's outputs. It never blocks: lookups and saving run
//! as their own tasks and answer through the queue; audio runs on the player's threads.

use super::player::{Player, PlayerEvent};
use super::resolve;
use crate::{now_ms, AppState};
use chat::events::Audience;
use chat::ids::{ChannelId, UserId};
use serde_json::{json, Value};
use std::sync::Weak;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// What the room's task is sent.
pub enum Msg {
    Input(dj::Input),
    /// The view, as `GET /api/channels/:id/dj` answers it.
    View(oneshot::Sender<Value>),
    /// The admin changed the DJ settings.
    Config(dj::Config),
}

/// How often time is fed in (votes, leaving an empty room, progress).
const TICK: Duration = Duration::from_secs(1);
/// Saving the state waits this long for more changes (a burst of commands is one write).
const SAVE_DELAY: Duration = Duration::from_millis(500);

struct Room {
    id: ChannelId,
    state: Weak<AppState>,
    dj: dj::Dj,
    tx: mpsc::Sender<Msg>,
    player: Option<Player>,
    events: mpsc::UnboundedSender<PlayerEvent>,
    /// A save is due at this time (coalesced).
    save_at: Option<tokio::time::Instant>,
}

pub async fn run(state: Weak<AppState>, id: ChannelId, config: dj::Config, saved: Option<dj::State>, mut rx: mpsc::Receiver<Msg>) {
    let Some(tx) = state.upgrade().and_then(|s| s.music.rooms().get(&id).cloned()) else { return };
    let dj = match saved {
        Some(s) => dj::Dj::restore(config, s, now_ms() as u64),
        None => dj::Dj::new(config),
    };
    let (events, mut player_rx) = mpsc::unbounded_channel();
    let mut room = Room { id, state, dj, tx, player: None, events, save_at: None };
    // The people already in the room (a restart, or the first command of a busy room).
    if let Some(s) = room.state.upgrade() {
        let people = s.voice.occupants(id);
        room.feed(dj::Input::Listeners(people)).await;
    }
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let save_at = room.save_at;
        let save = async move {
            match save_at {
                Some(t) => tokio::time::sleep_until(t).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            m = rx.recv() => match m {
                Some(Msg::Input(input)) => room.feed(input).await,
                Some(Msg::View(reply)) => {
                    let _ = reply.send(room.view_json());
                }
                Some(Msg::Config(c)) => room.dj.set_config(c),
                None => break,
            },
            Some(e) = player_rx.recv() => {
                let input = match e {
                    PlayerEvent::Started(entry) => dj::Input::Started { entry },
                    PlayerEvent::Ended(entry) => dj::Input::Ended { entry },
                    PlayerEvent::Failed(entry, words) => dj::Input::Failed { entry, words },
                    PlayerEvent::Position(entry, ms) => dj::Input::Position { entry, ms },
                    PlayerEvent::Meta(entry, title) => dj::Input::Meta { entry, title },
                };
                room.feed(input).await;
            }
            _ = tick.tick() => room.feed(dj::Input::Tick).await,
            _ = save => room.save().await,
        }
        if room.state.strong_count() == 0 {
            break;
        }
    }
    if let Some(p) = room.player.take() {
        p.shutdown();
    }
}

impl Room {
    async fn feed(&mut self, input: dj::Input) {
        let outputs = self.dj.handle(now_ms() as u64, input);
        for o in outputs {
            self.apply(o).await;
        }
    }

    fn view_json(&self) -> Value {
        let view = self.dj.view(now_ms() as u64);
        json!({"channel_id": self.id, "dj": view, "server_time": now_ms()})
    }

    async fn apply(&mut self, o: dj::Output) {
        let Some(state) = self.state.upgrade() else { return };
        match o {
            dj::Output::Reply { chat, to, text } => {
                let channel = match chat {
                    dj::Chat::Room => self.id,
                    dj::Chat::Channel(c) => ChannelId(c),
                };
                let d = json!({"channel_id": channel, "text": text, "private": to.is_some(), "at": now_ms()});
                let audience = match to {
                    Some(u) => Audience::User(UserId(u)),
                    None => Audience::Channel(channel),
                };
                state.hub.send_ephemeral(audience, "dj.reply", d);
            }
            dj::Output::Resolve { ticket, request } => {
                let (state, tx) = (state.clone(), self.tx.clone());
                tokio::spawn(async move {
                    let result = resolve::resolve(&state, request).await;
                    let _ = tx.send(Msg::Input(dj::Input::Resolved { ticket, result })).await;
                });
            }
            dj::Output::Join => {
                if self.player.is_none() {
                    match Player::start(&state, self.id, self.events.clone()).await {
                        Ok(p) => self.player = Some(p),
                        Err(words) => {
                            tracing::warn!(room = self.id.0, "the DJ could not join: {words}");
                            let d = json!({"channel_id": self.id, "text": words, "private": false, "at": now_ms()});
                            state.hub.send_ephemeral(Audience::Channel(self.id), "dj.reply", d);
                        }
                    }
                }
            }
            dj::Output::Leave => {
                if let Some(p) = self.player.take() {
                    p.leave(&state).await;
                }
            }
            dj::Output::Play { entry, from_ms } => match &self.player {
                Some(p) => {
                    let id = entry.id;
                    match resolve::opener(&state, &entry.track).await {
                        Ok(open) => p.load(id, open, from_ms),
                        Err(words) => {
                            let _ = self.events.send(PlayerEvent::Failed(id, words));
                        }
                    }
                }
                None => {
                    let _ = self.events.send(PlayerEvent::Failed(entry.id, "The DJ is not in the voice room.".into()));
                }
            },
            dj::Output::Pause => self.with_player(Player::pause),
            dj::Output::Resume => self.with_player(Player::resume),
            dj::Output::Stop => self.with_player(Player::stop),
            dj::Output::Seek { ms } => self.with_player(|p| p.seek(ms)),
            dj::Output::Volume { percent } => self.with_player(|p| p.volume(percent)),
            dj::Output::Changed => {
                state.hub.send_ephemeral(Audience::Channel(self.id), "dj.state", self.view_json());
                if self.save_at.is_none() {
                    self.save_at = Some(tokio::time::Instant::now() + SAVE_DELAY);
                }
            }
        }
    }

    fn with_player(&self, f: impl FnOnce(&Player)) {
        if let Some(p) = &self.player {
            f(p);
        }
    }

    async fn save(&mut self) {
        self.save_at = None;
        let Some(state) = self.state.upgrade() else { return };
        let snapshot = self.dj.snapshot(now_ms() as u64);
        let json = match serde_json::to_string(&snapshot) {
            Ok(j) => j,
            Err(e) => return tracing::error!(room = self.id.0, "a DJ state did not serialise: {e}"),
        };
        let id = self.id;
        if let Err(e) = state.db(move |store| store.save_dj_state(id, &json, now_ms())).await {
            tracing::error!(room = id.0, error = ?e.0, "a DJ state could not be saved");
        }
    }
}
