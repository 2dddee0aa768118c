//! `spot`: the Spot box daemon and its command line. This crate only wires: configuration,
//! logging, signals and systemd notification; the work lives in `store`, `chat` and `server`.

mod config;
mod dataproblem;
mod firstrun;
mod init;
mod ota;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use config::{Config, LogFormat};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use store::Store;

#[derive(Parser)]
#[command(name = "spot", version, about = "Spot box: a hangout server for a friend group")]
struct Cli {
    /// Where the database, configuration and keys live.
    #[arg(long, global = true, env = "SPOT_DATA_DIR", default_value = "/var/lib/spot")]
    data_dir: PathBuf,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum DoctorCmd {
    /// The sound cards the box found, what each can play, and the speaker's settings.
    Audio,
}

#[derive(Subcommand)]
enum Cmd {
    /// Create the data directory, configuration, database and the admin account.
    Init(init::InitArgs),
    /// Run the server (initialises the data directory first if it is empty).
    Serve {
        /// Listen address, e.g. 0.0.0.0:8080 (overrides spot.toml).
        #[arg(long, env = "SPOT_LISTEN")]
        listen: Option<String>,
        /// If the data directory is empty: start in first-run setup mode (no admin; the
        /// browser wizard or a Raspberry Pi Imager preset creates it) instead of generating
        /// and printing an admin password.
        #[arg(long, env = "SPOT_SETUP", action = clap::ArgAction::SetTrue, value_parser = clap::builder::BoolishValueParser::new())]
        setup: bool,
        /// If the data directory is empty: the listen address written to the new spot.toml.
        #[arg(long, env = "SPOT_INIT_LISTEN")]
        init_listen: Option<String>,
    },
    /// Manage accounts.
    User {
        #[command(subcommand)]
        cmd: UserCmd,
    },
    /// Write a consistent copy of the database to FILE (safe while the server runs).
    Backup { file: PathBuf },
    /// Check the data directory and database (`doctor audio`: the sound hardware).
    Doctor {
        #[command(subcommand)]
        what: Option<DoctorCmd>,
    },
    /// Updates: status, install a bundle, roll back (through the box's system helper).
    Ota {
        #[command(subcommand)]
        cmd: ota::OtaCmd,
    },
    /// Serve the data-partition problem page instead of the box (the image runs this when
    /// spot-data-check finds the data partition missing, damaged or full).
    DataProblem {
        #[arg(long, default_value = "0.0.0.0:80")]
        listen: String,
    },
}

#[derive(Subcommand)]
enum UserCmd {
    /// Create an account.
    Add {
        name: String,
        #[arg(long, default_value = "member")]
        role: String,
        /// The password (prompted for, or generated and printed, when omitted).
        #[arg(long)]
        password: Option<String>,
    },
    /// List accounts.
    List,
    /// Set a new password (ends the user's sessions).
    ResetPassword {
        name: String,
        #[arg(long)]
        password: Option<String>,
    },
    /// Disable an account (ends its sessions).
    Disable { name: String },
    /// Enable a disabled account.
    Enable { name: String },
}

fn main() {
    let cli = Cli::parse();
    if let Err(e) = real_main(cli) {
        eprintln!("spot: error: {e:#}");
        std::process::exit(1);
    }
}

fn real_main(cli: Cli) -> Result<()> {
    match cli.cmd {
        Cmd::Init(args) => {
            init_logging(LogFormat::Text);
            init::run(&cli.data_dir, &args).map(|_| ())
        }
        Cmd::Serve { listen, setup, init_listen } => {
            let json = std::env::var("SPOT_LOG_FORMAT").map(|v| v == "json").unwrap_or(false);
            firstrun::wipe_if_reset(&cli.data_dir)?;
            if !cli.data_dir.join(config::FILE).exists() {
                let mut args = init::InitArgs::non_interactive_default();
                args.setup = setup;
                if let Some(l) = init_listen {
                    args.listen = l;
                }
                init::run(&cli.data_dir, &args)?;
            }
            init::tidy(&cli.data_dir);
            let cfg = config::load(&cli.data_dir, listen.as_deref())?;
            init_logging(if json { LogFormat::Json } else { cfg.log_format });
            firstrun::consume_preset(&cli.data_dir)?;
            serve(cfg)
        }
        Cmd::User { cmd } => {
            init_logging(LogFormat::Text);
            user(&cli.data_dir, cmd)
        }
        Cmd::Backup { file } => {
            let store = open_store(&cli.data_dir)?;
            if file.exists() {
                bail!("{} exists already; choose a new file", file.display());
            }
            store.backup_to(&file).with_context(|| format!("backing up to {}", file.display()))?;
            println!("backup written to {}", file.display());
            Ok(())
        }
        Cmd::DataProblem { listen } => {
            init_logging(LogFormat::Text);
            dataproblem::run(&listen)
        }
        Cmd::Ota { cmd } => ota::run(&cli.data_dir, cmd),
        Cmd::Doctor { what: Some(DoctorCmd::Audio) } => {
            // What Admin → Audio shows, for a terminal: every card, its formats, rates and mixers.
            print!("{}", audio::devices::report(&audio::devices::probe()));
            if let Ok(store) = open_store(&cli.data_dir) {
                match store.audio_settings()? {
                    Some(s) => println!("speaker settings: {s}"),
                    None => println!("speaker settings: off (never set; Admin → Audio)"),
                }
            }
            Ok(())
        }
        Cmd::Doctor { what: None } => {
            let store = open_store(&cli.data_dir)?;
            let cfg = config::load(&cli.data_dir, None)?;
            println!("config: ok (listen {}, tls {})", cfg.listen, if cfg.tls.is_some() { "on" } else { "off" });
            println!("database: {}", store.integrity_check()?);
            println!("messages: {}", store.message_count()?);
            Ok(())
        }
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SPOT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

fn open_store(data_dir: &std::path::Path) -> Result<Store> {
    let db = data_dir.join(config::DB);
    if !db.exists() {
        bail!("no database at {} (run `spot init` first)", db.display());
    }
    Store::open(&db).with_context(|| format!("opening {}", db.display()))
}

fn serve(cfg: Config) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(16)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async move {
        // Install signal handlers before announcing readiness: a SIGTERM right after READY must
        // still drain, not kill.
        use tokio::signal::unix::{signal, SignalKind};
        let term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
        let int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
        let store = Arc::new(open_store(&cfg.data_dir)?);
        let tls = match &cfg.tls {
            Some(t) => Some(server::tls::load(&t.cert, &t.key)?),
            None => None,
        };
        let main = tokio::net::TcpListener::bind(cfg.listen).await.with_context(|| format!("listening on {}", cfg.listen))?;
        let redirect = match cfg.tls.as_ref().and_then(|t| t.redirect_from) {
            Some(a) => Some(tokio::net::TcpListener::bind(a).await.with_context(|| format!("listening on {a}"))?),
            None => None,
        };
        if let Some(r) = &redirect {
            println!("spot redirect listening on http://{}", r.local_addr()?);
        }
        let addr = main.local_addr()?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        let state = server::AppState::new(store.clone(), cfg.server);
        let (restart_tx, restart_rx) = tokio::sync::watch::channel(false);
        let hooks = firstrun::Hooks::new(cfg.data_dir.clone(), addr, state.cfg.helper.clone(), restart_tx);
        let _ = state.system.set(Arc::new(hooks));
        firstrun::advertise(state.cfg.helper.clone(), tls.is_some().then_some(addr.port()));
        // Tests and `make run` read this line to find the port: it stays the first line.
        println!("spot listening on {scheme}://{addr}");
        start_voice(&state, &cfg.voice).await;
        let _ = std::io::stdout().flush();
        tracing::info!(%addr, scheme, version = env!("CARGO_PKG_VERSION"), "serving");
        let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]);
        spawn_watchdog(store.clone());
        server::updates::heartbeat(state.clone());
        let listeners = server::Listeners { main, tls, redirect };
        let restart = firstrun::restart_requested(restart_rx.clone());
        server::run(state, listeners, async move {
            tokio::select! {
                _ = shutdown_signal(term, int) => {}
                _ = restart => {}
            }
        })
        .await?;
        if *restart_rx.borrow() {
            return Ok(Some(addr));
        }
        let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Stopping]);
        tracing::info!("stopped");
        Ok(None)
    })
    .and_then(|restart| match restart {
        Some(addr) => firstrun::reexec(addr),
        None => Ok(()),
    })
}

