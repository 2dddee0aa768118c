//! The Imager preset readers on fixtures of what each Imager writes (1.8's OptionsPopup.qml,
//! 2.x's customization_generator.cpp), hostile and damaged ones included. None of them is run:
//! the hostile fixtures carry `touch CANARY` in every field, and the canary must not appear.

use setup::imager::{self, BootFiles, Error, HashScheme, Preset};
use std::path::PathBuf;

const K1: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHi5rXVJ0rF1wxtXaVFGeB/3ILClpQG5li/xTtpAzDQ4 anna@laptop";
const K2: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIH1ClK61S8IQrNIBPvH+7Ak9uNOYeKv14z1GcBi6y5fg ben@desk";
const H5: &str = "$5$Zq3vY8cKpL$ZvtL.iRLMJR/GeZoHFetLPdmc.Eg68xaiBf99den7a1";
const HY: &str = "$y$j9T$F5Jx5fExrKuPp53xLKQ..1$W6jPbSDzaROc2UkzGfom48KbKGTJCXDlH4qlWqBAdR5";
const PSK_HOME: &str = "515dc461c61fa8ec73540f7d03defa68f0d78f23e3695e96166896540debc194";

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/imager").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn s<T: ToString>(v: &Option<T>) -> Option<String> {
    v.as_ref().map(|v| v.to_string())
}

fn wifi(p: &Preset) -> Option<(String, Option<String>, bool)> {
    p.wifi.as_ref().map(|w| (w.ssid.to_string(), w.psk.as_ref().map(|k| k.to_string()), w.hidden))
}

fn cloud(dir: &str) -> BootFiles {
    BootFiles {
        user_data: Some(fixture(&format!("{dir}/user-data"))),
        network_config: Some(fixture(&format!("{dir}/network-config"))),
        cmdline: Some(fixture(&format!("{dir}/cmdline.txt"))),
        ..BootFiles::default()
    }
}

#[test]
fn imager_1_8_firstrun_gives_every_setting() {
    let p = imager::parse_firstrun(&fixture("imager-1.8-firstrun.sh")).expect("ok");
    assert_eq!(s(&p.hostname).as_deref(), Some("spot-kitchen"));
    let u = p.user.as_ref().expect("ok");
    assert_eq!((u.name.as_str(), u.password_hash.as_str(), u.scheme), ("anna", H5, HashScheme::Sha256Crypt));
    assert_eq!(wifi(&p), Some(("HomeNet".into(), Some(PSK_HOME.into()), false)));
    assert_eq!(s(&p.country).as_deref(), Some("DE"));
    assert_eq!(s(&p.timezone).as_deref(), Some("Europe/Berlin"));
    assert_eq!(p.keymap.as_deref(), Some("de"));
    assert!(p.ssh.enabled);
    assert_eq!(p.ssh.keys, vec![K1.to_string(), K2.to_string()]);
    // Only the note that SSH is recorded but there is no SSH server.
    assert_eq!(p.warnings.len(), 1, "{:?}", p.warnings);
    assert!(p.warnings[0].contains("no SSH server"));
}

#[test]
fn imager_2_firstrun_hidden_network_yescrypt_and_case() {
    let p = imager::parse_firstrun(&fixture("imager-2.0-firstrun.sh")).expect("ok");
    assert_eq!(s(&p.hostname).as_deref(), Some("spot-attic"), "host names are case-insensitive");
    let u = p.user.as_ref().expect("ok");
    assert_eq!((u.name.as_str(), u.password_hash.as_str(), u.scheme), ("ben", HY, HashScheme::Yescrypt));
    let psk = "52c2adc59773f5fdef9dcf446e0a42a0e3a9305147e1ae747a32c5b29db27cc0";
    assert_eq!(wifi(&p), Some(("Attic Wi-Fi".into(), Some(psk.into()), true)));
    assert_eq!(s(&p.country).as_deref(), Some("GB"));
    assert_eq!(s(&p.timezone).as_deref(), Some("Europe/London"));
    assert_eq!(p.keymap.as_deref(), Some("gb"));
    assert_eq!(p.ssh.keys, vec![K1.to_string()]);
    assert!(p.warnings.iter().any(|w| w.contains("yescrypt")), "{:?}", p.warnings);
}

