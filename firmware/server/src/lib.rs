//! Spot box's network face: the HTTP API, the realtime gateway, TLS, the embedded web app.
//!
//! [`run`] takes already-bound listeners and a shutdown future (the mini-redis shape), so tests
//! start the real server on port 0 and the daemon decides where to listen.

pub mod actions;
pub mod api;
mod assets;
pub mod auth;
pub mod embeds;
pub mod error;
pub mod files;
mod extract;
pub mod gateway;
pub mod hub;
pub mod lane;
pub mod login;
pub mod rich;
pub mod tls;
pub mod localca;
pub mod firstrun;
pub mod helper;
mod captive;
mod strength;
pub mod network;
pub mod updates;
pub mod updates_feed;
pub mod own;
pub mod voice;
pub mod serve;
pub mod music;

use axum::extract::{ConnectInfo, DefaultBodyLimit, Request};
use axum::http::{header, HeaderValue, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Router;
use chat::ratelimit::Quota;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use store::Store;
use tokio::net::TcpListener;

pub use hub::Hub;

/// Wall-clock milliseconds since the Unix epoch: the only clock read for stored times.
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// The peer address of a connection, for either listener, and the box's own address it came in on.
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub SocketAddr, pub SocketAddr);


/// The peer's address, as the TCP connection says (the box sits on a LAN, no proxy in front).
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub IpAddr);

/// The box's own address and port the request came in on (the captive portal redirects there).
#[derive(Debug, Clone, Copy)]
pub struct LocalAddr(pub SocketAddr);

/// Rate-limit quotas and size limits.
#[derive(Debug, Clone)]
pub struct Limits {
    pub message_max_chars: usize,
    pub send: Quota,
    pub edit: Quota,
    pub typing: Quota,
    pub presence: Quota,
    pub read_ack: Quota,
    /// voice.join / offer / answer / leave.
    pub voice_join: Quota,
    /// voice.candidate / voice.state (a browser trickles a handful of candidates at once).
    pub voice_signal: Quota,
    /// Every login attempt (and other password check) per source address.
    pub login_ip: Quota,
    /// Password checks per user name and source address.
    pub login_user: Quota,
    /// Password checks per user name from anywhere (unknown devices).
    pub login_user_any: Quota,
    /// Password checks per known device (a browser that logged in before).
    pub login_device: Quota,
    /// The password lane: bcrypt workers and waiting places.
    pub password_lane: lane::LaneSize,
    /// Largest single upload.
    pub upload_max_bytes: u64,
    /// Most bytes one user's uploads may take together.
    pub upload_quota_bytes: u64,
    /// Uploads, reactions, pins, thread/DM creation, search (one bucket each).
    pub upload: Quota,
    pub react: Quota,
    pub pin: Quota,
    pub create: Quota,
    pub search: Quota,
    /// Channel overrides (each may reconnect sockets).
    pub settings: Quota,
    /// `PATCH /api/me` (each is a fan-out to everyone).
    pub profile: Quota,
    /// Gateway sockets one user may hold at once (tabs, phones, bots).
    pub sockets_per_user: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            message_max_chars: chat::rules::DEFAULT_MESSAGE_MAX_CHARS,
            send: Quota::new(10, Duration::from_millis(500)),
            edit: Quota::new(10, Duration::from_secs(1)),
            typing: Quota::new(3, Duration::from_secs(2)),
            presence: Quota::new(5, Duration::from_secs(5)),
            read_ack: Quota::new(20, Duration::from_millis(250)),
            voice_join: Quota::new(10, Duration::from_secs(1)),
            voice_signal: Quota::new(30, Duration::from_millis(100)),
            // Per IP: 10 attempts, then one every 30 s.
            login_ip: Quota::new(10, Duration::from_secs(30)),
            // Per user name and source: 5 checks, then one every 60 s.
            login_user: Quota::new(5, Duration::from_secs(60)),
            // Per user name from anywhere: 10 checks, then one a minute.
            login_user_any: Quota::new(10, Duration::from_secs(60)),
            login_device: Quota::new(5, Duration::from_secs(60)),
            password_lane: lane::LaneSize::default(),
            upload_max_bytes: 25 << 20,
            upload_quota_bytes: 1 << 30,
            upload: Quota::new(10, Duration::from_secs(2)),
            react: Quota::new(10, Duration::from_millis(300)),
            pin: Quota::new(5, Duration::from_secs(1)),
            create: Quota::new(5, Duration::from_secs(5)),
            search: Quota::new(10, Duration::from_millis(500)),
            settings: Quota::new(10, Duration::from_secs(2)),
            profile: Quota::new(5, Duration::from_secs(10)),
            sockets_per_user: 16,
        }
    }
}

