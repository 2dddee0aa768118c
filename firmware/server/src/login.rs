//! Logging in, and everything else that checks a password, under one set of limits.
//!
//! Every password check is charged *before* the work, under one lock, so parallel attempts cannot
//! slip past a limit that is only read first and charged afterwards. The buckets:
//!
//! - per source address, every attempt (`login_ip`);
//! - per user name *and* source (`login_user`): a guesser at one address is slowed to a crawl,
//!   and the owner at another address is not affected;
//! - per user name from anywhere (`login_user_any`): caps a guesser with many addresses;
//! - per known device (`login_device`): a browser that logged in as this user before carries a
//!   signed device cookie (OWASP's "device cookies"), and its attempts are charged to its own
//!   bucket instead of the two per-user ones. So an attacker who drains the per-user buckets
//!   from anywhere cannot keep the owner out of the devices they already use. (Devices that
//!   still hold a session are not affected at all: a lockout only concerns new logins.)
//!
//! Known devices also get two reserved places in the password lane ([`crate::lane`]).

use crate::actions::limited;
use crate::api::start_session;
use crate::auth::{self, Authed};
use crate::error::{ApiError, ApiResult};
use crate::extract::Json;
use crate::{AppState, ClientIp, Limits};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use axum::Extension;
use base64::Engine;
use chat::ids::UserId;
use chat::ratelimit::RateLimiter;
use chat::{rules, Error};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

pub const DEVICE_COOKIE: &str = "spot_device";
/// A device stays known for a year after its last login.
const DEVICE_TTL_S: i64 = 365 * 24 * 3600;

/// The buckets of the module comment.
pub struct LoginLimits {
    ip: RateLimiter<IpAddr>,
    user_source: RateLimiter<(String, IpAddr)>,
    user: RateLimiter<String>,
    device: RateLimiter<[u8; 16]>,
}

/// A browser that logged in as this user before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Device {
    pub user: UserId,
    pub nonce: [u8; 16],
}

impl LoginLimits {
    pub fn new(l: &Limits) -> Self {
        LoginLimits {
            ip: RateLimiter::new(l.login_ip),
            user_source: RateLimiter::new(l.login_user),
            user: RateLimiter::new(l.login_user_any),
            device: RateLimiter::new(l.login_device),
        }
    }

    /// Charge one attempt from `ip` (every attempt counts).
    pub fn charge_ip(&mut self, ip: IpAddr, now: Instant) -> ApiResult<()> {
        self.ip.check(&ip, now).map_err(limited)
    }

    /// Charge one password check for `username`, before doing it.
    pub fn charge_user(&mut self, username: &str, ip: IpAddr, device: Option<Device>, now: Instant) -> ApiResult<()> {
        if let Some(d) = device {
            return self.device.check(&d.nonce, now).map_err(limited);
        }
        let key = (username.to_owned(), ip);
        // Both must have a token; take them together, so a refusal by one does not cost the other.
        if let Some(w) = self.user_source.peek(&key, now).or_else(|| self.user.peek(&username.to_owned(), now)) {
            return Err(limited(w));
        }
        self.user_source.check(&key, now).map_err(limited)?;
        self.user.check(&username.to_owned(), now).map_err(limited)
    }

    /// The right password: this source and device start afresh, and the per-user bucket gets
    /// back the token this attempt took (but not the guesser's elsewhere).
    pub fn succeeded(&mut self, username: &str, ip: IpAddr, device: Option<Device>) {
        self.user_source.reset(&(username.to_owned(), ip));
        match device {
            Some(d) => self.device.reset(&d.nonce),
            None => self.user.give_back(&username.to_owned()),
        }
    }
}

impl AppState {
    fn limits(&self) -> std::sync::MutexGuard<'_, LoginLimits> {
        self.login.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Charge an attempt from `ip` (logins, invites, the setup claim).
    pub fn rate_login_ip(&self, ip: IpAddr) -> ApiResult<()> {
        self.limits().charge_ip(ip, Instant::now())
    }

    /// The secret that signs device cookies: 32 random bytes kept in the database.
    fn device_key(&self) -> ApiResult<[u8; 32]> {
        if let Some(k) = self.device_key.get() {
            return Ok(*k);
        }
        let fresh = hex::encode(auth::random_bytes::<32>()?);
        let stored = self.store.meta_get_or_insert("device_key", &fresh).map_err(ApiError::from)?;
        let mut key = [0u8; 32];
        hex::decode_to_slice(stored.trim(), &mut key).map_err(|_| ApiError(Error::internal("the device key in the database is damaged")))?;
        Ok(*self.device_key.get_or_init(|| key))
    }

