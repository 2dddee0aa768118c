//! cloud-init's NoCloud `user-data` (`#cloud-config`) and `network-config` (netplan v2) as
//! Imager writes them. Imager 1.8 wrote `users: [- name: …]` and a `network-config` without the
//! `network:` wrapper (regulatory domain on cmdline.txt); Imager 2.x writes `user:` (singular),
//! quoted hashes and SSIDs, `network: {version: 2, wifis: {wlan0: {regulatory-domain, …}}}`.
//! Both are read. `runcmd`, `packages`, `write_files`… are never looked at.

use super::yaml::{self, Value};
use super::{Collect, Preset};

pub fn parse(user_data: Option<&str>, network_config: Option<&str>) -> Preset {
    let mut preset = Preset::default();
    let mut asked_pw = false;
    let mut keys = Vec::new();
    if let Some(text) = user_data {
        if !text.trim_start().starts_with("#cloud-config") {
            preset.warnings.push("user-data does not start with #cloud-config: read as cloud-config anyway".into());
        }
        let (doc, warnings) = yaml::parse(text);
        preset.warnings.extend(warnings.into_iter().map(|w| format!("user-data {w}")));
        let mut c = Collect { preset: &mut preset };
        if let Some(h) = doc.get("hostname").and_then(Value::as_str) {
            c.hostname(h);
        } else if let Some(fqdn) = doc.get("fqdn").and_then(Value::as_str) {
            c.hostname(fqdn.split('.').next().unwrap_or(""));
        }
        if let Some(tz) = doc.get("timezone").and_then(Value::as_str) {
            c.timezone(tz);
        }
        if let Some(layout) = doc.get("keyboard").and_then(|k| k.get("layout")).and_then(Value::as_str) {
            c.keymap(layout);
        }
        // `user:` (a map, or a bare name) and `users:` (a list whose "default" entries mean the
        // distro's user): the first named account is the admin.
        let mut accounts: Vec<&Value> = Vec::new();
        if let Some(u) = doc.get("user") {
            accounts.push(u);
        }
        accounts.extend(doc.get("users").map(Value::as_seq).unwrap_or(&[]).iter().filter(|u| u.as_str() != Some("default")));
        let named: Vec<&Value> = accounts.iter().copied().filter(|u| u.get("name").and_then(Value::as_str).is_some()).collect();
        if named.len() > 1 {
            c.preset.warnings.push("user-data has several users: only the first becomes the admin".into());
        }
        if let Some(u) = named.first() {
            let name = u.get("name").and_then(Value::as_str).unwrap_or_default();
            let hash = u.get("passwd").or_else(|| u.get("hashed_passwd")).and_then(Value::as_str);
            let locked = u.get("lock_passwd").and_then(Value::as_bool).unwrap_or(false);
            if u.get("plain_text_passwd").is_some() {
                c.preset.warnings.push(format!("user {name} has a plain-text password, which is never used or kept: the setup wizard will ask"));
            }
            match hash {
                Some(_) if locked => c.preset.warnings.push(format!("user {name} has a locked password: the setup wizard will ask for the admin account")),
                Some(h) => c.user(name, h),
                None => c.user(name, ""),
            }
            keys.extend(strings(u.get("ssh_authorized_keys")));
        }
        keys.extend(strings(doc.get("ssh_authorized_keys")));
        asked_pw = doc.get("ssh_pwauth").and_then(Value::as_bool).unwrap_or(false);
    }
    if let Some(text) = network_config {
        let (doc, warnings) = yaml::parse(text);
        preset.warnings.extend(warnings.into_iter().map(|w| format!("network-config {w}")));
        network(doc.get("network").unwrap_or(&doc), &mut preset);
    }
    let mut c = Collect { preset: &mut preset };
    c.ssh_keys(keys);
    c.ssh_finish(false, asked_pw);
    preset
}

fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Seq(items)) => items.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
        Some(Value::Str(s)) => vec![s.clone()],
        _ => Vec::new(),
    }
}

/// The first Wi-Fi interface's regulatory domain and first access point.
fn network(root: &Value, preset: &mut Preset) {
    let wifis = root.get("wifis").map(Value::as_map).unwrap_or(&[]);
    // Imager 1.8 put `renderer: networkd` among the interfaces.
    let Some((_, iface)) = wifis.iter().find(|(_, v)| matches!(v, Value::Map(_))) else { return };
    let mut c = Collect { preset };
    if let Some(cc) = iface.get("regulatory-domain").and_then(Value::as_str) {
        c.country(cc);
    }
    let aps = iface.get("access-points").map(Value::as_map).unwrap_or(&[]);
    if aps.len() > 1 {
        c.preset.warnings.push("network-config lists several Wi-Fi networks: only the first is used".into());
    }
    let Some((ssid, ap)) = aps.first() else { return };
    let auth = ap.get("auth");
    let open = auth.and_then(|a| a.get("key-management")).and_then(Value::as_str) == Some("none");
    let psk = ap.get("password").or_else(|| auth.and_then(|a| a.get("password"))).and_then(Value::as_str);
    let hidden = ap.get("hidden").and_then(Value::as_bool).unwrap_or(false);
    // Imager marks an open network (`key-management: none`); an access point with neither
    // that nor a password is a cut-short file, not an invitation to join without one.
    match (open, psk) {
        (true, _) => c.wifi(ssid, None, hidden),
        (false, Some(psk)) => c.wifi(ssid, Some(psk), hidden),
        (false, None) => c.preset.warnings.push("Wi-Fi network not used: network-config gives it neither a password nor key-management: none".into()),
    }
}
