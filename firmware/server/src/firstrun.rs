//! First-run setup: the wizard's API (`/api/setup…`), the local CA downloads and the switch to
//! HTTPS. Claiming the box (creating its first admin) is open only while no admin exists, only
//! to clients on the local network, and only under one of the box's own names (a DNS-rebinding
//! page on the internet cannot reach it through a victim's browser). The claim is one SQLite
//! transaction: two racing claims, exactly one wins. See README "Claiming the box".

use crate::auth::{self, Authed};
use crate::error::{ApiError, ApiResult};
use crate::extract::Json;
use crate::localca::{self, LocalCa};
use crate::{now_ms, AppState, ClientIp};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use chat::Error;
use serde::Deserialize;
use serde_json::json;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

type S = State<Arc<AppState>>;

/// What only the `spot` binary can do; the server asks through this.
pub trait SystemHooks: Send + Sync {
    /// Serve HTTPS with the certificate now in `DATA_DIR/tls/{cert,key}.pem` from the next
    /// start on; returns the HTTPS port.
    fn enable_tls(&self) -> Result<u16, String>;
    /// Restart serving (re-reads the configuration).
    fn restart(&self);
    /// Mark the data for wiping at the next start, then restart (or reboot the box).
    fn factory_reset(&self) -> Result<(), String>;
}

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/setup", get(info))
        .route("/setup/claim", post(claim))
        .route("/setup/step", post(step))
        .route("/setup/finish", post(finish))
        .route("/setup/tls", post(tls))
        .route("/setup/ca.pem", get(ca_pem))
        .route("/setup/ca.crt", get(ca_crt))
        .route("/setup/ca.mobileconfig", get(ca_mobileconfig))
}

// --- who may claim ------------------------------------------------------------------------------

/// On the local network: loopback, private IPv4, link-local, IPv6 unique-local (and their
/// IPv4-mapped forms). CGNAT (100.64/10) is not: it is the ISP's network.
pub fn is_local_client(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback() || v4.is_private() || v4.is_link_local(),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_local_client(IpAddr::V4(v4));
            }
            let seg = v6.segments()[0];
            v6.is_loopback() || (seg & 0xfe00) == 0xfc00 || (seg & 0xffc0) == 0xfe80
        }
    }
}

/// One of the names a box answers on: an IP literal, a single label (`spot`, as home routers
/// register DHCP names), or a name under a local suffix (`spot.local`, `spot.fritz.box`, …).
pub fn is_box_host(bare: &str) -> bool {
    if bare.is_empty() || bare.parse::<IpAddr>().is_ok() {
        return !bare.is_empty();
    }
    if !bare.contains('.') {
        return true;
    }
    localca::LOCAL_SUFFIXES.iter().any(|s| bare.ends_with(&format!(".{s}")) || bare == *s)
}

fn claim_refusal(claimed: bool, ip: IpAddr, headers: &HeaderMap) -> Option<Error> {
    if claimed {
        return Some(Error::conflict("already_claimed", "This box already has an admin: setup is closed. Sign in instead."));
    }
    if !is_local_client(ip) {
        return Some(Error::forbidden("setup_not_local", "Setup is only possible from the box's own network (your home network or the Spot-Setup Wi-Fi)."));
    }
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
    if !is_box_host(&setup::captive::bare_host(host)) {
        return Some(Error::forbidden("setup_not_local", "Open setup through the box's own address (http://spot.local or its IP address)."));
    }
    None
}

// --- the network, as the helper sees it -----------------------------------------------------------

/// The helper's status, cached for 2 s (the captive portal asks on every foreign request).
pub async fn net_status(state: &AppState) -> Option<setup::proto::Status> {
    if !state.cfg.helper.managed() {
        return None;
    }
    if let Some((at, s)) = state.net_cache.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
        if at.elapsed() < Duration::from_secs(2) {
            return s.clone();
        }
    }
    let s = state.cfg.helper.status().await.ok();
    *state.net_cache.lock().unwrap_or_else(|e| e.into_inner()) = Some((Instant::now(), s.clone()));
    s
}

pub fn forget_net_cache(state: &AppState) {
    *state.net_cache.lock().unwrap_or_else(|e| e.into_inner()) = None;
}

pub async fn setup_complete(state: &Arc<AppState>) -> bool {
    state.db(move |store| store.setup_state()).await.is_ok_and(|s| s.complete)
}