    /// Check `password` against `user`'s hash (a session's own user: password change, factory
    /// reset), under the same limits as a login.
    pub async fn check_own_password(&self, ip: IpAddr, headers: &HeaderMap, user: &chat::model::User, password: String) -> ApiResult<bool> {
        let device = self.device_from(headers, Some(user.id));
        {
            let mut l = self.limits();
            let now = Instant::now();
            l.charge_ip(ip, now)?;
            l.charge_user(&user.username, ip, device, now)?;
        }
        let uid = user.id;
        let hash = self.db(move |store| store.password_hash(uid)).await?;
        let ok = auth::verify_password(&self.lane, password, Some(hash), device.is_some()).await?;
        if ok {
            self.limits().succeeded(&user.username, ip, device);
        }
        Ok(ok)
    }

    /// The device cookie of this request, when it is genuine and belongs to `user`.
    fn device_from(&self, headers: &HeaderMap, user: Option<UserId>) -> Option<Device> {
        let user = user?;
        let raw = auth::named_cookie(headers, DEVICE_COOKIE)?;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(raw).ok()?;
        if bytes.len() != 40 {
            return None;
        }
        let key = self.device_key().ok()?;
        let uid = i64::from_le_bytes(bytes[..8].try_into().ok()?);
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).ok()?;
        mac.update(b"spot-device-v1");
        mac.update(&bytes[..24]);
        mac.verify_truncated_left(&bytes[24..]).ok()?;
        (uid == user.0).then(|| Device { user, nonce: bytes[8..24].try_into().unwrap_or_default() })
    }

    /// `Set-Cookie` naming this browser a known device of `user` (a new one, or the same again).
    fn device_cookie(&self, user: UserId, device: Option<Device>) -> ApiResult<String> {
        let nonce = match device {
            Some(d) => d.nonce,
            None => {
                let mut n = [0u8; 16];
                n.copy_from_slice(&auth::random_bytes::<16>()?);
                n
            }
        };
        let key = self.device_key()?;
        let mut body = Vec::with_capacity(40);
        body.extend_from_slice(&user.0.to_le_bytes());
        body.extend_from_slice(&nonce);
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).map_err(|_| ApiError(Error::internal("device key")))?;
        mac.update(b"spot-device-v1");
        mac.update(&body);
        body.extend_from_slice(&mac.finalize().into_bytes()[..16]);
        let value = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(body);
        let secure = if self.cfg.tls { "; Secure" } else { "" };
        Ok(format!("{DEVICE_COOKIE}={value}; Path=/api; HttpOnly; SameSite=Strict; Max-Age={DEVICE_TTL_S}{secure}"))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LoginInput {
    username: String,
    password: String,
}

