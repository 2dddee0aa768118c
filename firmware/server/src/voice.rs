//! Voice rooms over the gateway: who sits in which room (the signalling truth, in memory, never
//! stored), the `voice.*` requests, and the relay of the SFU's events to the right socket.
//! Media itself never passes here: it is the `voice` crate's driver (UDP, and ICE-TCP on the same
//! port number).
//!
//! One voice session per user: joining again (a reconnect, another device, another room)
//! replaces the old one. Room state goes to everyone as `voice.state` ephemerals (the whole room
//! each time, so a lost one is mended by the next) and in every `ready`; each participant carries
//! muted/deafened/speaking and the connection quality the SFU measured (`quality`: grade, round
//! trip, loss; null until the first figures).

use crate::error::{ApiError, ApiResult};
use crate::AppState;
use chat::events::Audience;
use chat::ids::{ChannelId, UserId};
use chat::model::ChannelKind;
use chat::perms::{self, Action, Actor};
use chat::Error;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use voice::{ParticipantId, RoomId, SfuEvent, VoiceError};

/// A socket that drops keeps its seat this long, so a network blip does not leave the room:
/// the client reconnects its socket and re-joins with a fresh offer within it.
const SEAT_GRACE: Duration = Duration::from_secs(15);
/// SDP from a browser is a few KiB; anything this big is not an offer.
const MAX_SDP: usize = 32 * 1024;

#[derive(Debug, Clone, Copy)]
struct Seat {
    room: ChannelId,
    /// The gateway socket that signals for this seat (server offers go there).
    conn: u64,
    muted: bool,
    deafened: bool,
    speaking: bool,
    /// The media path's quality as the SFU measured it (None until its first figures).
    quality: Option<voice::Quality>,
    /// Which join this is: delayed clean-ups only act on the seat they were scheduled for.
    gen: u64,
}

/// A room's DJ as the room state shows it (it sits in the room while it plays).
#[derive(Debug, Clone, Copy, Default)]
struct DjSeat {
    speaking: bool,
    muted: bool,
}

#[derive(Default)]
pub struct Voice {
    handle: OnceLock<voice::driver::Handle>,
    seats: Mutex<HashMap<UserId, Seat>>,
    /// The rooms whose DJ is in them (`crate::music`), by room.
    djs: Mutex<HashMap<ChannelId, DjSeat>>,
    gens: std::sync::atomic::AtomicU64,
}

/// The DJ's participant id in the SFU: above every user id (those are positive i64s), one per
/// room, so it can never alias a person.
pub fn dj_participant(room: ChannelId) -> ParticipantId {
    ParticipantId(DJ_BASE | room.0 as u64)
}
const DJ_BASE: u64 = 1 << 62;

fn dj_room(p: ParticipantId) -> Option<ChannelId> {
    (p.0 & DJ_BASE != 0).then(|| ChannelId((p.0 & !DJ_BASE) as i64))
}

fn err(e: VoiceError) -> ApiError {
    let msg = match &e {
        VoiceError::BadSdp(_) => "That session description (SDP) could not be used.".to_owned(),
        VoiceError::BadCandidate(_) => "That ICE candidate could not be parsed.".to_owned(),
        VoiceError::NotInRoom => "Join a voice room first.".to_owned(),
        VoiceError::NoPendingOffer => "There is no offer waiting for an answer.".to_owned(),
        VoiceError::Unavailable => "Voice is not running on this box.".to_owned(),
    };
    let detail: String = e.to_string().chars().take(200).collect();
    match e {
        VoiceError::Unavailable => ApiError(Error::conflict(e.code(), msg)),
        _ => ApiError(Error::invalid(e.code(), format!("{msg} ({detail})"))),
    }
}

fn check_sdp(sdp: &str) -> ApiResult<()> {
    if sdp.len() > MAX_SDP {
        return Err(ApiError(Error::invalid("bad_sdp", "That SDP is too large.")));
    }
    Ok(())
}

impl Voice {
    /// Called once by the daemon after the UDP driver started.
    pub fn set_handle(&self, h: voice::driver::Handle) {
        let _ = self.handle.set(h);
    }

    fn handle(&self) -> ApiResult<&voice::driver::Handle> {
        self.handle.get().ok_or_else(|| err(VoiceError::Unavailable))
    }