/// The host name a box name becomes (`Anna's Café` → `annas-cafe`): the one rule, in
/// `setup::validate`, which the helper applies too.
pub fn hostname_for(box_name: &str) -> String {
    setup::validate::Hostname::from_box_name(box_name).map(|h| h.as_str().to_owned()).unwrap_or_else(|_| "spot".to_owned())
}

/// The box's addresses (from the helper on the box; the interfaces' own list elsewhere).
async fn box_addresses(state: &AppState) -> (String, Vec<IpAddr>) {
    if let Some(s) = net_status(state).await {
        let addrs = s.addresses.iter().filter_map(|a| a.split('/').next()?.parse().ok()).collect();
        return (s.hostname, addrs);
    }
    let host = std::fs::read_to_string("/etc/hostname").map(|h| h.trim().to_owned()).unwrap_or_default();
    let addrs = if_addrs::get_if_addrs()
        .map(|l| l.into_iter().filter(|i| !i.is_loopback()).map(|i| i.ip()).collect())
        .unwrap_or_default();
    (if host.is_empty() { "spot".into() } else { host }, addrs)
}

fn port_suffix(scheme: &str, port: u16) -> String {
    match (scheme, port) {
        ("http", 80) | ("https", 443) | (_, 0) => String::new(),
        _ => format!(":{port}"),
    }
}

fn url_host(ip: &IpAddr) -> String {
    match ip {
        IpAddr::V6(v6) => format!("[{v6}]"),
        v4 => v4.to_string(),
    }
}

// --- GET /api/setup -----------------------------------------------------------------------------------

async fn info(State(state): S, Extension(ip): Extension<ClientIp>, Extension(local): Extension<crate::LocalAddr>, headers: HeaderMap) -> ApiResult<Response> {
    let st = state.db(move |store| store.setup_state()).await?;
    let refusal = claim_refusal(st.claimed, ip.0, &headers);
    let admin = match auth::session_from_headers(&state, &headers).await {
        Ok(a) => auth::is_admin(&a.user),
        Err(_) => false,
    };
    let show_net = admin || (!st.claimed && refusal.is_none());
    let network = if show_net { net_status(&state).await } else { None };
    let scheme = if state.cfg.tls { "https" } else { "http" };
    let port = local.0.port();
    let (host, addrs) = box_addresses(&state).await;
    let mut urls = vec![format!("{scheme}://{host}.local{}", port_suffix(scheme, port))];
    if show_net {
        urls.extend(addrs.iter().filter(|a| !a.is_loopback() && is_local_client(**a)).filter(|a| !matches!(a, IpAddr::V6(v) if (v.segments()[0] & 0xffc0) == 0xfe80)).map(|a| format!("{scheme}://{}{}", url_host(a), port_suffix(scheme, port))));
    }
    let https_port = if state.cfg.tls { port } else if port == 80 { 443 } else { port };
    let body = json!({
        "claimed": st.claimed,
        "open": !st.claimed && refusal.is_none(),
        "refusal": refusal.filter(|_| !st.claimed).map(|e| json!({"code": e.code, "message": e.message})),
        "preset_admin": st.preset_admin,
        "box_name": st.box_name,
        "timezone": st.timezone,
        "complete": st.complete,
        "steps": {"network": st.step_network, "tls": st.step_tls},
        "managed": state.cfg.helper.managed(),
        "network": network,
        "tls": {
            "enabled": state.cfg.tls,
            "ca": true,
            "https_url": format!("https://{host}.local{}", port_suffix("https", https_port)),
        },
        "urls": urls,
    });
    Ok(axum::Json(body).into_response())
}

// --- POST /api/setup/claim ----------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClaimInput {
    box_name: String,
    username: String,
    password: String,
    #[serde(default)]
    timezone: Option<String>,
}

pub fn box_name(s: &str) -> Result<String, Error> {
    let s = s.trim();
    if s.is_empty() || s.chars().count() > 40 || s.chars().any(char::is_control) {
        return Err(Error::invalid("invalid_box_name", "The box's name needs 1 to 40 characters, without control characters."));
    }
    Ok(s.to_owned())
}

/// IANA names (`Europe/Berlin`, `America/Argentina/Buenos_Aires`, `UTC`), by the helper's own
/// rule (`setup::validate::Timezone`); the helper checks that the zone exists on the box.
pub fn timezone(s: &str) -> Result<String, Error> {
    setup::validate::Timezone::new(s)
        .map(|t| t.as_str().to_owned())
        .map_err(|_| Error::invalid("invalid_timezone", "That is not a time zone name like Europe/Berlin."))
}

