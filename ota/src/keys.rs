//! ed25519 keys and signed envelopes.
//!
//! Everything signed (a bundle's manifest, each feed metadata file) travels as an envelope
//! `{"signed": {...}, "signatures": [{"keyid": "...", "sig": "..."}]}`. A signature covers the
//! exact bytes of `signed` as they appear in the file (kept as a raw JSON value), so no JSON
//! canonicalisation is involved: what is verified is what is then parsed.

use std::collections::{BTreeMap, BTreeSet};

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

use crate::error::{fail, Error, Kind, Result};

/// A key's id: hex SHA-256 of its 32 public key bytes.
pub type KeyId = String;

/// A public key as metadata and trust files carry it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicKey {
    pub keytype: String,
    /// 32 bytes, hex.
    pub public: String,
}

impl PublicKey {
    pub fn id(&self) -> KeyId {
        match hex::decode(&self.public) {
            Ok(bytes) => hex::encode(Sha256::digest(bytes)),
            // Not hex: an id no valid key has, so it matches nothing.
            Err(_) => format!("invalid:{}", hex::encode(Sha256::digest(self.public.as_bytes()))),
        }
    }
    fn verifying(&self) -> Result<VerifyingKey> {
        if self.keytype != "ed25519" {
            return fail(Kind::Malformed, format!("key type {:?} is not ed25519", self.keytype));
        }
        let bytes: [u8; 32] = hex::decode(&self.public)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| Error::new(Kind::Malformed, "a public key is not 32 hex bytes"))?;
        VerifyingKey::from_bytes(&bytes).map_err(|_| Error::new(Kind::Malformed, "a public key is not a valid ed25519 point"))
    }
}

/// A private signing key (the release manager's; never on the box).
pub struct PrivateKey(SigningKey);

#[derive(Serialize, Deserialize)]
struct PrivateKeyFile {
    keytype: String,
    private: String,
}

impl PrivateKey {
    /// A new key from the operating system's CSPRNG.
    pub fn generate() -> Result<Self> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| Error::new(Kind::Io, format!("no randomness: {e}")))?;
        Ok(PrivateKey(SigningKey::from_bytes(&seed)))
    }
    pub fn from_seed(seed: [u8; 32]) -> Self {
        PrivateKey(SigningKey::from_bytes(&seed))
    }
    pub fn public(&self) -> PublicKey {
        PublicKey { keytype: "ed25519".into(), public: hex::encode(self.0.verifying_key().to_bytes()) }
    }
    pub fn id(&self) -> KeyId {
        self.public().id()
    }
    pub fn sign(&self, bytes: &[u8]) -> SignatureEntry {
        SignatureEntry { keyid: self.id(), sig: hex::encode(self.0.sign(bytes).to_bytes()) }
    }
    /// The key file: `{"keytype": "ed25519", "private": "<hex seed>"}`.
    pub fn to_file(&self) -> String {
        let f = PrivateKeyFile { keytype: "ed25519".into(), private: hex::encode(self.0.to_bytes()) };
        serde_json::to_string_pretty(&f).unwrap_or_default()
    }
    pub fn from_file(text: &str) -> Result<Self> {
        let f: PrivateKeyFile = serde_json::from_str(text)
            .map_err(|e| Error::new(Kind::Malformed, format!("not a private key file: {e}")))?;
        if f.keytype != "ed25519" {
            return fail(Kind::Malformed, "not an ed25519 private key");
        }
        let seed: [u8; 32] = hex::decode(&f.private)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| Error::new(Kind::Malformed, "a private key is not 32 hex bytes"))?;
        Ok(PrivateKey::from_seed(seed))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignatureEntry {
    pub keyid: KeyId,
    /// 64 bytes, hex.
    pub sig: String,
}

/// Which keys may sign for a role, and how many of them must.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Role {
    pub keyids: Vec<KeyId>,
    pub threshold: u32,
}

#[derive(Deserialize)]
struct RawEnvelope<'a> {
    #[serde(borrow)]
    signed: &'a RawValue,
    signatures: Vec<SignatureEntry>,
}

/// An envelope whose signatures are not checked yet.
pub struct Envelope<'a> {
    pub signed: &'a str,
    pub signatures: Vec<SignatureEntry>,
}

impl<'a> Envelope<'a> {
    pub fn parse(bytes: &'a [u8]) -> Result<Self> {
        let text = std::str::from_utf8(bytes).map_err(|_| Error::new(Kind::Malformed, "signed metadata is not UTF-8"))?;
        let raw: RawEnvelope<'a> = serde_json::from_str(text)
            .map_err(|e| Error::new(Kind::Malformed, format!("not a signed envelope: {e}")))?;
        if raw.signatures.len() > 64 {
            return fail(Kind::Oversized, "more than 64 signatures");
        }
        Ok(Envelope { signed: raw.signed.get(), signatures: raw.signatures })
    }

