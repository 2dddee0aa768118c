//! What Raspberry Pi Imager's OS customisation writes on the boot partition, read as data:
//! `firstrun.sh` (`init_format: systemd`, Imager ≤ 1.8 and 2.x) and cloud-init's `user-data` +
//! `network-config` (+ `meta-data`; `cloudinit`/`cloudinit-rpi`, Imager 1.9+/2.x), plus what
//! Imager appends to `cmdline.txt`. Nothing is ever run or expanded: the shell is tokenized
//! ([`shell`]), the YAML is read as a small subset ([`yaml`]), and only lines whose shape Imager
//! writes are looked at. Every value is validated into the types of [`crate::validate`]; what
//! does not fit is dropped with a warning in words, never half-used.

mod cloudinit;
mod firstrun;
pub mod shell;
pub mod yaml;

use crate::net::Credentials;
use crate::validate::{Country, Hostname, Timezone};
use std::fmt;

/// Larger files are refused unread: Imager's are a few KiB.
pub const MAX_FILE: usize = 1 << 20;

/// The files Imager may leave on the boot partition, by name.
pub const FILES: &[&str] = &["firstrun.sh", "user-data", "network-config", "meta-data"];

/// What the person asked Imager for, as far as this box can use it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Preset {
    /// Host name (and mDNS name); also the box name the wizard would have asked for.
    pub hostname: Option<Hostname>,
    /// The account that becomes the box's admin (Imager's user name and password hash).
    pub user: Option<User>,
    /// The Wi-Fi network to join, as the helper saves it.
    pub wifi: Option<Credentials>,
    /// The Wi-Fi regulatory domain. Apart from `wifi`: Imager sets it without a network too.
    pub country: Option<Country>,
    pub timezone: Option<Timezone>,
    /// Keyboard layout (`us`, `de`): recorded; the box has no console keyboard to set.
    pub keymap: Option<String>,
    pub ssh: Ssh,
    /// What was found but not used, and why, in words. Never holds a secret.
    pub warnings: Vec<String>,
}

impl Preset {
    /// Nothing usable was found.
    pub fn is_empty(&self) -> bool {
        self.hostname.is_none()
            && self.user.is_none()
            && self.wifi.is_none()
            && self.country.is_none()
            && self.timezone.is_none()
            && self.keymap.is_none()
            && !self.ssh.enabled
    }

    /// Fills what `self` lacks from `other` (when two formats are present).
    fn fill_from(&mut self, other: Preset) {
        self.hostname = self.hostname.take().or(other.hostname);
        self.user = self.user.take().or(other.user);
        self.wifi = self.wifi.take().or(other.wifi);
        self.country = self.country.take().or(other.country);
        self.timezone = self.timezone.take().or(other.timezone);
        self.keymap = self.keymap.take().or(other.keymap);
        if !self.ssh.enabled {
            self.ssh = other.ssh;
        }
        self.warnings.extend(other.warnings);
    }
}

#[derive(Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    /// A crypt(3) hash as Imager wrote it (`$5$…`, `$6$…`, `$y$…`); never a plain password.
    pub password_hash: String,
    pub scheme: HashScheme,
}

/// Never print a hash, not even in a debug log.
impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "User {{ name: {:?}, password_hash: {:?}(***) }}", self.name, self.scheme)
    }
}

/// The crypt schemes a preset may carry. Imager 1.x writes sha256-crypt; Imager 2.x writes
/// yescrypt for images released 2023 or later and sha256-crypt for older ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashScheme {
    /// `$5$`
    Sha256Crypt,
    /// `$6$`
    Sha512Crypt,
    /// `$y$`
    Yescrypt,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Ssh {
    /// Asked for with at least one key. (The image has no SSH server: recorded only.)
    pub enabled: bool,
    /// `authorized_keys` lines.
    pub keys: Vec<String>,
}

/// Why a whole file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("{file} is {size} bytes, more than the {max} bytes Imager ever writes; it was not read", max = MAX_FILE)]
    TooLarge { file: String, size: usize },
    #[error("{file} is not a text file (binary or not UTF-8); it was not read")]
    NotText { file: String },
}

/// The boot partition's files, as read by the caller (`None`: absent).
#[derive(Debug, Clone, Default)]
pub struct BootFiles {
    pub firstrun: Option<Vec<u8>>,
    pub user_data: Option<Vec<u8>>,
    pub network_config: Option<Vec<u8>>,
    pub cmdline: Option<Vec<u8>>,
}

