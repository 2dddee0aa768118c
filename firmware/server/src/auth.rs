//! Sessions, passwords and request authenticity.
//!
//! - Passwords: bcrypt, cost 12, hashed on the password lane ([`crate::lane`]), never on the
//!   blocking pool; every check is charged to the login limits first ([`crate::login`]).
//! - Session tokens: 32 bytes from the OS CSPRNG, given to the browser in an HttpOnly cookie;
//!   only their SHA-256 is stored.
//! - CSRF: every state-changing request must pass the Origin check ([`origin_guard`]) and, when
//!   authenticated by cookie, carry `X-CSRF-Token` (derived from the session token) — enforced
//!   by the [`Authed`] extractor, which every authenticated handler uses.

use crate::error::ApiError;
use crate::lane::PasswordLane;
use crate::AppState;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, Method};
use axum::middleware::Next;
use axum::response::Response;
use base64::Engine;
use chat::model::{Role, User};
use chat::perms::Actor;
use chat::Error;
use rand::TryRngCore;
use sha2::{Digest, Sha256};
use std::sync::Arc;

pub const BCRYPT_COST: u32 = 12;
pub const COOKIE: &str = "spot_session";
pub const CSRF_HEADER: &str = "x-csrf-token";
/// Sessions live 30 days from their last use.
pub const SESSION_TTL_MS: i64 = 30 * 24 * 3600 * 1000;
/// Sliding expiry is written at most this often per session.
const TOUCH_EVERY_MS: i64 = 10 * 60 * 1000;

/// 32 random bytes from the OS, URL-safe base64 (43 characters).
pub fn new_token() -> Result<String, Error> {
    let mut b = [0u8; 32];
    rand::rngs::OsRng
        .try_fill_bytes(&mut b)
        .map_err(|_| Error::internal("The system random number generator failed."))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b))
}

pub fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// The CSRF token belonging to a session token: not stored, recomputed.
pub fn csrf_for(token: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"spot-csrf-v1:");
    h.update(token.as_bytes());
    hex::encode(h.finalize())
}

fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `N` bytes from the OS CSPRNG.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], Error> {
    let mut b = [0u8; N];
    rand::rngs::OsRng
        .try_fill_bytes(&mut b)
        .map_err(|_| Error::internal("The system random number generator failed."))?;
    Ok(b)
}

/// Hash a new password (bcrypt, cost 12) on the password lane.
pub async fn hash_password(lane: &PasswordLane, pw: String) -> Result<String, ApiError> {
    let h = lane.run(false, move || bcrypt::hash(pw, BCRYPT_COST)).await?;
    h.map_err(|e| ApiError(Error::internal(format!("password hashing failed: {e}"))))
}

/// Verify a password on the password lane (`priority`: a known device's attempt). With `None`
/// (unknown user) a dummy hash is checked so the answer takes as long as for a real user and
/// does not reveal which names exist.
pub async fn verify_password(lane: &PasswordLane, pw: String, hash: Option<String>, priority: bool) -> Result<bool, ApiError> {
    let ok = lane.run(priority, move || match hash {
        Some(h) => check_hash(&pw, &h),
        None => {
            // Same work as a real check, so the timing does not reveal that the name is unknown.
            let _ = bcrypt::hash(pw, BCRYPT_COST);
            false
        }
    })
    .await?;
    Ok(ok)
}

