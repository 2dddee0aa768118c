//! The box's own certificate authority, so browsers give voice rooms a microphone (they only do
//! on a secure page) without a public name or the internet.
//!
//! Made on the box at first start (ECDSA P-256: fast on a Zero 2 W) under `DATA_DIR/tls/`. The
//! CA is **name-constrained** to local names (`.local`, `.lan`, `.home.arpa`, …, the box's own
//! single-label name) and private addresses: a person who installs it trusts it for their LAN
//! only, so even a stolen CA key cannot impersonate a site on the internet. Its key never
//! leaves the box; the leaf certificate names every name and address the box answers on.

use rcgen::{
    BasicConstraints, CertificateParams, CidrSubnet, DistinguishedName, DnType, ExtendedKeyUsagePurpose, GeneralSubtree, IsCa, Issuer,
    KeyPair, KeyUsagePurpose, NameConstraints, SanType,
};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

pub const CA_CERT: &str = "tls/ca.pem";
const CA_KEY: &str = "tls/ca-key.pem";
const CA_NAME: &str = "tls/ca-name";
pub const LEAF_CERT: &str = "tls/cert.pem";
pub const LEAF_KEY: &str = "tls/key.pem";

/// DNS suffixes home routers and mDNS use; the CA may only vouch for names under them.
pub const LOCAL_SUFFIXES: &[&str] = &["local", "lan", "home", "home.arpa", "internal", "localdomain", "fritz.box", "localhost"];

#[derive(Debug, thiserror::Error)]
pub enum CaError {
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
    #[error("certificate generation: {0}")]
    Gen(#[from] rcgen::Error),
}

fn io(p: &Path) -> impl FnOnce(std::io::Error) -> CaError + '_ {
    move |e| CaError::Io(p.to_path_buf(), e)
}

fn write_private(p: &Path, data: &[u8]) -> Result<(), CaError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(d) = p.parent() {
        std::fs::create_dir_all(d).map_err(io(d))?;
    }
    // Write a temporary file and rename it: a power cut leaves the old file or the new one.
    let tmp = p.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp).map_err(io(&tmp))?;
    f.write_all(data).map_err(io(&tmp))?;
    f.sync_all().map_err(io(&tmp))?;
    std::fs::rename(&tmp, p).map_err(io(p))?;
    if let Some(d) = p.parent() {
        if let Ok(dir) = std::fs::File::open(d) {
            let _ = dir.sync_all();
        }
    }
    Ok(())
}

fn ca_params(name: &str, single_labels: &[String]) -> CertificateParams {
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, name);
    dn.push(DnType::OrganizationName, "Spot box");
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    let mut permitted: Vec<GeneralSubtree> = LOCAL_SUFFIXES.iter().map(|s| GeneralSubtree::DnsName((*s).to_owned())).collect();
    permitted.extend(single_labels.iter().map(|s| GeneralSubtree::DnsName(s.clone())));
    for (net, bits) in [([10, 0, 0, 0], 8), ([172, 16, 0, 0], 12), ([192, 168, 0, 0], 16), ([169, 254, 0, 0], 16), ([127, 0, 0, 0], 8)] {
        permitted.push(GeneralSubtree::IpAddress(CidrSubnet::from_v4_prefix(net, bits)));
    }
    let mut fc = [0u8; 16];
    fc[0] = 0xfc;
    let mut fe80 = [0u8; 16];
    fe80[0] = 0xfe;
    fe80[1] = 0x80;
    let mut lo6 = [0u8; 16];
    lo6[15] = 1;
    for (net, bits) in [(fc, 7), (fe80, 10), (lo6, 128)] {
        permitted.push(GeneralSubtree::IpAddress(CidrSubnet::from_v6_prefix(net, bits)));
    }
    p.name_constraints = Some(NameConstraints { permitted_subtrees: permitted, excluded_subtrees: vec![] });
    p
}

