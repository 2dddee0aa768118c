//! The rich chat HTTP API (README "Rich chat API"): threads, reactions, pins, DMs, per-user
//! channel settings, search, roles and overrides, moderation, the audit log, box settings.
//! Handlers parse and answer; `actions` and the store decide (through `chat::perms`).

use crate::actions::{self, Limited};
use crate::auth::Authed;
use crate::error::{ApiError, ApiResult};
use crate::extract::{parse_id, Json, OptionalJson, Query};
use crate::{now_ms, AppState};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, patch, post, put};
use axum::Router;
use chat::ids::{AuditId, ChannelId, MessageId, RoleId, UserId};
use chat::model::NotifyLevel;
use chat::perms::{Action, Perms};
use chat::{rules, Error};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

type S = State<Arc<AppState>>;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/messages/{id}/thread", post(create_thread))
        .route("/channels/{id}/threads", get(threads))
        .route("/channels/{id}/follow", put(follow).delete(unfollow))
        .route("/channels/{id}/settings", put(channel_settings))
        .route("/channels/{id}/notify", put(notify_level))
        .route("/messages/{id}/reactions/{emoji}", put(react).delete(unreact))
        .route("/messages/{id}/pin", put(pin).delete(unpin))
        .route("/channels/{id}/pins", get(pins))
        .route("/dms", post(open_dm))
        .route("/search", get(search))
        .route("/roles", get(roles))
        .route("/admin/roles", post(create_role))
        .route("/admin/roles/{id}", patch(update_role).delete(delete_role))
        .route("/admin/users/{id}/roles", put(set_user_roles))
        .route("/channels/{id}/overrides", get(overrides))
        .route("/channels/{id}/overrides/{role}", put(set_override))
        .route("/mod/users/{id}/kick", post(kick))
        .route("/mod/users/{id}/ban", post(ban).delete(unban))
        .route("/mod/users/{id}/timeout", post(timeout))
        .route("/admin/audit", get(audit))
        .route("/admin/settings", get(settings).patch(update_settings))
}

// --- threads, settings ------------------------------------------------------------------------

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct NewThread {
    #[serde(default)]
    name: Option<String>,
}

async fn create_thread(State(state): S, a: Authed, Path(id): Path<String>, OptionalJson(body): OptionalJson<NewThread>) -> ApiResult<impl IntoResponse> {
    let id: MessageId = parse_id(&id)?;
    state.rate(a.actor(), Limited::Create)?;
    let name = body.and_then(|b| b.name).map(|n| rules::channel_title(&n)).transpose()?;
    let actor = a.actor();
    let (thread, created) = state.db(move |store| store.create_thread(id, name.as_deref(), now_ms(), actor)).await?;
    Ok((if created { StatusCode::CREATED } else { StatusCode::OK }, axum::Json(thread)))
}

async fn threads(State(state): S, a: Authed, Path(id): Path<String>) -> ApiResult<impl IntoResponse> {
    let id: ChannelId = parse_id(&id)?;
    let actor = a.actor();
    Ok(axum::Json(state.db(move |store| store.threads(id, actor)).await?))
}

