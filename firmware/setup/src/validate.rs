//! Validators for everything that crosses into the privileged helper. Each returns a value
//! that can only be valid, or an [`Invalid`] naming the field in words.
//!
//! The types hold *values*, never rendered text: whoever writes one into a config file or a
//! command line renders it for that format (the helper writes SSIDs and passwords as hex), so a
//! valid SSID may well contain quotes, newlines or backslashes.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Why a value was refused. `code()` is stable; `Display` is the words for a person.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    #[error("The Wi-Fi name must be 1 to 32 bytes long.")]
    SsidLength,
    #[error("The Wi-Fi name must not contain a NUL character.")]
    SsidNul,
    #[error("The Wi-Fi password must be 8 to 63 characters long (or 64 hexadecimal digits).")]
    PskLength,
    #[error("The Wi-Fi password may only contain printable ASCII characters (letters, digits, spaces and punctuation, no accents).")]
    PskChars,
    #[error("The Wi-Fi country must be a two-letter code in capitals, like DE or US (or 00 for world).")]
    Country,
    #[error("The box name must be 1 to 63 characters long.")]
    HostnameLength,
    #[error("The box name may only contain lower-case letters a-z, digits and dashes.")]
    HostnameChars,
    #[error("The box name must not start or end with a dash.")]
    HostnameDash,
    #[error("The box name \"localhost\" is reserved.")]
    HostnameReserved,
    #[error("The box name needs at least one letter or digit.")]
    BoxNameEmpty,
    #[error("The time zone must be a name like Europe/Berlin.")]
    Timezone,
    #[error("The time zone {0} is not known to this box.")]
    TimezoneUnknown(String),
}

impl Invalid {
    /// The stable code, one per field.
    pub fn code(&self) -> &'static str {
        match self {
            Invalid::SsidLength | Invalid::SsidNul => "invalid_ssid",
            Invalid::PskLength | Invalid::PskChars => "invalid_password",
            Invalid::Country => "invalid_country",
            Invalid::HostnameLength
            | Invalid::HostnameChars
            | Invalid::HostnameDash
            | Invalid::HostnameReserved
            | Invalid::BoxNameEmpty => "invalid_box_name",
            Invalid::Timezone | Invalid::TimezoneUnknown(_) => "invalid_timezone",
        }
    }

    /// The request field the error is about.
    pub fn field(&self) -> &'static str {
        match self.code() {
            "invalid_ssid" => "ssid",
            "invalid_password" => "psk",
            "invalid_country" => "country",
            "invalid_box_name" => "name",
            _ => "tz",
        }
    }
}

macro_rules! string_type {
    ($name:ident) => {
        impl TryFrom<String> for $name {
            type Error = Invalid;
            fn try_from(s: String) -> Result<Self, Invalid> {
                $name::new(&s)
            }
        }
        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
    };
}

/// A Wi-Fi network name: 1–32 bytes of UTF-8 without NUL. 802.11 allows any bytes; we accept
/// UTF-8 only because it travels as JSON text.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Ssid(String);
string_type!(Ssid);

impl Ssid {
    pub fn new(s: &str) -> Result<Ssid, Invalid> {
        if s.is_empty() || s.len() > 32 {
            return Err(Invalid::SsidLength);
        }
        if s.contains('\0') {
            return Err(Invalid::SsidNul);
        }
        Ok(Ssid(s.to_owned()))
    }
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
    /// Lower-case hex of the bytes: how config files get it, so no character is special.
    pub fn to_hex(&self) -> String {
        hex(self.0.as_bytes())
    }
}

impl fmt::Debug for Ssid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ssid({:?})", self.0)
    }
}

/// A WPA2/WPA3-Personal secret: a passphrase of 8–63 printable ASCII characters, or the
/// 64-hex-digit pre-shared key itself.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Psk(String);
string_type!(Psk);

impl Psk {
    pub fn new(s: &str) -> Result<Psk, Invalid> {
        if s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(Psk(s.to_ascii_lowercase()));
        }
        if !s.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
            return Err(Invalid::PskChars);
        }
        if s.len() < 8 || s.len() > 63 {
            return Err(Invalid::PskLength);
        }
        Ok(Psk(s.to_owned()))
    }
    /// The 64-hex-digit key itself (usable for WPA2 only: SAE needs the passphrase).
    pub fn is_raw_key(&self) -> bool {
        self.0.len() == 64
    }
}

/// Never print a password, not even in a debug log.
impl fmt::Debug for Psk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Psk(***)")
    }
}

/// A Wi-Fi regulatory domain: ISO 3166-1 alpha-2 in capitals, or `00` (world).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Country(String);
string_type!(Country);

impl Country {
    pub fn new(s: &str) -> Result<Country, Invalid> {
        let b = s.as_bytes();
        let ok = b.len() == 2 && (b.iter().all(u8::is_ascii_uppercase) || b == b"00");
        if ok {
            Ok(Country(s.to_owned()))
        } else {
            Err(Invalid::Country)
        }
    }
    pub fn is_world(&self) -> bool {
        self.0 == "00"
    }
}