/// Everything usable from the boot partition. Never fails: a refused file becomes a warning.
pub fn read_preset(files: &BootFiles) -> Preset {
    let mut preset = Preset::default();
    if let Some(bytes) = &files.firstrun {
        match parse_firstrun(bytes) {
            Ok(p) => preset = p,
            Err(e) => preset.warnings.push(e.to_string()),
        }
    }
    if files.user_data.is_some() || files.network_config.is_some() {
        match parse_cloud_init(files.user_data.as_deref(), files.network_config.as_deref()) {
            Ok(p) => {
                if files.firstrun.is_some() {
                    preset.warnings.push("both firstrun.sh and cloud-init files were found; firstrun.sh was used where both set something".into());
                }
                preset.fill_from(p);
            }
            Err(e) => preset.warnings.push(e.to_string()),
        }
    }
    if let Some(cmdline) = files.cmdline.as_deref().and_then(|b| std::str::from_utf8(b).ok()) {
        if preset.country.is_none() {
            preset.country = cmdline_country(cmdline);
        }
    }
    preset
}

/// Reads an Imager `firstrun.sh`.
pub fn parse_firstrun(bytes: &[u8]) -> Result<Preset, Error> {
    let (text, mut warnings) = text("firstrun.sh", bytes)?;
    let mut preset = firstrun::parse(&text);
    warnings.append(&mut preset.warnings);
    preset.warnings = warnings;
    Ok(preset)
}

/// Reads cloud-init's `user-data` and `network-config` (either may be absent).
pub fn parse_cloud_init(user_data: Option<&[u8]>, network_config: Option<&[u8]>) -> Result<Preset, Error> {
    let mut warnings = Vec::new();
    let user = match user_data {
        Some(b) => Some(text("user-data", b)?),
        None => None,
    };
    let net = match network_config {
        Some(b) => Some(text("network-config", b)?),
        None => None,
    };
    let user = user.map(|(t, mut w)| {
        warnings.append(&mut w);
        t
    });
    let net = net.map(|(t, mut w)| {
        warnings.append(&mut w);
        t
    });
    let mut preset = cloudinit::parse(user.as_deref(), net.as_deref());
    warnings.append(&mut preset.warnings);
    preset.warnings = warnings;
    Ok(preset)
}

/// A file's text: size-checked, BOM and CRs removed, and cut after its last newline (Imager
/// ends every file with one, so anything after it is a truncated line).
pub fn text(file: &str, bytes: &[u8]) -> Result<(String, Vec<String>), Error> {
    if bytes.len() > MAX_FILE {
        return Err(Error::TooLarge { file: file.into(), size: bytes.len() });
    }
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    let mut warnings = Vec::new();
    let valid = match std::str::from_utf8(bytes) {
        Ok(s) => s,
        // Cut inside a multi-byte character at the very end: a truncated file, not garbage.
        Err(e) if e.error_len().is_none() => std::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or(""),
        Err(_) => return Err(Error::NotText { file: file.into() }),
    };
    let nul_or_control = valid.chars().any(|c| c == '\0' || (c.is_control() && !"\n\r\t".contains(c)));
    if nul_or_control {
        return Err(Error::NotText { file: file.into() });
    }
    let mut text = valid.replace("\r\n", "\n");
    if !text.is_empty() && !text.ends_with('\n') {
        let keep = text.rfind('\n').map_or(0, |i| i + 1);
        text.truncate(keep);
        warnings.push(format!("{file} does not end with a line break (cut short?): its last line was not used"));
    }
    Ok((text, warnings))
}

/// The regulatory domain Imager adds to `cmdline.txt` (`cfg80211.ieee80211_regdom=DE`).
pub fn cmdline_country(cmdline: &str) -> Option<Country> {
    cmdline
        .split_ascii_whitespace()
        .filter_map(|w| w.strip_prefix("cfg80211.ieee80211_regdom="))
        .find_map(|c| Country::new(&c.to_ascii_uppercase()).ok())
}

/// `cmdline.txt` without what Imager appended (`systemd.run=…` and its companions,
/// `ds=nocloud…`, the regulatory domain); `None` if there was nothing to remove. Our U-Boot
/// script builds the kernel command line itself, so none of it ever ran; it goes so that the
/// file says what the box does.
pub fn clean_cmdline(cmdline: &str) -> Option<String> {
    let imagers = |w: &&str| {
        w.starts_with("systemd.run=")
            || w.starts_with("systemd.run_success_action=")
            || w.starts_with("systemd.run_failure_action=")
            || *w == "systemd.unit=kernel-command-line.target"
            || w.starts_with("ds=nocloud")
            || w.starts_with("cfg80211.ieee80211_regdom=")
    };
    let words: Vec<&str> = cmdline.split_ascii_whitespace().collect();
    if !words.iter().any(&imagers) {
        return None;
    }
    let kept: Vec<&str> = words.into_iter().filter(|w| !imagers(w)).collect();
    Some(kept.join(" ") + "\n")
}

// --- validation shared by both formats -----------------------------------------------------

/// Checks one piece and records it, or says in `warnings` why it was left out.
pub(crate) struct Collect<'a> {
    pub preset: &'a mut Preset,
}