/// What the server needs to know, already validated by the caller.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Served over TLS: cookies get `Secure`, origins are `https://`.
    pub tls: bool,
    /// An extra allowed origin, e.g. `https://spot.local`.
    pub public_origin: Option<String>,
    /// The box's address as seen from the internet (`voice.public_address`), when configured.
    pub public_address: Option<IpAddr>,
    pub heartbeat_ms: u64,
    /// Durable events kept for resuming clients; older ones are pruned.
    pub event_retention: i64,
    pub limits: Limits,
    /// Where uploads, custom emoji and preview images live (`DATA_DIR/files`).
    pub files_dir: std::path::PathBuf,
    /// The data directory (the local CA lives in `tls/` below it).
    pub data_dir: std::path::PathBuf,
    /// The privileged helper that changes the network, host name and time zone.
    pub helper: helper::HelperClient,
    /// Memory all image decodes in flight may take together (`files::DecodeBudget`).
    pub decode_budget_bytes: u64,
    /// A request head (line and headers) must arrive within this long, and an idle
    /// keep-alive connection is closed after it: a client that never finishes its headers
    /// does not hold a connection for ever ([`serve`]).
    pub header_timeout: Duration,
    /// A streamed body (upload, emoji, update bundle) that sends nothing for this long is cut
    /// off with `upload_interrupted` and its temp file removed. JSON bodies have
    /// [`extract::BODY_TIMEOUT`] for the whole body.
    pub body_idle: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            tls: false,
            public_origin: None,
            public_address: None,
            heartbeat_ms: 20_000,
            event_retention: 100_000,
            limits: Limits::default(),
            files_dir: std::env::temp_dir().join("spot-files"),
            data_dir: std::env::temp_dir().join("spot-data"),
            helper: helper::HelperClient::default(),
            decode_budget_bytes: 64 << 20,
            header_timeout: Duration::from_secs(10),
            body_idle: Duration::from_secs(30),
        }
    }
}

pub struct AppState {
    pub store: Arc<Store>,
    pub hub: Hub,
    pub cfg: ServerConfig,
    /// Login limits ([`login`]): every password check is charged here first.
    pub login: Mutex<login::LoginLimits>,
    /// Where bcrypt runs ([`lane`]).
    pub lane: lane::PasswordLane,
    /// Signs device cookies (loaded from the database on first use).
    pub device_key: std::sync::OnceLock<[u8; 32]>,
    pub action_limits: Mutex<actions::ActionLimits>,
    pub voice: voice::Voice,
    pub embeds: embeds::Embedder,
    /// Uploads' and emoji's shared state: the decode budget, the prune clock.
    pub files: files::Files,
    /// What only the binary can do (rewrite its configuration, restart, factory reset).
    pub system: std::sync::OnceLock<Arc<dyn firstrun::SystemHooks>>,
    /// The setup access point's state, refreshed from the helper (for the captive portal).
    pub net_cache: Mutex<Option<(std::time::Instant, Option<setup::proto::Status>)>>,
    /// The box's own names and addresses ([`own`]).
    pub identity: own::Identity,
    /// Admin → Updates ([`updates`]): one upload at a time.
    pub updates: updates::Updates,
    /// Where the main listener is bound (set by [`run`]): invite links name an address friends
    /// can reach only when the box listens beyond loopback.
    pub listen: std::sync::OnceLock<SocketAddr>,
    /// The voice rooms' DJs ([`music`]).
    pub music: music::Music,
    /// This state itself, for work that outlives the request that started it.
    this: std::sync::OnceLock<std::sync::Weak<AppState>>,
}

impl AppState {
    /// This state as an `Arc` (`None` only while it is being dropped).
    pub fn arc(&self) -> Option<Arc<AppState>> {
        self.this.get().and_then(std::sync::Weak::upgrade)
    }

    /// Wire the store's commits to the hub.
    pub fn new(store: Arc<Store>, cfg: ServerConfig) -> Arc<AppState> {
        let state = Arc::new(AppState {
            store: store.clone(),
            hub: Hub::new(),
            login: login::new_limits(&cfg.limits),
            lane: lane::PasswordLane::new(cfg.limits.password_lane),
            device_key: std::sync::OnceLock::new(),
            action_limits: Mutex::new(actions::ActionLimits::new(&cfg.limits)),
            voice: voice::Voice::default(),
            embeds: embeds::Embedder::default(),
            files: files::Files::new(cfg.decode_budget_bytes),
            system: std::sync::OnceLock::new(),
            net_cache: Mutex::new(None),
            identity: own::Identity::default(),
            updates: updates::Updates::default(),
            listen: std::sync::OnceLock::new(),
            music: music::Music::default(),
            this: std::sync::OnceLock::new(),
            cfg,
        });
        let _ = state.this.set(Arc::downgrade(&state));
        let weak = Arc::downgrade(&state);
        store.set_publisher(move |events| {
            if let Some(s) = weak.upgrade() {
                s.hub.publish(events);
            }
        });
        state
    }
}

/// API bodies are small JSON documents.
const BODY_LIMIT: usize = 64 * 1024;

pub fn router(state: Arc<AppState>) -> Router {
    let api = api::routes()
        .layer(middleware::from_fn_with_state(state.clone(), auth::csrf_guard))
        .layer(middleware::from_fn_with_state(state.clone(), auth::origin_guard))
        .layer(middleware::from_fn_with_state(state.clone(), own::host_guard))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(middleware::from_fn(error::json_errors));
    Router::new()
        .nest("/api", api)
        .fallback(assets::serve)
        .layer(middleware::from_fn_with_state(state.clone(), captive::portal))
        .layer(middleware::from_fn(security_headers))
        .layer(middleware::from_fn(client_ip))
        .with_state(state)
}

