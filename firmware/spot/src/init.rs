//! `spot init`: data directory, configuration, database, admin account, TLS material.

use crate::config;
use anyhow::{bail, Context, Result};
use rand::TryRngCore;
use std::io::{IsTerminal, Write};
use std::path::Path;

#[derive(clap::Args, Clone)]
pub struct InitArgs {
    /// Listen address written to spot.toml.
    #[arg(long, default_value = "0.0.0.0:8080")]
    pub listen: String,
    /// Admin user name.
    #[arg(long)]
    pub admin_user: Option<String>,
    /// Admin password (generated and printed when omitted in non-interactive mode).
    #[arg(long, env = "SPOT_ADMIN_PASSWORD")]
    pub admin_password: Option<String>,
    /// `none`, `self-signed`, or `cert:CERT.pem,KEY.pem` (files are copied into the data dir).
    #[arg(long, default_value = "none")]
    pub tls: String,
    /// With --tls: a plain-HTTP address that redirects to HTTPS.
    #[arg(long)]
    pub redirect_from: Option<String>,
    /// Never prompt.
    #[arg(long)]
    pub non_interactive: bool,
    /// Make no admin account: the first-run wizard in the browser (or a Raspberry Pi Imager
    /// preset) creates it. Nothing secret is printed. This is how the image starts.
    #[arg(long)]
    pub setup: bool,
}

impl InitArgs {
    pub fn non_interactive_default() -> Self {
        InitArgs {
            listen: "0.0.0.0:8080".into(),
            admin_user: None,
            admin_password: std::env::var("SPOT_ADMIN_PASSWORD").ok(),
            tls: "none".into(),
            redirect_from: None,
            non_interactive: true,
            setup: false,
        }
    }
}

/// 20 characters from an unambiguous alphabet, from the OS CSPRNG (~110 bits).
pub fn generate_password() -> Result<String> {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut out = String::new();
    let mut buf = [0u8; 1];
    while out.len() < 20 {
        rand::rngs::OsRng.try_fill_bytes(&mut buf).context("system random number generator")?;
        // Rejection sampling keeps the choice uniform.
        let b = usize::from(buf[0]);
        if b < 256 - 256 % ALPHABET.len() {
            out.push(char::from(ALPHABET[b % ALPHABET.len()]));
        }
    }
    Ok(out)
}

/// The given password, or one typed at the terminal (twice), or a generated one.
/// Returns the password and whether it was generated (and so must be shown).
pub fn password_or_prompt(given: Option<String>, prompt: &str) -> Result<(String, bool)> {
    if let Some(p) = given {
        chat::rules::password(&p).map_err(|e| anyhow::anyhow!(e.message))?;
        return Ok((p, false));
    }
    if std::io::stdin().is_terminal() {
        loop {
            let a = rpassword::prompt_password(format!("{prompt} (empty: generate one): "))?;
            if a.is_empty() {
                break;
            }
            if let Err(e) = chat::rules::password(&a) {
                eprintln!("{}", e.message);
                continue;
            }
            let b = rpassword::prompt_password("Again: ")?;
            if a == b {
                return Ok((a, false));
            }
            eprintln!("The passwords differ; try again.");
        }
    }
    Ok((generate_password()?, true))
}

fn prompt_line(prompt: &str, default: &str) -> Result<String> {
    print!("{prompt} [{default}]: ");
    std::io::stdout().flush()?;
    let mut s = String::new();
    std::io::stdin().read_line(&mut s)?;
    let s = s.trim();
    Ok(if s.is_empty() { default.to_owned() } else { s.to_owned() })
}

#[cfg(unix)]
/// A new data directory is private (0700). One that exists keeps its mode: on a box the image
/// and tmpfiles.d make `/data/spot` 0750 so that spot-helper (group spot) can read the update
/// bundles the daemon leaves in `ota/incoming/`.
fn private_dir(p: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if p.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(p).with_context(|| format!("creating {}", p.display()))?;
    Ok(())
}

#[cfg(unix)]
fn write_private(p: &Path, contents: &[u8]) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(p)
        .with_context(|| format!("creating {}", p.display()))?;
    f.write_all(contents)?;
    f.sync_all()?;
    Ok(())
}

