//! Admin → Network (also the wizard's Wi-Fi step) and factory reset. The daemon holds no
//! network privileges: every change is a request to the helper, which validates it again.

use crate::auth::Authed;
use crate::error::{ApiError, ApiResult};
use crate::extract::Json;
use crate::firstrun::forget_net_cache;
use crate::{AppState, ClientIp};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use chat::Error;
use serde::Deserialize;
use serde_json::json;
use setup::proto::{Reply, Request};
use std::sync::Arc;

type S = State<Arc<AppState>>;

/// A validator's refusal as an API error (`invalid_password` is the Wi-Fi password here,
/// not the account's).
fn invalid(e: setup::validate::Invalid) -> ApiError {
    let code = match e.code() {
        "invalid_password" => "invalid_wifi_password",
        c => c,
    };
    ApiError(Error::invalid(code, e.to_string()))
}

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/network", get(status))
        .route("/network/scan", post(scan))
        .route("/network/wifi", post(join).delete(forget))
        .route("/network/country", post(country))
        .route("/admin/factory-reset", post(factory_reset))
}

async fn status(State(state): S, a: Authed) -> ApiResult<Response> {
    a.require_admin()?;
    if !state.cfg.helper.managed() {
        return Ok(axum::Json(json!({"managed": false})).into_response());
    }
    forget_net_cache(&state);
    let status = state.cfg.helper.status().await?;
    Ok(axum::Json(json!({"managed": true, "status": status})).into_response())
}

async fn scan(State(state): S, a: Authed) -> ApiResult<Response> {
    a.require_admin()?;
    match state.cfg.helper.call(&Request::WifiScan).await? {
        Reply::Networks { networks, .. } => Ok(axum::Json(json!({"networks": networks})).into_response()),
        _ => Err(ApiError(Error::unavailable("helper_failed", "The scan gave no list of networks."))),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JoinInput {
    ssid: String,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    hidden: bool,
}

async fn join(State(state): S, a: Authed, Json(j): Json<JoinInput>) -> ApiResult<Response> {
    a.require_admin()?;
    // The helper's own validators (it checks again): the words come back here, before a radio
    // is touched.
    setup::validate::Ssid::new(&j.ssid).map_err(invalid)?;
    let psk = j.password.filter(|p| !p.is_empty());
    if let Some(p) = &psk {
        setup::validate::Psk::new(p).map_err(invalid)?;
    }
    tracing::info!(by = %a.user.username, ssid = %j.ssid.escape_debug(), "joining a Wi-Fi network");
    state.cfg.helper.done(&Request::WifiJoin { ssid: j.ssid, psk, hidden: j.hidden }).await?;
    forget_net_cache(&state);
    let _ = state.db(move |store| store.set_setup_step("network", "done")).await;
    Ok((StatusCode::ACCEPTED, axum::Json(json!({}))).into_response())
}

async fn forget(State(state): S, a: Authed) -> ApiResult<StatusCode> {
    a.require_admin()?;
    state.cfg.helper.done(&Request::WifiForget).await?;
    forget_net_cache(&state);
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CountryInput {
    country: String,
}

async fn country(State(state): S, a: Authed, Json(c): Json<CountryInput>) -> ApiResult<StatusCode> {
    a.require_admin()?;
    let cc = setup::validate::Country::new(&c.country.trim().to_ascii_uppercase()).map_err(invalid)?;
    state.cfg.helper.done(&Request::SetCountry { country: cc.as_str().to_owned() }).await?;
    forget_net_cache(&state);
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResetInput {
    password: String,
}

/// Wipes everything (accounts, messages, uploads, keys, Wi-Fi) and returns to the wizard.
/// Asks for the admin's password again: a session left open on a shared computer is not enough.
async fn factory_reset(State(state): S, a: Authed, Extension(ip): Extension<ClientIp>, headers: axum::http::HeaderMap, Json(r): Json<ResetInput>) -> ApiResult<Response> {
    a.require_admin()?;
    if r.password.len() > 1024 || !state.check_own_password(ip.0, &headers, &a.user, r.password).await? {
        return Err(ApiError(Error::forbidden("wrong_password", "That is not your password; nothing was reset.")));
    }
    let Some(system) = state.system.get().cloned() else {
        return Err(ApiError(Error::invalid("unsupported", "This server cannot reset itself.")));
    };
    tracing::warn!(by = %a.user.username, ip = %ip.0, "factory reset requested");
    system.factory_reset().map_err(|e| ApiError(Error::internal(format!("factory reset: {e}"))))?;
    Ok((StatusCode::ACCEPTED, axum::Json(json!({}))).into_response())
}
