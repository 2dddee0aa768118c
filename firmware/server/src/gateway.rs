//! The realtime gateway: one WebSocket per client (README "Realtime gateway").
//!
//! Protocol: server `hello` → client `resume {seq}` → server replays every durable event after
//! `seq` from SQLite (or sends a fresh snapshot when the log no longer reaches back that far) →
//! `ready` → live events. Durable events carry their sequence number; a socket that falls more
//! than the hub's ring behind is closed (4008) and resumes, so the server never buffers without
//! bound. Requests (`op: request`) run the same actions as the HTTP API, rate limited per user and
//! per action; failures are `error` events and the socket stays open.

use crate::actions::{self, Limited, SendInput};
use crate::auth::{self, Authed};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::hub::{can_receive, event_frame};
use crate::AppState;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use chat::events::EventKind;
use chat::ids::{ChannelId, MessageId, Seq};
use chat::perms::Actor;
use chat::Error;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use tokio::time::{sleep_until, timeout, Instant};

/// The protocol refuses frames above this outright (closes with 1009).
pub const MAX_FRAME: usize = 1 << 20;
/// Application limit: larger text frames get an error event and are ignored. Room for the
/// largest message (16000 characters of up to 4 bytes) plus its envelope.
pub const MAX_REQUEST: usize = 64 * 1024;
/// How long a write may wait on a client before it is dropped.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
const RESUME_TIMEOUT: Duration = Duration::from_secs(15);
/// Replay reads this many events at a time.
const REPLAY_BATCH: usize = 500;
/// How often a socket checks that its session still exists.
const SESSION_RECHECK: Duration = Duration::from_secs(10);

pub mod close {
    pub const SESSION_ENDED: u16 = 4001;
    pub const PERMISSIONS_CHANGED: u16 = 4002;
    pub const RESUME_EXPECTED: u16 = 4003;
    pub const TOO_SLOW: u16 = 4008;
    pub const HEARTBEAT_TIMEOUT: u16 = 4009;
}

