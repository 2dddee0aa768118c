//! Spot box over-the-air updates, without IO in the decisions: the bundle format and its
//! signatures, the TUF-style feed metadata, the installer state machine, and the boot-slot state
//! that U-Boot's boot script and Linux share. The privileged helper and the release tool
//! (`spot-ota`) drive these with real files and devices; tests drive them with image files.

pub mod error;
pub mod feed;
pub mod keys;
pub mod version;

pub use error::{Error, Kind, Result};
pub use version::Version;
pub mod bootstate;
pub mod bootfiles;
pub mod bundle;
pub mod chunker;
pub mod manifest;
pub mod assemble;
pub mod install;
pub mod check;
pub mod lifecycle;
pub mod testdata;