    /// Checks that at least `role.threshold` distinct keys of `role`, found in `keys`, signed
    /// `signed`. A signature by a role key that does not verify is `bad_signature`; no or too
    /// few signatures by role keys is `wrong_key`.
    pub fn verify(&self, keys: &BTreeMap<KeyId, PublicKey>, role: &Role, what: &str) -> Result<()> {
        if role.threshold == 0 {
            return fail(Kind::Malformed, format!("{what}: a threshold of 0"));
        }
        let allowed: BTreeSet<&str> = role.keyids.iter().map(String::as_str).collect();
        let mut good = BTreeSet::new();
        let mut bad = 0;
        for s in &self.signatures {
            if !allowed.contains(s.keyid.as_str()) {
                continue;
            }
            let Some(key) = keys.get(&s.keyid) else { continue };
            if key.id() != s.keyid {
                return fail(Kind::Malformed, format!("{what}: key id {} does not match its key", s.keyid));
            }
            let sig: Option<[u8; 64]> = hex::decode(&s.sig).ok().and_then(|b| b.try_into().ok());
            let ok = match sig {
                Some(sig) => key.verifying()?.verify(self.signed.as_bytes(), &Signature::from_bytes(&sig)).is_ok(),
                None => false,
            };
            if ok {
                good.insert(s.keyid.as_str());
            } else {
                bad += 1;
            }
        }
        if good.len() >= role.threshold as usize {
            return Ok(());
        }
        if bad > 0 {
            fail(Kind::BadSignature, format!("{what}: a signature does not verify (the file was changed after signing)"))
        } else {
            fail(
                Kind::WrongKey,
                format!("{what}: not signed by enough trusted keys ({} of {} needed)", good.len(), role.threshold),
            )
        }
    }

    pub fn parse_signed<T: serde::de::DeserializeOwned>(&self, what: &str) -> Result<T> {
        serde_json::from_str(self.signed).map_err(|e| Error::new(Kind::Malformed, format!("{what}: {e}")))
    }
}

/// Serialises `payload` and signs those bytes with every key: the envelope's text.
pub fn sign_envelope<T: Serialize>(payload: &T, keys: &[&PrivateKey]) -> Result<String> {
    let signed = serde_json::to_string(payload).map_err(|e| Error::new(Kind::Malformed, e.to_string()))?;
    Ok(envelope_text(&signed, keys.iter().map(|k| k.sign(signed.as_bytes())).collect()))
}

/// The envelope around already serialised `signed` bytes.
pub fn envelope_text(signed: &str, signatures: Vec<SignatureEntry>) -> String {
    let sigs = serde_json::to_string(&signatures).unwrap_or_else(|_| "[]".into());
    format!("{{\"signed\":{signed},\"signatures\":{sigs}}}")
}

/// The keys and one role over all of them, for tests and simple setups.
pub fn keyring(keys: &[&PrivateKey]) -> BTreeMap<KeyId, PublicKey> {
    keys.iter().map(|k| (k.id(), k.public())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifies_threshold_and_tells_wrong_key_from_tampering() {
        let a = PrivateKey::from_seed([1; 32]);
        let b = PrivateKey::from_seed([2; 32]);
        let c = PrivateKey::from_seed([3; 32]);
        let keys = keyring(&[&a, &b, &c]);
        let role = Role { keyids: vec![a.id(), b.id()], threshold: 2 };
        let text = sign_envelope(&serde_json::json!({"x": 1}), &[&a, &b]).unwrap();
        Envelope::parse(text.as_bytes()).unwrap().verify(&keys, &role, "t").unwrap();
        // One key short of the threshold.
        let text = sign_envelope(&serde_json::json!({"x": 1}), &[&a]).unwrap();
        let e = Envelope::parse(text.as_bytes()).unwrap().verify(&keys, &role, "t").unwrap_err();
        assert_eq!(e.kind, Kind::WrongKey);
        // Signed by a key outside the role: counts for nothing.
        let text = sign_envelope(&serde_json::json!({"x": 1}), &[&a, &c]).unwrap();
        let e = Envelope::parse(text.as_bytes()).unwrap().verify(&keys, &role, "t").unwrap_err();
        assert_eq!(e.kind, Kind::WrongKey);
        // The same signature twice is one key.
        let one = a.sign(br#"{"x":1}"#);
        let text = envelope_text(r#"{"x":1}"#, vec![one.clone(), one]);
        let e = Envelope::parse(text.as_bytes()).unwrap().verify(&keys, &role, "t").unwrap_err();
        assert_eq!(e.kind, Kind::WrongKey);
        // Changed after signing.
        let text = sign_envelope(&serde_json::json!({"x": 1}), &[&a, &b]).unwrap().replace("\"x\":1", "\"x\":2");
        let e = Envelope::parse(text.as_bytes()).unwrap().verify(&keys, &role, "t").unwrap_err();
        assert_eq!(e.kind, Kind::BadSignature);
    }

    #[test]
    fn key_files_round_trip() {
        let k = PrivateKey::generate().unwrap();
        let back = PrivateKey::from_file(&k.to_file()).unwrap();
        assert_eq!(k.public(), back.public());
        assert!(PrivateKey::from_file("{}").is_err());
    }
}