async fn claim(
    State(state): S,
    Extension(ip): Extension<ClientIp>,
    headers: HeaderMap,
    Json(input): Json<ClaimInput>,
) -> ApiResult<Response> {
    state.rate_login_ip(ip.0)?;
    let claimed = state.db(move |store| store.is_claimed()).await?;
    if let Some(e) = claim_refusal(claimed, ip.0, &headers) {
        return Err(ApiError(e));
    }
    let name = box_name(&input.box_name)?;
    let username = chat::rules::username(&input.username)?;
    let tz = input.timezone.as_deref().map(timezone).transpose()?;
    crate::strength::check(&input.password, &[&username, &name])?;
    let hash = auth::hash_password(&state.lane, input.password).await?;
    let (u, n, t) = (username.clone(), name.clone(), tz.clone());
    let user = state.db(move |store| {
        store.claim(&store::Claim { username: &u, password_hash: &hash, box_name: &n, timezone: t.as_deref(), preset: false }, now_ms())
    })
    .await?;
    tracing::info!(username, ip = %ip.0, "the box was claimed: first admin created by the setup wizard");
    apply_to_system(&state, &name, tz.as_deref()).await;
    crate::api::start_session(&state, user, &headers, &ip).await
}

/// Host name and time zone go to the helper; a failure there does not undo the claim (the
/// wizard shows the network state, and Admin can set them again).
pub async fn apply_to_system(state: &AppState, box_name: &str, tz: Option<&str>) {
    if !state.cfg.helper.managed() {
        return;
    }
    let name = hostname_for(box_name);
    if let Err(e) = state.cfg.helper.done(&setup::proto::Request::SetHostname { name }).await {
        tracing::warn!(error = %e, "setting the host name failed");
    }
    if let Some(tz) = tz {
        if let Err(e) = state.cfg.helper.done(&setup::proto::Request::SetTimezone { tz: tz.to_owned() }).await {
            tracing::warn!(error = %e, "setting the time zone failed");
        }
    }
    forget_net_cache(state);
}

// --- later steps (admin) --------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StepInput {
    step: String,
    outcome: String,
}

async fn step(State(state): S, a: Authed, Json(s): Json<StepInput>) -> ApiResult<StatusCode> {
    a.require_admin()?;
    state.db(move |store| store.set_setup_step(&s.step, &s.outcome)).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn finish(State(state): S, a: Authed) -> ApiResult<StatusCode> {
    a.require_admin()?;
    state.db(move |store| store.set_setup_value("complete", "1")).await?;
    Ok(StatusCode::NO_CONTENT)
}

// --- the local CA and HTTPS -------------------------------------------------------------------------

async fn load_ca(state: &Arc<AppState>) -> ApiResult<LocalCa> {
    let st = state.db(move |store| store.setup_state()).await?;
    let (host, _) = box_addresses(state).await;
    let dir = state.cfg.data_dir.clone();
    let labels = vec![host, hostname_for(&st.box_name), "spot".to_owned()];
    let ca = tokio::task::spawn_blocking(move || LocalCa::load_or_create(&dir, &st.box_name, &labels, now_ms())).await?;
    ca.map_err(|e| ApiError(Error::internal(format!("the local certificate authority: {e}"))))
}

fn download(ct: &'static str, name: &'static str, body: Vec<u8>) -> Response {
    (
        [(header::CONTENT_TYPE, ct.to_owned()), (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\""))],
        body,
    )
        .into_response()
}

async fn ca_pem(State(state): S) -> ApiResult<Response> {
    Ok(download("application/x-pem-file", "spot-ca.pem", load_ca(&state).await?.cert_pem.into_bytes()))
}

async fn ca_crt(State(state): S) -> ApiResult<Response> {
    let ca = load_ca(&state).await?;
    let der = localca::pem_to_der(&ca.cert_pem).ok_or_else(|| ApiError(Error::internal("the CA certificate is unreadable")))?;
    Ok(download("application/x-x509-ca-cert", "spot-ca.crt", der))
}

async fn ca_mobileconfig(State(state): S) -> ApiResult<Response> {
    let ca = load_ca(&state).await?;
    let der = localca::pem_to_der(&ca.cert_pem).ok_or_else(|| ApiError(Error::internal("the CA certificate is unreadable")))?;
    let name = state.db(move |store| store.setup_state()).await?.box_name;
    let body = localca::mobileconfig(&der, &name, &der);
    Ok(download("application/x-apple-aspen-config", "spot-ca.mobileconfig", body.into_bytes()))
}

#[derive(Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case", deny_unknown_fields)]
enum TlsInput {
    LocalCa,
    Upload { cert_pem: String, key_pem: String },
}

