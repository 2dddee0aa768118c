//! Every way an update can be refused or fail, each with a stable code (the admin API and the
//! command line show `code` and the message; tests match on the kind).

use std::fmt;

/// The stable kinds. `code()` is what the API reports; never renumber or rename one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// The input is not a bundle or metadata file at all, or a field does not parse.
    Malformed,
    /// A signature by a trusted key does not verify (the signed bytes were changed).
    BadSignature,
    /// Not signed by (enough) keys the box trusts for this role.
    WrongKey,
    /// The bundle is not for this board.
    WrongBoard,
    /// The bundle's version is not newer than the running one.
    Downgrade,
    /// The bundle's version is below the version floor (the last committed version).
    BelowFloor,
    /// The running version is older than the bundle's `min_version`.
    NeedsNewerBase,
    /// Metadata whose expiry has passed (a feed frozen in time).
    ExpiredMetadata,
    /// Metadata older than what the box already trusts (a replayed feed).
    ReplayedMetadata,
    /// Files of two releases mixed: a hash or version that the referring metadata does not pin.
    MixedRelease,
    /// The input ended before what its header or manifest promised.
    Truncated,
    /// More bytes than the header, manifest or metadata allow (endless-data attack).
    Oversized,
    /// A block whose hash is not the manifest's: never written.
    TamperedBlock,
    /// The slot read back after writing is not the image the manifest describes.
    ImageMismatch,
    /// The Raspberry Pi 4 bootloader EEPROM is older than the bundle needs.
    EepromTooOld,
    /// A boot file a bundle may not bring (`config.txt`, the Pi firmware, `boot.scr`, an odd
    /// path), or boot files for a box whose boot partition has no switch (`ota::bootfiles`).
    BootFileRefused,
    /// Another install is running, or the state does not allow this step now.
    Busy,
    /// Reading or writing a device or file failed.
    Io,
}

impl Kind {
    /// Every kind: refusals the admin is shown in words.
    pub const ALL: [Kind; 18] = [
        Kind::Malformed,
        Kind::BadSignature,
        Kind::WrongKey,
        Kind::WrongBoard,
        Kind::Downgrade,
        Kind::BelowFloor,
        Kind::NeedsNewerBase,
        Kind::ExpiredMetadata,
        Kind::ReplayedMetadata,
        Kind::MixedRelease,
        Kind::Truncated,
        Kind::Oversized,
        Kind::TamperedBlock,
        Kind::ImageMismatch,
        Kind::EepromTooOld,
        Kind::BootFileRefused,
        Kind::Busy,
        Kind::Io,
    ];

    /// The kind whose `code()` this is (a code that came over the helper's socket).
    pub fn from_code(code: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.code() == code)
    }

    pub fn code(self) -> &'static str {
        match self {
            Kind::Malformed => "malformed",
            Kind::BadSignature => "bad_signature",
            Kind::WrongKey => "wrong_key",
            Kind::WrongBoard => "wrong_board",
            Kind::Downgrade => "downgrade",
            Kind::BelowFloor => "below_floor",
            Kind::NeedsNewerBase => "needs_newer_base",
            Kind::ExpiredMetadata => "expired_metadata",
            Kind::ReplayedMetadata => "replayed_metadata",
            Kind::MixedRelease => "mixed_release",
            Kind::Truncated => "truncated",
            Kind::Oversized => "oversized",
            Kind::TamperedBlock => "tampered_block",
            Kind::ImageMismatch => "image_mismatch",
            Kind::EepromTooOld => "eeprom_too_old",
            Kind::BootFileRefused => "boot_file_refused",
            Kind::Busy => "busy",
            Kind::Io => "io",
        }
    }
}

/// An error: its kind and a message in words for the admin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub kind: Kind,
    pub message: String,
}

impl Error {
    pub fn new(kind: Kind, message: impl Into<String>) -> Self {
        Error { kind, message: message.into() }
    }
    pub fn code(&self) -> &'static str {
        self.kind.code()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.kind.code())
    }
}

impl std::error::Error for Error {}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            Error::new(Kind::Truncated, "the input ended early")
        } else {
            Error::new(Kind::Io, e.to_string())
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// `Err(Error::new(kind, msg))`, for brevity in the checks.
pub fn fail<T>(kind: Kind, message: impl Into<String>) -> Result<T> {
    Err(Error::new(kind, message))
}

#[cfg(test)]
mod tests {
    use super::Kind;

    #[test]
    fn every_code_names_its_kind() {
        for k in Kind::ALL {
            assert_eq!(Kind::from_code(k.code()), Some(k));
        }
        assert_eq!(Kind::from_code("nonsense"), None);
    }
}