/// A host name that is also a valid mDNS label: RFC 1123, 1–63 of a-z 0-9 and `-`, no dash at
/// either end.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Hostname(String);
string_type!(Hostname);

impl Hostname {
    pub fn new(s: &str) -> Result<Hostname, Invalid> {
        if s.is_empty() || s.len() > 63 {
            return Err(Invalid::HostnameLength);
        }
        if !s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
            return Err(Invalid::HostnameChars);
        }
        if s.starts_with('-') || s.ends_with('-') {
            return Err(Invalid::HostnameDash);
        }
        if s == "localhost" {
            return Err(Invalid::HostnameReserved);
        }
        Ok(Hostname(s.to_owned()))
    }

    /// The wizard's free-form box name as a host name: "Anna's Spot" → `annas-spot`,
    /// "Café Ökö" → `cafe-oko`. Apostrophes vanish, other separators become one dash.
    pub fn from_box_name(name: &str) -> Result<Hostname, Invalid> {
        let mut out = String::new();
        let mut dash = false;
        for c in name.chars().flat_map(fold) {
            if c == '\'' || c == '\u{2019}' {
                continue;
            }
            if c.is_ascii_alphanumeric() {
                if dash && !out.is_empty() {
                    out.push('-');
                }
                dash = false;
                out.push(c.to_ascii_lowercase());
            } else {
                dash = true;
            }
            if out.len() >= 63 {
                break;
            }
        }
        out.truncate(63);
        let out = out.trim_end_matches('-');
        if out.is_empty() {
            return Err(Invalid::BoxNameEmpty);
        }
        Hostname::new(out)
    }
}

/// Latin letters with accents to their base letters (enough for box names; others drop).
fn fold(c: char) -> Vec<char> {
    let s: &str = match c {
        'à'..='å' | 'À'..='Å' => "a",
        'æ' | 'Æ' => "ae",
        'ç' | 'Ç' => "c",
        'è'..='ë' | 'È'..='Ë' => "e",
        'ì'..='ï' | 'Ì'..='Ï' => "i",
        'ñ' | 'Ñ' => "n",
        'ò'..='ö' | 'ø' | 'Ò'..='Ö' | 'Ø' => "o",
        'ß' => "ss",
        'ù'..='ü' | 'Ù'..='Ü' => "u",
        'ý' | 'ÿ' | 'Ý' => "y",
        _ => return vec![c],
    };
    s.chars().collect()
}

/// An IANA time zone name (`Europe/Berlin`, `UTC`, `Etc/GMT+5`), checked for shape only:
/// whether it exists is the helper's question (against /usr/share/zoneinfo).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Timezone(String);
string_type!(Timezone);

