//! The socket: one JSON request line per connection, at most `proto::MAX_REQUEST` bytes,
//! sent within [`DEADLINE`]; one reply line. Parsing is strict (unknown commands and fields
//! are `bad_request`), every field is validated into a `setup::validate` type
//! (`invalid_argument` with words) before anything else sees it.

use crate::driver::{Call, Command, Snapshot};
use crate::ota::Ota;
use anyhow::{bail, Context, Result};
use setup::net::Credentials;
use setup::proto::{Reply, Request, MAX_REQUEST};
use setup::validate::{Country, Hostname, Invalid, Psk, Ssid, Timezone};
use std::fs;
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A whole request must arrive within this (a slow client cannot hold a thread for long).
pub const DEADLINE: Duration = Duration::from_secs(5);
/// Connections served at once; more get `busy` straight away.
pub const MAX_CLIENTS: usize = 16;
/// Longest wait for the driver (a scan takes a few seconds; hostapd starting ~2 s).
const REPLY_WAIT: Duration = Duration::from_secs(40);

/// Bind the socket: mode 0660, group `spot` when running as root.
pub fn bind(path: &Path) -> Result<UnixListener> {
    if let Ok(m) = fs::symlink_metadata(path) {
        if !m.file_type().is_socket() {
            bail!("{} exists and is not a socket", path.display());
        }
        fs::remove_file(path)?;
    }
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    let listener = UnixListener::bind(path).with_context(|| format!("binding {}", path.display()))?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o660))?;
    if effective_uid() == Some(0) {
        // Without the group (a development machine running as root) the socket stays root's.
        match group_id("spot") {
            Some(gid) => std::os::unix::fs::chown(path, Some(0), Some(gid))?,
            None => eprintln!("spot-helper: no group `spot`: {} is for root only", path.display()),
        }
    }
    Ok(listener)
}

/// The effective uid, from /proc (std has no getuid, and the workspace has no `unsafe`).
fn effective_uid() -> Option<u32> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

fn group_id(name: &str) -> Option<u32> {
    let groups = fs::read_to_string("/etc/group").ok()?;
    groups.lines().find_map(|l| {
        let mut f = l.split(':');
        (f.next() == Some(name)).then(|| f.nth(1)?.parse().ok()).flatten()
    })
}

pub fn serve(listener: UnixListener, calls: SyncSender<Call>, snapshot: Snapshot, ota: Arc<Ota>) {
    let active = Arc::new(AtomicUsize::new(0));
    for conn in listener.incoming() {
        let Ok(mut stream) = conn else { continue };
        if active.fetch_add(1, Ordering::SeqCst) >= MAX_CLIENTS {
            active.fetch_sub(1, Ordering::SeqCst);
            let _ = stream.set_write_timeout(Some(Duration::from_millis(200)));
            write_reply(&mut stream, &Reply::error("busy", "Too many requests at once; try again."));
            continue;
        }
        let (calls, snapshot, active, ota) = (calls.clone(), snapshot.clone(), active.clone(), ota.clone());
        std::thread::spawn(move || {
            let _ = stream.set_write_timeout(Some(DEADLINE));
            let reply = match read_request(&mut stream) {
                Ok(line) => answer(&line, &calls, &snapshot, &ota),
                Err(why) => bad(&why),
            };
            write_reply(&mut stream, &reply);
            active.fetch_sub(1, Ordering::SeqCst);
        });
    }
}