#[test]
fn fallback_branches_alone_give_the_same_settings() {
    // Images without imager_custom/userconf run the else branches: read them when alone.
    let text = String::from_utf8(fixture("imager-1.8-firstrun.sh")).expect("ok");
    let text: String = text
        .lines()
        .filter(|l| !l.contains("raspberrypi-sys-mods/imager_custom ") && !l.contains("userconf-pi/userconf "))
        .map(|l| format!("{l}\n"))
        .collect();
    let p = imager::parse_firstrun(text.as_bytes()).expect("ok");
    assert_eq!(s(&p.hostname).as_deref(), Some("spot-kitchen"));
    let u = p.user.as_ref().expect("ok");
    assert_eq!((u.name.as_str(), u.password_hash.as_str()), ("anna", H5));
    assert_eq!(wifi(&p), Some(("HomeNet".into(), Some(PSK_HOME.into()), false)));
    assert_eq!(s(&p.country).as_deref(), Some("DE"));
    assert_eq!(s(&p.timezone).as_deref(), Some("Europe/Berlin"));
    assert_eq!(p.keymap.as_deref(), Some("de"));
    // 1.8's key fallback is a process substitution (not read); "systemctl enable ssh" alone is
    // a request without a key.
    assert!(!p.ssh.enabled);
}

#[test]
fn imager_1_8_cloud_init_users_list_and_country_from_cmdline() {
    let p = imager::read_preset(&cloud("imager-1.8-cloudinit"));
    assert_eq!(s(&p.hostname).as_deref(), Some("spot-lab"));
    let u = p.user.as_ref().expect("ok");
    assert_eq!((u.name.as_str(), u.scheme), ("carla", HashScheme::Sha512Crypt));
    assert!(u.password_hash.starts_with("$6$Xc9r2LmQ$"));
    assert_eq!(wifi(&p), Some(("HomeNet".into(), Some(PSK_HOME.into()), false)));
    assert_eq!(s(&p.country).as_deref(), Some("US"), "1.8 put the country on cmdline.txt");
    assert_eq!(s(&p.timezone).as_deref(), Some("America/New_York"));
    assert_eq!(p.ssh.keys, vec![K1.to_string()]);
}

#[test]
fn imager_2_cloud_init_user_singular_and_escaped_ssid() {
    let p = imager::read_preset(&cloud("imager-2.0-cloudinit"));
    assert_eq!(s(&p.hostname).as_deref(), Some("spot-cellar"));
    let u = p.user.as_ref().expect("ok");
    assert_eq!((u.name.as_str(), u.password_hash.as_str()), ("dora", HY));
    let psk = "a9f1c6c0e7d5b3a1f2e4d6c8b0a2f4e6d8c0b2a4f6e8d0c2b4a6f8e0d2c4b6a8";
    assert_eq!(wifi(&p), Some(("Café \"Sous-sol\"".into(), Some(psk.into()), true)));
    assert_eq!(s(&p.country).as_deref(), Some("FR"));
    assert_eq!(s(&p.timezone).as_deref(), Some("Europe/Paris"));
    assert_eq!(p.keymap.as_deref(), Some("fr"));
    assert_eq!(p.ssh.keys, vec![K1.to_string()]);
}

#[test]
fn open_network_has_no_password() {
    let p = imager::parse_cloud_init(None, Some(&fixture("open-network-config"))).expect("ok");
    assert_eq!(wifi(&p), Some(("Library Guest".into(), None, false)));
}

fn canary() -> PathBuf {
    std::env::temp_dir().join(format!("spot-canary-{}", std::process::id()))
}

fn hostile(name: &str) -> Vec<u8> {
    String::from_utf8(fixture(name)).expect("ok").replace("@CANARY@", &canary().display().to_string()).into_bytes()
}

