//! Test harness: the real `spot` binary on a port-0 listener with a temporary data dir, an HTTP
//! client that logs in like the browser does, and a gateway client.

#![allow(dead_code)]

use futures_util::{SinkExt, StreamExt};
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub const ADMIN_PW: &str = "admin-password-1";
pub const BIN: &str = env!("CARGO_BIN_EXE_spot");

pub struct Daemon {
    pub dir: tempfile::TempDir,
    pub child: Option<Child>,
    pub addr: String,
    pub scheme: &'static str,
    pub stderr: PathBuf,
    /// Lines printed before the listening line (e.g. the redirect listener).
    pub banner: Vec<String>,
    /// Lines printed after the listening line (e.g. the voice port).
    pub after: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

pub fn spot(dir: &Path) -> Command {
    let mut c = Command::new(BIN);
    c.arg("--data-dir").arg(dir).env_remove("SPOT_LISTEN").env_remove("NOTIFY_SOCKET").env_remove("WATCHDOG_USEC");
    c
}

impl Daemon {
    /// Init a data dir (extra TOML appended to spot.toml) and start serving on port 0.
    pub fn start_with(extra_toml: &str, init_args: &[&str]) -> Daemon {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = spot(dir.path())
            .args(["init", "--non-interactive", "--admin-user", "admin", "--admin-password", ADMIN_PW])
            .args(init_args)
            .output()
            .expect("run spot init");
        assert!(out.status.success(), "init failed: {}", String::from_utf8_lossy(&out.stderr));
        // Tests run daemons side by side: each takes any free voice port unless told otherwise.
        let voice = if extra_toml.contains("[voice]") { "" } else { "[voice]\nport = 0\n" };
        let p = dir.path().join("spot.toml");
        let t = std::fs::read_to_string(&p).expect("read config");
        std::fs::write(&p, format!("{t}\n{extra_toml}\n{voice}")).expect("write config");
        let stderr = dir.path().join("stderr.log");
        let mut d = Daemon { dir, child: None, addr: String::new(), scheme: "http", stderr, banner: Vec::new(), after: Default::default() };
        d.spawn("127.0.0.1:0");
        d
    }

    /// A box as it leaves the factory: `serve --setup` on an empty data dir (no admin).
    /// `prepare` may put files into the data dir first (an Imager preset).
    pub fn start_unclaimed(prepare: impl FnOnce(&Path), env: &[(&str, &str)]) -> Daemon {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = spot(dir.path()).args(["init", "--setup"]).output().expect("run spot init --setup");
        assert!(out.status.success(), "init failed: {}", String::from_utf8_lossy(&out.stderr));
        let p = dir.path().join("spot.toml");
        let t = std::fs::read_to_string(&p).expect("read config");
        std::fs::write(&p, format!("{t}\n[voice]\nport = 0\n")).expect("write config");
        prepare(dir.path());
        let stderr = dir.path().join("stderr.log");
        let mut d = Daemon { dir, child: None, addr: String::new(), scheme: "http", stderr, banner: Vec::new(), after: Default::default() };
        let mut env = env.to_vec();
        env.push(("SPOT_SETUP", "1"));
        d.spawn_env("127.0.0.1:0", &env);
        d
    }