fn hostname() -> Option<String> {
    std::fs::read_to_string("/etc/hostname").ok().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

/// Present while an init is under way: a data directory with this file and no `spot.toml` is
/// the leftover of an init that was cut (power, kill), and the next init starts it over.
pub const MARKER: &str = ".init-incomplete";
/// What an init writes besides `spot.toml` (removed when an interrupted init starts over).
const PRODUCTS: &[&str] = &[config::DB, "spot.db-wal", "spot.db-shm", "spot.db-journal", "tls", "spot.toml.tmp"];

/// Tests cut init at a named step (debug builds only): `SPOT_INIT_CRASH_AT=step` aborts there,
/// like a power cut or a kill would.
fn step(name: &str) {
    #[cfg(debug_assertions)]
    if std::env::var("SPOT_INIT_CRASH_AT").is_ok_and(|v| v == name) {
        eprintln!("spot init: crashing at step {name} (SPOT_INIT_CRASH_AT)");
        std::process::abort();
    }
    let _ = name;
}

fn sync_dir(p: &Path) -> Result<()> {
    std::fs::File::open(p).and_then(|d| d.sync_all()).with_context(|| format!("syncing {}", p.display()))
}

/// Start an init: a data directory holds either nothing of ours, or a complete box (with
/// `spot.toml`), or the leftovers of a cut init (with the marker), which are cleared.
fn begin(data_dir: &Path) -> Result<()> {
    private_dir(data_dir)?;
    let marker = data_dir.join(MARKER);
    if !marker.exists() {
        if let Some(p) = PRODUCTS.iter().map(|p| data_dir.join(p)).find(|p| p.exists()) {
            bail!(
                "{} has {} but no {}: this is not a cut first start, so nothing is touched. Restore {} from a backup, \
                 or move the old files away to start afresh",
                data_dir.display(),
                p.display(),
                config::FILE,
                config::FILE
            );
        }
        write_private(&marker, b"spot init in progress\n")?;
        sync_dir(data_dir)?;
    }
    step("marker");
    for p in PRODUCTS.iter().map(|p| data_dir.join(p)) {
        let gone = if p.is_dir() { std::fs::remove_dir_all(&p) } else { std::fs::remove_file(&p) };
        if let Err(e) = gone {
            if e.kind() != std::io::ErrorKind::NotFound {
                return Err(e).with_context(|| format!("clearing {} left by an interrupted init", p.display()));
            }
        }
    }
    sync_dir(data_dir)?;
    step("cleared");
    Ok(())
}

/// Finish an init: the database is on disk, then `spot.toml` (written atomically) says
/// "initialised", then the marker goes.
fn commit(data_dir: &Path, store: store::Store, raw: &config::RawConfig) -> Result<()> {
    store.checkpoint().context("flushing the new database")?;
    drop(store);
    step("database");
    config::save(data_dir, raw)?;
    step("config");
    std::fs::remove_file(data_dir.join(MARKER)).context("removing the init marker")?;
    sync_dir(data_dir)?;
    Ok(())
}

/// A complete data directory keeps no marker (a cut between writing `spot.toml` and removing
/// the marker leaves one; it must not make a later init treat the real database as leftovers).
pub fn tidy(data_dir: &Path) {
    if data_dir.join(config::FILE).exists() && std::fs::remove_file(data_dir.join(MARKER)).is_ok() {
        let _ = sync_dir(data_dir);
    }
}

pub fn run(data_dir: &Path, args: &InitArgs) -> Result<()> {
    if data_dir.join(config::FILE).exists() {
        bail!("{} is already initialised ({} exists)", data_dir.display(), config::FILE);
    }
    if args.setup {
        return run_setup_mode(data_dir, args);
    }
    let interactive = !args.non_interactive && std::io::stdin().is_terminal();
    let admin = match (&args.admin_user, interactive) {
        (Some(u), _) => u.clone(),
        (None, true) => prompt_line("Admin user name", "admin")?,
        (None, false) => "admin".into(),
    };
    let admin = chat::rules::username(&admin).map_err(|e| anyhow::anyhow!("--admin-user: {}", e.message))?;
    let (password, generated) = if interactive {
        password_or_prompt(args.admin_password.clone(), &format!("Password for {admin}"))?
    } else {
        match &args.admin_password {
            Some(p) => {
                chat::rules::password(p).map_err(|e| anyhow::anyhow!("--admin-password: {}", e.message))?;
                (p.clone(), false)
            }
            None => (generate_password()?, true),
        }
    };
    // Validate everything before writing anything.
    args.listen.parse::<std::net::SocketAddr>().with_context(|| format!("--listen: {:?} is not an address", args.listen))?;
    let mut raw = config::RawConfig { listen: Some(args.listen.clone()), ..Default::default() };
    let tls_files: Option<(Vec<u8>, Vec<u8>)> = match args.tls.as_str() {
        "none" => None,
        "self-signed" => {
            let mut names = vec!["spot.local".to_owned(), "localhost".to_owned(), "127.0.0.1".to_owned(), "::1".to_owned()];
            if let Some(h) = hostname() {
                names.push(h.clone());
                names.push(format!("{h}.local"));
            }
            names.sort();
            names.dedup();
            let (c, k) = server::tls::self_signed(&names)?;
            Some((c.into_bytes(), k.into_bytes()))
        }
        other => match other.strip_prefix("cert:").and_then(|s| s.split_once(',')) {
            Some((c, k)) => Some((
                std::fs::read(c).with_context(|| format!("--tls: reading {c}"))?,
                std::fs::read(k).with_context(|| format!("--tls: reading {k}"))?,
            )),
            None => bail!("--tls: {other:?} is not none, self-signed or cert:CERT.pem,KEY.pem"),
        },
    };
    if let Some((cert, key)) = &tls_files {
        server::tls::from_pem(cert, key, "the certificate", "the key").context("--tls")?;
    }
    if let Some(r) = &args.redirect_from {
        r.parse::<std::net::SocketAddr>().with_context(|| format!("--redirect-from: {r:?} is not an address"))?;
    }

    let hash = bcrypt::hash(&password, server::auth::BCRYPT_COST)?;
    begin(data_dir)?;
    if let Some((cert, key)) = &tls_files {
        private_dir(&data_dir.join("tls"))?;
        write_private(&data_dir.join("tls/cert.pem"), cert)?;
        write_private(&data_dir.join("tls/key.pem"), key)?;
        raw.tls = Some(config::RawTls { cert: "tls/cert.pem".into(), key: "tls/key.pem".into(), redirect_from: args.redirect_from.clone() });
    }
    step("tls");
    let store = store::Store::open(data_dir.join(config::DB))?;
    step("opened");
    let now = server::now_ms();
    store.create_user(&admin, &admin, &hash, chat::model::Role::Admin, now).map_err(crate::domain)?;
    step("admin");
    store.create_channel("general", "Say hello!", now).map_err(crate::domain)?;
    step("channel");
    // `spot.toml` is written last: its presence means "initialised".
    commit(data_dir, store, &raw)?;
    println!("Initialised {}", data_dir.display());
    println!("Admin user: {admin}");
    if generated {
        println!("Admin password: {password}");
    }
    Ok(())
}

/// First-run setup mode: the database and the local CA, no admin. The wizard claims the box.
fn run_setup_mode(data_dir: &Path, args: &InitArgs) -> Result<()> {
    args.listen.parse::<std::net::SocketAddr>().with_context(|| format!("--listen: {:?} is not an address", args.listen))?;
    begin(data_dir)?;
    let store = store::Store::open(data_dir.join(config::DB))?;
    step("opened");
    let now = server::now_ms();
    store.create_channel("general", "Say hello!", now).map_err(crate::domain)?;
    step("channel");
    let host = hostname().unwrap_or_else(|| "spot".into());
    server::localca::LocalCa::load_or_create(data_dir, &host, &[host.clone(), "spot".into()], now)?;
    step("ca");
    let raw = config::RawConfig { listen: Some(args.listen.clone()), ..Default::default() };
    commit(data_dir, store, &raw)?;
    println!("Initialised {} for first-run setup: open the box in a browser to finish", data_dir.display());
    Ok(())
}