/// Opens the voice port and starts the SFU. A port that cannot be opened costs voice, not chat:
/// the daemon keeps serving and `voice.join` answers `voice_unavailable`.
async fn start_voice(state: &Arc<server::AppState>, cfg: &config::Voice) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let dc = voice::driver::DriverConfig { listen: cfg.listen, public_address: cfg.public_address };
    match voice::driver::start(dc, tx).await {
        Ok(h) => {
            let port = h.local_addrs.first().map(|a| a.port()).unwrap_or(0);
            // Tests read this line to know the port.
            println!("spot voice on udp port {port}");
            tracing::info!(addrs = ?h.local_addrs, "voice listening");
            state.voice.set_handle(h);
            server::voice::spawn_events(state.clone(), rx);
            // The DJs that had music before a restart get their queues back.
            server::music::restore(state).await;
        }
        Err(e) => tracing::error!(listen = %cfg.listen, "voice disabled: cannot open the UDP port: {e}"),
    }
}

/// Ping systemd's watchdog while the runtime and the database answer.
fn spawn_watchdog(store: Arc<Store>) {
    let mut usec = 0u64;
    if !sd_notify::watchdog_enabled(false, &mut usec) || usec == 0 {
        return;
    }
    let every = Duration::from_micros(usec / 2);
    tracing::info!(interval_ms = every.as_millis() as u64, "systemd watchdog on");
    tokio::spawn(async move {
        loop {
            let s = store.clone();
            let healthy = tokio::time::timeout(every, tokio::task::spawn_blocking(move || s.current_seq()))
                .await
                .is_ok_and(|r| r.is_ok_and(|r| r.is_ok()));
            if healthy {
                let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Watchdog]);
            } else {
                tracing::warn!("health check failed: not pinging the watchdog");
            }
            tokio::time::sleep(every).await;
        }
    });
}