    fn seats(&self) -> std::sync::MutexGuard<'_, HashMap<UserId, Seat>> {
        self.seats.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn djs(&self) -> std::sync::MutexGuard<'_, HashMap<ChannelId, DjSeat>> {
        self.djs.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The driver, for the DJ's local sender (`crate::music`).
    pub fn driver(&self) -> Option<&voice::driver::Handle> {
        self.handle.get()
    }

    /// The people in a room, by user id (what the DJ counts as its listeners).
    pub fn occupants(&self, room: ChannelId) -> Vec<i64> {
        let mut v: Vec<i64> = self.seats().iter().filter(|(_, s)| s.room == room).map(|(u, _)| u.0).collect();
        v.sort_unstable();
        v
    }

    /// The room a user sits in, if any.
    pub fn room_of(&self, user: UserId) -> Option<ChannelId> {
        self.seats().get(&user).map(|s| s.room)
    }

    fn room_json(seats: &HashMap<UserId, Seat>, djs: &HashMap<ChannelId, DjSeat>, room: ChannelId) -> Value {
        let mut people: Vec<(UserId, Seat)> =
            seats.iter().filter(|(_, s)| s.room == room).map(|(u, s)| (*u, *s)).collect();
        people.sort_by_key(|(u, _)| u.0);
        let participants: Vec<Value> = people
            .into_iter()
            .map(|(u, s)| {
                // One decimal, said as such (an f32 widened to f64 would print 0.10000000149).
                let quality = s.quality.map(|q| {
                    let loss = (f64::from(q.loss_pct) * 10.0).round() / 10.0;
                    json!({"grade": q.grade.as_str(), "rtt_ms": q.rtt_ms, "loss_pct": loss})
                });
                json!({"user_id": u, "muted": s.muted, "deafened": s.deafened, "speaking": s.speaking, "quality": quality})
            })
            .collect();
        // The DJ, when it sits in the room: its stream id is what the browsers see its track as.
        let dj = djs.get(&room).map(|d| {
            json!({"participant": format!("p{}", dj_participant(room).0), "speaking": d.speaking, "muted": d.muted})
        });
        json!({"channel_id": room, "participants": participants, "dj": dj})
    }

    /// Every occupied room, for `ready`.
    pub fn rooms_json(&self) -> Value {
        let seats = self.seats();
        let djs = self.djs();
        let rooms: BTreeMap<i64, ChannelId> =
            seats.values().map(|s| (s.room.0, s.room)).chain(djs.keys().map(|r| (r.0, *r))).collect();
        Value::Array(rooms.values().map(|r| Self::room_json(&seats, &djs, *r)).collect())
    }

    fn announce(&self, state: &AppState, rooms: &[ChannelId]) {
        let frames: Vec<(ChannelId, Value)> = {
            let seats = self.seats();
            let djs = self.djs();
            rooms.iter().map(|r| (*r, Self::room_json(&seats, &djs, *r))).collect()
        };
        // The room's DJ counts its listeners (votes, leaving an empty room).
        for r in rooms {
            crate::music::listeners_changed(state, *r, self.occupants(*r));
        }
        // Only people who can see the room learn who is in it.
        for (room, f) in frames {
            state.hub.send_ephemeral(Audience::Channel(room), "voice.state", f);
        }
    }
}

