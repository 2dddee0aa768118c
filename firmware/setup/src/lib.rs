//! First-run setup and the box's network, without IO.
//!
//! - [`proto`]: the one protocol between the unprivileged daemon and the privileged helper
//!   (`spot-helper`), as typed requests and replies (JSON lines over a Unix socket).
//! - [`validate`]: every argument that crosses into the helper is validated here, into types
//!   that can only hold valid values.
//! - [`net`]: the network policy (Ethernet / setup access point / joining / joined / fallback),
//!   a state machine fed events and time.
//! - [`imager`]: what Raspberry Pi Imager writes on the boot partition, read as data.
//! - [`captive`]: the captive-portal probes of each OS and the answers they need.

pub mod imager;
pub mod net;
pub mod proto;
pub mod validate;
pub mod captive;
