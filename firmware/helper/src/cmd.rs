//! Running Debian's tools: short commands with a time limit, and long-running daemons
//! (hostapd, wpa_supplicant, dnsmasq) whose output lines come back as events.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Sender;
use std::time::{Duration, Instant};

/// Run `prog args` and return its stdout; fails on a non-zero exit (with stderr) or after
/// `secs`. Output is read on threads, so a large scan cannot fill the pipe and stall.
pub fn run(prog: &str, args: &[&str], secs: u64) -> Result<String, String> {
    let mut child = Command::new(prog)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{prog}: {e}"))?;
    let read = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            if let Some(mut r) = r {
                let _ = r.read_to_string(&mut s);
            }
            s
        })
    };
    let out = read(child.stdout.take().map(|r| Box::new(r) as Box<dyn Read + Send>));
    let err = read(child.stderr.take().map(|r| Box::new(r) as Box<dyn Read + Send>));
    let deadline = Instant::now() + Duration::from_secs(secs);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{prog} {} took longer than {secs} s", args.join(" ")));
            }
        }
    };
    let (out, err) = (out.join().unwrap_or_default(), err.join().unwrap_or_default());
    if status.success() {
        Ok(out)
    } else {
        Err(format!("{prog} {}: {}", args.join(" "), err.trim()))
    }
}

/// Which daemon a line came from, and which start of it (lines of a stopped one are stale).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tag {
    Hostapd,
    Wpa,
    Dnsmasq,
}

/// `None` as the line: the daemon's output ended (it exited).
pub type Line = (Tag, u64, Option<String>);

pub struct Daemon {
    pub child: Child,
    pub generation: u64,
}

/// Start a daemon in the foreground; each line of stdout and stderr is sent to `tx`, and
/// `None` once both have ended: dnsmasq points its stdout at /dev/null at start (it logs to
/// stderr), so one stream's end is no exit.
pub fn spawn(tag: Tag, generation: u64, prog: &str, args: &[&str], tx: &Sender<Line>) -> Result<Daemon, String> {
    let mut child = Command::new(prog)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{prog}: {e}"))?;
    let open = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(2));
    let forward = |r: Box<dyn Read + Send>| {
        let tx = tx.clone();
        let open = open.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(r).lines() {
                let Ok(line) = line else { break };
                if tx.send((tag, generation, Some(line))).is_err() {
                    return;
                }
            }
            if open.fetch_sub(1, std::sync::atomic::Ordering::SeqCst) == 1 {
                let _ = tx.send((tag, generation, None));
            }
        });
    };
    if let Some(out) = child.stdout.take() {
        forward(Box::new(out));
    }
    if let Some(err) = child.stderr.take() {
        forward(Box::new(err));
    }
    Ok(Daemon { child, generation })
}

/// Ask hostapd/wpa_supplicant to deinit the radio cleanly over its control socket, then
/// kill it if it has not exited within two seconds (std can only SIGKILL).
pub fn stop(mut d: Daemon, ctrl_socket: Option<&std::path::Path>) {
    if let Some(path) = ctrl_socket {
        if let Ok(sock) = std::os::unix::net::UnixDatagram::unbound() {
            let _ = sock.send_to(b"TERMINATE", path);
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = d.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    // A kill that fails (EPERM: the child dropped to another user and CAP_KILL is missing)
    // must not leave the caller waiting forever for a child that keeps running.
    if let Err(e) = d.child.kill() {
        eprintln!("spot-helper: stopping pid {}: {e}", d.child.id());
        return;
    }
    let _ = d.child.wait();
}
