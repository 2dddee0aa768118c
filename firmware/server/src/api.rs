//! The HTTP API (see README "HTTP API"). Handlers parse, call `actions`/the store, and answer.

use crate::actions::{self, SendInput};
use crate::auth::{self, Authed};
use crate::error::{ApiError, ApiResult};
use crate::extract::{parse_id, Json, Query};
use crate::{now_ms, AppState, ClientIp};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, post};
use axum::{Extension, Router};
use chat::ids::{ChannelId, InviteId, MessageId, UserId};
use chat::model::{ChannelKind, Role};
use chat::perms::{self, Action, Here};
use chat::{rules, Error};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

type S = State<Arc<AppState>>;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/health", get(health))
        .route("/login", post(crate::login::login))
        .route("/logout", post(logout))
        .route("/logout-all", post(logout_all))
        .route("/me", get(me).patch(update_me))
        .route("/me/password", post(crate::login::change_password))
        .route("/users", get(list_users))
        .route("/channels", get(list_channels).post(create_channel))
        .route("/channels/reorder", post(reorder_channels))
        .route("/channels/{id}", patch(update_channel))
        .route("/channels/{id}/messages", get(history).post(send_message))
        .route("/channels/{id}/read", post(mark_read))
        .route("/messages/{id}", patch(edit_message).delete(delete_message))
        .route("/admin/users", get(admin_users).post(admin_create_user))
        .route("/admin/users/{id}", patch(admin_update_user))
        .route("/admin/users/{id}/password", post(admin_set_password))
        .route("/admin/invites", get(list_invites).post(create_invite))
        .route("/admin/invites/{id}", delete(revoke_invite))
        .route("/admin/invite-links", get(invite_links))
        .route("/invites/{token}", get(check_invite))
        .route("/invites/{token}/accept", post(accept_invite))
        .route("/gateway", get(crate::gateway::upgrade))
        .merge(crate::files::routes())
        .merge(crate::rich::routes())
        .merge(crate::embeds::routes())
        .merge(crate::firstrun::routes())
        .merge(crate::network::routes())
        .merge(crate::updates::routes())
        .merge(crate::music::routes())
        .fallback(|| async { ApiError(Error::not_found("not_found", "No such API endpoint.")) })
}

async fn health() -> impl IntoResponse {
    axum::Json(json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")}))
}

// --- sessions ---------------------------------------------------------------------------------

fn user_agent(h: &HeaderMap) -> String {
    h.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("").chars().take(200).collect()
}

/// Create a session and answer with the cookie, the user and the CSRF token.
pub(crate) async fn start_session(state: &AppState, user: chat::model::User, headers: &HeaderMap, ip: &ClientIp) -> ApiResult<Response> {
    let token = auth::new_token()?;
    let hash = auth::token_hash(&token);
    let now = now_ms();
    let (ua, ip, uid) = (user_agent(headers), ip.0.to_string(), user.id);
    state.db(move |store| store.create_session(&hash, uid, now, now + auth::SESSION_TTL_MS, &ua, &ip)).await?;
    let body = json!({"user": user, "csrf_token": auth::csrf_for(&token)});
    Ok(([(header::SET_COOKIE, auth::set_cookie(Some(&token), state.cfg.tls))], axum::Json(body)).into_response())
}

async fn logout(State(state): S, a: Authed) -> ApiResult<Response> {
    let h = a.token_hash.clone();
    state.db(move |store| store.delete_session(&h)).await?;
    state.hub.end_session(&a.token_hash);
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, auth::set_cookie(None, state.cfg.tls))]).into_response())
}

async fn logout_all(State(state): S, a: Authed) -> ApiResult<Response> {
    let uid = a.user.id;
    state.db(move |store| store.delete_user_sessions(uid)).await?;
    state.hub.end_user(uid, None);
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, auth::set_cookie(None, state.cfg.tls))]).into_response())
}