#[test]
fn hostile_firstrun_is_data_values_verbatim_or_refused() {
    let p = imager::parse_firstrun(&hostile("hostile-firstrun.sh")).expect("ok");
    assert!(!canary().exists(), "something was run");
    assert_eq!(p.hostname, None);
    assert_eq!(p.user, None);
    let (ssid, psk, _) = wifi(&p).expect("ok");
    assert_eq!(ssid, "Joe's \"Net\" $(reboot)", "kept verbatim, never expanded");
    assert_eq!(psk.expect("ok"), format!("pa$$'`touch {}`'word", canary().display()));
    assert_eq!((p.country, p.timezone, p.keymap), (None, None, None));
    assert!(!p.ssh.enabled);
    let all = p.warnings.join("\n");
    for what in ["host name", "user", "Wi-Fi country", "time zone", "keyboard", "SSH with a password"] {
        assert!(all.contains(what), "no warning about {what}: {all}");
    }
}

#[test]
fn hostile_cloud_init_is_data_values_verbatim_or_refused() {
    let p = imager::parse_cloud_init(Some(&hostile("hostile-user-data")), Some(&hostile("hostile-network-config"))).expect("ok");
    assert!(!canary().exists(), "something was run");
    assert_eq!((p.hostname.clone(), p.timezone.clone(), p.country.clone()), (None, None, None));
    assert_eq!(p.user, None);
    let (ssid, psk, _) = wifi(&p).expect("ok");
    assert_eq!(ssid, "Evil\n\"; reboot\n$(id)", "a name with newlines and quotes stays one value");
    assert_eq!(psk.expect("ok"), format!("ok password $(touch {}) 'q' \"dq\"", canary().display()));
    let all = p.warnings.join("\n");
    for what in ["host name", "time zone", "user not used", "several users", "SSH with a password", "Wi-Fi country"] {
        assert!(all.contains(what), "no warning about {what}: {all}");
    }
    assert!(!all.contains("ok password"), "a warning shows a password: {all}");
}

#[test]
fn ten_megabytes_are_refused_unread() {
    let big = vec![b'#'; 10 << 20];
    assert!(matches!(imager::parse_firstrun(&big), Err(Error::TooLarge { size, .. }) if size == 10 << 20));
    assert!(matches!(imager::parse_cloud_init(Some(&big), None), Err(Error::TooLarge { .. })));
    let p = imager::read_preset(&BootFiles { firstrun: Some(big), ..BootFiles::default() });
    assert!(p.is_empty());
    assert!(p.warnings[0].contains("not read"), "{:?}", p.warnings);
}

#[test]
fn binary_garbage_is_refused() {
    let mut x: u32 = 0x2545_f491;
    let garbage: Vec<u8> = (0..4096)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect();
    assert!(matches!(imager::parse_firstrun(&garbage), Err(Error::NotText { .. })));
    assert!(matches!(imager::parse_cloud_init(None, Some(&garbage)), Err(Error::NotText { .. })));
    let mut nul = fixture("imager-1.8-firstrun.sh");
    nul[100] = 0;
    assert!(matches!(imager::parse_firstrun(&nul), Err(Error::NotText { .. })));
}

#[test]
fn crlf_and_bom_read_the_same() {
    for name in ["imager-1.8-firstrun.sh", "imager-2.0-firstrun.sh", "imager-2.0-cloudinit/user-data"] {
        let plain = fixture(name);
        let dos: Vec<u8> = b"\xef\xbb\xbf".iter().copied().chain(String::from_utf8(plain.clone()).expect("ok").replace('\n', "\r\n").into_bytes()).collect();
        let (a, b) = if name.ends_with(".sh") {
            (imager::parse_firstrun(&plain).expect("ok"), imager::parse_firstrun(&dos).expect("ok"))
        } else {
            (imager::parse_cloud_init(Some(&plain), None).expect("ok"), imager::parse_cloud_init(Some(&dos), None).expect("ok"))
        };
        assert_eq!(a, b, "{name}");
        assert!(a.hostname.is_some());
    }
}