async fn set_follow(state: &AppState, a: &Authed, id: &str, on: bool) -> ApiResult<StatusCode> {
    let id: ChannelId = parse_id(id)?;
    let actor = a.actor();
    state.db(move |store| store.set_channel_settings(id, None, Some(on), now_ms(), actor)).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn follow(State(state): S, a: Authed, Path(id): Path<String>) -> ApiResult<StatusCode> {
    set_follow(&state, &a, &id, true).await
}

async fn unfollow(State(state): S, a: Authed, Path(id): Path<String>) -> ApiResult<StatusCode> {
    set_follow(&state, &a, &id, false).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SettingsInput {
    muted: bool,
}

async fn channel_settings(State(state): S, a: Authed, Path(id): Path<String>, Json(s): Json<SettingsInput>) -> ApiResult<impl IntoResponse> {
    let id: ChannelId = parse_id(&id)?;
    let actor = a.actor();
    Ok(axum::Json(state.db(move |store| store.set_channel_settings(id, Some(s.muted), None, now_ms(), actor)).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NotifyInput {
    /// A string, so an unknown level gets `invalid_level` rather than a generic body error.
    level: String,
}

async fn notify_level(State(state): S, a: Authed, Path(id): Path<String>, Json(n): Json<NotifyInput>) -> ApiResult<impl IntoResponse> {
    let id: ChannelId = parse_id(&id)?;
    let level = NotifyLevel::parse(&n.level)?;
    let actor = a.actor();
    Ok(axum::Json(state.db(move |store| store.set_notify_level(id, level, now_ms(), actor)).await?))
}

// --- reactions, pins --------------------------------------------------------------------------

async fn react(State(state): S, a: Authed, Path((id, emoji)): Path<(String, String)>) -> ApiResult<StatusCode> {
    let id: MessageId = parse_id(&id)?;
    actions::react(&state, a.actor(), id, &emoji, true).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn unreact(State(state): S, a: Authed, Path((id, emoji)): Path<(String, String)>) -> ApiResult<StatusCode> {
    let id: MessageId = parse_id(&id)?;
    actions::react(&state, a.actor(), id, &emoji, false).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn pin(State(state): S, a: Authed, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let id: MessageId = parse_id(&id)?;
    actions::pin(&state, a.actor(), id, true).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn unpin(State(state): S, a: Authed, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let id: MessageId = parse_id(&id)?;
    actions::pin(&state, a.actor(), id, false).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn pins(State(state): S, a: Authed, Path(id): Path<String>) -> ApiResult<impl IntoResponse> {
    let id: ChannelId = parse_id(&id)?;
    let actor = a.actor();
    Ok(axum::Json(
        state.db(move |store| {
            store.authorize(actor, id, Action::ViewChannel)?;
            store.pins(id)
        })
        .await?,
    ))
}

// --- DMs --------------------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewDm {
    user_ids: Vec<UserId>,
}

async fn open_dm(State(state): S, a: Authed, Json(d): Json<NewDm>) -> ApiResult<impl IntoResponse> {
    if d.user_ids.len() > store::DM_MAX_MEMBERS {
        return Err(ApiError(Error::invalid("invalid_dm", "A DM is between 2 and 10 people, you included.")));
    }
    state.rate(a.actor(), Limited::Create)?;
    let actor = a.actor();
    let (ch, created) = state.db(move |store| store.open_dm(&d.user_ids, now_ms(), actor)).await?;
    Ok((if created { StatusCode::CREATED } else { StatusCode::OK }, axum::Json(ch)))
}

// --- search -----------------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SearchQuery {
    q: String,
    limit: Option<String>,
    offset: Option<String>,
}

async fn search(State(state): S, a: Authed, Query(q): Query<SearchQuery>) -> ApiResult<impl IntoResponse> {
    state.rate(a.actor(), Limited::Search)?;
    let query = chat::search::parse(&q.q)?;
    let num = |s: &Option<String>, max: usize, default: usize| -> ApiResult<usize> {
        match s {
            None => Ok(default),
            Some(s) => s
                .parse::<usize>()
                .ok()
                .filter(|n| *n <= max)
                .ok_or_else(|| ApiError(Error::invalid("invalid_query", format!("limit and offset are numbers up to {max}.")))),
        }
    };
    let limit = num(&q.limit, 50, 25)?.max(1);
    let offset = num(&q.offset, 1000, 0)?;
    let actor = a.actor();
    let (results, total) = state.db(move |store| store.search(&query, limit, offset, actor)).await?;
    Ok(axum::Json(json!({"results": results, "total": total})))
}

// --- roles, overrides -------------------------------------------------------------------------

async fn roles(State(state): S, _a: Authed) -> ApiResult<impl IntoResponse> {
    Ok(axum::Json(state.db(move |store| store.roles()).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewRole {
    name: String,
    #[serde(default)]
    color: String,
    #[serde(default)]
    permissions: Perms,
}

async fn create_role(State(state): S, a: Authed, Json(r): Json<NewRole>) -> ApiResult<impl IntoResponse> {
    a.require_admin()?;
    let name = rules::role_name(&r.name)?;
    let color = rules::color(&r.color)?;
    let by = a.user.id;
    let role = state.db(move |store| store.create_role(&name, &color, r.permissions, now_ms(), by)).await?;
    Ok((StatusCode::CREATED, axum::Json(role)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RolePatch {
    name: Option<String>,
    color: Option<String>,
    permissions: Option<Perms>,
}

async fn update_role(State(state): S, a: Authed, Path(id): Path<String>, Json(p): Json<RolePatch>) -> ApiResult<impl IntoResponse> {
    a.require_admin()?;
    let id: RoleId = parse_id(&id)?;
    let name = p.name.as_deref().map(rules::role_name).transpose()?;
    let color = p.color.as_deref().map(rules::color).transpose()?;
    let by = a.user.id;
    let perms_changed = p.permissions.is_some();
    let role = state.db(move |store| store.update_role(id, name.as_deref(), color.as_deref(), p.permissions, now_ms(), by)).await?;
    if perms_changed {
        state.hub.permissions_changed_all();
    }
    Ok(axum::Json(role))
}

async fn delete_role(State(state): S, a: Authed, Path(id): Path<String>) -> ApiResult<StatusCode> {
    a.require_admin()?;
    let id: RoleId = parse_id(&id)?;
    let by = a.user.id;
    state.db(move |store| store.delete_role(id, now_ms(), by)).await?;
    state.hub.permissions_changed_all();
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserRoles {
    role_ids: Vec<RoleId>,
}

async fn set_user_roles(State(state): S, a: Authed, Path(id): Path<String>, Json(r): Json<UserRoles>) -> ApiResult<impl IntoResponse> {
    a.require_admin()?;
    let id: UserId = parse_id(&id)?;
    if r.role_ids.len() > 50 {
        return Err(ApiError(Error::invalid("too_many_roles", "The box holds at most 50 roles.")));
    }
    let by = a.user.id;
    let user = state.db(move |store| store.set_user_roles(id, &r.role_ids, now_ms(), by)).await?;
    state.hub.permissions_changed(id);
    Ok(axum::Json(user))
}

async fn overrides(State(state): S, a: Authed, Path(id): Path<String>) -> ApiResult<impl IntoResponse> {
    let id: ChannelId = parse_id(&id)?;
    let actor = a.actor();
    Ok(axum::Json(state.db(move |store| store.channel_overrides(id, actor)).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OverrideInput {
    #[serde(default)]
    allow: Perms,
    #[serde(default)]
    deny: Perms,
}

async fn set_override(State(state): S, a: Authed, Path((id, role)): Path<(String, String)>, Json(o): Json<OverrideInput>) -> ApiResult<impl IntoResponse> {
    let id: ChannelId = parse_id(&id)?;
    let role: RoleId = parse_id(&role)?;
    let actor = a.actor();
    state.rate(actor, Limited::Settings)?;
    let (out, changed) = state.db(move |store| store.set_override(id, role, o.allow, o.deny, now_ms(), actor)).await?;
    // Only the sockets whose set of visible channels changed reconnect (the others' filters
    // are still right, and their voice stays up).
    for u in changed {
        state.hub.permissions_changed(u);
    }
    Ok(axum::Json(out))
}

// --- moderation -------------------------------------------------------------------------------

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Reason {
    #[serde(default)]
    reason: String,
}

fn reason(body: Option<Reason>) -> ApiResult<String> {
    check_reason(body.map(|r| r.reason).unwrap_or_default())
}

fn check_reason(r: String) -> ApiResult<String> {
    if r.chars().count() > 500 {
        return Err(ApiError(Error::invalid("reason_too_long", "Keep the reason under 500 characters.")));
    }
    Ok(r.trim().to_owned())
}

async fn kick(State(state): S, a: Authed, Path(id): Path<String>, OptionalJson(body): OptionalJson<Reason>) -> ApiResult<StatusCode> {
    let id: UserId = parse_id(&id)?;
    let why = reason(body)?;
    let actor = a.actor();
    state.db(move |store| store.kick(id, &why, now_ms(), actor)).await?;
    state.hub.end_user(id, None);
    crate::voice::evict(&state, id).await;
    Ok(StatusCode::NO_CONTENT)
}

async fn ban(State(state): S, a: Authed, Path(id): Path<String>, OptionalJson(body): OptionalJson<Reason>) -> ApiResult<StatusCode> {
    let id: UserId = parse_id(&id)?;
    let why = reason(body)?;
    let actor = a.actor();
    state.db(move |store| store.ban(id, true, &why, now_ms(), actor)).await?;
    state.hub.end_user(id, None);
    crate::voice::evict(&state, id).await;
    Ok(StatusCode::NO_CONTENT)
}

async fn unban(State(state): S, a: Authed, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let id: UserId = parse_id(&id)?;
    let actor = a.actor();
    state.db(move |store| store.ban(id, false, "", now_ms(), actor)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TimeoutInput {
    minutes: i64,
    #[serde(default)]
    reason: String,
}

async fn timeout(State(state): S, a: Authed, Path(id): Path<String>, Json(t): Json<TimeoutInput>) -> ApiResult<impl IntoResponse> {
    let id: UserId = parse_id(&id)?;
    if !(0..=40_320).contains(&t.minutes) {
        return Err(ApiError(Error::invalid("invalid_timeout", "A timeout lasts 0 minutes (none) to 28 days.")));
    }
    let why = check_reason(t.reason)?;
    let actor = a.actor();
    let user = state.db(move |store| store.timeout(id, t.minutes, &why, now_ms(), actor)).await?;
    state.hub.permissions_changed(id);
    if t.minutes > 0 {
        crate::voice::evict(&state, id).await;
    }
    Ok(axum::Json(user))
}

// --- audit, settings --------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    before: Option<String>,
    limit: Option<String>,
}

async fn audit(State(state): S, a: Authed, Query(q): Query<AuditQuery>) -> ApiResult<impl IntoResponse> {
    a.require_admin()?;
    let before: Option<AuditId> = q.before.as_deref().map(parse_id).transpose()?;
    let limit = crate::extract::page_limit(q.limit.as_deref())?;
    Ok(axum::Json(state.db(move |store| store.audit_log(before, limit)).await?))
}

async fn settings(State(state): S, a: Authed) -> ApiResult<impl IntoResponse> {
    a.require_admin()?;
    Ok(axum::Json(state.db(move |store| store.settings()).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SettingsPatch {
    embeds_enabled: Option<bool>,
    embed_allowlist: Option<Vec<String>>,
}

async fn update_settings(State(state): S, a: Authed, Json(p): Json<SettingsPatch>) -> ApiResult<impl IntoResponse> {
    a.require_admin()?;
    if let Some(list) = &p.embed_allowlist {
        crate::embeds::check_allowlist(list)?;
    }
    let by = a.user.id;
    let s = state.db(move |store| {
        let mut s = store.settings()?;
        if let Some(e) = p.embeds_enabled {
            s.embeds_enabled = e;
        }
        if let Some(l) = p.embed_allowlist {
            s.embed_allowlist = l.into_iter().map(|e| e.trim().to_ascii_lowercase()).collect();
        }
        store.set_settings(&s, now_ms(), by)?;
        Ok(s)
    })
    .await?;
    Ok(axum::Json(s))
}
