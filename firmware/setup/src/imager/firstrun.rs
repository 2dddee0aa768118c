//! `firstrun.sh` as Imager writes it: each setting is an `imager_custom …` (or `userconf …`)
//! line, followed in an `else` branch by a fallback for images without those tools
//! (`echo NAME >/etc/hostname`, a wpa_supplicant.conf here-document, …). The first form is read; a fallback
//! only fills what the first form did not say. Any other line is ignored.

use super::shell::{tokenize, Cmd};
use super::{Collect, Preset};

#[derive(Default)]
struct Found {
    hostname: Option<String>,
    user: Option<(String, String)>,
    wlan: Option<Wlan>,
    country: Option<String>,
    keymap: Option<String>,
    timezone: Option<String>,
    keys: Vec<String>,
    ssh_asked: bool,
    complete: bool,
    // Fallbacks.
    fb_hostname: Option<String>,
    fb_hash: Option<String>,
    fb_user: Option<String>,
    fb_wlan: Option<Wlan>,
    fb_country: Option<String>,
    fb_keymap: Option<String>,
    fb_timezone: Option<String>,
}

struct Wlan {
    ssid: String,
    psk: String,
    hidden: bool,
}

pub fn parse(text: &str) -> Preset {
    let mut preset = Preset::default();
    let (cmds, clean) = tokenize(text);
    if !clean {
        preset.warnings.push("firstrun.sh stops inside a quote or here-document (cut short?): only the complete lines before it were used".into());
    }
    let mut f = Found::default();
    for cmd in &cmds {
        look(cmd, &mut f);
    }
    if clean && !f.complete {
        preset.warnings.push("firstrun.sh has no closing \"exit 0\" (cut short?): what was complete was used".into());
    }

    let mut c = Collect { preset: &mut preset };
    if let Some(h) = f.hostname.or(f.fb_hostname) {
        c.hostname(&h);
    }
    let user = f.user.or_else(|| f.fb_hash.map(|h| (f.fb_user.unwrap_or_else(|| "pi".into()), h)));
    if let Some((name, hash)) = user {
        c.user(&name, &hash);
    }
    if let Some(w) = f.wlan.or(f.fb_wlan) {
        c.wifi(&w.ssid, Some(&w.psk), w.hidden);
    }
    if let Some(cc) = f.country.or(f.fb_country) {
        c.country(&cc);
    }
    if let Some(k) = f.keymap.or(f.fb_keymap) {
        c.keymap(&k);
    }
    if let Some(tz) = f.timezone.or(f.fb_timezone) {
        c.timezone(&tz);
    }
    c.ssh_keys(f.keys);
    c.ssh_finish(f.ssh_asked, false);
    preset
}

fn tool(word: &str, name: &str) -> bool {
    word == name || word.ends_with(&format!("/{name}"))
}

fn look(cmd: &Cmd, f: &mut Found) {
    let words = cmd.words();
    let Some((&first, args)) = words.split_first() else { return };
    if tool(first, "imager_custom") {
        let Some((&sub, args)) = args.split_first() else { return };
        let flags = |a: &&str| a.starts_with('-');
        let plain: Vec<&str> = args.iter().copied().filter(|a| !flags(a)).collect();
        match sub {
            "set_hostname" => f.hostname = f.hostname.take().or(plain.first().map(|s| s.to_string())),
            "set_keymap" => f.keymap = f.keymap.take().or(plain.first().map(|s| s.to_string())),
            "set_timezone" => f.timezone = f.timezone.take().or(plain.first().map(|s| s.to_string())),
            "enable_ssh" => {
                f.ssh_asked = true;
                f.keys.extend(plain.iter().map(|s| s.to_string()));
            }
            "set_wlan" if f.wlan.is_none() => {
                let hidden = args.iter().any(|a| *a == "-h" || *a == "--hidden");
                if let Some(ssid) = plain.first() {
                    f.wlan = Some(Wlan { ssid: ssid.to_string(), psk: plain.get(1).unwrap_or(&"").to_string(), hidden });
                    if let Some(cc) = plain.get(2) {
                        f.country = Some(cc.to_string());
                    }
                }
            }
            _ => {}
        }
    } else if tool(first, "userconf") && f.user.is_none() {
        if let [user, hash, ..] = args {
            f.user = Some((user.to_string(), hash.to_string()));
        }
    } else if first == "exit" && args.first() == Some(&"0") {
        f.complete = true;
    } else if first == "echo" {
        let target = cmd.after(">");
        match (args, target) {
            ([name], Some("/etc/hostname")) => f.fb_hostname = Some(name.to_string()),
            ([tz], Some("/etc/timezone")) => f.fb_timezone = Some(tz.to_string()),
            ([pair], None) if cmd.toks.iter().any(|t| matches!(t, super::shell::Tok::Word(w) if w == "chpasswd")) => {
                if let Some(hash) = pair.strip_prefix("$FIRSTUSER:") {
                    f.fb_hash = Some(hash.to_string());
                }
            }
            _ => {}
        }
    } else if first == "usermod" {
        // usermod -l "NEW" "$FIRSTUSER": the fallback's rename of the first user.
        if let ["-l", new, "$FIRSTUSER"] = args {
            f.fb_user = Some(new.to_string());
        }
    } else if first == "systemctl" && args == ["enable", "ssh"] {
        f.ssh_asked = true;
    } else if first == "cat" {
        let (Some(target), Some(body)) = (cmd.after(">"), cmd.heredoc.as_deref()) else { return };
        if target == "/etc/wpa_supplicant/wpa_supplicant.conf" {
            wpa_conf(body, f);
        } else if target.ends_with("/.ssh/authorized_keys") {
            f.keys.extend(body.lines().map(str::to_owned));
        } else if target == "/etc/default/keyboard" {
            f.fb_keymap = body.lines().find_map(|l| l.strip_prefix("XKBLAYOUT=")).map(|v| v.trim_matches('"').to_owned());
        }
    }
}

/// The fallback's wpa_supplicant.conf: `country=`, and the first `network={…}`.
fn wpa_conf(body: &str, f: &mut Found) {
    let mut ssid = None;
    let mut psk = String::new();
    let mut hidden = false;
    let mut in_net = false;
    for line in body.lines().map(str::trim) {
        if let Some(cc) = line.strip_prefix("country=") {
            f.fb_country = Some(cc.to_owned());
        } else if line.starts_with("network={") {
            if ssid.is_some() {
                break;
            }
            in_net = true;
        } else if line == "}" {
            in_net = false;
        } else if in_net {
            if let Some(v) = line.strip_prefix("ssid=") {
                ssid = wpa_string(v);
            } else if let Some(v) = line.strip_prefix("psk=") {
                psk = v.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(v).to_owned();
            } else if line == "scan_ssid=1" {
                hidden = true;
            }
        }
    }
    if let Some(ssid) = ssid {
        f.fb_wlan = Some(Wlan { ssid, psk, hidden });
    }
}

/// A wpa_supplicant string: `"text"` (Imager escapes `\` and `"` in it), `hex:…` or bare hex.
fn wpa_string(v: &str) -> Option<String> {
    if let Some(inner) = v.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        let mut out = String::new();
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            out.push(if c == '\\' { chars.next()? } else { c });
        }
        return Some(out);
    }
    let hex = v.strip_prefix("hex:").unwrap_or(v);
    if hex.len() % 2 != 0 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let bytes: Vec<u8> = (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap_or(0)).collect();
    String::from_utf8(bytes).ok()
}