fn time_from_ms(ms: i64) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp(ms / 1000).unwrap_or(rcgen::date_time_ymd(2026, 1, 1))
}

/// The CA under `data_dir`, made if missing. `labels` are single-label names the box answers
/// on (its host name, `spot`), which the name constraints must allow.
pub struct LocalCa {
    params: CertificateParams,
    key: KeyPair,
    pub cert_pem: String,
}

impl LocalCa {
    pub fn exists(data_dir: &Path) -> bool {
        data_dir.join(CA_CERT).is_file() && data_dir.join(CA_KEY).is_file()
    }

    pub fn load_or_create(data_dir: &Path, box_name: &str, labels: &[String], now_ms: i64) -> Result<LocalCa, CaError> {
        let (cert_p, key_p, name_p) = (data_dir.join(CA_CERT), data_dir.join(CA_KEY), data_dir.join(CA_NAME));
        if let (Ok(cert_pem), Ok(key_pem), Ok(meta)) =
            (std::fs::read_to_string(&cert_p), std::fs::read_to_string(&key_p), std::fs::read_to_string(&name_p))
        {
            let mut lines = meta.lines();
            let name = lines.next().unwrap_or("Spot box local CA").to_owned();
            let labels: Vec<String> = lines.map(str::to_owned).collect();
            if let Ok(key) = KeyPair::from_pem(&key_pem) {
                return Ok(LocalCa { params: ca_params(&name, &labels), key, cert_pem });
            }
        }
        let mut labels: Vec<String> = labels.iter().filter(|l| !l.is_empty() && !l.contains('.')).cloned().collect();
        labels.sort();
        labels.dedup();
        // A random suffix: two boxes in one house get CAs that a browser tells apart.
        let tag = crate::auth::new_token().map(|t| t[..6].to_owned()).unwrap_or_default();
        let name = format!("Spot box {} local CA {tag}", box_name.chars().filter(|c| !c.is_control()).take(40).collect::<String>());
        let mut params = ca_params(&name, &labels);
        params.not_before = time_from_ms(now_ms - 86_400_000);
        params.not_after = time_from_ms(now_ms + 10 * 365 * 86_400_000);
        let key = KeyPair::generate()?;
        let cert = params.self_signed(&key)?;
        let cert_pem = cert.pem();
        write_private(&key_p, key.serialize_pem().as_bytes())?;
        write_private(&name_p, format!("{name}\n{}", labels.join("\n")).as_bytes())?;
        write_private(&cert_p, cert_pem.as_bytes())?;
        Ok(LocalCa { params, key, cert_pem })
    }

    /// A server certificate (PEM cert chain, PEM key) for these names and addresses, valid for
    /// 800 days (Apple refuses longer-lived server certificates).
    pub fn issue(&self, names: &[String], addrs: &[IpAddr], now_ms: i64) -> Result<(String, String), CaError> {
        let mut p = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, names.first().map(String::as_str).unwrap_or("spot.local"));
        p.distinguished_name = dn;
        p.subject_alt_names = names
            .iter()
            .filter_map(|n| n.clone().try_into().ok().map(SanType::DnsName))
            .chain(addrs.iter().map(|a| SanType::IpAddress(*a)))
            .collect();
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        p.use_authority_key_identifier_extension = true;
        p.not_before = time_from_ms(now_ms - 86_400_000);
        p.not_after = time_from_ms(now_ms + 800 * 86_400_000);
        let key = KeyPair::generate()?;
        let issuer = Issuer::from_params(&self.params, &self.key);
        let cert = p.signed_by(&key, &issuer)?;
        Ok((format!("{}{}", cert.pem(), self.cert_pem), key.serialize_pem()))
    }

    /// Write a leaf certificate where the TLS configuration expects it.
    pub fn install_leaf(data_dir: &Path, cert_pem: &str, key_pem: &str) -> Result<(), CaError> {
        write_private(&data_dir.join(LEAF_KEY), key_pem.as_bytes())?;
        write_private(&data_dir.join(LEAF_CERT), cert_pem.as_bytes())
    }
}

