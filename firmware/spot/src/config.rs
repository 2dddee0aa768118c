//! `spot.toml`: parsed raw (unknown keys rejected, naming the key), then validated into
//! [`Config`], whose errors also name the key.

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const FILE: &str = "spot.toml";
pub const DB: &str = "spot.db";
/// Uploaded files, custom emoji and link preview images, next to the database.
pub const FILES_DIR: &str = "files";

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub listen: Option<String>,
    pub public_origin: Option<String>,
    pub log_format: Option<String>,
    pub tls: Option<RawTls>,
    pub limits: Option<RawLimits>,
    pub gateway: Option<RawGateway>,
    pub voice: Option<RawVoice>,
    pub uploads: Option<RawUploads>,
    pub media: Option<RawMedia>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawMedia {
    /// Memory all image decodes in flight may take together, in MiB (default: from the RAM).
    pub decode_budget_mb: Option<u64>,
}

/// The decode budget for a machine with `mem_total_kib` of RAM: an eighth of it, at least
/// 64 MiB (a 512 MB Zero 2 W reports about 430 MB) and at most 512 MiB.
pub fn default_decode_budget_mb(mem_total_kib: Option<u64>) -> u64 {
    mem_total_kib.map_or(64, |kib| (kib / 1024 / 8).clamp(64, 512))
}

