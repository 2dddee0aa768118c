//! The binary's side of first-run setup: factory reset (wipe at start), the Raspberry Pi
//! Imager preset hand-off, and the hooks the server calls to switch to HTTPS and restart.

use crate::config;
use anyhow::{Context, Result};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Written by a factory reset; at the next start the data directory is wiped.
pub const RESET_MARKER: &str = "factory-reset";
/// Left by `spot-helper apply-preset` (from what Imager wrote on the boot partition).
pub const PRESET: &str = "preset.json";

/// Wipe the data directory if a factory reset asked for it. Entries are removed without
/// following symbolic links; the marker goes last, so a power cut mid-wipe wipes again.
pub fn wipe_if_reset(data_dir: &Path) -> Result<()> {
    let marker = data_dir.join(RESET_MARKER);
    if !marker.exists() {
        return Ok(());
    }
    eprintln!("spot: factory reset: wiping {}", data_dir.display());
    for entry in std::fs::read_dir(data_dir).with_context(|| format!("reading {}", data_dir.display()))? {
        let p = entry?.path();
        if p == marker {
            continue;
        }
        let meta = std::fs::symlink_metadata(&p)?;
        if meta.is_dir() {
            std::fs::remove_dir_all(&p).with_context(|| format!("removing {}", p.display()))?;
        } else {
            std::fs::remove_file(&p).with_context(|| format!("removing {}", p.display()))?;
        }
    }
    std::fs::remove_file(&marker)?;
    if let Ok(d) = std::fs::File::open(data_dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[derive(Deserialize)]
struct Preset {
    admin: Option<PresetAdmin>,
    box_name: Option<String>,
    timezone: Option<String>,
}

#[derive(Deserialize)]
struct PresetAdmin {
    username: String,
    password_hash: String,
}

/// Create the admin from an Imager preset, if one is waiting and the box is unclaimed. The
/// file is removed whatever happens (it holds a password hash); the hash is never logged.
pub fn consume_preset(data_dir: &Path) -> Result<()> {
    let path = data_dir.join(PRESET);
    let Ok(text) = std::fs::read_to_string(&path) else { return Ok(()) };
    let outcome = apply_preset(data_dir, &text);
    std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
    match outcome {
        Ok(Some(user)) => tracing::info!(user, "admin account created from the Raspberry Pi Imager settings"),
        Ok(None) => tracing::info!("Raspberry Pi Imager settings had no user for this box, or it is already claimed"),
        Err(e) => tracing::warn!("Raspberry Pi Imager user not used: {e:#}"),
    }
    Ok(())
}

fn apply_preset(data_dir: &Path, text: &str) -> Result<Option<String>> {
    if text.len() > 64 * 1024 {
        anyhow::bail!("{PRESET} is larger than 64 KiB");
    }
    let p: Preset = serde_json::from_str(text).context("reading the preset")?;
    let Some(admin) = p.admin else { return Ok(None) };
    let username = chat::rules::username(&admin.username).map_err(|e| anyhow::anyhow!("user name: {}", e.message))?;
    let h = admin.password_hash.as_str();
    if !server::auth::is_known_hash(h) {
        anyhow::bail!("the password hash is not a bcrypt, SHA-256/SHA-512-crypt or yescrypt hash");
    }
    let box_name = p.box_name.as_deref().map(server::firstrun::box_name).transpose().ok().flatten().unwrap_or_else(|| "spot".into());
    let tz = p.timezone.as_deref().and_then(|t| server::firstrun::timezone(t).ok());
    let store = store::Store::open(data_dir.join(config::DB))?;
    if store.is_claimed()? {
        return Ok(None);
    }
    let claim = store::Claim { username: &username, password_hash: h, box_name: &box_name, timezone: tz.as_deref(), preset: true };
    store.claim(&claim, server::now_ms()).map_err(crate::domain)?;
    Ok(Some(username))
}

/// What the server may ask of the binary.
pub struct Hooks {
    data_dir: PathBuf,
    /// Where the server listens now (the HTTPS port follows from it).
    listen: SocketAddr,
    helper: server::helper::HelperClient,
    restart: tokio::sync::watch::Sender<bool>,
}

impl Hooks {
    pub fn new(data_dir: PathBuf, listen: SocketAddr, helper: server::helper::HelperClient, restart: tokio::sync::watch::Sender<bool>) -> Hooks {
        Hooks { data_dir, listen, helper, restart }
    }
}

impl server::firstrun::SystemHooks for Hooks {
    fn enable_tls(&self) -> std::result::Result<u16, String> {
        let (port, raw) = config::with_tls(&self.data_dir, self.listen).map_err(|e| format!("{e:#}"))?;
        config::save(&self.data_dir, &raw).map_err(|e| format!("{e:#}"))?;
        Ok(port)
    }

    fn restart(&self) {
        let _ = self.restart.send(true);
    }

    fn factory_reset(&self) -> std::result::Result<(), String> {
        let marker = self.data_dir.join(RESET_MARKER);
        std::fs::write(&marker, b"requested from Admin\n").and_then(|_| std::fs::File::open(&marker)?.sync_all()).map_err(|e| e.to_string())?;
        if self.helper.managed() {
            // The helper wipes the rest of the box's state (Wi-Fi, host name) and reboots.
            let helper = self.helper.clone();
            tokio::spawn(async move {
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                if let Err(e) = helper.done(&setup::proto::Request::FactoryReset).await {
                    tracing::error!(error = %e, "the helper did not take the factory reset; restarting the daemon to wipe its data");
                }
            });
        }
        let restart = self.restart.clone();
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(800)).await;
            let _ = restart.send(true);
        });
        Ok(())
    }
}

/// Tell the helper whether to announce `_https._tcp` over mDNS (it may still be starting:
/// retried for a minute).
pub fn advertise(helper: server::helper::HelperClient, https_port: Option<u16>) {
    if !helper.managed() {
        return;
    }
    tokio::spawn(async move {
        for _ in 0..20 {
            match helper.done(&setup::proto::Request::AdvertiseHttps { port: https_port }).await {
                Ok(()) => return,
                Err(_) => tokio::time::sleep(std::time::Duration::from_secs(3)).await,
            }
        }
        tracing::warn!("the helper never took the mDNS announcement");
    });
}

pub async fn restart_requested(mut rx: tokio::sync::watch::Receiver<bool>) {
    let _ = rx.wait_for(|v| *v).await;
    tracing::info!("restarting to apply the new configuration");
}

/// Replace this process with a fresh `spot` (same arguments, same PID: systemd keeps
/// supervising it, and the new process says READY again). A `--listen` given on the command
/// line is replaced by the address actually bound, so a port-0 listener keeps its port.
pub fn reexec(bound: SocketAddr) -> Result<()> {
    use std::os::unix::process::CommandExt;
    let exe = std::env::current_exe().context("finding the spot binary")?;
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        if args[i] == "--listen" && i + 1 < args.len() {
            args[i + 1] = bound.to_string().into();
            i += 1;
        } else if args[i].to_string_lossy().starts_with("--listen=") {
            args[i] = format!("--listen={bound}").into();
        }
        i += 1;
    }
    let mut cmd = std::process::Command::new(exe);
    cmd.args(args);
    if std::env::var_os("SPOT_LISTEN").is_some() {
        cmd.env("SPOT_LISTEN", bound.to_string());
    }
    let err = cmd.exec();
    Err(anyhow::Error::new(err).context("restarting spot"))
}
