//! spot-helper: the box's one privileged helper. The unprivileged daemon asks it, over a Unix
//! socket only the `spot` group can reach, to change the network, host name, time zone, or
//! to reset the box; it validates every field and does nothing else.
//!
//! ```text
//! spot-helper [serve] [--simulate FILE.json]   the socket server (the default)
//! spot-helper apply-preset                     what Raspberry Pi Imager left on the boot partition
//! spot-helper factory-reset-at-boot            wipe the data partition if a reset was asked for
//! spot-helper data-check                       is the data partition there, sound, not full?
//! spot-helper data-fix repair|erase            the fix the data-problem page asked for
//! spot-helper status | call JSON               ask the running helper (debugging)
//! ```
//!
//! Environment: SPOT_HELPER_SOCKET, SPOT_HELPER_STATE (/data/system), SPOT_HELPER_DATA (/data),
//! SPOT_HELPER_BOOT (/boot/firmware), SPOT_HELPER_ZONEINFO (/usr/share/zoneinfo),
//! SPOT_HELPER_TIMING (JSON, `setup::net::Timing` fields), and for the real radio
//! SPOT_HELPER_WLAN, SPOT_HELPER_AP_WLAN, SPOT_HELPER_WIFI, SPOT_HELPER_ETHERNET,
//! SPOT_HELPER_POWERSAVE_OFF, SPOT_HELPER_RUN, SPOT_HELPER_NETWORKD (see `real::Config`).

mod backend;
mod cmd;
mod datapart;
mod driver;
mod iw;
mod lines;
mod ota;
mod preset;
mod real;
mod render;
mod server;
mod sim;
mod system;

use anyhow::{bail, Context, Result};
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::ExitCode;

fn env_path(name: &str, default: &str) -> PathBuf {
    std::env::var_os(name).filter(|v| !v.is_empty()).map_or_else(|| default.into(), PathBuf::from)
}

fn socket() -> PathBuf {
    env_path("SPOT_HELPER_SOCKET", setup::proto::SOCKET)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let res = match args.first().map(String::as_str) {
        None => serve(&[]),
        Some("serve") => serve(&args[1..]),
        Some("apply-preset") => preset::run(),
        Some("factory-reset-at-boot") => factory_reset_at_boot(),
        Some("data-check") => datapart::check(&env_path("SPOT_HELPER_DATA", "/data"), &datapart::run_dir()),
        Some("data-fix") if args.len() == 2 => datapart::fix(&args[1], &env_path("SPOT_HELPER_DATA", "/data"), &datapart::run_dir()),
        Some("status") => call(r#"{"cmd":"status"}"#),
        Some("call") if args.len() == 2 => call(&args[1]),
        Some("-h" | "--help" | "help") => {
            println!("usage: spot-helper [serve [--simulate FILE]] | apply-preset | factory-reset-at-boot | data-check | data-fix repair|erase | status | call JSON");
            Ok(())
        }
        Some(other) => Err(anyhow::anyhow!("unknown command {other:?} (try --help)")),
    };
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("spot-helper: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn serve(args: &[String]) -> Result<()> {
    let simulate = match args {
        [] => None,
        [flag, file] if flag == "--simulate" => Some(PathBuf::from(file)),
        _ => bail!("usage: spot-helper serve [--simulate FILE.json]"),
    };
    // With the data partition missing, damaged or full, the state lives in RAM for this boot:
    // the box must stay reachable for the data-problem page (a Wi-Fi-only Pi by its setup AP).
    let state = match datapart::read_problem(&datapart::run_dir()) {
        Some(p) => {
            eprintln!("spot-helper: data partition {:?}: keeping this boot's settings in RAM", p.problem);
            env_path("SPOT_HELPER_RAM_STATE", "/run/spot-helper/state")
        }
        None => env_path("SPOT_HELPER_STATE", "/data/system"),
    };
    let store = system::Store::open(&state, &env_path("SPOT_HELPER_ZONEINFO", "/usr/share/zoneinfo"))?;
    // Ready as soon as the socket exists and the host name is set (avahi and networkd are
    // ordered after us); the radio may take seconds more to appear, and requests wait for it.
    let listener = server::bind(&socket())?;
    if simulate.is_none() {
        if let Some(h) = store.hostname() {
            if let Err(e) = real::apply_hostname(&h) {
                eprintln!("spot-helper: host name {h}: {e}");
            }
        }
    }
    notify_ready();
    let mut timing = setup::net::Timing::default();
    let backend: Box<dyn backend::Backend> = match &simulate {
        Some(file) => {
            let sim = sim::SimBackend::new(file, store.dir()).with_context(|| format!("reading {}", file.display()))?;
            timing = sim.timing().unwrap_or(timing);
            Box::new(sim)
        }
        None => Box::new(real::RealBackend::new(real::Config::from_env()?)?),
    };
    if let Ok(t) = std::env::var("SPOT_HELPER_TIMING") {
        timing = serde_json::from_str(&t).context("SPOT_HELPER_TIMING")?;
    }
    let driver = driver::Driver::new(backend, store, timing);
    let snapshot = driver.snapshot();
    let (tx, rx) = std::sync::mpsc::sync_channel(16);
    let ota = ota::Ota::from_env(&state, tx.clone())?;
    std::thread::Builder::new().name("driver".into()).spawn(move || driver.run(rx))?;
    eprintln!("spot-helper: serving on {}{}", socket().display(), if simulate.is_some() { " (simulated radio)" } else { "" });
    server::serve(listener, tx, snapshot, ota);
    Ok(())
}

/// sd_notify(READY=1): the unit is Type=notify, so avahi and networkd (ordered after us) start
/// with the persisted host name applied, and the daemon finds the socket.
fn notify_ready() {
    let Some(addr) = std::env::var_os("NOTIFY_SOCKET") else { return };
    let Ok(sock) = std::os::unix::net::UnixDatagram::unbound() else { return };
    let addr = addr.to_string_lossy().into_owned();
    let sent = match addr.strip_prefix('@') {
        Some(name) => {
            use std::os::linux::net::SocketAddrExt;
            std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).and_then(|a| sock.send_to_addr(b"READY=1", &a))
        }
        None => sock.send_to(b"READY=1", &addr),
    };
    if let Err(e) = sent {
        eprintln!("spot-helper: sd_notify: {e}");
    }
}

fn factory_reset_at_boot() -> Result<()> {
    let data = env_path("SPOT_HELPER_DATA", "/data");
    let state = env_path("SPOT_HELPER_STATE", "/data/system");
    let boot = env_path("SPOT_HELPER_BOOT", "/boot/firmware");
    if system::factory_reset_at_boot(&data, &state, &boot)? {
        eprintln!("spot-helper: factory reset: {}/spot and {} wiped", data.display(), state.display());
    }
    Ok(())
}

fn call(line: &str) -> Result<()> {
    let path = socket();
    let mut s = std::os::unix::net::UnixStream::connect(&path).with_context(|| format!("connecting to {}", path.display()))?;
    s.write_all(format!("{line}\n").as_bytes())?;
    let mut reply = String::new();
    BufReader::new(s).read_line(&mut reply)?;
    print!("{reply}");
    Ok(())
}
