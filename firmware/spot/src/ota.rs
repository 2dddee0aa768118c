//! `spot ota status|install FILE|URL|rollback`: the admin page's update actions from a shell (over
//! SSH on a box that has it, or on a development box with a helper). The work is the helper's;
//! this only hands it a file (a URL is downloaded first, through the SSRF-safe fetcher: only
//! that URL's host, within the bundle size limit) and reads its status.

use anyhow::{bail, Context, Result};
use setup::proto::{OtaReport, Reply, Request};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

#[derive(clap::Subcommand)]
pub enum OtaCmd {
    /// The slots, the install in progress and the update history.
    Status,
    /// Install an update bundle (.spotota: a file, or an http(s) URL to download it from) into
    /// the other slot; it starts at the next restart.
    Install { source: String },
    /// Boot the other (complete) system from the next restart on.
    Rollback,
}

fn socket() -> std::path::PathBuf {
    std::env::var_os("SPOT_HELPER_SOCKET").filter(|v| !v.is_empty()).map_or_else(|| setup::proto::SOCKET.into(), Into::into)
}

fn call(req: &Request) -> Result<Reply> {
    let path = socket();
    let mut s = UnixStream::connect(&path)
        .with_context(|| format!("the box's system helper is not reachable at {} (is this a Spot box image?)", path.display()))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut line = serde_json::to_vec(req)?;
    line.push(b'\n');
    s.write_all(&line)?;
    let mut out = String::new();
    BufReader::new(s).read_line(&mut out)?;
    match serde_json::from_str::<Reply>(out.trim()).context("the helper's answer")? {
        Reply::Error { error, .. } => bail!("{} ({})", error.message, error.code),
        r => Ok(r),
    }
}

fn report() -> Result<OtaReport> {
    match call(&Request::OtaStatus)? {
        Reply::Ota { ota, .. } => Ok(ota),
        _ => bail!("the helper gave no update status"),
    }
}

fn print(r: &OtaReport) {
    println!("running   version {} on {}", r.version, r.board);
    for s in &r.slots {
        let mut tags = vec![];
        if s.running {
            tags.push("running");
        }
        if s.primary {
            tags.push("committed");
        }
        if s.trial {
            tags.push("on trial");
        }
        let what = if s.state == "good" { format!("version {}", s.version) } else { "empty".into() };
        println!("slot {}    {what}{}", s.name, if tags.is_empty() { String::new() } else { format!(" ({})", tags.join(", ")) });
    }
    println!("floor     {}", r.floor);
    let p = &r.status;
    match p.phase.as_str() {
        "installing" => println!("now       installing {}: {} of {} bytes", p.version.as_deref().unwrap_or("?"), p.done.unwrap_or(0), p.total.unwrap_or(0)),
        "staged" => println!("now       {} is installed: it starts at the next restart", p.version.as_deref().unwrap_or("?")),
        "trial" => println!("now       trying {}: commits when healthy", p.version.as_deref().unwrap_or("?")),
        _ => println!("now       no update in progress"),
    }
    for h in r.history.iter().take(10) {
        let why = h.message.as_deref().map(|m| format!(": {m}")).unwrap_or_default();
        let code = h.code.as_deref().map(|c| format!(" [{c}]")).unwrap_or_default();
        println!("history   {} {} {}{code}{why}", h.at, h.outcome, h.version.as_deref().unwrap_or(""));
    }
}

pub fn run(data_dir: &Path, cmd: OtaCmd) -> Result<()> {
    match cmd {
        OtaCmd::Status => {
            print(&report()?);
            Ok(())
        }
        OtaCmd::Rollback => {
            call(&Request::OtaRollback)?;
            println!("the other system starts at the next restart");
            Ok(())
        }
        OtaCmd::Install { source } => install(data_dir, &source),
    }
}

/// The largest bundle accepted (the upload's limit).
const MAX_BUNDLE: u64 = server::updates::MAX_BUNDLE;