/// `MemTotal` from `/proc/meminfo`, in KiB.
fn mem_total_kib() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    info.lines().find_map(|l| l.strip_prefix("MemTotal:")).and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawUploads {
    /// Largest file one upload may be, in MiB.
    pub max_file_mb: Option<u64>,
    /// Most bytes one user's uploads may take together, in MiB.
    pub quota_mb: Option<u64>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawVoice {
    /// The one UDP port voice media uses, on every address of the box (0: any free port).
    pub port: Option<u16>,
    /// `ip:port` a router forwards to that port, announced to browsers outside the LAN.
    pub public_address: Option<String>,
}

/// Where voice media listens.
#[derive(Debug, Clone)]
pub struct Voice {
    pub listen: SocketAddr,
    pub public_address: Option<SocketAddr>,
}

/// The default voice port: one UDP port, above the range browsers and OSes hand out to clients.
pub const VOICE_PORT: u16 = 50000;

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawTls {
    pub cert: String,
    pub key: String,
    pub redirect_from: Option<String>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawLimits {
    pub message_max_chars: Option<usize>,
    pub event_retention: Option<i64>,
    pub send_burst: Option<u32>,
    pub send_interval_ms: Option<u64>,
    pub login_ip_burst: Option<u32>,
    pub login_user_burst: Option<u32>,
    /// A request's head must arrive within this long (also the keep-alive idle time).
    pub header_timeout_ms: Option<u64>,
    /// An upload's body may send nothing for this long (an update bundle: twice that).
    pub body_idle_ms: Option<u64>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawGateway {
    pub heartbeat_ms: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug)]
pub struct Tls {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub redirect_from: Option<SocketAddr>,
}

/// The validated configuration.
#[derive(Debug)]
pub struct Config {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    pub log_format: LogFormat,
    pub tls: Option<Tls>,
    pub server: server::ServerConfig,
    pub voice: Voice,
}

fn addr(key: &str, s: &str) -> Result<SocketAddr> {
    s.parse().with_context(|| format!("config key `{key}`: {s:?} is not an address like 0.0.0.0:8080"))
}

pub fn parse(text: &str) -> Result<RawConfig> {
    toml::from_str(text).map_err(|e| anyhow::anyhow!("{FILE}: {}", e.to_string().trim()))
}

impl RawConfig {
    /// Validate. `listen_override` (flag or SPOT_LISTEN) wins over the file.
    pub fn validate(self, data_dir: &Path, listen_override: Option<&str>) -> Result<Config> {
        let listen = match listen_override {
            Some(l) => addr("listen (SPOT_LISTEN / --listen)", l)?,
            None => addr("listen", self.listen.as_deref().unwrap_or("0.0.0.0:8080"))?,
        };
        let log_format = match self.log_format.as_deref().unwrap_or("text") {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            other => bail!("config key `log_format`: {other:?} is not \"text\" or \"json\""),
        };
        let public_origin = match self.public_origin.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(o) if (o.starts_with("http://") || o.starts_with("https://")) && !o.ends_with('/') => Some(o.to_owned()),
            Some(o) => bail!("config key `public_origin`: {o:?} must look like https://spot.local (no trailing slash)"),
        };
        let tls = match self.tls {
            None => None,
            Some(t) => {
                let cert = data_dir.join(&t.cert);
                let key = data_dir.join(&t.key);
                if !cert.is_file() {
                    bail!("config key `tls.cert`: {} does not exist", cert.display());
                }
                if !key.is_file() {
                    bail!("config key `tls.key`: {} does not exist", key.display());
                }
                let redirect_from = t.redirect_from.as_deref().map(|r| addr("tls.redirect_from", r)).transpose()?;
                Some(Tls { cert, key, redirect_from })
            }
        };
        // HTTPS never on port 80: a TLS box serves 443 and redirects 80 to it (whatever the
        // override or the file says).
        let (listen, tls) = match tls {
            Some(mut t) if listen.port() == 80 => {
                let https = SocketAddr::new(listen.ip(), 443);
                t.redirect_from = t.redirect_from.or(Some(listen));
                (https, Some(t))
            }
            other => (listen, other),
        };
        let mut server = server::ServerConfig {
            tls: tls.is_some(),
            public_origin,
            files_dir: data_dir.join(FILES_DIR),
            data_dir: data_dir.to_path_buf(),
            helper: server::helper::HelperClient::from_env(),
            ..Default::default()
        };
        let budget_mb = match self.media.and_then(|m| m.decode_budget_mb) {
            Some(mb) if !(8..=16_384).contains(&mb) => bail!("config key `media.decode_budget_mb`: must be 8 to 16384"),
            Some(mb) => mb,
            None => default_decode_budget_mb(mem_total_kib()),
        };
        server.decode_budget_bytes = budget_mb << 20;
        if let Some(u) = self.uploads {
            if let Some(mb) = u.max_file_mb {
                if !(1..=4096).contains(&mb) {
                    bail!("config key `uploads.max_file_mb`: must be 1 to 4096");
                }
                server.limits.upload_max_bytes = mb << 20;
            }
            if let Some(mb) = u.quota_mb {
                if !(1..=1 << 20).contains(&mb) {
                    bail!("config key `uploads.quota_mb`: must be 1 to 1048576");
                }
                server.limits.upload_quota_bytes = mb << 20;
            }
        }
        if let Some(l) = self.limits {
            if let Some(n) = l.message_max_chars {
                if !(1..=16_000).contains(&n) {
                    bail!("config key `limits.message_max_chars`: must be 1 to 16000");
                }
                server.limits.message_max_chars = n;
            }
            if let Some(n) = l.event_retention {
                if n < 1 {
                    bail!("config key `limits.event_retention`: must be at least 1");
                }
                server.event_retention = n;
            }
            if let Some(b) = l.send_burst {
                if b == 0 {
                    bail!("config key `limits.send_burst`: must be at least 1");
                }
                server.limits.send.burst = b;
            }
            if let Some(ms) = l.send_interval_ms {
                if ms == 0 {
                    bail!("config key `limits.send_interval_ms`: must be at least 1");
                }
                server.limits.send.every = Duration::from_millis(ms);
            }
            if let Some(b) = l.login_ip_burst {
                if b == 0 {
                    bail!("config key `limits.login_ip_burst`: must be at least 1");
                }
                server.limits.login_ip.burst = b;
            }
            if let Some(b) = l.login_user_burst {
                if b == 0 {
                    bail!("config key `limits.login_user_burst`: must be at least 1");
                }
                server.limits.login_user.burst = b;
            }
            if let Some(ms) = l.header_timeout_ms {
                if !(100..=600_000).contains(&ms) {
                    bail!("config key `limits.header_timeout_ms`: must be 100 to 600000");
                }
                server.header_timeout = Duration::from_millis(ms);
            }
            if let Some(ms) = l.body_idle_ms {
                if !(100..=600_000).contains(&ms) {
                    bail!("config key `limits.body_idle_ms`: must be 100 to 600000");
                }
                server.body_idle = Duration::from_millis(ms);
            }
        }
        if let Some(g) = self.gateway {
            if let Some(ms) = g.heartbeat_ms {
                if !(1_000..=120_000).contains(&ms) {
                    bail!("config key `gateway.heartbeat_ms`: must be 1000 to 120000");
                }
                server.heartbeat_ms = ms;
            }
        }
        let raw_voice = self.voice.unwrap_or_default();
        let public_address = raw_voice
            .public_address
            .as_deref()
            .map(|a| {
                let a = addr("voice.public_address", a)?;
                if a.ip().is_unspecified() || a.port() == 0 {
                    bail!("config key `voice.public_address`: needs a real address and port, like 203.0.113.7:50000");
                }
                Ok(a)
            })
            .transpose()?;
        server.public_address = public_address.map(|a: SocketAddr| a.ip());
        // `[::]` opens the port on every IPv4 and IPv6 address the box has.
        let voice = Voice {
            listen: SocketAddr::from(([0u16; 8], raw_voice.port.unwrap_or(VOICE_PORT))),
            public_address,
        };
        Ok(Config { data_dir: data_dir.to_path_buf(), listen, log_format, tls, server, voice })
    }
}

/// The configuration with TLS switched on (the certificate in `tls/cert.pem`, `tls/key.pem`),
/// given where the server listens now: port 80 becomes HTTPS on 443 with 80 redirecting;
/// any other port serves HTTPS itself. Returns the HTTPS port and the new raw configuration.
pub fn with_tls(data_dir: &Path, listening: SocketAddr) -> Result<(u16, RawConfig)> {
    let path = data_dir.join(FILE);
    let mut raw = parse(&std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?)?;
    let (listen, redirect) = if listening.port() == 80 {
        (SocketAddr::new(listening.ip(), 443), Some(listening.to_string()))
    } else {
        (listening, None)
    };
    raw.listen = Some(listen.to_string());
    raw.tls = Some(RawTls { cert: "tls/cert.pem".into(), key: "tls/key.pem".into(), redirect_from: redirect });
    Ok((listen.port(), raw))
}

/// Write `spot.toml` atomically (temporary file, fsync, rename, fsync the directory).
pub fn save(data_dir: &Path, raw: &RawConfig) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let text = format!("# Spot box configuration. See README.md (Configuration).\n{}", toml::to_string(raw)?);
    let tmp = data_dir.join(format!("{FILE}.tmp"));
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, data_dir.join(FILE))?;
    std::fs::File::open(data_dir)?.sync_all()?;
    Ok(())
}