    /// Wait until the daemon prints a line starting with `prefix` (after its first listening
    /// line), e.g. when it restarted itself; returns the rest of the line.
    pub fn wait_line(&self, prefix: &str, skip: usize) -> String {
        for _ in 0..600 {
            let lines = self.after.lock().unwrap_or_else(|e| e.into_inner()).clone();
            if let Some(l) = lines.iter().skip(skip).find_map(|l| l.strip_prefix(prefix)) {
                return l.to_owned();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the daemon never said {prefix:?}: {}", self.logs());
    }

    pub fn start() -> Daemon {
        Self::start_with("", &[])
    }

    pub fn spawn(&mut self, listen: &str) {
        self.spawn_env(listen, &[]);
    }

    pub fn spawn_env(&mut self, listen: &str, env: &[(&str, &str)]) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.stderr).expect("log");
        let mut cmd = if env.iter().any(|(k, _)| *k == "WATCHDOG_PID") {
            // systemd sets WATCHDOG_PID to the service's PID: a shell that execs keeps its PID.
            let mut c = Command::new("sh");
            c.arg("-c").arg("export WATCHDOG_PID=$$; exec \"$0\" \"$@\"").arg(BIN).arg("--data-dir").arg(self.dir.path());
            c.env_remove("SPOT_LISTEN");
            c
        } else {
            spot(self.dir.path())
        };
        cmd.args(["serve", "--listen", listen]).stdout(Stdio::piped()).stderr(log);
        for (k, v) in env.iter().filter(|(k, _)| *k != "WATCHDOG_PID") {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn spot serve");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let line = loop {
            match lines.next() {
                Some(Ok(l)) if l.starts_with("spot listening on ") => break l,
                Some(Ok(l)) => self.banner.push(l),
                _ => panic!("spot serve exited early: {}", std::fs::read_to_string(&self.stderr).unwrap_or_default()),
            }
        };
        // Keep draining stdout so the daemon never blocks on a full pipe; keep what it said.
        let after = self.after.clone();
        std::thread::spawn(move || {
            for l in lines.map_while(Result::ok) {
                after.lock().unwrap_or_else(|e| e.into_inner()).push(l);
            }
        });
        let url = line.trim_start_matches("spot listening on ");
        let (scheme, addr) = url.split_once("://").expect("url");
        self.scheme = if scheme == "https" { "https" } else { "http" };
        self.addr = addr.to_owned();
        self.child = Some(child);
    }

    /// The UDP port voice media uses (from the daemon's "spot voice on udp port N" line).
    pub fn voice_port(&self) -> u16 {
        for _ in 0..100 {
            let lines = self.after.lock().unwrap_or_else(|e| e.into_inner()).clone();
            if let Some(p) = lines.iter().find_map(|l| l.strip_prefix("spot voice on udp port ")) {
                return p.parse().expect("port");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the daemon did not say its voice port");
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}://{}{}", self.scheme, self.addr, path)
    }

    pub fn ws_url(&self) -> String {
        format!("{}://{}/api/gateway", if self.scheme == "https" { "wss" } else { "ws" }, self.addr)
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().map(|c| c.id() as i32).unwrap_or(0)
    }

    /// SIGKILL: no chance to flush or drain.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait for a clean exit; returns the exit status.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let mut c = self.child.take().expect("running");
        // SAFETY-free: use the `kill` command rather than libc.
        let _ = Command::new("kill").arg("-TERM").arg(c.id().to_string()).status();
        c.wait().expect("wait")
    }

    /// Start again on the same address.
    pub fn restart_same_port(&mut self) {
        let addr = self.addr.clone();
        self.spawn(&addr);
    }

    pub fn db_path(&self) -> PathBuf {
        self.dir.path().join("spot.db")
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    pub async fn admin(&self) -> Client {
        let c = Client::new(self);
        c.login("admin", ADMIN_PW).await.expect_status(200);
        c
    }

    /// Create a member through the admin API and log them in.
    pub async fn member(&self, admin: &Client, name: &str) -> Client {
        admin
            .post("/api/admin/users", json!({"username": name, "password": "member-password", "role": "member"}))
            .await
            .expect_status(201);
        let c = Client::new(self);
        c.login(name, "member-password").await.expect_status(200);
        c
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill9();
    }
}

pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Resp {
    #[track_caller]
    pub fn expect_status(self, s: u16) -> Resp {
        assert_eq!(self.status, s, "unexpected status; body: {}", self.text);
        self
    }
    #[track_caller]
    pub fn expect_error(self, status: u16, code: &str) -> Resp {
        assert_eq!(self.status, status, "unexpected status; body: {}", self.text);
        assert_eq!(self.body["error"]["code"], code, "unexpected error; body: {}", self.text);
        assert!(self.body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "error without words");
        self
    }
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
}

/// An answer kept as bytes.
pub struct Raw {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub bytes: Vec<u8>,
}

impl Raw {
    pub fn header(&self, k: &str) -> &str {
        self.headers.get(k).and_then(|v| v.to_str().ok()).unwrap_or("")
    }
}

/// An HTTP client with a cookie jar, sending the CSRF token like the web app.
pub struct Client {
    pub http: reqwest::Client,
    pub base: String,
    pub csrf: std::sync::Mutex<Option<String>>,
    pub jar: std::sync::Arc<reqwest::cookie::Jar>,
    pub ws_url: String,
}

impl Client {
    pub fn new(d: &Daemon) -> Client {
        Self::build(d, None)
    }