/// Cut at every byte: never a panic, and whatever is found is what the whole file says —
/// a truncated value (`set_hostname spot-kit`) is never taken.
#[test]
fn truncated_at_every_byte_takes_only_complete_values() {
    for name in ["imager-1.8-firstrun.sh", "imager-2.0-firstrun.sh"] {
        let full_bytes = fixture(name);
        let full = imager::parse_firstrun(&full_bytes).expect("ok");
        for cut in 0..full_bytes.len() {
            let p = imager::parse_firstrun(&full_bytes[..cut]).expect("ok");
            check_subset(&p, &full, name, cut);
            if cut > 0 && cut < full_bytes.len() - 1 {
                assert!(!p.warnings.is_empty(), "{name} cut at {cut}: no warning");
            }
        }
    }
    for dir in ["imager-1.8-cloudinit", "imager-2.0-cloudinit"] {
        let (ud, nc) = (fixture(&format!("{dir}/user-data")), fixture(&format!("{dir}/network-config")));
        let full = imager::parse_cloud_init(Some(&ud), Some(&nc)).expect("ok");
        for cut in 0..ud.len() {
            check_subset(&imager::parse_cloud_init(Some(&ud[..cut]), Some(&nc)).expect("ok"), &full, dir, cut);
        }
        for cut in 0..nc.len() {
            check_subset(&imager::parse_cloud_init(Some(&ud), Some(&nc[..cut])).expect("ok"), &full, dir, cut);
        }
    }
}

fn check_subset(p: &Preset, full: &Preset, name: &str, cut: usize) {
    let ctx = format!("{name} cut at {cut}");
    fn sub<T: PartialEq + std::fmt::Debug>(a: &Option<T>, b: &Option<T>, ctx: &str, what: &str) {
        assert!(a.is_none() || a == b, "{ctx}: {what} {a:?} is not the full file's {b:?}");
    }
    sub(&p.hostname, &full.hostname, &ctx, "host name");
    sub(&p.user, &full.user, &ctx, "user");
    sub(&p.wifi, &full.wifi, &ctx, "wifi");
    sub(&p.country, &full.country, &ctx, "country");
    sub(&p.timezone, &full.timezone, &ctx, "time zone");
    sub(&p.keymap, &full.keymap, &ctx, "keymap");
    assert!(p.ssh.keys.iter().all(|k| full.ssh.keys.contains(k)), "{ctx}: ssh keys");
}

#[test]
fn cmdline_loses_what_imager_appended_and_keeps_the_rest() {
    let c = "console=ttyS1,115200 fsck.repair=yes cfg80211.ieee80211_regdom=DE systemd.run=/boot/firstrun.sh systemd.run_success_action=reboot systemd.unit=kernel-command-line.target\n";
    assert_eq!(imager::clean_cmdline(c).as_deref(), Some("console=ttyS1,115200 fsck.repair=yes\n"));
    assert_eq!(imager::cmdline_country(c).map(|c| c.to_string()).as_deref(), Some("DE"));
    let c2 = "console=tty1 ds=nocloud;i=rpi-imager-1764645600123\n";
    assert_eq!(imager::clean_cmdline(c2).as_deref(), Some("console=tty1\n"));
    assert_eq!(imager::clean_cmdline("console=tty1 quiet\n"), None, "nothing to remove: not rewritten");
}

#[test]
fn hash_shapes() {
    assert_eq!(imager::hash_scheme(H5), Some(HashScheme::Sha256Crypt));
    assert_eq!(imager::hash_scheme(HY), Some(HashScheme::Yescrypt));
    assert_eq!(imager::hash_scheme("$5$rounds=5000$salt$ZvtL.iRLMJR/GeZoHFetLPdmc.Eg68xaiBf99den7a1"), Some(HashScheme::Sha256Crypt));
    for bad in ["", "!", "*", "$1$abc$def", "$2b$12$abcdefghijklmnopqrstuv", "$5$salt$short", "$(reboot)", "$y$j9T$$x y", "plain password"] {
        assert_eq!(imager::hash_scheme(bad), None, "{bad}");
    }
}

#[test]
fn secrets_never_show_in_debug_output() {
    let p = imager::parse_firstrun(&fixture("imager-1.8-firstrun.sh")).expect("ok");
    let dbg = format!("{p:?}");
    assert!(!dbg.contains(PSK_HOME) && !dbg.contains("ZvtL.iRLMJR"), "{dbg}");
}
