//! Admin → Network (also the wizard's Wi-Fi step) and factory reset. The daemon holds no
//! network privileges: every change is a request to the helper, which validates it again.

use crate::actions::blocking;
use crate::auth::{self, Authed};
use crate::error::{ApiError, ApiResult};
use crate::extract::Json;
use crate::firstrun::{forget_net_cache, net_status};
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
    // The helper validates too; these checks give the words here, before a radio is touched.
    if j.ssid.is_empty() || j.ssid.len() > 32 || j.ssid.contains('\0') {
        return Err(ApiError(Error::invalid("invalid_ssid", "A Wi-Fi network name has 1 to 32 bytes.")));
    }
    let psk = j.password.filter(|p| !p.is_empty());
    if let Some(p) = &psk {
        let hex64 = p.len() == 64 && p.chars().all(|c| c.is_ascii_hexdigit());
        if !hex64 && !(8..=63).contains(&p.len()) {
            return Err(ApiError(Error::invalid("invalid_wifi_password", "Wi-Fi passwords (WPA2/WPA3) have 8 to 63 characters.")));
        }
        if !hex64 && !p.chars().all(|c| (' '..='~').contains(&c)) {
            return Err(ApiError(Error::invalid("invalid_wifi_password", "Wi-Fi passwords can only hold printable ASCII characters.")));
        }
    }
    tracing::info!(by = %a.user.username, ssid = %j.ssid.escape_debug(), "joining a Wi-Fi network");
    state.cfg.helper.done(&Request::WifiJoin { ssid: j.ssid, psk, hidden: j.hidden }).await?;
    forget_net_cache(&state);
    let store = state.store.clone();
    let _ = blocking(move || store.set_setup_step("network", "done")).await;
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
    let cc = c.country.trim().to_ascii_uppercase();
    if !(cc.len() == 2 && cc.chars().all(|c| c.is_ascii_uppercase()) || cc == "00") {
        return Err(ApiError(Error::invalid("invalid_country", "The Wi-Fi country is a two-letter code like DE or US.")));
    }
    state.cfg.helper.done(&Request::SetCountry { country: cc }).await?;
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
async fn factory_reset(State(state): S, a: Authed, Extension(ip): Extension<ClientIp>, Json(r): Json<ResetInput>) -> ApiResult<Response> {
    a.require_admin()?;
    state.rate_login_ip(ip.0)?;
    let store = state.store.clone();
    let uid = a.user.id;
    let hash = blocking(move || store.password_hash(uid)).await?;
    if !auth::verify_password(r.password, Some(hash)).await? {
        return Err(ApiError(Error::forbidden("wrong_password", "That is not your password; nothing was reset.")));
    }
    let Some(system) = state.system.get().cloned() else {
        return Err(ApiError(Error::invalid("unsupported", "This server cannot reset itself.")));
    };
    tracing::warn!(by = %a.user.username, ip = %ip.0, "factory reset requested");
    system.factory_reset().map_err(|e| ApiError(Error::internal(format!("factory reset: {e}"))))?;
    let _ = net_status(&state).await;
    Ok((StatusCode::ACCEPTED, axum::Json(json!({}))).into_response())
}