    /// A client whose connections come from `ip` (any of 127.0.0.0/8 works on loopback): a
    /// different source address, as seen by the per-address limits.
    pub fn from_ip(d: &Daemon, ip: std::net::IpAddr) -> Client {
        Self::build(d, Some(ip))
    }

    fn build(d: &Daemon, ip: Option<std::net::IpAddr>) -> Client {
        let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
        let http = reqwest::Client::builder()
            .local_address(ip)
            .cookie_provider(jar.clone())
            .danger_accept_invalid_certs(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        Client { http, base: d.url(""), csrf: std::sync::Mutex::new(None), jar, ws_url: d.ws_url() }
    }

    pub fn cookie_header(&self) -> Option<String> {
        use reqwest::cookie::CookieStore;
        let url = self.base.parse().ok()?;
        self.jar.cookies(&url).and_then(|v| v.to_str().ok().map(str::to_owned))
    }

    fn request(&self, method: reqwest::Method, path: &str, body: Option<&Value>, csrf: bool) -> reqwest::RequestBuilder {
        let mut rb = self.http.request(method, format!("{}{}", self.base, path));
        if csrf {
            if let Some(t) = self.csrf.lock().expect("lock").clone() {
                rb = rb.header("x-csrf-token", t);
            }
        }
        if let Some(b) = body {
            rb = rb.json(b);
        }
        rb
    }

    pub async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>, csrf: bool) -> Resp {
        Self::finish(self.request(method, path, body.as_ref(), csrf)).await
    }

    /// The session's CSRF token ("" before a login), for requests built by hand.
    pub fn csrf_token(&self) -> String {
        self.csrf.lock().expect("lock").clone().unwrap_or_default()
    }