async fn tls(State(state): S, a: Authed, Json(input): Json<TlsInput>) -> ApiResult<Response> {
    a.require_admin()?;
    let Some(system) = state.system.get().cloned() else {
        return Err(ApiError(Error::invalid("unsupported", "This server cannot switch to HTTPS by itself.")));
    };
    let now = now_ms();
    let (cert, key) = match input {
        TlsInput::LocalCa => {
            let ca = load_ca(&state).await?;
            let (host, addrs) = box_addresses(&state).await;
            let mut names = vec![format!("{host}.local"), host.clone(), "spot.local".into(), "spot".into(), "localhost".into()];
            names.sort();
            names.dedup();
            let mut ips = addrs;
            ips.extend(["127.0.0.1".parse::<IpAddr>().ok(), "::1".parse().ok()].into_iter().flatten());
            ips.retain(|a| is_local_client(*a));
            ips.sort();
            ips.dedup();
            tokio::task::spawn_blocking(move || ca.issue(&names, &ips, now))
                .await?
                .map_err(|e| ApiError(Error::internal(format!("issuing the certificate: {e}"))))?
        }
        TlsInput::Upload { cert_pem, key_pem } => {
            if cert_pem.len() > 64 * 1024 || key_pem.len() > 64 * 1024 {
                return Err(ApiError(Error::invalid("bad_certificate", "Certificate files are at most 64 KiB.")));
            }
            crate::tls::from_pem(cert_pem.as_bytes(), key_pem.as_bytes(), "the certificate", "the key")
                .map_err(|e| ApiError(Error::invalid("bad_certificate", format!("That certificate and key do not work together: {e}"))))?;
            (cert_pem, key_pem)
        }
    };
    let dir = state.cfg.data_dir.clone();
    tokio::task::spawn_blocking(move || LocalCa::install_leaf(&dir, &cert, &key))
        .await?
        .map_err(|e| ApiError(Error::internal(format!("saving the certificate: {e}"))))?;
    let port = system.enable_tls().map_err(|e| ApiError(Error::internal(format!("switching to HTTPS: {e}"))))?;
    state.db(move |store| store.set_setup_step("tls", "done")).await?;
    let (host, _) = box_addresses(&state).await;
    tracing::info!(by = %a.user.username, "switching to HTTPS");
    // Answer first, then restart: the browser needs this reply to know where to go.
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        system.restart();
    });
    Ok(axum::Json(json!({"https_url": format!("https://{host}.local{}", port_suffix("https", port)), "https_port": port, "restart_in_ms": 1500})).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_clients_and_box_hosts() {
        for ip in ["127.0.0.1", "10.1.2.3", "192.168.4.20", "172.31.0.1", "169.254.1.1", "::1", "fd12::1", "fe80::1", "::ffff:192.168.1.2"] {
            assert!(is_local_client(ip.parse().expect("ip")), "{ip}");
        }
        for ip in ["8.8.8.8", "100.64.0.1", "2001:db8::1", "::ffff:8.8.8.8", "172.32.0.1"] {
            assert!(!is_local_client(ip.parse().expect("ip")), "{ip}");
        }
        for h in ["spot.local", "spot", "192.168.1.5", "fe80::1", "spot.fritz.box", "annas-box.lan", "box.home.arpa"] {
            assert!(is_box_host(h), "{h}");
        }
        for h in ["evil.example", "spot.local.evil.com", "", "rebind.attacker.net"] {
            assert!(!is_box_host(h), "{h}");
        }
    }

    #[test]
    fn names_and_zones() {
        assert_eq!(hostname_for("Anna's Spot"), "annas-spot");
        assert_eq!(hostname_for("  --  "), "spot");
        assert_eq!(hostname_for("Anna's Café"), "annas-cafe");
        assert_eq!(hostname_for(&"a".repeat(100)).len(), 63);
        assert!(timezone("Europe/Berlin").is_ok());
        assert!(timezone("America/Argentina/Buenos_Aires").is_ok());
        assert!(timezone("Etc/GMT+3").is_ok());
        for bad in ["../../etc/shadow", "/etc/passwd", "Europe//Berlin", "Europe/Berlin; reboot", "$(reboot)", "Europe/Berlin\n"] {
            assert!(timezone(bad).is_err(), "{bad:?}");
        }
        assert!(box_name("").is_err());
        assert!(box_name("a\nb").is_err());
        assert!(box_name(&"x".repeat(41)).is_err());
        assert_eq!(box_name("  Anna's box ").ok().as_deref(), Some("Anna's box"));
    }
}