async fn client_ip(mut req: Request, next: Next) -> Response {
    let (ip, local) = req.extensions().get::<ConnectInfo<Peer>>().map_or(
        (IpAddr::from([0, 0, 0, 0]), SocketAddr::from(([0, 0, 0, 0], 0))),
        |c| (c.0 .0.ip(), c.0 .1),
    );
    req.extensions_mut().insert(ClientIp(ip));
    req.extensions_mut().insert(LocalAddr(local));
    next.run(req).await
}

async fn security_headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    let set = |h: &mut axum::http::HeaderMap, k: &'static str, v: &'static str| {
        h.entry(k).or_insert(HeaderValue::from_static(v));
    };
    set(h, "x-content-type-options", "nosniff");
    set(h, "x-frame-options", "DENY");
    set(h, "referrer-policy", "no-referrer");
    set(
        h,
        "content-security-policy",
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; \
         connect-src 'self'; media-src 'self' blob:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
    );
    set(h, "permissions-policy", "camera=(self), microphone=(self), geolocation=()");
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}

/// Where to listen. The caller binds (port 0 in tests).
pub struct Listeners {
    pub main: TcpListener,
    /// Serve `main` over TLS with this configuration.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// A plain-HTTP listener that redirects everything to HTTPS.
    pub redirect: Option<TcpListener>,
}

/// Serve until `shutdown` resolves, then drain: gateway sockets are told to reconnect (1012),
/// in-flight requests finish (up to 10 s).
pub async fn run(state: Arc<AppState>, listeners: Listeners, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
    let app = router(state.clone());
    let https_port = listeners.main.local_addr()?.port();
    let header_timeout = state.cfg.header_timeout;
    let _ = state.listen.set(listeners.main.local_addr()?);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);

    // Keep the event log bounded: once before serving (so resumes see a settled log), then hourly.
    let prune = |state: Arc<AppState>| async move {
        let keep = state.cfg.event_retention;
        match state.db(move |store| store.prune_events(keep)).await {
            Ok(n) if n > 0 => tracing::info!(pruned = n, "pruned old events"),
            Err(e) => tracing::warn!(error = ?e.0, "pruning events failed"),
            _ => {}
        }
    };
    prune(state.clone()).await;
    let previews = tokio::spawn(embeds::worker(state.clone(), stop_rx.clone()));
    let pruner = {
        let state = state.clone();
        let mut rx = stop_rx.clone();
        tokio::spawn(async move {
            loop {
                let stop = tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(3600)) => false,
                    _ = rx.wait_for(|v| *v) => true,
                };
                if stop {
                    break;
                }
                prune(state.clone()).await;
                // Uploads never sent in a message go after a day.
                files::prune_uploads(&state).await;
            }
        })
    };

    let redirect = listeners.redirect.map(|l| {
        let rx = stop_rx.clone();
        tokio::spawn(async move {
            let app = Router::new().fallback(move |uri: Uri, headers: axum::http::HeaderMap| async move {
                redirect_to_https(&uri, &headers, https_port)
            });
            serve::serve(l, app, header_timeout, rx).await;
        })
    });

    let main = {
        let rx = stop_rx.clone();
        match listeners.tls {
            Some(cfg) => {
                let l = tls::TlsListener::new(listeners.main, cfg);
                tokio::spawn(serve::serve(l, app, header_timeout, rx))
            }
            None => tokio::spawn(serve::serve(listeners.main, app, header_timeout, rx)),
        }
    };

    shutdown.await;
    tracing::info!("shutting down: closing gateway sockets and draining requests");
    state.hub.close_all();
    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(Duration::from_secs(10), async {
        let _ = main.await;
        if let Some(r) = redirect {
            let _ = r.await;
        }
        while state.hub.connection_count() > 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    if drained.is_err() {
        tracing::warn!("drain timed out after 10 s");
    }
    pruner.abort();
    // The preview worker ends on the stop signal (abandoning previews in flight).
    if tokio::time::timeout(Duration::from_secs(2), previews).await.is_err() {
        tracing::warn!("the link preview worker did not stop");
    }
    Ok(())
}

fn redirect_to_https(uri: &Uri, headers: &axum::http::HeaderMap, port: u16) -> Response {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("spot.local");
    // Strip any port (and keep IPv6 brackets).
    let bare = match host.rsplit_once(':') {
        Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) && !h.ends_with(':') => h,
        _ => host,
    };
    let valid = !bare.is_empty() && bare.chars().all(|c| c.is_ascii_alphanumeric() || "-.[]:".contains(c));
    let bare = if valid { bare } else { "spot.local" };
    let port = if port == 443 { String::new() } else { format!(":{port}") };
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    Redirect::permanent(&format!("https://{bare}{port}{path}")).into_response()
}