pub async fn join(state: &Arc<AppState>, actor: Actor, conn: u64, channel: ChannelId, sdp: String) -> ApiResult<Value> {
    check_sdp(&sdp)?;
    let (ch, here) = state.db(move |store| store.authorize(actor, channel, Action::ViewChannel)).await?;
    if ch.kind != ChannelKind::Voice {
        return Err(ApiError(Error::invalid("not_voice_channel", "That is a text channel; join a voice channel.")));
    }
    perms::check(actor, here, Action::JoinVoice)?;
    let v = &state.voice;
    let handle = v.handle()?;
    // The seat is taken (and the room's limit checked) under one lock before the SFU join, so
    // parallel joins cannot overfill a room; a join that fails gives the seat back.
    let gen = v.gens.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let prev = {
        let mut seats = v.seats();
        if ch.user_limit > 0 {
            let others = seats.iter().filter(|(u, s)| s.room == channel && **u != actor.id).count() as i64;
            if others >= ch.user_limit {
                return Err(ApiError(Error::forbidden("voice_room_full", format!("This room is full ({} people).", ch.user_limit))));
            }
        }
        let prev = seats.get(&actor.id).copied();
        let (muted, deafened) = prev.map(|s| (s.muted, s.deafened)).unwrap_or((false, false));
        seats.insert(actor.id, Seat { room: channel, conn, muted, deafened, speaking: false, quality: None, gen });
        prev
    };
    let pid = ParticipantId(actor.id.0 as u64);
    let answer = match handle.join(pid, RoomId(channel.0), format!("u{}", actor.id.0), sdp).await {
        Ok(a) => a,
        Err(e) => {
            let mut seats = v.seats();
            if seats.get(&actor.id).is_some_and(|s| s.gen == gen) {
                match prev {
                    Some(p) => seats.insert(actor.id, p),
                    None => seats.remove(&actor.id),
                };
            }
            return Err(err(e));
        }
    };
    let old = prev.map(|s| s.room);
    let mut rooms = vec![channel];
    if let Some(o) = old.filter(|o| *o != channel) {
        rooms.push(o);
    }
    v.announce(state, &rooms);
    Ok(json!({"channel_id": channel, "sdp": answer, "participant": format!("p{}", pid.0)}))
}

fn seat_of(state: &AppState, actor: Actor) -> ApiResult<Seat> {
    state.voice.seats().get(&actor.id).copied().ok_or_else(|| err(VoiceError::NotInRoom))
}

pub async fn offer(state: &Arc<AppState>, actor: Actor, sdp: String) -> ApiResult<Value> {
    check_sdp(&sdp)?;
    seat_of(state, actor)?;
    let answer = state.voice.handle()?.offer(ParticipantId(actor.id.0 as u64), sdp).await.map_err(err)?;
    Ok(json!({"sdp": answer}))
}

pub async fn answer(state: &Arc<AppState>, actor: Actor, sdp: String) -> ApiResult<Value> {
    check_sdp(&sdp)?;
    seat_of(state, actor)?;
    state.voice.handle()?.answer(ParticipantId(actor.id.0 as u64), sdp).await.map_err(err)?;
    Ok(Value::Null)
}

pub async fn candidate(state: &Arc<AppState>, actor: Actor, candidate: String) -> ApiResult<Value> {
    if candidate.len() > 1024 {
        return Err(ApiError(Error::invalid("bad_candidate", "That ICE candidate is too long.")));
    }
    seat_of(state, actor)?;
    state.voice.handle()?.candidate(ParticipantId(actor.id.0 as u64), candidate).await.map_err(err)?;
    Ok(Value::Null)
}

pub async fn set_state(state: &Arc<AppState>, actor: Actor, muted: Option<bool>, deafened: Option<bool>) -> ApiResult<Value> {
    let seat = seat_of(state, actor)?;
    let muted = muted.unwrap_or(seat.muted);
    let deafened = deafened.unwrap_or(seat.deafened);
    state.voice.handle()?.set_state(ParticipantId(actor.id.0 as u64), muted, deafened).await.map_err(err)?;
    if let Some(s) = state.voice.seats().get_mut(&actor.id) {
        s.muted = muted;
        s.deafened = deafened;
        if muted {
            s.speaking = false;
        }
    }
    state.voice.announce(state, &[seat.room]);
    Ok(json!({"muted": muted, "deafened": deafened}))
}

pub async fn leave(state: &Arc<AppState>, actor: Actor) -> ApiResult<Value> {
    seat_of(state, actor)?;
    vacate(state, actor.id, None).await;
    Ok(Value::Null)
}

/// Moderation: take a user out of voice (kicked, banned or timed out).
pub async fn evict(state: &Arc<AppState>, user: UserId) {
    vacate(state, user, None).await;
}

/// Frees a user's seat (only if it is still join number `gen`, when given).
async fn vacate(state: &Arc<AppState>, user: UserId, gen: Option<u64>) {
    let room = {
        let mut seats = state.voice.seats();
        match seats.get(&user) {
            Some(s) if gen.is_none_or(|g| g == s.gen) => {
                let r = s.room;
                seats.remove(&user);
                Some(r)
            }
            _ => None,
        }
    };
    if let Some(room) = room {
        if let Ok(h) = state.voice.handle() {
            let _ = h.leave(ParticipantId(user.0 as u64)).await;
        }
        state.voice.announce(state, &[room]);
    }
}