/// Downloads `url` into `part`: only its own host is reachable (a LAN server is fine: the admin
/// named it), within `MAX_BUNDLE`, through `fetch` (one vetted connect, redirects re-checked).
fn download(raw: &str, part: &Path) -> Result<()> {
    let u = url::Url::parse(raw).with_context(|| format!("{raw} is not a web address"))?;
    if !matches!(u.scheme(), "http" | "https") || !u.username().is_empty() || u.password().is_some() {
        bail!("{raw}: only http:// and https:// addresses without a user name or password");
    }
    let host = u.host_str().context("the address has no host")?;
    let entry = match u.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    };
    let allow = fetch::Allowlist::parse([entry]).map_err(|e| anyhow::anyhow!("{raw} cannot be fetched: {}", e.0))?;
    let fetcher = fetch::Fetcher::new(fetch::Policy::with_allowlist(allow));
    let mut file = std::fs::File::create(part).with_context(|| format!("creating {}", part.display()))?;
    let opts = fetch::GetOptions { accept: vec![], max_bytes: MAX_BUNDLE as usize, truncate: false };
    let (mut got, mut shown) = (0u64, 0u64);
    let t = Instant::now();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let res = rt.block_on(fetcher.get_streaming(u.as_str(), &opts, Duration::from_secs(4 * 3600), &mut |b: &[u8]| {
        if got == 0 && !ota::bundle::MAGIC.starts_with(&b[..b.len().min(8)]) {
            return Err("not a Spot box update bundle (.spotota)".into());
        }
        file.write_all(b).map_err(|e| e.to_string())?;
        got += b.len() as u64;
        if got - shown >= 16 << 20 {
            shown = got;
            let rate = got as f64 / t.elapsed().as_secs_f64().max(0.001) / 1048576.0;
            eprintln!("downloading: {} MiB ({rate:.1} MiB/s)", got >> 20);
        }
        Ok(())
    }));
    if let Err(e) = res {
        let _ = std::fs::remove_file(part);
        bail!("downloading {raw}: {} ({})", e.detail, e.reason.code());
    }
    file.sync_all()?;
    eprintln!("downloaded {} MiB in {:.0} s", got >> 20, t.elapsed().as_secs_f64());
    Ok(())
}

fn install(data_dir: &Path, source: &str) -> Result<()> {
    let is_url = source.starts_with("http://") || source.starts_with("https://");
    if !is_url {
        let file = Path::new(source);
        let mut f = std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
        let mut magic = [0u8; 8];
        if f.read_exact(&mut magic).is_err() || &magic != ota::bundle::MAGIC {
            bail!("{} is not a Spot box update bundle (.spotota)", file.display());
        }
    }
    let before = report()?.history.first().cloned();
    let dir = data_dir.join("ota").join("incoming");
    std::fs::create_dir_all(&dir)?;
    let name = format!("cli-{}.spotota", std::process::id());
    let part = dir.join(format!("{name}.part"));
    if is_url {
        download(source, &part)?;
    } else {
        std::fs::copy(source, &part).with_context(|| format!("copying {source} into {}", dir.display()))?;
        std::fs::File::open(&part)?.sync_all()?;
    }
    std::fs::rename(&part, dir.join(&name))?;
    if let Err(e) = call(&Request::OtaInstall { name: name.clone() }) {
        let _ = std::fs::remove_file(dir.join(&name));
        return Err(e);
    }
    let t = Instant::now();
    let mut last = String::new();
    loop {
        std::thread::sleep(Duration::from_millis(500));
        let r = report()?;
        if r.status.phase == "installing" {
            let line = format!("installing: {} of {} bytes", r.status.done.unwrap_or(0), r.status.total.unwrap_or(0));
            if line != last {
                eprintln!("{line}");
                last = line;
            }
        } else if r.history.first() != before.as_ref() {
            let h = &r.history[0];
            if h.outcome == "staged" {
                println!("installed {}: restart the box to start it (it goes back by itself if it does not start)", h.version.as_deref().unwrap_or("?"));
                return Ok(());
            }
            bail!("the update was refused: {} ({})", h.message.as_deref().unwrap_or("?"), h.code.as_deref().unwrap_or("?"));
        }
        if t.elapsed() > Duration::from_secs(3600) {
            bail!("the install did not finish within an hour");
        }
    }
}