pub fn load(data_dir: &Path, listen_override: Option<&str>) -> Result<Config> {
    let path = data_dir.join(FILE);
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    parse(&text)?.validate(data_dir, listen_override)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        match parse(text).and_then(|r| r.validate(Path::new("/nonexistent"), None)) {
            Ok(_) => String::new(),
            Err(e) => format!("{e:#}"),
        }
    }

    #[test]
    fn unknown_keys_are_named() {
        assert!(err("listen = \"0.0.0.0:1\"\nlistne = 3\n").contains("listne"));
        assert!(err("[limits]\nmesage_max_chars = 3\n").contains("mesage_max_chars"));
    }

    #[test]
    fn bad_values_name_their_key() {
        assert!(err("listen = \"nope\"").contains("`listen`"));
        assert!(err("log_format = \"xml\"").contains("`log_format`"));
        assert!(err("[tls]\ncert = \"c.pem\"\nkey = \"k.pem\"\n").contains("`tls.cert`"));
        assert!(err("[limits]\nmessage_max_chars = 0\n").contains("`limits.message_max_chars`"));
        assert!(err("listen = 5").contains("listen"));
        assert!(err("[voice]\npublic_address = \"nope\"\n").contains("`voice.public_address`"));
        assert!(err("[voice]\npublic_address = \"0.0.0.0:1\"\n").contains("`voice.public_address`"));
        assert!(err("[voice]\nport = 70000\n").contains("port"));
        assert!(err("[voice]\nprot = 1\n").contains("prot"));
        assert!(err("[limits]\nheader_timeout_ms = 0\n").contains("`limits.header_timeout_ms`"));
        assert!(err("[limits]\nbody_idle_ms = 700000\n").contains("`limits.body_idle_ms`"));
    }

    #[test]
    fn the_decode_budget_follows_the_ram_unless_set() {
        assert_eq!(default_decode_budget_mb(Some(437_000)), 64, "a 512 MB Zero 2 W");
        assert_eq!(default_decode_budget_mb(Some(930_000)), 113, "a 1 GB Pi 3");
        assert_eq!(default_decode_budget_mb(Some(3_900_000)), 476, "a 4 GB Pi 4");
        assert_eq!(default_decode_budget_mb(Some(16_000_000)), 512);
        assert_eq!(default_decode_budget_mb(None), 64);
        let c = parse("[media]\ndecode_budget_mb = 32\n").and_then(|r| r.validate(Path::new("/x"), None)).expect("valid");
        assert_eq!(c.server.decode_budget_bytes, 32 << 20);
        assert!(err("[media]\ndecode_budget_mb = 1\n").contains("`media.decode_budget_mb`"));
        assert!(err("[media]\ndecode_budget = 64\n").contains("decode_budget"));
    }

    #[test]
    fn defaults() {
        let c = parse("").and_then(|r| r.validate(Path::new("/x"), Some("127.0.0.1:0")));
        let c = c.expect("valid");
        assert_eq!(c.listen.port(), 0);
        assert!(c.tls.is_none());
        assert_eq!(c.log_format, LogFormat::Text);
        assert_eq!(c.voice.listen.port(), VOICE_PORT);
        assert!(c.voice.public_address.is_none());
        assert_eq!((c.server.header_timeout, c.server.body_idle), (Duration::from_secs(10), Duration::from_secs(30)));
        let c = parse("[limits]\nheader_timeout_ms = 500\nbody_idle_ms = 700\n").and_then(|r| r.validate(Path::new("/x"), None)).expect("valid");
        assert_eq!((c.server.header_timeout, c.server.body_idle), (Duration::from_millis(500), Duration::from_millis(700)));
    }
}