pub(crate) async fn login(State(state): State<Arc<AppState>>, Extension(ip): Extension<ClientIp>, headers: HeaderMap, Json(input): Json<LoginInput>) -> ApiResult<Response> {
    let username = input.username.trim().to_ascii_lowercase();
    state.rate_login_ip(ip.0)?;
    if input.password.len() > 1024 || username.len() > 64 {
        return Err(ApiError(Error::invalid("invalid_credentials", "Wrong user name or password.")));
    }
    let u = username.clone();
    let found = state.db(move |store| store.user_credentials(&u)).await?;
    let device = state.device_from(&headers, found.as_ref().map(|(u, _)| u.id));
    state.limits().charge_user(&username, ip.0, device, Instant::now())?;
    let (user, hash) = match found {
        Some((user, hash)) => (Some(user), Some(hash)),
        None => (None, None),
    };
    let rehash = hash.as_deref().is_some_and(auth::needs_rehash).then(|| input.password.clone());
    let ok = auth::verify_password(&state.lane, input.password, hash, device.is_some()).await?;
    let user = match (ok, user) {
        (true, Some(user)) => user,
        _ => {
            tracing::info!(username, ip = %ip.0, known_device = device.is_some(), "failed login");
            return Err(ApiError(Error::new(chat::ErrorKind::Unauthenticated, "invalid_credentials", "Wrong user name or password.")));
        }
    };
    if user.disabled {
        return Err(ApiError(Error::forbidden("account_disabled", "This account is disabled. Ask an admin.")));
    }
    if user.banned {
        let uid = user.id;
        let why = state.db(move |store| store.ban_reason(uid)).await?.unwrap_or_default();
        let msg = if why.is_empty() { "You are banned from this box.".to_owned() } else { format!("You are banned from this box: {why}") };
        return Err(ApiError(Error::forbidden("account_banned", msg)));
    }
    state.limits().succeeded(&username, ip.0, device);
    if let Some(pw) = rehash {
        // A preset admin's SHA-crypt hash (from Raspberry Pi Imager) becomes bcrypt cost 12.
        let new_hash = auth::hash_password(&state.lane, pw).await?;
        let uid = user.id;
        state.db(move |store| store.set_password_hash(uid, &new_hash, None)).await?;
        tracing::info!(username, "password hash upgraded to bcrypt");
    }
    tracing::info!(username, ip = %ip.0, "login");
    let cookie = state.device_cookie(user.id, device)?;
    let mut resp = start_session(&state, user, &headers, &ip).await?;
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(resp)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PasswordChange {
    current_password: String,
    new_password: String,
}

/// `POST /api/me/password`: the current password is checked under the login limits (a stolen
/// cookie is not an unlimited guessing oracle).
pub(crate) async fn change_password(State(state): State<Arc<AppState>>, Extension(ip): Extension<ClientIp>, headers: HeaderMap, a: Authed, Json(p): Json<PasswordChange>) -> ApiResult<StatusCode> {
    rules::password(&p.new_password)?;
    if p.current_password.len() > 1024 {
        return Err(ApiError(Error::forbidden("wrong_password", "Your current password is not right.")));
    }
    if !state.check_own_password(ip.0, &headers, &a.user, p.current_password).await? {
        return Err(ApiError(Error::forbidden("wrong_password", "Your current password is not right.")));
    }
    let new_hash = auth::hash_password(&state.lane, p.new_password).await?;
    let keep = a.token_hash.clone();
    let uid = a.user.id;
    state.db(move |store| store.set_password_hash(uid, &new_hash, Some(&keep))).await?;
    state.hub.end_user(uid, Some(&a.token_hash));
    Ok(StatusCode::NO_CONTENT)
}

/// Keep the lock type private to this module.
pub(crate) fn new_limits(l: &Limits) -> Mutex<LoginLimits> {
    Mutex::new(LoginLimits::new(l))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn limits() -> LoginLimits {
        LoginLimits::new(&Limits::default())
    }

    #[test]
    fn a_guesser_from_many_addresses_is_capped_but_a_known_device_still_gets_in() {
        let mut l = limits();
        let t = Instant::now();
        let mut checked = 0;
        for i in 0..30u8 {
            if l.charge_user("admin", IpAddr::from([10, 0, 0, i]), None, t).is_ok() {
                checked += 1;
            }
        }
        assert_eq!(checked, Limits::default().login_user_any.burst);
        // A new address is refused too (the cap is per user) ...
        assert!(l.charge_user("admin", IpAddr::from([192, 168, 1, 5]), None, t).is_err());
        // ... but the owner's known device has its own bucket.
        let d = Device { user: UserId(1), nonce: [7; 16] };
        assert!(l.charge_user("admin", IpAddr::from([192, 168, 1, 5]), Some(d), t).is_ok());
        // And other users are not affected.
        assert!(l.charge_user("bob", IpAddr::from([10, 0, 0, 1]), None, t).is_ok());
    }

    #[test]
    fn per_source_bucket_refusal_does_not_drain_the_per_user_one() {
        let mut l = limits();
        let t = Instant::now();
        let ip = IpAddr::from([10, 0, 0, 1]);
        let per_source = Limits::default().login_user.burst;
        for _ in 0..per_source {
            l.charge_user("admin", ip, None, t).expect("within the per-source burst");
        }
        for _ in 0..50 {
            assert!(l.charge_user("admin", ip, None, t).is_err());
        }
        // Only `per_source` tokens left the per-user bucket.
        let other = IpAddr::from([10, 0, 0, 2]);
        for _ in 0..(Limits::default().login_user_any.burst - per_source) {
            l.charge_user("admin", other, None, t + Duration::from_millis(1)).expect("per-user tokens remain");
        }
    }
}