/// Check a password against a stored hash: bcrypt (ours), or the SHA-crypt hashes Raspberry
/// Pi Imager writes for a preset admin (`$5$`, `$6$`), which [`needs_rehash`] then replaces.
pub fn check_hash(pw: &str, hash: &str) -> bool {
    // SHA-crypt's cost is unbounded (rounds up to 999 999 999): refuse absurd rounds rather
    // than letting a crafted preset stall the blocking pool.
    let rounds_ok = |h: &str| {
        h.split('$').nth(2).and_then(|r| r.strip_prefix("rounds=")).is_none_or(|r| r.parse::<u64>().is_ok_and(|n| n <= 1_000_000))
    };
    if hash.starts_with("$6$") {
        rounds_ok(hash) && sha_crypt::sha512_check(pw, hash).is_ok()
    } else if hash.starts_with("$5$") {
        rounds_ok(hash) && sha_crypt::sha256_check(pw, hash).is_ok()
    } else if let Some(rest) = hash.strip_prefix("$y$") {
        // yescrypt (Imager 2.x, Debian's default): only the cost Debian and Imager use (j9T:
        // 16 MiB, ~0.1 s) or cheaper, so a crafted hash cannot make the box allocate gigabytes.
        let cost_ok = matches!(rest.split('$').next(), Some("j9T" | "j8T" | "j7T"));
        cost_ok
            && yescrypt::PasswordHash::new(hash)
                .ok()
                .is_some_and(|h| yescrypt::PasswordVerifier::verify_password(&yescrypt::Yescrypt::default(), pw.as_bytes(), &h).is_ok())
    } else {
        bcrypt::verify(pw, hash).unwrap_or(false)
    }
}

/// A stored-hash format [`check_hash`] verifies: bcrypt, SHA-256/512-crypt, yescrypt.
pub fn is_known_hash(hash: &str) -> bool {
    ["$2b$", "$2y$", "$5$", "$6$", "$y$"].iter().any(|p| hash.starts_with(p)) && hash.len() <= 256 && hash.chars().all(|c| c.is_ascii_graphic())
}

/// A hash that is not bcrypt at our cost is replaced after the next successful login.
pub fn needs_rehash(hash: &str) -> bool {
    !hash.starts_with(&format!("$2b${BCRYPT_COST}$"))
}

pub fn cookie_value(headers: &HeaderMap) -> Option<String> {
    named_cookie(headers, COOKIE)
}

/// The value of cookie `name` (at most 128 characters).
pub fn named_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    for v in headers.get_all(header::COOKIE) {
        let Ok(s) = v.to_str() else { continue };
        for part in s.split(';') {
            if let Some((k, v)) = part.trim().split_once('=') {
                if k == name && !v.is_empty() && v.len() <= 128 {
                    return Some(v.to_owned());
                }
            }
        }
    }
    None
}

/// `Set-Cookie` for a new session (or, with `None`, one that clears it).
pub fn set_cookie(token: Option<&str>, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    match token {
        Some(t) => format!("{COOKIE}={t}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}", SESSION_TTL_MS / 1000),
        None => format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}"),
    }
}

/// An authenticated request: the user, and which session it came through.
#[derive(Debug, Clone)]
pub struct Authed {
    pub user: User,
    /// The user as the permission table sees them (roles, timeout) at this request.
    pub actor: Actor,
    pub token_hash: Vec<u8>,
    pub csrf: String,
}

impl Authed {
    pub fn actor(&self) -> Actor {
        self.actor
    }
    pub fn require_admin(&self) -> Result<(), ApiError> {
        chat::perms::check(self.actor, chat::perms::Here::BOX, chat::perms::Action::ManageUsers).map_err(ApiError)
    }
}