fn write_reply(stream: &mut UnixStream, reply: &Reply) {
    let mut line = serde_json::to_vec(reply).unwrap_or_else(|_| br#"{"ok":false}"#.to_vec());
    line.push(b'\n');
    let _ = stream.write_all(&line);
}

fn bad(message: &str) -> Reply {
    Reply::error("bad_request", message)
}

/// One line, within the deadline and the size limit.
fn read_request(stream: &mut UnixStream) -> Result<String, String> {
    let deadline = Instant::now() + DEADLINE;
    let mut buf = Vec::with_capacity(256);
    let mut chunk = [0u8; 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err("No complete request line within 5 seconds.".to_owned());
        }
        let _ = stream.set_read_timeout(Some(left));
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                if let Some(end) = buf.iter().position(|b| *b == b'\n') {
                    buf.truncate(end);
                    break;
                }
                if buf.len() > MAX_REQUEST {
                    return Err(format!("A request is at most {MAX_REQUEST} bytes."));
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Err("No complete request line within 5 seconds.".to_owned());
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return Err("The request could not be read.".to_owned()),
        }
    }
    if buf.len() > MAX_REQUEST {
        return Err(format!("A request is at most {MAX_REQUEST} bytes."));
    }
    if buf.last() == Some(&b'\r') {
        buf.pop();
    }
    String::from_utf8(buf).map_err(|_| "The request is not UTF-8.".to_owned())
}

fn answer(line: &str, calls: &SyncSender<Call>, snapshot: &Snapshot, ota: &Arc<Ota>) -> Reply {
    let req = match Request::parse(line) {
        Ok(r) => r,
        Err(e) => return bad(&format!("Not a valid request: {e}")),
    };
    match &req {
        Request::Status => {
            let status = snapshot.lock().unwrap_or_else(|p| p.into_inner()).clone();
            return Reply::Status { ok: true, status };
        }
        // Updates have their own thread and state (crate::ota), apart from the network driver.
        Request::OtaStatus => return ota.report(),
        Request::OtaInstall { name } => return ota.install(name),
        Request::OtaPlan { name } => return ota.plan(name),
        Request::OtaInstallDelta { name } => return ota.install_delta(name),
        Request::OtaHealthy => return ota.healthy(),
        Request::OtaRollback => return ota.rollback(),
        _ => {}
    }
    let cmd = match validate(req) {
        Ok(Some(c)) => c,
        Ok(None) => return bad("Not a network request."),
        Err(e) => return Reply::error("invalid_argument", e.to_string()),
    };
    let (tx, rx) = sync_channel(1);
    match calls.try_send(Call { cmd, reply: tx }) {
        Ok(()) => {}
        Err(TrySendError::Full(_)) => return Reply::error("busy", "The helper is busy; try again in a moment."),
        Err(TrySendError::Disconnected(_)) => return Reply::error("failed", "The helper is shutting down."),
    }
    rx.recv_timeout(REPLY_WAIT).unwrap_or_else(|_| Reply::error("failed", "The helper did not finish in time."))
}

/// Every field into a type that can only hold a valid value.
pub fn validate(req: Request) -> Result<Option<Command>, Invalid> {
    Ok(Some(match req {
        Request::Status | Request::WifiScan => Command::Scan,
        Request::WifiJoin { ssid, psk, hidden } => Command::Join(Credentials {
            ssid: Ssid::new(&ssid)?,
            // An empty password is how some forms say "open network".
            psk: psk.as_deref().filter(|p| !p.is_empty()).map(Psk::new).transpose()?,
            hidden,
        }),
        Request::WifiForget => Command::Forget,
        Request::SetCountry { country } => Command::Country(Country::new(&country)?),
        Request::SetHostname { name } => Command::Hostname(Hostname::new(&name)?),
        Request::SetTimezone { tz } => Command::Timezone(Timezone::new(&tz)?),
        Request::AdvertiseHttps { port } => Command::AdvertiseHttps(port.filter(|p| *p != 0)),
        Request::FactoryReset => Command::FactoryReset,
        Request::Reboot => Command::Reboot,
        // The action is one of two enum values (serde refused anything else); whether it fits
        // the box's state is the driver's to check.
        Request::DataFix { action } => Command::DataFix(action),
        // Answered before the driver (see `answer`).
        Request::OtaStatus
        | Request::OtaInstall { .. }
        | Request::OtaPlan { .. }
        | Request::OtaInstallDelta { .. }
        | Request::OtaHealthy
        | Request::OtaRollback => return Ok(None),
    }))
}
