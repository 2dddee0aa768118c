//! `fetch`: the only way the daemon fetches URLs (link embeds today). An SSRF-safe HTTP(S) GET.
//!
//! A chat message can make the box fetch any URL its author likes, from inside the owner's LAN.
//! So every fetch goes through one guarded path, and anything that could reach something other
//! than a public web server is refused with a typed [`Refused`] carrying a stable reason code
//! (and logged with `tracing::info!(url, reason, ..)`):
//!
//! - **URL** (`url` crate, WHATWG parsing, so `http://2130706433/`, `0177.0.0.1`, `0x7f.1`,
//!   `127.1`, `%31%32%37.0.0.1`, fullwidth/IDNA forms, uppercase and trailing dots are all
//!   normalised to the address they mean before any check): only `http`/`https`
//!   (`scheme_not_allowed`); no user name or password (`userinfo_not_allowed`: `public@127.0.0.1`
//!   tricks); ports 80 and 443 only unless an allowlist `host:port` entry names the port
//!   (`port_not_allowed`); unparsable URLs, IPv6 zone ids included, are `bad_url`.
//! - **Address**: the name is resolved **once**; every answer must be public unicast, or the
//!   whole name is refused (`private_address`; see [`addr::classify`]: RFC 1918, loopback,
//!   link-local and cloud metadata, CGNAT, multicast, broadcast, "this network", IETF,
//!   documentation and benchmarking blocks, 240/4; IPv6 ULA, site-local, link-local, NAT64,
//!   6to4, Teredo, IPv4-compatible, discard-only, SRv6, anything outside 2000::/3; IPv4-mapped is
//!   judged as its IPv4). The box's own interface addresses are `own_address` (a Pi often has a
//!   public IPv6). The admin [`Allowlist`] opens LAN services (see [`AllowEntry`]). A name that
//!   does not resolve is `dns_failed`.
//!   Not caught: the box's public IPv4 behind NAT (hairpin to the router's port forwards); the
//!   box cannot see it, so an admin who forwards ports to LAN services should know.
//! - **Connect**: to the vetted address itself, never a second lookup (DNS rebinding cannot
//!   swap the address between check and connect). `Host` and TLS SNI/certificate use the name.
//!   Failures are `connect_failed`, `tls_failed` (webpki roots, certificate for the name) and
//!   `http_error` (a broken HTTP/1.1 response).
//! - **Redirects**: at most [`Policy::max_redirects`] (3); each target is checked from the top.
//! - **Caps**: connect and total time (`timeout`), body size (`too_large`), the caller's media
//!   types (`bad_content_type`), `Accept-Encoding: identity` and nothing decompressed
//!   (`bad_content_encoding`), non-2xx (`http_status`), a redirect without a usable `Location`
//!   (`bad_redirect`).
//! - **Media** (`Fetcher::get_stream`, see `stream.rs`): a long-lived GET for music and radio:
//!   a head timeout, then only an idle timeout while data flows; a capped response head; caller
//!   headers (`Icy-MetaData: 1`); [`Ports::Media`]: any port from 1024 on, to public addresses
//!   only (a LAN media server on its own port needs a `host:port` allowlist entry).
//! - **Ranges** (`Fetcher::get_range_streaming`, a partial or resumed update download): 206
//!   with exactly the `Content-Range` asked and exactly that many bytes (`bad_range`,
//!   `too_large`, `http_error`); a 200 is `range_ignored` before any byte is taken.
//!
//! NAT64 (`64:ff9b::/96`) is refused outright, as the product issue asks: on an IPv6-only network
//! with DNS64 that refuses every IPv4-only site; judging the embedded IPv4 instead would be the
//! change to make if such a box ever appears.
//!
//! Layout: [`addr`] and [`policy`] are pure (the classifier, the allowlist, the URL and address
//! checks), [`html`] is the pure metadata scanner, `fetcher` is the IO shell over hyper 1
//! (HTTP/1.1) and tokio-rustls (ring, webpki roots: pure Rust for the static musl build), and
//! [`edges`] holds the injectable lookup, connect and own-address edges tests replace.
//!
//! ```no_run
//! # async fn demo() -> Result<(), fetch::Refused> {
//! // From the admin settings; `Allowlist::parse` errors name the bad entry.
//! let allowlist = fetch::Allowlist::parse(["nas.lan:8080", "10.0.0.0/8"]).expect("valid entries");
//! let policy = fetch::Policy::with_allowlist(allowlist);
//! let fetcher = fetch::Fetcher::new(policy);
//! let preview = fetch::page_preview(&fetcher, "https://example.com/").await?;
//! if let Some(image) = &preview.image_url {
//!     let (bytes, content_type) = fetch::fetch_image(&fetcher, image, 5 << 20).await?;
//! #   let _ = (bytes, content_type);
//! }
//! # Ok(()) }
//! ```

pub mod addr;
pub mod edges;
mod error;
mod fetcher;
pub mod html;
pub mod policy;
mod preview;
mod stream;

pub use addr::{classify, Cidr, NonPublic};
pub use edges::{BoxFuture, Connect, OwnAddrs, Resolve, SystemAndExtra, SystemOwnAddrs, SystemResolver, TcpConnector};
pub use error::{Reason, Refused};
pub use fetcher::{Fetcher, GetOptions, Response};
pub use policy::{AllowEntry, Allowlist, BadAllowEntry, Policy, Ports, MEDIA_MIN_PORT, USER_AGENT};
pub use stream::{BodyStream, StreamHead, StreamOptions};
pub use url::Url;
pub use preview::{
    fetch_image, page_preview, Preview, DESCRIPTION_MAX_CHARS, PAGE_MAX_BYTES, TITLE_MAX_CHARS,
};