/// A gateway socket closed: its seat is freed after the grace period unless re-joined.
pub fn socket_closed(state: &Arc<AppState>, user: UserId, conn: u64) {
    let gen = state.voice.seats().get(&user).filter(|s| s.conn == conn).map(|s| s.gen);
    if let Some(gen) = gen {
        vacate_later(state, user, gen);
    }
}

fn vacate_later(state: &Arc<AppState>, user: UserId, gen: u64) {
    let state = state.clone();
    tokio::spawn(async move {
        tokio::time::sleep(SEAT_GRACE).await;
        vacate(&state, user, Some(gen)).await;
    });
}

/// The DJ sat down in its room (its local sender is in the SFU) or got up.
pub fn dj_seated(state: &AppState, room: ChannelId, seated: bool) {
    if seated {
        state.voice.djs().entry(room).or_default();
    } else {
        state.voice.djs().remove(&room);
    }
    state.voice.announce(state, &[room]);
}

/// Moderation: mute the DJ for the whole room (a routing decision in the SFU, like a person).
pub async fn set_dj_muted(state: &Arc<AppState>, room: ChannelId, muted: bool) -> ApiResult<Value> {
    if !state.voice.djs().contains_key(&room) {
        return Err(ApiError(Error::invalid("dj_not_playing", "The DJ is not in this room.")));
    }
    state.voice.handle()?.mute_local(dj_participant(room), muted).await.map_err(err)?;
    if let Some(d) = state.voice.djs().get_mut(&room) {
        d.muted = muted;
        d.speaking &= !muted;
    }
    state.voice.announce(state, &[room]);
    Ok(json!({"muted": muted}))
}

/// Relays the SFU's events: offers to the seat's socket, speaking and disconnects to everyone.
pub fn spawn_events(state: Arc<AppState>, mut rx: tokio::sync::mpsc::UnboundedReceiver<SfuEvent>) {
    let weak = Arc::downgrade(&state);
    drop(state);
    tokio::spawn(async move {
        while let Some(e) = rx.recv().await {
            let Some(state) = weak.upgrade() else { return };
            match e {
                SfuEvent::Offer { participant, sdp } => {
                    let user = UserId(participant.0 as i64);
                    let conn = state.voice.seats().get(&user).map(|s| s.conn);
                    if let Some(conn) = conn {
                        let frame = json!({"op": "ephemeral", "t": "voice.offer", "d": {"sdp": sdp}}).to_string();
                        state.hub.send_to(conn, frame);
                    }
                }
                SfuEvent::Speaking { participant, speaking, .. } if dj_room(participant).is_some() => {
                    let Some(room) = dj_room(participant) else { continue };
                    let known = state.voice.djs().get_mut(&room).map(|d| d.speaking = speaking && !d.muted).is_some();
                    if known {
                        state.voice.announce(&state, &[room]);
                    }
                }
                SfuEvent::Speaking { participant, speaking, .. } => {
                    let user = UserId(participant.0 as i64);
                    let room = {
                        let mut seats = state.voice.seats();
                        seats.get_mut(&user).map(|s| {
                            s.speaking = speaking && !s.muted;
                            s.room
                        })
                    };
                    if let Some(room) = room {
                        state.voice.announce(&state, &[room]);
                    }
                }
                SfuEvent::Disconnected { participant, .. } => {
                    // The media path died (ICE gave up). The seat stays for the grace period so
                    // the client, told here, can re-join without leaving the room.
                    let user = UserId(participant.0 as i64);
                    let seat = state.voice.seats().get(&user).copied();
                    if let Some(s) = seat {
                        let frame = json!({"op": "ephemeral", "t": "voice.disconnected", "d": {"channel_id": s.room}}).to_string();
                        state.hub.send_to(s.conn, frame);
                        vacate_later(&state, user, s.gen);
                    }
                }
                SfuEvent::Quality { participant, quality, .. } => {
                    // The SFU already limits these to a changed grade or a refresh every few
                    // seconds per person; the whole room goes out, like for speaking.
                    let user = UserId(participant.0 as i64);
                    let room = state.voice.seats().get_mut(&user).map(|s| {
                        s.quality = Some(quality);
                        s.room
                    });
                    if let Some(room) = room {
                        state.voice.announce(&state, &[room]);
                    }
                }
                SfuEvent::Connected { .. } => {}
            }
        }
    });
}