    /// Like `send`, but waits out `rate_limited` answers (for tests about something else that
    /// make many requests in a row).
    pub async fn patient(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Resp {
        Self::patient_with(path, 30, || self.request(method.clone(), path, body.as_ref(), true)).await
    }

    /// Sends what `make` builds until the answer is not 429 (at most `tries` times), waiting out
    /// its `retry_after_ms`; `what` names the request if it never gets through.
    pub async fn patient_with(what: &str, tries: u32, make: impl Fn() -> reqwest::RequestBuilder) -> Resp {
        for _ in 0..tries {
            let r = Self::finish(make()).await;
            if r.status != 429 {
                return r;
            }
            let wait = r.body["error"]["retry_after_ms"].as_u64().unwrap_or(500);
            tokio::time::sleep(std::time::Duration::from_millis(wait + 20)).await;
        }
        panic!("still rate limited: {what}");
    }

    /// A GET whose body is kept as bytes (files, pictures).
    pub async fn get_raw(&self, path: &str) -> Raw {
        let r = self.http.get(format!("{}{path}", self.base)).send().await.expect("request");
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        Raw { status, headers, bytes: r.bytes().await.expect("body").to_vec() }
    }

    pub async fn finish(rb: reqwest::RequestBuilder) -> Resp {
        let r = rb.send().await.expect("request");
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp { status, headers, body, text }
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.send(reqwest::Method::GET, path, None, true).await
    }
    pub async fn post(&self, path: &str, body: Value) -> Resp {
        self.send(reqwest::Method::POST, path, Some(body), true).await
    }
    pub async fn patch(&self, path: &str, body: Value) -> Resp {
        self.send(reqwest::Method::PATCH, path, Some(body), true).await
    }
    pub async fn put(&self, path: &str, body: Value) -> Resp {
        self.send(reqwest::Method::PUT, path, Some(body), true).await
    }
    pub async fn delete(&self, path: &str) -> Resp {
        self.send(reqwest::Method::DELETE, path, None, true).await
    }

    pub async fn login(&self, user: &str, pw: &str) -> Resp {
        let r = self.send(reqwest::Method::POST, "/api/login", Some(json!({"username": user, "password": pw})), false).await;
        if r.status == 200 {
            *self.csrf.lock().expect("lock") = r.body["csrf_token"].as_str().map(str::to_owned);
        }
        r
    }

    pub async fn general(&self) -> String {
        let r = self.get("/api/channels").await.expect_status(200);
        r.body[0]["id"].as_str().expect("a channel").to_owned()
    }

    /// Open a gateway socket and complete hello + resume(seq). Returns the socket and `ready`.
    pub async fn gateway(&self, seq: Option<i64>) -> (Gw, Value) {
        let mut gw = self.gateway_raw(None).await.expect("gateway connect");
        let hello = gw.next_op("hello").await;
        assert!(hello["d"]["heartbeat_ms"].as_u64().is_some());
        gw.send(json!({"op": "resume", "d": {"seq": seq}})).await;
        let mut replayed = Vec::new();
        loop {
            let f = gw.next().await.unwrap_or_else(|| panic!("frame before ready (close {:?})", gw.close));
            match f["op"].as_str() {
                Some("ready") => {
                    gw.replayed = replayed;
                    return (gw, f);
                }
                Some("event") => replayed.push(f),
                _ => {}
            }
        }
    }

    pub async fn gateway_raw(&self, origin: Option<&str>) -> Result<Gw, tokio_tungstenite::tungstenite::Error> {
        let mut req = self.ws_url.as_str().into_client_request()?;
        if let Some(c) = self.cookie_header() {
            req.headers_mut().insert("cookie", HeaderValue::from_str(&c).expect("cookie"));
        }
        if let Some(o) = origin {
            req.headers_mut().insert("origin", HeaderValue::from_str(o).expect("origin"));
        }
        let connector = tokio_tungstenite::Connector::Rustls(std::sync::Arc::new(insecure_tls()));
        let (ws, _) = tokio_tungstenite::connect_async_tls_with_config(req, None, false, Some(connector)).await?;
        Ok(Gw { ws, replayed: Vec::new(), pending: Vec::new(), close: None })
    }
}

/// Accept the daemon's self-signed certificate.
pub fn insecure_tls() -> rustls::ClientConfig {
    #[derive(Debug)]
    struct Any;
    impl rustls::client::danger::ServerCertVerifier for Any {
        fn verify_server_cert(
            &self,
            _: &rustls::pki_types::CertificateDer<'_>,
            _: &[rustls::pki_types::CertificateDer<'_>],
            _: &rustls::pki_types::ServerName<'_>,
            _: &[u8],
            _: rustls::pki_types::UnixTime,
        ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
            Ok(rustls::client::danger::ServerCertVerified::assertion())
        }
        fn verify_tls12_signature(
            &self,
            _: &[u8],
            _: &rustls::pki_types::CertificateDer<'_>,
            _: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
        }
        fn verify_tls13_signature(
            &self,
            _: &[u8],
            _: &rustls::pki_types::CertificateDer<'_>,
            _: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
        }
        fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
            rustls::crypto::ring::default_provider().signature_verification_algorithms.supported_schemes()
        }
    }
    rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .dangerous()
        .with_custom_certificate_verifier(std::sync::Arc::new(Any))
        .with_no_client_auth()
}

pub struct Gw {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// Events replayed before `ready`.
    pub replayed: Vec<Value>,
    /// Frames read while looking for something else.
    pub pending: Vec<Value>,
    /// The close code, once closed.
    pub close: Option<u16>,
}

impl Gw {
    pub async fn send(&mut self, v: Value) {
        self.ws.send(Message::Text(v.to_string().into())).await.expect("send");
    }

    pub async fn send_raw(&mut self, m: Message) -> bool {
        self.ws.send(m).await.is_ok()
    }

    /// The next JSON frame (within 10 s), or `None` once closed.
    pub async fn next(&mut self) -> Option<Value> {
        self.next_within(Duration::from_secs(10)).await
    }