impl Collect<'_> {
    fn warn(&mut self, w: impl Into<String>) {
        self.preset.warnings.push(w.into());
    }

    pub fn hostname(&mut self, raw: &str) {
        // Imager writes what the person typed; host names are case-insensitive.
        match Hostname::new(&raw.to_ascii_lowercase()) {
            Ok(h) => self.preset.hostname = Some(h),
            Err(e) => self.warn(format!("host name not used: {e}")),
        }
    }

    pub fn timezone(&mut self, raw: &str) {
        match Timezone::new(raw) {
            Ok(tz) => self.preset.timezone = Some(tz),
            Err(e) => self.warn(format!("time zone not used: {e}")),
        }
    }

    pub fn keymap(&mut self, raw: &str) {
        let ok = !raw.is_empty() && raw.len() <= 32 && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-,()".contains(&b));
        if ok {
            self.preset.keymap = Some(raw.to_owned());
        } else {
            self.warn("keyboard layout not used: not a layout name");
        }
    }

    pub fn country(&mut self, raw: &str) {
        if raw.is_empty() {
            return;
        }
        match Country::new(&raw.to_ascii_uppercase()) {
            Ok(c) => self.preset.country = Some(c),
            Err(e) => self.warn(format!("Wi-Fi country not used: {e}")),
        }
    }

    /// `psk`: empty or `None` for an open network.
    pub fn wifi(&mut self, ssid: &str, psk: Option<&str>, hidden: bool) {
        use crate::validate::{Psk, Ssid};
        let ssid = match Ssid::new(ssid) {
            Ok(s) => s,
            Err(e) => return self.warn(format!("Wi-Fi network not used: {e}")),
        };
        let psk = match psk.filter(|p| !p.is_empty()).map(Psk::new).transpose() {
            Ok(p) => p,
            // The words never include the password itself.
            Err(e) => return self.warn(format!("Wi-Fi network not used: {e}")),
        };
        self.preset.wifi = Some(Credentials { ssid, psk, hidden });
    }

    pub fn user(&mut self, name: &str, hash: &str) {
        let name_ok = !name.is_empty()
            && name.len() <= 32
            && name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
            && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if !name_ok {
            return self.warn("user not used: a user name is 1 to 32 of a-z, 0-9, _ and -, starting with a letter");
        }
        if hash.is_empty() {
            return self.warn(format!("user {name} has no password: the setup wizard will ask for the admin account"));
        }
        let Some(scheme) = hash_scheme(hash) else {
            return self.warn(format!(
                "the password of user {name} is not a sha256-crypt, sha512-crypt or yescrypt hash: the setup wizard will ask for the admin account"
            ));
        };
        if scheme == HashScheme::Yescrypt {
            self.warn(format!(
                "the password of user {name} is a yescrypt hash ($y$, Imager 2 for images from 2023 on): it becomes the admin password only if the box can check yescrypt"
            ));
        }
        self.preset.user = Some(User { name: name.to_owned(), password_hash: hash.to_owned(), scheme });
    }

    pub fn ssh_keys(&mut self, keys: impl IntoIterator<Item = String>) {
        for key in keys {
            let key = key.trim().to_owned();
            let ok = key.len() <= 16 * 1024
                && key.split_ascii_whitespace().count() >= 2
                && !key.chars().any(char::is_control)
                && (key.starts_with("ssh-") || key.starts_with("ecdsa-") || key.starts_with("sk-"));
            if ok {
                if !self.preset.ssh.keys.contains(&key) {
                    self.preset.ssh.keys.push(key);
                }
            } else if !key.is_empty() {
                self.warn("an SSH key was not used: not an OpenSSH public key line");
            }
        }
    }

    /// Call once at the end with what the file asked for.
    pub fn ssh_finish(&mut self, asked: bool, password_auth: bool) {
        if !self.preset.ssh.keys.is_empty() {
            self.preset.ssh.enabled = true;
            self.warn("SSH with a key was asked for: recorded, but this box has no SSH server");
        } else if asked || password_auth {
            self.warn("SSH with a password was asked for and is ignored: SSH stays off unless asked for with a key (and this box has no SSH server)");
        }
    }
}

/// The scheme of a crypt(3) string in the shape that scheme has, or `None`.
pub fn hash_scheme(hash: &str) -> Option<HashScheme> {
    let b64 = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'/');
    if hash.len() > 256 {
        return None;
    }
    let parts: Vec<&str> = hash.split('$').collect();
    match parts.as_slice() {
        ["", id @ ("5" | "6"), rest @ ..] => {
            let (salt, out) = match rest {
                [rounds, salt, out] if rounds.strip_prefix("rounds=").is_some_and(|n| n.parse::<u32>().is_ok()) => (salt, out),
                [salt, out] => (salt, out),
                _ => return None,
            };
            let want = if *id == "5" { 43 } else { 86 };
            let salt_ok = salt.len() <= 16 && !salt.contains(':') && !salt.chars().any(char::is_whitespace);
            (salt_ok && out.len() == want && b64(out)).then_some(if *id == "5" { HashScheme::Sha256Crypt } else { HashScheme::Sha512Crypt })
        }
        ["", "y", params, salt, out] => (b64(params) && b64(salt) && b64(out)).then_some(HashScheme::Yescrypt),
        _ => None,
    }
}