async fn shutdown_signal(mut term: tokio::signal::unix::Signal, mut int: tokio::signal::unix::Signal) {
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Stopping]);
    tracing::info!("signal received, stopping");
}

fn now_ms() -> i64 {
    server::now_ms()
}

fn user(data_dir: &std::path::Path, cmd: UserCmd) -> Result<()> {
    let store = open_store(data_dir)?;
    let find = |name: &str| -> Result<chat::model::User> {
        let name = chat::rules::username(name).map_err(|e| anyhow::anyhow!(e.message))?;
        store
            .user_credentials(&name)?
            .map(|(u, _)| u)
            .ok_or_else(|| anyhow::anyhow!("no user named {name:?}"))
    };
    match cmd {
        UserCmd::Add { name, role, password } => {
            let name = chat::rules::username(&name).map_err(|e| anyhow::anyhow!(e.message))?;
            let role = chat::model::Role::parse(&role).ok_or_else(|| anyhow::anyhow!("--role is admin or member"))?;
            let (pw, generated) = init::password_or_prompt(password, &format!("Password for {name}"))?;
            let hash = bcrypt::hash(&pw, server::auth::BCRYPT_COST)?;
            let u = store.create_user(&name, &name, &hash, role, now_ms()).map_err(domain)?;
            println!("created {} ({})", u.username, u.role.as_str());
            if generated {
                println!("password: {pw}");
            }
        }
        UserCmd::List => {
            for u in store.users()? {
                println!("{:<24} {:<7} {}", u.username, u.role.as_str(), if u.disabled { "disabled" } else { "enabled" });
            }
        }
        UserCmd::ResetPassword { name, password } => {
            let u = find(&name)?;
            let (pw, generated) = init::password_or_prompt(password, &format!("New password for {}", u.username))?;
            let hash = bcrypt::hash(&pw, server::auth::BCRYPT_COST)?;
            store.set_password_hash(u.id, &hash, None).map_err(domain)?;
            println!("password changed for {}; their sessions were ended", u.username);
            if generated {
                println!("password: {pw}");
            }
        }
        UserCmd::Disable { name } => {
            let u = find(&name)?;
            store.set_disabled(u.id, true, now_ms()).map_err(domain)?;
            println!("disabled {}; their sessions were ended", u.username);
        }
        UserCmd::Enable { name } => {
            let u = find(&name)?;
            store.set_disabled(u.id, false, now_ms()).map_err(domain)?;
            println!("enabled {}", u.username);
        }
    }
    Ok(())
}

/// Show domain errors by their words.
fn domain(e: store::Error) -> anyhow::Error {
    match e {
        store::Error::Domain(d) => anyhow::anyhow!("{} ({})", d.message, d.code),
        other => anyhow::Error::new(other),
    }
}