impl Timezone {
    pub fn new(s: &str) -> Result<Timezone, Invalid> {
        let seg_ok = |seg: &str| {
            !seg.is_empty()
                && seg != "."
                && seg != ".."
                && !seg.starts_with('-')
                && seg.bytes().all(|b| b.is_ascii_alphanumeric() || b"_+-".contains(&b))
        };
        if s.is_empty() || s.len() > 64 || !s.split('/').all(seg_ok) {
            return Err(Invalid::Timezone);
        }
        Ok(Timezone(s.to_owned()))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTILE: &[&str] = &[
        "$(reboot)",
        "`reboot`",
        "a; rm -rf /",
        "x\"; network={",
        "\"\nnetwork={\nssid=\"evil\"\n}",
        "line\nbreak",
        "back\\slash",
        "../../etc/shadow",
        "/etc/shadow",
        "a|b&c>d",
    ];

    #[test]
    fn ssid_accepts_any_text_but_nul_and_keeps_it_verbatim() {
        for s in HOSTILE {
            let ssid = Ssid::new(s).expect("hostile but valid SSID");
            assert_eq!(ssid.as_str(), *s);
            assert!(ssid.to_hex().bytes().all(|b| b.is_ascii_hexdigit()));
        }
        assert_eq!(Ssid::new("a\0b"), Err(Invalid::SsidNul));
        assert_eq!(Ssid::new(""), Err(Invalid::SsidLength));
        assert_eq!(Ssid::new(&"x".repeat(33)), Err(Invalid::SsidLength));
        assert_eq!(Ssid::new(&"x".repeat(10_240)), Err(Invalid::SsidLength));
        // 32 bytes, not 32 characters: 11 three-byte characters are 33 bytes.
        assert!(Ssid::new(&"€".repeat(10)).is_ok());
        assert_eq!(Ssid::new(&"€".repeat(11)), Err(Invalid::SsidLength));
        assert_eq!(Ssid::new("Ab\"").map(|s| s.to_hex()), Ok("416222".into()));
    }

    #[test]
    fn psk_rules() {
        assert!(Psk::new("12345678").is_ok());
        assert!(Psk::new("$(reboot)").is_ok(), "printable ASCII is a valid passphrase");
        assert!(Psk::new("x\"; network={").is_ok());
        assert_eq!(Psk::new("1234567"), Err(Invalid::PskLength));
        assert_eq!(Psk::new(&"a".repeat(64)).map(|p| p.is_raw_key()), Ok(true));
        assert_eq!(Psk::new(&"A".repeat(64)).map(|p| p.as_str().to_owned()), Ok("a".repeat(64)));
        assert_eq!(Psk::new(&"g".repeat(64)), Err(Invalid::PskLength));
        assert_eq!(Psk::new(&"a".repeat(10_240)), Err(Invalid::PskLength));
        assert_eq!(Psk::new("password\nnetwork={"), Err(Invalid::PskChars));
        assert_eq!(Psk::new("password\0"), Err(Invalid::PskChars));
        assert_eq!(Psk::new("pässwörter"), Err(Invalid::PskChars));
        assert_eq!(format!("{:?}", Psk::new("secret123")), "Ok(Psk(***))");
    }

    #[test]
    fn country_rules() {
        for ok in ["DE", "US", "00", "GB"] {
            assert!(Country::new(ok).is_ok(), "{ok}");
        }
        for bad in ["de", "D", "DEU", "0", "01", "D1", "$(", "D\n", "", "ÄÖ"] {
            assert_eq!(Country::new(bad), Err(Invalid::Country), "{bad:?}");
        }
    }

    #[test]
    fn hostname_rules() {
        for ok in ["spot", "a", "annas-spot", "box-2", &"a".repeat(63), "0day"] {
            assert!(Hostname::new(ok).is_ok(), "{ok}");
        }
        assert_eq!(Hostname::new(""), Err(Invalid::HostnameLength));
        assert_eq!(Hostname::new(&"a".repeat(64)), Err(Invalid::HostnameLength));
        assert_eq!(Hostname::new("-spot"), Err(Invalid::HostnameDash));
        assert_eq!(Hostname::new("spot-"), Err(Invalid::HostnameDash));
        assert_eq!(Hostname::new("localhost"), Err(Invalid::HostnameReserved));
        for bad in HOSTILE.iter().copied().chain(["Spot", "spot.local", "sp ot", "spot\0", "spöt"]) {
            assert_eq!(Hostname::new(bad), Err(Invalid::HostnameChars), "{bad:?}");
        }
    }

    #[test]
    fn box_names_become_host_names() {
        let cases = [
            ("Anna's Spot", "annas-spot"),
            ("Anna’s  Spot!!", "annas-spot"),
            ("  -- Café Ökö --", "cafe-oko"),
            ("Straße 5", "strasse-5"),
            ("$(reboot)", "reboot"),
            ("../../etc/shadow", "etc-shadow"),
            ("x\"; network={", "x-network"),
        ];
        for (name, want) in cases {
            assert_eq!(Hostname::from_box_name(name).map(String::from), Ok(want.to_owned()), "{name:?}");
        }
        let long = Hostname::from_box_name(&"ab ".repeat(5000)).expect("long names are cut");
        assert!(long.as_str().len() <= 63 && !long.as_str().ends_with('-'));
        assert_eq!(Hostname::from_box_name("!!! ’'"), Err(Invalid::BoxNameEmpty));
        assert_eq!(Hostname::from_box_name("日本"), Err(Invalid::BoxNameEmpty));
        assert_eq!(Hostname::from_box_name("localhost"), Err(Invalid::HostnameReserved));
    }

    #[test]
    fn timezone_rules() {
        for ok in ["Europe/Berlin", "UTC", "America/Argentina/Buenos_Aires", "Etc/GMT+5", "Etc/GMT-14"] {
            assert!(Timezone::new(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "/etc/shadow",
            "../../etc/shadow",
            "Europe/../../etc/shadow",
            "Europe//Berlin",
            "Europe/Berlin/",
            "./UTC",
            "-UTC",
            "Europe/Berlin\n",
            "Europe/Berlin\0",
            "$(reboot)",
            "Europe/Ber lin",
            &"A".repeat(65),
            &"A/".repeat(5000),
        ] {
            assert_eq!(Timezone::new(bad), Err(Invalid::Timezone), "{bad:?}");
        }
    }

    #[test]
    fn errors_have_codes_and_fields() {
        assert_eq!(Invalid::SsidNul.code(), "invalid_ssid");
        assert_eq!(Invalid::SsidNul.field(), "ssid");
        assert_eq!(Invalid::PskChars.field(), "psk");
        assert_eq!(Invalid::BoxNameEmpty.code(), "invalid_box_name");
        assert!(Invalid::TimezoneUnknown("Mars/Base".into()).to_string().contains("Mars/Base"));
    }

    #[test]
    fn serde_validates_on_the_way_in() {
        let bad: Result<Ssid, _> = serde_json::from_str("\"a\\u0000b\"");
        assert!(bad.is_err());
        let ok: Ssid = serde_json::from_str("\"Home \\\"Net\\\"\"").expect("valid");
        assert_eq!(ok.as_str(), "Home \"Net\"");
    }
}
