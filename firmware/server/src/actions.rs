//! Chat actions shared by the HTTP API and the gateway: validate, rate-limit, authorize (through
//! `chat::perms`), store. Both transports call these, so the rules are the same on both.

use crate::error::{ApiError, ApiResult};
use crate::{now_ms, AppState};
use chat::events::Audience;
use chat::ids::{ChannelId, MessageId};
use chat::model::{Message, ReadState};
use chat::perms::{Action, Actor};
use chat::{rules, Error};
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// Gateway and API actions with their own per-user rate limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Limited {
    Send,
    Edit,
    Delete,
    Typing,
    Presence,
    ReadAck,
    VoiceJoin,
    VoiceSignal,
    Upload,
    React,
    Pin,
    /// Threads, DMs, roles: things that create channels or rows.
    Create,
    Search,
    /// Channel overrides and other settings changes that fan out to everyone.
    Settings,
    /// Display name and other profile changes (each is an event to everyone).
    Profile,
}

impl AppState {
    /// Limits the client should know about (to warn before the server refuses).
    pub fn client_limits(&self) -> serde_json::Value {
        serde_json::json!({
            "message_max_chars": self.cfg.limits.message_max_chars,
            "upload_max_bytes": self.cfg.limits.upload_max_bytes,
            "upload_quota_bytes": self.cfg.limits.upload_quota_bytes,
        })
    }

    /// Take a token for `action` by `actor`, or fail with `rate_limited`.
    pub fn rate(&self, actor: Actor, action: Limited) -> ApiResult<()> {
        let mut rl = self.action_limits.lock().unwrap_or_else(|e| e.into_inner());
        rl.check(actor.id, action, Instant::now()).map_err(limited)
    }
}

/// A bucket's wait as the `rate_limited` error.
pub fn limited(wait: std::time::Duration) -> ApiError {
    ApiError(Error::rate_limited(wait.as_millis() as u64))
}

/// Per-action buckets, each with its own quota.
pub struct ActionLimits {
    buckets: std::collections::HashMap<Limited, chat::ratelimit::RateLimiter<chat::UserId>>,
}

impl ActionLimits {
    pub fn new(q: &crate::Limits) -> Self {
        use chat::ratelimit::RateLimiter;
        let mut buckets = std::collections::HashMap::new();
        for (k, quota) in [
            (Limited::Send, q.send),
            (Limited::Edit, q.edit),
            (Limited::Delete, q.edit),
            (Limited::Typing, q.typing),
            (Limited::Presence, q.presence),
            (Limited::ReadAck, q.read_ack),
            (Limited::VoiceJoin, q.voice_join),
            (Limited::VoiceSignal, q.voice_signal),
            (Limited::Upload, q.upload),
            (Limited::React, q.react),
            (Limited::Pin, q.pin),
            (Limited::Create, q.create),
            (Limited::Search, q.search),
            (Limited::Settings, q.settings),
            (Limited::Profile, q.profile),
        ] {
            buckets.insert(k, RateLimiter::new(quota));
        }
        ActionLimits { buckets }
    }