/// The CA in DER (for `ca.crt`: Android and Windows install that).
pub fn pem_to_der(pem: &str) -> Option<Vec<u8>> {
    rustls_pemfile::certs(&mut std::io::BufReader::new(pem.as_bytes())).filter_map(Result::ok).next().map(|c| c.to_vec())
}

/// An Apple configuration profile that installs the CA (iOS: Settings → Profile Downloaded).
/// Unsigned: iOS shows it as "Not Verified", which is true of every self-made CA.
pub fn mobileconfig(ca_der: &[u8], box_name: &str, uuid_seed: &[u8]) -> String {
    use base64::Engine;
    use sha2::{Digest, Sha256};
    let b64 = base64::engine::general_purpose::STANDARD.encode(ca_der);
    let wrapped: String = b64.as_bytes().chunks(64).map(|c| format!("\t\t\t{}\n", String::from_utf8_lossy(c))).collect();
    let uuid = |salt: &str| {
        let h = hex::encode(Sha256::digest([uuid_seed, salt.as_bytes()].concat()));
        format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32]).to_uppercase()
    };
    let esc = |s: &str| s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    let name = esc(box_name);
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
	<key>PayloadContent</key>
	<array>
		<dict>
			<key>PayloadCertificateFileName</key>
			<string>spot-ca.crt</string>
			<key>PayloadContent</key>
			<data>
{wrapped}			</data>
			<key>PayloadDisplayName</key>
			<string>{name} local certificate authority</string>
			<key>PayloadIdentifier</key>
			<string>box.spot.ca.{u1}</string>
			<key>PayloadType</key>
			<string>com.apple.security.root</string>
			<key>PayloadUUID</key>
			<string>{u1}</string>
			<key>PayloadVersion</key>
			<integer>1</integer>
		</dict>
	</array>
	<key>PayloadDescription</key>
	<string>Lets this device open {name} over HTTPS on your home network (voice rooms need it).</string>
	<key>PayloadDisplayName</key>
	<string>{name} (Spot box)</string>
	<key>PayloadIdentifier</key>
	<string>box.spot.profile.{u2}</string>
	<key>PayloadRemovalDisallowed</key>
	<false/>
	<key>PayloadType</key>
	<string>Configuration</string>
	<key>PayloadUUID</key>
	<string>{u2}</string>
	<key>PayloadVersion</key>
	<integer>1</integer>
</dict>
</plist>
"#,
        u1 = uuid("ca"),
        u2 = uuid("profile"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ca_issues_a_leaf_rustls_accepts_and_survives_a_reload() {
        let d = tempfile::tempdir().expect("tmp");
        let now = 1_790_000_000_000;
        let ca = LocalCa::load_or_create(d.path(), "Anna's <box>", &["spot".into()], now).expect("ca");
        let (cert, key) = ca.issue(&["spot.local".into(), "spot".into()], &["192.168.1.5".parse().expect("ip")], now).expect("leaf");
        crate::tls::from_pem(cert.as_bytes(), key.as_bytes(), "c", "k").expect("rustls takes it");
        let again = LocalCa::load_or_create(d.path(), "other", &[], now).expect("reload");
        assert_eq!(again.cert_pem, ca.cert_pem, "the CA is made once");
        let der = pem_to_der(&ca.cert_pem).expect("der");
        assert_eq!(der[0], 0x30);
        let mc = mobileconfig(&der, "Anna's <box>", b"x");
        assert!(mc.contains("com.apple.security.root") && mc.contains("&lt;box&gt;") && !mc.contains("<box>"));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(d.path().join(CA_KEY)).expect("key").permissions().mode();
        assert_eq!(mode & 0o077, 0, "the CA key is private");
    }
}