async fn me(State(state): S, a: Authed) -> impl IntoResponse {
    axum::Json(json!({"user": a.user, "csrf_token": a.csrf, "limits": state.client_limits()}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MePatch {
    display_name: String,
}

async fn update_me(State(state): S, a: Authed, Json(p): Json<MePatch>) -> ApiResult<impl IntoResponse> {
    let name = rules::display_name(&p.display_name)?;
    state.rate(a.actor(), actions::Limited::Profile)?;
    let user = state.db(move |store| store.set_display_name(a.user.id, &name, now_ms())).await?;
    Ok(axum::Json(json!({"user": user})))
}

async fn list_users(State(state): S, _a: Authed) -> ApiResult<impl IntoResponse> {
    Ok(axum::Json(actions::users_with_presence(&state).await?))
}

// --- channels ---------------------------------------------------------------------------------

async fn list_channels(State(state): S, a: Authed) -> ApiResult<impl IntoResponse> {
    let actor = a.actor();
    Ok(axum::Json(state.db(move |store| store.channels_for(actor)).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewChannel {
    name: String,
    #[serde(default)]
    topic: String,
    #[serde(default)]
    kind: chat::model::ChannelKind,
    #[serde(default)]
    user_limit: i64,
}

async fn create_channel(State(state): S, a: Authed, Json(c): Json<NewChannel>) -> ApiResult<impl IntoResponse> {
    perms::check(a.actor(), Here::BOX, Action::CreateChannels)?;
    if !matches!(c.kind, ChannelKind::Text | ChannelKind::Voice) {
        return Err(ApiError(Error::invalid("invalid_kind", "Create text or voice channels here; DMs and threads have their own endpoints.")));
    }
    let name = rules::channel_name(&c.name)?;
    let topic = rules::topic(&c.topic)?;
    let limit = rules::user_limit(c.user_limit)?;
    let by = a.user.id;
    let ch = state.db(move |store| {
        let ch = store.create_channel_of(c.kind, &name, &topic, limit, now_ms())?;
        store.audit(by, "channel.create", &format!("channel:{}", ch.id), json!({"name": ch.name, "kind": ch.kind}), now_ms())?;
        Ok(ch)
    })
    .await?;
    Ok((StatusCode::CREATED, axum::Json(ch)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChannelPatchInput {
    name: Option<String>,
    topic: Option<String>,
    archived: Option<bool>,
    user_limit: Option<i64>,
}

async fn update_channel(State(state): S, a: Authed, Path(id): Path<String>, Json(p): Json<ChannelPatchInput>) -> ApiResult<impl IntoResponse> {
    let id: ChannelId = parse_id(&id)?;
    let patch = store::ChannelPatch {
        name: p.name.as_deref().map(rules::channel_name).transpose()?,
        topic: p.topic.as_deref().map(rules::topic).transpose()?,
        archived: p.archived,
        user_limit: p.user_limit.map(rules::user_limit).transpose()?,
    };
    let actor = a.actor();
    Ok(axum::Json(
        state.db(move |store| {
            let (ch, _) = store.authorize(actor, id, Action::ManageChannel)?;
            if !matches!(ch.kind, ChannelKind::Text | ChannelKind::Voice) {
                return Err(Error::invalid("invalid_kind", "Only text and voice channels are managed here.").into());
            }
            let ch = store.update_channel(id, &patch, now_ms())?;
            let detail = json!({"name": patch.name, "topic": patch.topic, "archived": patch.archived, "user_limit": patch.user_limit});
            store.audit(actor.id, "channel.update", &format!("channel:{id}"), detail, now_ms())?;
            Ok(ch)
        })
        .await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Reorder {
    ids: Vec<ChannelId>,
}

async fn reorder_channels(State(state): S, a: Authed, Json(r): Json<Reorder>) -> ApiResult<impl IntoResponse> {
    perms::check(a.actor(), Here::BOX, Action::CreateChannels)?;
    if r.ids.len() > 1000 {
        return Err(ApiError(Error::invalid("invalid_order", "Too many channels.")));
    }
    Ok(axum::Json(state.db(move |store| store.reorder_channels(&r.ids, now_ms())).await?))
}

// --- messages ---------------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HistoryQuery {
    before: Option<String>,
    after: Option<String>,
    around: Option<String>,
    limit: Option<String>,
}

async fn history(State(state): S, a: Authed, Path(id): Path<String>, Query(q): Query<HistoryQuery>) -> ApiResult<impl IntoResponse> {
    let channel: ChannelId = parse_id(&id)?;
    let bad = || ApiError(Error::invalid("invalid_query", "before/after/around take a message ID."));
    let anchor = |s: &Option<String>| -> ApiResult<Option<MessageId>> {
        s.as_deref().map(|s| s.parse::<MessageId>().map_err(|_| bad())).transpose()
    };
    let page = match (anchor(&q.before)?, anchor(&q.after)?, anchor(&q.around)?) {
        (None, None, None) => store::Page::Latest,
        (Some(b), None, None) => store::Page::Before(b),
        (None, Some(x), None) => store::Page::After(x),
        (None, None, Some(x)) => store::Page::Around(x),
        _ => return Err(ApiError(Error::invalid("invalid_query", "Use only one of before, after, around."))),
    };
    let limit = crate::extract::page_limit(q.limit.as_deref())?;
    let actor = a.actor();
    let msgs = state.db(move |store| {
        store.authorize(actor, channel, Action::ViewChannel)?;
        store.history(channel, page, limit)
    })
    .await?;
    Ok(axum::Json(msgs))
}

async fn send_message(State(state): S, a: Authed, Path(id): Path<String>, Json(input): Json<SendInput>) -> ApiResult<impl IntoResponse> {
    let channel: ChannelId = parse_id(&id)?;
    let msg = actions::send_message(&state, a.actor(), channel, input).await?;
    Ok((StatusCode::CREATED, axum::Json(msg)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EditInput {
    content: String,
}

async fn edit_message(State(state): S, a: Authed, Path(id): Path<String>, Json(e): Json<EditInput>) -> ApiResult<impl IntoResponse> {
    let id: MessageId = parse_id(&id)?;
    Ok(axum::Json(actions::edit_message(&state, a.actor(), id, e.content).await?))
}

async fn delete_message(State(state): S, a: Authed, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let id: MessageId = parse_id(&id)?;
    actions::delete_message(&state, a.actor(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReadInput {
    message_id: MessageId,
}

async fn mark_read(State(state): S, a: Authed, Path(id): Path<String>, Json(r): Json<ReadInput>) -> ApiResult<StatusCode> {
    let channel: ChannelId = parse_id(&id)?;
    actions::read_ack(&state, a.actor(), channel, r.message_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

// --- admin: users -----------------------------------------------------------------------------

async fn admin_users(State(state): S, a: Authed) -> ApiResult<impl IntoResponse> {
    a.require_admin()?;
    Ok(axum::Json(actions::users_with_presence(&state).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewUser {
    username: String,
    password: String,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default = "member")]
    role: Role,
}

fn member() -> Role {
    Role::Member
}

async fn admin_create_user(State(state): S, a: Authed, Json(u): Json<NewUser>) -> ApiResult<impl IntoResponse> {
    a.require_admin()?;
    let username = rules::username(&u.username)?;
    let display = rules::display_name(u.display_name.as_deref().unwrap_or(&username))?;
    rules::password(&u.password)?;
    let hash = auth::hash_password(&state.lane, u.password).await?;
    let user = state.db(move |store| store.create_user(&username, &display, &hash, u.role, now_ms())).await?;
    Ok((StatusCode::CREATED, axum::Json(user)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserPatch {
    role: Option<Role>,
    disabled: Option<bool>,
}

async fn admin_update_user(State(state): S, a: Authed, Path(id): Path<String>, Json(p): Json<UserPatch>) -> ApiResult<impl IntoResponse> {
    a.require_admin()?;
    let id: UserId = parse_id(&id)?;
    let role = p.role;
    let disabled = p.disabled;
    let user = state.db(move |store| {
        let mut user = store.user(id)?;
        if let Some(role) = role {
            user = store.set_role(id, role, now_ms())?;
        }
        if let Some(d) = disabled {
            user = store.set_disabled(id, d, now_ms())?;
        }
        Ok(user)
    })
    .await?;
    {
        let by = a.user.id;
        let detail = json!({"role": role, "disabled": disabled});
        state.db(move |store| store.audit(by, "user.update", &format!("user:{id}"), detail, now_ms())).await?;
    }
    if user.disabled {
        // Their sessions are gone from the database; close their live sockets too.
        state.hub.end_user(id, None);
    } else if role.is_some() {
        state.hub.permissions_changed(id);
    }
    Ok(axum::Json(user))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetPassword {
    password: String,
}

async fn admin_set_password(State(state): S, a: Authed, Path(id): Path<String>, Json(p): Json<SetPassword>) -> ApiResult<StatusCode> {
    a.require_admin()?;
    let id: UserId = parse_id(&id)?;
    rules::password(&p.password)?;
    let hash = auth::hash_password(&state.lane, p.password).await?;
    state.db(move |store| store.set_password_hash(id, &hash, None)).await?;
    state.hub.end_user(id, None);
    Ok(StatusCode::NO_CONTENT)
}

// --- invites ----------------------------------------------------------------------------------

async fn list_invites(State(state): S, a: Authed) -> ApiResult<impl IntoResponse> {
    a.require_admin()?;
    Ok(axum::Json(state.db(move |store| store.invites()).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewInvite {
    #[serde(default = "member")]
    role: Role,
    #[serde(default)]
    expires_in_hours: Option<u32>,
}

async fn create_invite(State(state): S, a: Authed, headers: HeaderMap, Json(i): Json<NewInvite>) -> ApiResult<impl IntoResponse> {
    a.require_admin()?;
    let hours = i.expires_in_hours.unwrap_or(72);
    if !(1..=24 * 30).contains(&hours) {
        return Err(ApiError(Error::invalid("invalid_expiry", "Invites expire after 1 hour to 30 days.")));
    }
    let token = auth::new_token()?;
    let hash = auth::token_hash(&token);
    let now = now_ms();
    let by = a.user.id;
    let invite = state.db(move |store| store.create_invite(&hash, by, i.role, now, now + i64::from(hours) * 3_600_000)).await?;
    let bases = state.identity.link_bases(&state, headers.get(header::HOST).and_then(|h| h.to_str().ok()));
    let base = bases.first().map_or("http://spot.local", |b| b.url.as_str());
    Ok((
        StatusCode::CREATED,
        axum::Json(json!({"id": invite.id, "token": token, "url": format!("{base}/invite/{token}"), "role": invite.role, "expires_at": invite.expires_at})),
    ))
}

/// Where invite links can point: the best first, each with where it comes from.
async fn invite_links(State(state): S, a: Authed, headers: HeaderMap) -> ApiResult<impl IntoResponse> {
    a.require_admin()?;
    let bases = state.identity.link_bases(&state, headers.get(header::HOST).and_then(|h| h.to_str().ok()));
    Ok(axum::Json(json!({ "bases": bases })))
}

async fn revoke_invite(State(state): S, a: Authed, Path(id): Path<String>) -> ApiResult<StatusCode> {
    a.require_admin()?;
    let id: InviteId = parse_id(&id)?;
    state.db(move |store| store.delete_invite(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn check_invite(State(state): S, Path(token): Path<String>) -> ApiResult<impl IntoResponse> {
    if token.len() > 128 {
        return Err(ApiError(store::invite_invalid()));
    }
    let hash = auth::token_hash(&token);
    let inv = state.db(move |store| store.usable_invite(&hash, now_ms())).await?;
    let inv = inv.ok_or_else(|| ApiError(store::invite_invalid()))?;
    Ok(axum::Json(json!({"valid": true, "expires_at": inv.expires_at, "role": inv.role})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AcceptInvite {
    username: String,
    password: String,
    #[serde(default)]
    display_name: Option<String>,
}

async fn accept_invite(
    State(state): S,
    Extension(ip): Extension<ClientIp>,
    headers: HeaderMap,
    Path(token): Path<String>,
    Json(input): Json<AcceptInvite>,
) -> ApiResult<Response> {
    // Invite guessing is rate limited like logins.
    state.rate_login_ip(ip.0)?;
    if token.len() > 128 {
        return Err(ApiError(store::invite_invalid()));
    }
    let username = rules::username(&input.username)?;
    let display = rules::display_name(input.display_name.as_deref().unwrap_or(&username))?;
    rules::password(&input.password)?;
    let hash = auth::token_hash(&token);
    {
        let h = hash.clone();
        if state.db(move |store| store.usable_invite(&h, now_ms())).await?.is_none() {
            return Err(ApiError(store::invite_invalid()));
        }
    }
    let pw_hash = auth::hash_password(&state.lane, input.password).await?;
    let user = state.db(move |store| store.accept_invite(&hash, &username, &display, &pw_hash, now_ms())).await?;
    start_session(&state, user, &headers, &ip).await
}
