//! The daemon's side of the privileged helper (`spot-helper`): one JSON request per
//! connection over a Unix socket only the `spot` group can reach. The daemon never changes
//! the network, host name or time zone itself (it has no privileges to); it asks.

use chat::Error;
use setup::proto::{Reply, Request, Status};
use std::path::PathBuf;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

/// Where the helper listens; `None` when the box's network is not ours to manage (development
/// machines, containers): then the setup wizard skips the network step.
#[derive(Debug, Clone, Default)]
pub struct HelperClient {
    pub socket: Option<PathBuf>,
}

impl HelperClient {
    /// `SPOT_HELPER_SOCKET`, or the image's socket if it exists.
    pub fn from_env() -> HelperClient {
        let socket = match std::env::var_os("SPOT_HELPER_SOCKET") {
            Some(p) if !p.is_empty() => Some(PathBuf::from(p)),
            _ => Some(PathBuf::from(setup::proto::SOCKET)).filter(|p| p.exists()),
        };
        HelperClient { socket }
    }

    pub fn managed(&self) -> bool {
        self.socket.is_some()
    }

    /// Send one request; scans take a few seconds, everything else is quick.
    pub async fn call(&self, req: &Request) -> Result<Reply, Error> {
        let Some(path) = &self.socket else {
            return Err(Error::invalid("network_unmanaged", "This box's network is managed by its operating system, not by Spot."));
        };
        let unavailable = |what: &str| Error::unavailable("helper_unavailable", format!("The box's system helper is not answering ({what}). Try again in a moment."));
        // A plan reads the whole running slot once (a 1 GiB slot on a slow card: a minute).
        let limit = match req {
            Request::WifiScan => 30,
            Request::OtaPlan { .. } => 300,
            _ => 15,
        };
        let work = async {
            let mut s = UnixStream::connect(path).await.map_err(|e| unavailable(&e.to_string()))?;
            let mut line = serde_json::to_vec(req).map_err(|e| Error::internal(e.to_string()))?;
            line.push(b'\n');
            s.write_all(&line).await.map_err(|e| unavailable(&e.to_string()))?;
            let mut r = BufReader::new(s);
            let mut out = String::new();
            r.read_line(&mut out).await.map_err(|e| unavailable(&e.to_string()))?;
            serde_json::from_str::<Reply>(out.trim()).map_err(|_| unavailable("unreadable answer"))
        };
        match tokio::time::timeout(Duration::from_secs(limit), work).await {
            Ok(Ok(Reply::Error { error, .. })) => Err(match error.code.as_str() {
                "invalid_argument" => Error::invalid("invalid_argument", error.message),
                "bad_request" => Error::invalid("bad_request", error.message),
                "unsupported" => Error::invalid("unsupported", error.message),
                "busy" => Error::conflict("busy", error.message),
                // An update refused (a plan of a downloaded bundle): its own code, in words.
                c => match ota::Kind::from_code(c).filter(|k| *k != ota::Kind::Io) {
                    Some(k) => Error::invalid(k.code(), error.message),
                    None => Error::unavailable("helper_failed", error.message),
                },
            }),
            Ok(r) => r,
            Err(_) => Err(unavailable("timed out")),
        }
    }

    pub async fn status(&self) -> Result<Status, Error> {
        match self.call(&Request::Status).await? {
            Reply::Status { status, .. } => Ok(status),
            _ => Err(Error::unavailable("helper_unavailable", "The system helper answered something unexpected.")),
        }
    }

    /// A request whose answer is only "done".
    pub async fn done(&self, req: &Request) -> Result<(), Error> {
        self.call(req).await.map(|_| ())
    }
}