    fn check(&mut self, user: chat::UserId, action: Limited, now: Instant) -> Result<(), std::time::Duration> {
        match self.buckets.get_mut(&action) {
            Some(b) => b.check(&user, now),
            None => Ok(()),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendInput {
    pub content: String,
    #[serde(default)]
    pub reply_to: Option<MessageId>,
    #[serde(default)]
    pub nonce: Option<String>,
    #[serde(default)]
    pub attachments: Vec<chat::ids::AttachmentId>,
}

impl AppState {
    /// Store work on the blocking pool, with the store handed in: how handlers reach the
    /// database (no `let store = state.store.clone()` before every call). A panic or a store
    /// failure becomes the logged `internal` error; a domain error keeps its code.
    pub(crate) async fn db<T: Send + 'static>(
        &self,
        f: impl FnOnce(&store::Store) -> Result<T, store::Error> + Send + 'static,
    ) -> ApiResult<T> {
        let store = self.store.clone();
        Ok(tokio::task::spawn_blocking(move || f(&store)).await??)
    }
}

pub async fn send_message(state: &AppState, actor: Actor, channel: ChannelId, input: SendInput) -> ApiResult<Message> {
    state.rate(actor, Limited::Send)?;
    let content = if input.attachments.is_empty() || !input.content.trim().is_empty() {
        rules::message_content(&input.content, state.cfg.limits.message_max_chars)?
    } else {
        String::new()
    };
    if let Some(n) = &input.nonce {
        rules::nonce(n)?;
    }
    if input.attachments.len() > 10 {
        return Err(ApiError(Error::invalid("too_many_attachments", "Attach at most 10 files to a message.")));
    }
    let (msg, created) = state.db(move |store| {
        store.send_message(
            store::NewMessage {
                channel,
                author: actor.id,
                content: &content,
                reply_to: input.reply_to,
                nonce: input.nonce.as_deref(),
                attachments: &input.attachments,
            },
            now_ms(),
            actor,
        )
    })
    .await?;
    if created && !msg.content.is_empty() {
        crate::embeds::spawn_for(state, &msg);
        crate::music::on_message(state, actor, &msg);
    }
    Ok(msg)
}

pub async fn edit_message(state: &AppState, actor: Actor, id: MessageId, content: String) -> ApiResult<Message> {
    state.rate(actor, Limited::Edit)?;
    let content = rules::message_content(&content, state.cfg.limits.message_max_chars)?;
    let msg = state.db(move |store| store.edit_message(id, &content, now_ms(), actor)).await?;
    crate::embeds::spawn_for(state, &msg);
    Ok(msg)
}

pub async fn delete_message(state: &AppState, actor: Actor, id: MessageId) -> ApiResult<Message> {
    state.rate(actor, Limited::Delete)?;
    let (msg, files) = state.db(move |store| store.delete_message(id, now_ms(), actor)).await?;
    if !files.is_empty() {
        crate::files::remove_stored(state, files).await;
    }
    Ok(msg)
}

pub async fn react(state: &AppState, actor: Actor, id: MessageId, emoji: &str, on: bool) -> ApiResult<Message> {
    state.rate(actor, Limited::React)?;
    let key = match chat::text::reaction_emoji(emoji)? {
        chat::text::ReactionEmoji::Unicode(u) => u,
        chat::text::ReactionEmoji::Custom(name) => {
            let known = state.db(move |store| store.custom_emoji()).await?;
            if on && !known.iter().any(|e| e.name == name) {
                return Err(ApiError(Error::invalid("unknown_emoji", format!("There is no custom emoji :{name}:."))));
            }
            format!(":{name}:")
        }
    };
    state.db(move |store| store.react(id, &key, on, now_ms(), actor)).await
}

pub async fn pin(state: &AppState, actor: Actor, id: MessageId, on: bool) -> ApiResult<Message> {
    state.rate(actor, Limited::Pin)?;
    state.db(move |store| store.pin(id, on, now_ms(), actor)).await
}

pub async fn read_ack(state: &AppState, actor: Actor, channel: ChannelId, message: MessageId) -> ApiResult<ReadState> {
    state.rate(actor, Limited::ReadAck)?;
    state.db(move |store| {
        store.authorize(actor, channel, Action::ViewChannel)?;
        store.mark_read(actor.id, channel, message, now_ms())
    })
    .await
}

pub async fn typing(state: &AppState, actor: Actor, channel: ChannelId) -> ApiResult<()> {
    state.rate(actor, Limited::Typing)?;
    state.db(move |store| store.authorize(actor, channel, Action::SendMessage)).await?;
    state.hub.send_ephemeral(
        Audience::Channel(channel),
        "typing.start",
        serde_json::json!({"channel_id": channel, "user_id": actor.id}),
    );
    Ok(())
}

/// A user with their live presence.
#[derive(Debug, Serialize)]
pub struct UserView {
    #[serde(flatten)]
    pub user: chat::model::User,
    pub presence: chat::model::Presence,
}

pub async fn users_with_presence(state: &AppState) -> ApiResult<Vec<UserView>> {
    let users = state.db(move |store| store.users()).await?;
    Ok(users.into_iter().map(|u| UserView { presence: state.hub.presence_of(u.id), user: u }).collect())
}

/// Everything a client needs to start from scratch.
pub async fn snapshot(state: &AppState, actor: Actor) -> ApiResult<serde_json::Value> {
    let (me, channels, roles, emoji) = state.db(move |store| {
        Ok((store.user(actor.id)?, store.channels_for(actor)?, store.roles()?, store.custom_emoji()?))
    })
    .await?;
    let users = users_with_presence(state).await?;
    Ok(serde_json::json!({
        "me": me, "users": users, "channels": channels, "roles": roles, "emoji": emoji,
        "limits": state.client_limits(),
    }))
}