    pub async fn next_within(&mut self, t: Duration) -> Option<Value> {
        if !self.pending.is_empty() {
            return Some(self.pending.remove(0));
        }
        loop {
            let m = match tokio::time::timeout(t, self.ws.next()).await {
                Ok(Some(Ok(m))) => m,
                Ok(_) => return None,
                Err(_) => return None,
            };
            match m {
                Message::Text(t) => return Some(serde_json::from_str(t.as_str()).expect("server sent JSON")),
                Message::Close(f) => {
                    self.close = Some(f.map_or(1005, |f| u16::from(f.code)));
                    return None;
                }
                _ => continue,
            }
        }
    }

    /// Skip frames until one with this op.
    pub async fn next_op<'a>(&'a mut self, op: &'a str) -> Value {
        loop {
            let f = self.next().await.unwrap_or_else(|| panic!("socket ended waiting for {op} (close {:?})", self.close));
            if f["op"] == op {
                return f;
            }
        }
    }

    /// Skip frames until an event of type `t`.
    pub async fn next_event(&mut self, t: &str) -> Value {
        loop {
            let f = self.next().await.unwrap_or_else(|| panic!("socket ended waiting for {t}"));
            if f["op"] == "event" && f["t"] == t {
                return f;
            }
        }
    }

    /// Send a request and wait for its reply or error.
    pub async fn request(&mut self, id: &str, t: &str, d: Value) -> Value {
        self.send(json!({"op": "request", "id": id, "t": t, "d": d})).await;
        let mut skipped = Vec::new();
        let out = loop {
            let f = self.next().await.unwrap_or_else(|| panic!("socket ended waiting for reply {id}"));
            if (f["op"] == "reply" || f["op"] == "error") && f["id"] == id {
                break f;
            }
            skipped.push(f);
        };
        self.pending.extend(skipped);
        out
    }

    /// Wait until the server closes; returns the close code.
    pub async fn closed(&mut self) -> Option<u16> {
        self.pending.clear();
        while self.next_within(Duration::from_secs(15)).await.is_some() {}
        self.close
    }
}

pub fn close_code(c: CloseCode) -> u16 {
    u16::from(c)
}

/// How the upload body is sent over a raw connection.
pub enum Body {
    /// Only the headers, announcing this Content-Length; the body never comes.
    Announced(u64),
    /// `Transfer-Encoding: chunked` in 64 KiB pieces, up to this many bytes (no length up front).
    Chunked(usize),
}

/// An upload (`request`: method and path, e.g. `POST /api/uploads`) over a raw HTTP/1.1 connection, reading the answer while still sending (the
/// server answers early and closes). Returns the status and the JSON body.
pub async fn raw_upload(d: &Daemon, c: &Client, request: &str, body: Body) -> (u16, Value) {
    let stream = tokio::net::TcpStream::connect(&d.addr).await.expect("connect");
    let (mut rd, mut wr) = stream.into_split();
    let reader = tokio::spawn(async move {
        let mut buf = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), rd.read_to_end(&mut buf)).await;
        buf
    });
    let framing = match body {
        Body::Announced(n) => format!("Content-Length: {n}\r\n"),
        Body::Chunked(_) => "Transfer-Encoding: chunked\r\n".into(),
    };
    let head = format!(
        "{request} HTTP/1.1\r\nHost: {}\r\nCookie: {}\r\nX-CSRF-Token: {}\r\nX-Filename: big.bin\r\n\
         Content-Type: application/octet-stream\r\n{framing}Connection: close\r\n\r\n",
        d.addr,
        c.cookie_header().unwrap_or_default(),
        c.csrf_token()
    );
    wr.write_all(head.as_bytes()).await.expect("send headers");
    if let Body::Chunked(total) = body {
        let piece = vec![b'x'; 64 * 1024];
        let mut sent = 0;
        while sent < total {
            let frame = [format!("{:x}\r\n", piece.len()).as_bytes(), &piece, b"\r\n"].concat();
            if wr.write_all(&frame).await.is_err() {
                break;
            }
            sent += piece.len();
        }
        let _ = wr.write_all(b"0\r\n\r\n").await;
    }
    let buf = reader.await.expect("reader");
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}