fn is_state_changing(m: &Method) -> bool {
    !matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Look up the session behind a cookie (no CSRF check: for GETs and the WebSocket upgrade).
pub async fn session_from_headers(state: &AppState, headers: &HeaderMap) -> Result<Authed, ApiError> {
    let token = cookie_value(headers).ok_or_else(|| ApiError(Error::unauthenticated()))?;
    let hash = token_hash(&token);
    let now = crate::now_ms();
    let h = hash.clone();
    let info = state.db(move |store| store.session(&h, now)).await?;
    let info = info.ok_or_else(|| ApiError(Error::unauthenticated()))?;
    if now - info.last_seen_at > TOUCH_EVERY_MS {
        let h = hash.clone();
        state.db(move |store| store.touch_session(&h, now, now + SESSION_TTL_MS)).await?;
    }
    Ok(Authed { user: info.user, actor: info.actor, token_hash: hash, csrf: csrf_for(&token) })
}

impl FromRequestParts<Arc<AppState>> for Authed {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, Self::Rejection> {
        let authed = session_from_headers(state, &parts.headers).await?;
        if is_state_changing(&parts.method) {
            let given = parts.headers.get(CSRF_HEADER).map(|v| v.as_bytes()).unwrap_or_default();
            if !ct_eq(given, authed.csrf.as_bytes()) {
                return Err(ApiError(Error::forbidden(
                    "csrf_failed",
                    "This request is missing its CSRF token. Reload the page and try again.",
                )));
            }
        }
        Ok(authed)
    }
}

/// Does this request's `Origin` (when the browser sent one) belong to this box?
pub fn origin_ok(state: &AppState, headers: &HeaderMap) -> bool {
    if headers.get("sec-fetch-site").is_some_and(|v| v.as_bytes() == b"cross-site") {
        return false;
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        // Non-browser clients (curl, bots) send no Origin; browsers always do on these requests.
        return true;
    };
    let Ok(origin) = origin.to_str() else { return false };
    if state.cfg.public_origin.as_deref().is_some_and(|o| o.eq_ignore_ascii_case(origin)) {
        return true;
    }
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else { return false };
    let scheme = if state.cfg.tls { "https" } else { "http" };
    origin.eq_ignore_ascii_case(&format!("{scheme}://{host}"))
}

/// Middleware: refuse state-changing requests from other origins (CSRF, first line).
pub async fn origin_guard(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Result<Response, ApiError> {
    if is_state_changing(req.method()) && !origin_ok(&state, req.headers()) {
        return Err(ApiError(Error::forbidden("bad_origin", "This request came from another site and was refused.")));
    }
    Ok(next.run(req).await)
}

/// Middleware on all of `/api`: a state-changing request that carries a live session cookie
/// must carry that session's CSRF token, whatever route it is for (so a route added later
/// cannot forget it; the [`Authed`] extractor checks it again). A cookie whose session is gone
/// carries no authority, so it does not stop e.g. a login.
pub async fn csrf_guard(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Result<Response, ApiError> {
    if is_state_changing(req.method()) {
        if let Some(token) = cookie_value(req.headers()) {
            let given = req.headers().get(CSRF_HEADER).map(|v| v.as_bytes()).unwrap_or_default();
            if !ct_eq(given, csrf_for(&token).as_bytes()) && session_from_headers(&state, req.headers()).await.is_ok() {
                return Err(ApiError(Error::forbidden(
                    "csrf_failed",
                    "This request is missing its CSRF token. Reload the page and try again.",
                )));
            }
        }
    }
    Ok(next.run(req).await)
}

/// Is the user an admin? (for responses that differ by role)
pub fn is_admin(u: &User) -> bool {
    u.role == Role::Admin
}

#[cfg(test)]
mod tests {
    use super::{check_hash, needs_rehash};

    #[test]
    fn imager_hashes_verify_and_absurd_costs_are_refused_without_the_work() {
        // Made by libxcrypt (Debian 12), as Imager 2.x and `mkpasswd` write them.
        let y = "$y$j9T$F5Jx5fExrKuPp53xLKQ..1$nwj1PM9Amgvsnk8IIFsr9MoUqmJ8yPbiDh4s/cPjDF4";
        assert!(check_hash("imager-pass-42", y));
        assert!(!check_hash("imager-pass-43", y));
        // A gigabyte-sized yescrypt cost is refused before any work.
        assert!(!check_hash("imager-pass-42", &y.replace("j9T", "jFT")));
        let s6 = sha_crypt::sha512_simple("pw-123456", &sha_crypt::Sha512Params::new(5000).expect("params")).expect("hash");
        assert!(check_hash("pw-123456", &s6));
        assert!(!check_hash("pw-1234567", &s6));
        assert!(!check_hash("x", "$6$rounds=999999999$salt$hash"));
        assert!(!check_hash("x", "plain"));
        assert!(needs_rehash(y) && needs_rehash(&s6) && !needs_rehash("$2b$12$abcdefghijklmnopqrstuv"));
    }
}