pub async fn upgrade(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> ApiResult<Response> {
    let ws = ws.map_err(|_| ApiError(Error::invalid("websocket_required", "This endpoint speaks WebSocket only.")))?;
    if !auth::origin_ok(&state, &headers) {
        return Err(ApiError(Error::forbidden("bad_origin", "WebSocket connections from other sites are refused.")));
    }
    let authed = auth::session_from_headers(&state, &headers).await?;
    // Counted before the upgrade, so a user cannot hold more than the cap even in a burst.
    let max = state.cfg.limits.sockets_per_user;
    let (id, inbox) = state.hub.register(authed.user.id, authed.token_hash.clone(), max).map_err(|_| {
        ApiError(Error::new(
            chat::ErrorKind::RateLimited,
            "too_many_connections",
            format!("You have {max} connections open already. Close a tab or another device, then try again."),
        ))
    })?;
    // Forgotten again when the socket ends, or if the upgrade never happens.
    let registration = Registration { state: state.clone(), id, user: authed.user.id };
    Ok(ws
        .max_message_size(MAX_FRAME)
        .max_frame_size(MAX_FRAME)
        .on_upgrade(move |socket| async move {
            let mut conn = Conn::new(state.clone(), authed, socket, id);
            conn.run(inbox).await;
            drop(registration);
        })
        .into_response())
}

struct Registration {
    state: Arc<AppState>,
    id: u64,
    user: chat::ids::UserId,
}

impl Drop for Registration {
    fn drop(&mut self) {
        crate::voice::socket_closed(&self.state, self.user, self.id);
        self.state.hub.unregister(self.id);
    }
}

#[derive(Deserialize)]
struct Envelope {
    op: String,
    #[serde(default)]
    id: Option<Value>,
    #[serde(default)]
    t: Option<String>,
    #[serde(default)]
    d: Value,
}

/// Why a connection loop stopped.
enum Stop {
    /// The client went away or the socket failed.
    Gone,
    Close(u16, &'static str),
}

struct Conn {
    state: Arc<AppState>,
    actor: Actor,
    /// The channels this user can see: events about others never reach this socket.
    visible: HashSet<ChannelId>,
    id: u64,
    token_hash: Vec<u8>,
    tx: SplitSink<WebSocket, Message>,
    rx: SplitStream<WebSocket>,
    heartbeat: Duration,
}

impl Conn {
    fn new(state: Arc<AppState>, authed: Authed, socket: WebSocket, id: u64) -> Self {
        let (tx, rx) = socket.split();
        let heartbeat = Duration::from_millis(state.cfg.heartbeat_ms);
        Conn { actor: authed.actor(), visible: HashSet::new(), token_hash: authed.token_hash, state, id, tx, rx, heartbeat }
    }

    async fn send(&mut self, text: String) -> Result<(), Stop> {
        match timeout(SEND_TIMEOUT, self.tx.send(Message::Text(text.into()))).await {
            Ok(Ok(())) => Ok(()),
            _ => Err(Stop::Gone),
        }
    }

    async fn send_error(&mut self, id: Option<Value>, e: &chat::Error) -> Result<(), Stop> {
        self.send(json!({"op": "error", "id": id, "d": ErrorBody::from(e)}).to_string()).await
    }

    async fn close(&mut self, code: u16, reason: &'static str) {
        let frame = CloseFrame { code, reason: reason.into() };
        let _ = timeout(Duration::from_secs(2), self.tx.send(Message::Close(Some(frame)))).await;
    }

    async fn run(&mut self, mut control: crate::hub::Inbox) {
        let stop = self.session(&mut control).await;
        if let Stop::Close(code, reason) = stop {
            tracing::debug!(conn = self.id, code, reason, "closing gateway socket");
            self.close(code, reason).await;
        }
    }

    async fn current_seq(&self) -> ApiResult<Seq> {
        self.state.db(|store| store.current_seq()).await
    }

    async fn session(&mut self, control: &mut crate::hub::Inbox) -> Stop {
        let Ok(seq) = self.current_seq().await else { return Stop::Close(1011, "internal error") };
        let hello = json!({"op": "hello", "d": {"heartbeat_ms": self.state.cfg.heartbeat_ms, "seq": seq}});
        if let Err(s) = self.send(hello.to_string()).await {
            return s;
        }
        // Wait for `resume`.
        let from = match timeout(RESUME_TIMEOUT, self.wait_resume()).await {
            Ok(Ok(from)) => from,
            Ok(Err(stop)) => return stop,
            Err(_) => return Stop::Close(close::RESUME_EXPECTED, "resume expected"),
        };
        // Subscribe before reading the log's end: nothing committed after `upto` can be missed,
        // and anything at or before it that also arrives live is skipped by `last`.
        let (mut events, mut ephemeral) = self.state.hub.subscribe();
        let mut last = match self.catch_up(from).await {
            Ok(s) => s,
            Err(stop) => return stop,
        };
        let mut deadline = Instant::now() + self.heartbeat * 2 + Duration::from_secs(5);
        // Sessions can also end outside this process (`spot user disable`, expiry): re-check.
        let mut recheck = tokio::time::interval_at(Instant::now() + SESSION_RECHECK, SESSION_RECHECK);
        loop {
            tokio::select! {
                biased;
                _ = recheck.tick() => {
                    if !self.session_alive().await {
                        return Stop::Close(close::SESSION_ENDED, "session ended");
                    }
                    // A timeout that ran out ends here (permission changes close the socket).
                    if self.actor.timed_out {
                        let (id, now) = (self.actor.id, crate::now_ms());
                        if let Ok(a) = self.state.db(move |store| store.actor(id, now)).await {
                            self.actor = a;
                        }
                    }
                }
                c = control.recv() => match c {
                    Some(crate::hub::Control::Close(code, reason)) => return Stop::Close(code, reason),
                    Some(crate::hub::Control::Frame(f)) => {
                        if let Err(s) = self.send(f.to_string()).await { return s; }
                    }
                    None => return Stop::Close(1012, "server restarting"),
                },
                frame = self.rx.next() => {
                    deadline = Instant::now() + self.heartbeat * 2 + Duration::from_secs(5);
                    match frame {
                        Some(Ok(Message::Text(t))) => {
                            if let Err(s) = self.on_text(t.as_str()).await { return s; }
                        }
                        Some(Ok(Message::Binary(_))) => {
                            let e = Error::invalid("binary_unsupported", "Send JSON text frames.");
                            if let Err(s) = self.send_error(None, &e).await { return s; }
                        }
                        Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                        Some(Ok(Message::Close(_))) | None => return Stop::Gone,
                        Some(Err(e)) => {
                            tracing::debug!(conn = self.id, error = %e, "gateway read failed");
                            // Tell the client why, with the protocol's codes, when it is its fault.
                            let text = e.to_string();
                            if text.contains("Space limit exceeded") {
                                return Stop::Close(1009, "frame too large");
                            }
                            if text.contains("UTF-8") {
                                return Stop::Close(1007, "text frame is not UTF-8");
                            }
                            return Stop::Gone;
                        }
                    }
                }
                ev = events.recv() => match ev {
                    Ok(o) => {
                        if o.seq > last {
                            // A gap means events committed by another process (the `spot` CLI),
                            // which never pass through this hub: read them from the log first.
                            if o.seq.0 > last.0 + 1 {
                                if let Err(s) = self.replay(last, Seq(o.seq.0 - 1)).await { return s; }
                            }
                            last = o.seq;
                            match self.may_receive(o.audience, o.kind).await {
                                Ok(true) => if let Err(s) = self.send(o.frame.clone()).await { return s; },
                                Ok(false) => {}
                                Err(s) => return s,
                            }
                        }
                    }
                    Err(RecvError::Lagged(n)) => {
                        tracing::info!(conn = self.id, behind = n, "gateway client too slow; closing so it resumes");
                        return Stop::Close(close::TOO_SLOW, "too slow: resume");
                    }
                    Err(RecvError::Closed) => return Stop::Close(1012, "server restarting"),
                },
                e = ephemeral.recv() => match e {
                    Ok(e) => {
                        if can_receive(self.actor, &self.visible, e.audience) {
                            if let Err(s) = self.send(e.frame.clone()).await { return s; }
                        }
                    }
                    // Ephemeral signals are allowed to be lost.
                    Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => return Stop::Close(1012, "server restarting"),
                },
                _ = sleep_until(deadline) => return Stop::Close(close::HEARTBEAT_TIMEOUT, "heartbeat timeout"),
            }
        }
    }

    async fn session_alive(&self) -> bool {
        let h = self.token_hash.clone();
        let now = crate::now_ms();
        // Only a definite "no session" ends the socket; a transient error does not.
        !matches!(self.state.db(move |store| store.session(&h, now)).await, Ok(None))
    }

    /// Read frames until `resume` (answering heartbeats); returns the client's sequence number.
    async fn wait_resume(&mut self) -> Result<Option<Seq>, Stop> {
        loop {
            let t = match self.rx.next().await {
                Some(Ok(Message::Text(t))) => t,
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                Some(Ok(Message::Binary(_))) => {
                    self.send_error(None, &Error::invalid("binary_unsupported", "Send JSON text frames.")).await?;
                    continue;
                }
                _ => return Err(Stop::Gone),
            };
            let env: Envelope = match parse(t.as_str()) {
                Ok(e) => e,
                Err(e) => {
                    self.send_error(None, &e).await?;
                    continue;
                }
            };
            match env.op.as_str() {
                "resume" => {
                    #[derive(Deserialize)]
                    struct R {
                        seq: Option<i64>,
                    }
                    match serde_json::from_value::<R>(env.d) {
                        Ok(r) => return Ok(r.seq.map(Seq)),
                        Err(_) => {
                            let e = Error::invalid("invalid_resume", "resume needs {\"seq\": number or null}.");
                            self.send_error(env.id, &e).await?;
                        }
                    }
                }
                "heartbeat" => self.send(r#"{"op":"heartbeat_ack"}"#.to_owned()).await?,
                _ => {
                    let e = Error::invalid("resume_expected", "Send resume first.");
                    self.send_error(env.id, &e).await?;
                }
            }
        }
    }

    /// Replay what the client missed, or send a snapshot. Returns the sequence number the client
    /// is now at.
    /// (Re)load the channels this user can see.
    async fn load_visible(&mut self) -> Result<(), Stop> {
        let actor = self.actor;
        self.visible =
            self.state.db(move |store| store.visible_channels(actor)).await.map_err(|_| Stop::Close(1011, "internal error"))?;
        Ok(())
    }

    /// May this socket receive a durable event? A channel it did not know about may have just
    /// been created (a thread, a DM) or shown: then the visible set is reloaded and asked again.
    async fn may_receive(&mut self, audience: chat::events::Audience, kind: EventKind) -> Result<bool, Stop> {
        if can_receive(self.actor, &self.visible, audience) {
            return Ok(true);
        }
        let about_a_channel = matches!(kind, EventKind::ChannelCreate | EventKind::ChannelUpdate);
        if matches!(audience, chat::events::Audience::Channel(_)) && about_a_channel {
            self.load_visible().await?;
            return Ok(can_receive(self.actor, &self.visible, audience));
        }
        Ok(false)
    }

    /// The occupied voice rooms this user can see.
    fn visible_rooms(&self) -> Value {
        let rooms = self.state.voice.rooms_json();
        match rooms {
            Value::Array(v) => Value::Array(
                v.into_iter()
                    .filter(|r| {
                        r.get("channel_id")
                            .and_then(Value::as_str)
                            .and_then(|s| s.parse::<ChannelId>().ok())
                            .is_some_and(|c| self.visible.contains(&c))
                    })
                    .collect(),
            ),
            other => other,
        }
    }

    async fn catch_up(&mut self, from: Option<Seq>) -> Result<Seq, Stop> {
        self.load_visible().await?;
        let (upto, oldest) = self
            .state
            .db(|store| Ok((store.current_seq()?, store.oldest_seq()?)))
            .await
            .map_err(|_| Stop::Close(1011, "internal error"))?;
        let replayable = match from {
            Some(s) if s == upto => true,
            Some(s) if s < upto && s.0 >= 0 => oldest.is_some_and(|o| o.0 <= s.0 + 1),
            _ => false,
        };
        if let (true, Some(at)) = (replayable, from) {
            self.replay(at, upto).await?;
            let voice = self.visible_rooms();
            self.send(json!({"op": "ready", "d": {"seq": upto, "resumed": true, "snapshot": null, "voice": voice}}).to_string()).await?;
        } else {
            let snapshot = actions::snapshot(&self.state, self.actor).await.map_err(|_| Stop::Close(1011, "internal error"))?;
            let voice = self.visible_rooms();
            self.send(json!({"op": "ready", "d": {"seq": upto, "resumed": false, "snapshot": snapshot, "voice": voice}}).to_string()).await?;
        }
        Ok(upto)
    }

    /// Send the durable events with `after < seq <= upto` from SQLite, filtered by audience.
    async fn replay(&mut self, mut after: Seq, upto: Seq) -> Result<(), Stop> {
        while after < upto {
            let batch = self
                .state
                .db(move |store| store.events_after(after, upto, REPLAY_BATCH))
                .await
                .map_err(|_| Stop::Close(1011, "internal error"))?;
            let Some(last) = batch.last() else { break };
            after = last.seq;
            for e in &batch {
                if self.may_receive(e.audience, e.kind).await? {
                    self.send(event_frame(e)).await?;
                }
            }
        }
        Ok(())
    }

    async fn on_text(&mut self, text: &str) -> Result<(), Stop> {
        let env: Envelope = match parse(text) {
            Ok(e) => e,
            Err(e) => return self.send_error(None, &e).await,
        };
        match env.op.as_str() {
            "heartbeat" => self.send(r#"{"op":"heartbeat_ack"}"#.to_owned()).await,
            "request" => {
                let t = env.t.clone().unwrap_or_default();
                match self.request(&t, env.d).await {
                    Ok(d) => self.send(json!({"op": "reply", "id": env.id, "t": t, "d": d}).to_string()).await,
                    Err(ApiError(e)) => self.send_error(env.id, &e).await,
                }
            }
            "resume" => self.send_error(env.id, &Error::invalid("already_resumed", "This socket has resumed already.")).await,
            _ => self.send_error(env.id, &Error::invalid("unknown_op", "Unknown op.")).await,
        }
    }

    async fn request(&mut self, t: &str, d: Value) -> ApiResult<Value> {
        let st = &self.state;
        let actor = self.actor;
        let m = |m: chat::model::Message| Ok(serde_json::to_value(m).unwrap_or(Value::Null));
        match Request::parse(t, d)? {
            Request::ReactionAdd { message_id, emoji } => m(actions::react(st, actor, message_id, &emoji, true).await?),
            Request::ReactionRemove { message_id, emoji } => m(actions::react(st, actor, message_id, &emoji, false).await?),
            Request::MessageSend { channel_id, content, reply_to, nonce, attachments } => {
                let input = SendInput { content, reply_to, nonce, attachments };
                m(actions::send_message(st, actor, channel_id, input).await?)
            }
            Request::MessageEdit { message_id, content } => m(actions::edit_message(st, actor, message_id, content).await?),
            Request::MessageDelete { message_id } => {
                let m = actions::delete_message(st, actor, message_id).await?;
                Ok(json!({"message_id": m.id}))
            }
            Request::TypingStart { channel_id } => {
                actions::typing(st, actor, channel_id).await?;
                Ok(Value::Null)
            }
            Request::PresenceSet { status } => {
                st.rate(actor, Limited::Presence)?;
                let idle = match status.as_str() {
                    "idle" => true,
                    "online" => false,
                    _ => return Err(ApiError(Error::invalid("invalid_status", "status is \"online\" or \"idle\"."))),
                };
                st.hub.set_idle(actor.id, self.id, idle);
                Ok(Value::Null)
            }
            Request::ReadAck { channel_id, message_id } => {
                let r = actions::read_ack(st, actor, channel_id, message_id).await?;
                Ok(serde_json::to_value(r).unwrap_or(Value::Null))
            }
            Request::VoiceJoin { channel_id, sdp } => {
                st.rate(actor, Limited::VoiceJoin)?;
                crate::voice::join(st, actor, self.id, channel_id, sdp).await
            }
            Request::VoiceOffer { sdp } => {
                st.rate(actor, Limited::VoiceJoin)?;
                crate::voice::offer(st, actor, sdp).await
            }
            Request::VoiceAnswer { sdp } => {
                st.rate(actor, Limited::VoiceJoin)?;
                crate::voice::answer(st, actor, sdp).await
            }
            Request::VoiceCandidate { candidate } => {
                st.rate(actor, Limited::VoiceSignal)?;
                crate::voice::candidate(st, actor, candidate).await
            }
            Request::VoiceState { muted, deafened } => {
                st.rate(actor, Limited::VoiceSignal)?;
                crate::voice::set_state(st, actor, muted, deafened).await
            }
            Request::VoiceLeave(_) => {
                st.rate(actor, Limited::VoiceJoin)?;
                crate::voice::leave(st, actor).await
            }
            Request::Unknown => Err(ApiError(Error::invalid("unknown_request", "Unknown request type."))),
        }
    }
}

/// A client's action (`{"op": "request", "t": …, "d": {…}}`): `t` names it, `d` holds its
/// arguments (README "Realtime gateway"). Arguments are checked here, by type; their values by
/// the actions (`chat::rules`, `chat::perms`), as over HTTP.
#[derive(Debug, Deserialize)]
#[serde(tag = "t", content = "d", deny_unknown_fields)]
enum Request {
    #[serde(rename = "message.send")]
    MessageSend {
        channel_id: ChannelId,
        content: String,
        #[serde(default)]
        reply_to: Option<MessageId>,
        #[serde(default)]
        nonce: Option<String>,
        #[serde(default)]
        attachments: Vec<chat::ids::AttachmentId>,
    },
    #[serde(rename = "message.edit")]
    MessageEdit { message_id: MessageId, content: String },
    #[serde(rename = "message.delete")]
    MessageDelete { message_id: MessageId },
    #[serde(rename = "typing.start")]
    TypingStart { channel_id: ChannelId },
    #[serde(rename = "presence.set")]
    PresenceSet { status: String },
    #[serde(rename = "read.ack")]
    ReadAck { channel_id: ChannelId, message_id: MessageId },
    #[serde(rename = "reaction.add")]
    ReactionAdd { message_id: MessageId, emoji: String },
    #[serde(rename = "reaction.remove")]
    ReactionRemove { message_id: MessageId, emoji: String },
    #[serde(rename = "voice.join")]
    VoiceJoin { channel_id: ChannelId, sdp: String },
    #[serde(rename = "voice.offer")]
    VoiceOffer { sdp: String },
    #[serde(rename = "voice.answer")]
    VoiceAnswer { sdp: String },
    #[serde(rename = "voice.candidate")]
    VoiceCandidate { candidate: String },
    #[serde(rename = "voice.state")]
    VoiceState {
        #[serde(default)]
        muted: Option<bool>,
        #[serde(default)]
        deafened: Option<bool>,
    },
    /// Takes any `d` (the web app sends `{}`).
    #[serde(rename = "voice.leave")]
    VoiceLeave(serde::de::IgnoredAny),
    /// Any other `t`: `unknown_request`, not `invalid_request`.
    #[serde(other)]
    Unknown,
}

impl Request {
    /// `t` and `d` of an envelope (a missing `t` is unknown, a missing `d` is `null`).
    fn parse(t: &str, d: Value) -> ApiResult<Request> {
        // An unknown `t` is decided on the tag alone, whatever `d` holds.
        let known = Request::deserialize(json!({"t": t, "d": Value::Null}));
        if let Ok(Request::Unknown) = known {
            return Ok(Request::Unknown);
        }
        Request::deserialize(json!({"t": t, "d": d})).map_err(|e| {
            let msg: String = e.to_string().chars().take(200).collect();
            ApiError(Error::invalid("invalid_request", format!("Bad request data: {msg}")))
        })
    }
}

fn parse(text: &str) -> Result<Envelope, chat::Error> {
    if text.len() > MAX_REQUEST {
        return Err(Error::new(chat::ErrorKind::TooLarge, "frame_too_large", "Gateway frames can be at most 64 KiB."));
    }
    serde_json::from_str(text).map_err(|e| {
        if e.is_data() {
            Error::invalid("invalid_envelope", "Frames are {\"op\": string, \"id\"?, \"t\"?, \"d\"?}.")
        } else {
            Error::invalid("invalid_json", "That frame is not valid JSON.")
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(t: &str, d: Value) -> &'static str {
        match Request::parse(t, d) {
            Ok(Request::Unknown) => "unknown_request",
            Ok(_) => "ok",
            Err(ApiError(e)) => e.code,
        }
    }

    #[test]
    fn requests_are_typed_by_t_and_refused_by_code() {
        assert_eq!(code("message.explode", json!({})), "unknown_request");
        assert_eq!(code("message.explode", json!({"x": 1})), "unknown_request");
        assert_eq!(code("message.explode", Value::Null), "unknown_request");
        assert_eq!(code("", Value::Null), "unknown_request");
        assert_eq!(code("message.send", json!({"channel_id": "1", "content": "hi"})), "ok");
        assert_eq!(code("message.send", json!({"channel_id": 1})), "invalid_request");
        assert_eq!(code("message.edit", json!({"message_id": "1", "content": "x", "evil": 1})), "invalid_request");
        assert_eq!(code("reaction.add", json!({"message_id": "1", "emoji": 5})), "invalid_request");
        assert_eq!(code("typing.start", Value::Null), "invalid_request");
        assert_eq!(code("voice.state", json!({})), "ok");
        assert_eq!(code("voice.state", json!({"muted": "yes"})), "invalid_request");
        assert_eq!(code("voice.leave", json!({})), "ok");
        assert_eq!(code("voice.leave", Value::Null), "ok");
        let Err(ApiError(e)) = Request::parse("read.ack", json!({"channel_id": "1"})) else { panic!("accepted") };
        assert!(e.message.starts_with("Bad request data: ") && e.message.contains("message_id"), "{}", e.message);
    }

    /// Why `Request::parse` asks about the tag first: serde's catch-all takes no `d`.
    #[test]
    fn serde_other_takes_no_content() {
        assert!(Request::deserialize(json!({"t": "message.explode", "d": {}})).is_err());
        assert!(matches!(Request::deserialize(json!({"t": "message.explode", "d": null})), Ok(Request::Unknown)));
    }
}
