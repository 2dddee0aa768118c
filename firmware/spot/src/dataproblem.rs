//! `spot data-problem`: what the box serves when its data partition is missing, damaged or
//! full (spot-data-check.service left `/run/spot-data/problem.json`; spot.service does not
//! start then). One page on every path, so a browser (or a phone's captive-portal check) shows
//! it wherever it lands, that says what is wrong in words and offers the two ways out: "repair"
//! (a file system check) and "erase and start over" (a new data partition, then first-run
//! setup). Both go to spot-helper (`data_fix`), which runs them as root and reboots the box.
//!
//! Nothing here touches the disk: it reads the helper's two reports and asks the helper.
//! The data is unreachable, so there is no login to check; instead, as for the first-run
//! claim, only a client on the box's own network that addresses the box by one of its own
//! names may ask (a web page on the internet cannot, through a visitor's browser), with a JSON
//! body, and erasing takes an explicit `{"confirm": "erase"}`.

use anyhow::{Context, Result};
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chat::Error;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use server::error::ApiError;
use server::helper::HelperClient;
use setup::proto::{DataAction, Request};
use std::net::SocketAddr;
use std::path::PathBuf;

/// Where spot-helper reports (`SPOT_DATA_PROBLEM_DIR` for tests).
pub fn report_dir() -> PathBuf {
    std::env::var_os("SPOT_DATA_PROBLEM_DIR").filter(|v| !v.is_empty()).map_or_else(|| "/run/spot-data".into(), PathBuf::from)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Problem {
    Missing,
    Damaged,
    Full,
}

/// `problem.json`, as spot-helper writes it.
#[derive(Debug, Clone, Deserialize)]
struct Report {
    problem: Problem,
    #[serde(default)]
    detail: String,
}

impl Problem {
    fn title(self) -> &'static str {
        match self {
            Problem::Missing => "The box's data partition is missing",
            Problem::Damaged => "The box's data partition is damaged",
            Problem::Full => "The box's data partition is full",
        }
    }

    fn words(self) -> &'static str {
        match self {
            Problem::Missing => "The memory card has no data partition, the part where the box keeps its chat history, accounts and settings. \
                The card may have been rewritten on another computer, or it is not the card this box was set up with. \
                The box itself is fine. \"Erase and start over\" makes a new, empty data partition and runs the first-run setup again.",
            Problem::Damaged => "The box could not read the file system of its data partition, the part of the memory card where it keeps its chat \
                history, accounts and settings. That happens after a power cut at a bad moment, or when a card wears out. \
                \"Repair\" checks the file system and fixes what it can, keeping what can be saved. If that does not help, \
                \"Erase and start over\" makes a new, empty data partition: the chat history, accounts and settings are then lost.",
            Problem::Full => "There is no room left on the data partition, the part of the memory card where the box keeps its chat history, \
                accounts and settings, so the box stopped rather than lose messages. \"Erase and start over\" empties it: the chat \
                history, accounts and settings are then lost. To keep them, copy the card to a larger one on a computer first.",
        }
    }

    fn actions(self) -> &'static [&'static str] {
        match self {
            Problem::Damaged => &["repair", "erase"],
            Problem::Missing | Problem::Full => &["erase"],
        }
    }
}

#[derive(Clone)]
struct Ctx {
    dir: PathBuf,
    helper: HelperClient,
}

fn read_json(ctx: &Ctx, name: &str) -> Option<Value> {
    serde_json::from_slice(&std::fs::read(ctx.dir.join(name)).ok()?).ok()
}

fn report(ctx: &Ctx) -> Option<Report> {
    serde_json::from_value(read_json(ctx, "problem.json")?).ok()
}

/// What the page and `GET /api/data-problem` show.
fn view(ctx: &Ctx) -> Value {
    let fix = read_json(ctx, "fix.json");
    match report(ctx) {
        Some(r) => json!({
            "problem": r.problem,
            "title": r.problem.title(),
            "message": r.problem.words(),
            "detail": r.detail,
            "actions": r.problem.actions(),
            "fix": fix,
        }),
        None => json!({
            "problem": null,
            "title": "The data partition is fine again",
            "message": "Nothing is wrong with the data partition any more. The box returns to normal when it restarts.",
            "detail": "",
            "actions": [],
            "fix": fix,
        }),
    }
}

pub fn app(dir: PathBuf, helper: HelperClient) -> Router {
    Router::new()
        .route("/api/health", get(health))
        .route("/api/data-problem", get(status))
        .route("/api/data-problem/repair", post(repair))
        .route("/api/data-problem/erase", post(erase))
        .fallback(page)
        .with_state(Ctx { dir, helper })
}

async fn health(State(ctx): State<Ctx>) -> Response {
    let problem = report(&ctx).map(|r| r.problem);
    (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"status": "data_problem", "problem": problem}))).into_response()
}

async fn status(State(ctx): State<Ctx>) -> Json<Value> {
    Json(view(&ctx))
}

/// Only from the box's own network, addressed by one of the box's names, as JSON, from the
/// box's own page (when a browser says where the request comes from).
fn refusal(ip: SocketAddr, headers: &HeaderMap) -> Option<ApiError> {
    let not_local = || ApiError(Error::forbidden("not_local", "Only a device on the box's own network, opening the box by its own address, can do this."));
    if !server::firstrun::is_local_client(ip.ip()) {
        return Some(not_local());
    }
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
    if !server::firstrun::is_box_host(&setup::captive::bare_host(host)) {
        return Some(not_local());
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let o = origin.to_str().unwrap_or("");
        if o != format!("http://{host}") && o != format!("https://{host}") {
            return Some(ApiError(Error::forbidden("bad_origin", "This request did not come from the box's own page.")));
        }
    }
    let json = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.split(';').next().is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json")));
    if !json {
        return Some(ApiError(Error::invalid("bad_content_type", "Send the request as JSON (Content-Type: application/json).")));
    }
    None
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EraseBody {
    confirm: Option<String>,
}

async fn repair(State(ctx): State<Ctx>, ConnectInfo(ip): ConnectInfo<SocketAddr>, headers: HeaderMap) -> Response {
    if let Some(e) = refusal(ip, &headers) {
        return e.into_response();
    }
    ask(&ctx, DataAction::Repair).await
}

async fn erase(State(ctx): State<Ctx>, ConnectInfo(ip): ConnectInfo<SocketAddr>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    if let Some(e) = refusal(ip, &headers) {
        return e.into_response();
    }
    let confirmed = serde_json::from_slice::<EraseBody>(&body).ok().and_then(|b| b.confirm).is_some_and(|c| c == "erase");
    if !confirmed {
        return ApiError(Error::invalid("confirm_required", "Erasing deletes the chat history, accounts and settings for good: send {\"confirm\": \"erase\"}.")).into_response();
    }
    ask(&ctx, DataAction::Erase).await
}

async fn ask(ctx: &Ctx, action: DataAction) -> Response {
    let Some(r) = report(ctx) else {
        return ApiError(Error::conflict("no_data_problem", "The data partition is fine: there is nothing to repair or erase.")).into_response();
    };
    if !r.problem.actions().contains(&action.as_str()) {
        return ApiError(Error::invalid("unsupported", format!("\"{}\" cannot help here: {}", action.as_str(), r.problem.title().to_lowercase()))).into_response();
    }
    match ctx.helper.done(&Request::DataFix { action }).await {
        Ok(()) => {
            tracing::warn!(action = action.as_str(), "data partition fix started from the data-problem page");
            (StatusCode::ACCEPTED, Json(view(ctx))).into_response()
        }
        Err(e) => ApiError(e).into_response(),
    }
}

async fn page(method: Method, State(ctx): State<Ctx>) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return ApiError(Error::new(chat::ErrorKind::NotFound, "data_problem", "The box is in data-problem mode: only its problem page and /api/data-problem answer.")).into_response();
    }
    let v = view(&ctx);
    let html = PAGE
        .replace("@TITLE@", &escape(v["title"].as_str().unwrap_or("")))
        .replace("@MESSAGE@", &escape(v["message"].as_str().unwrap_or("")))
        .replace("@DETAIL@", &escape(v["detail"].as_str().unwrap_or("")));
    let mut res = (StatusCode::OK, html).into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    res
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

const PAGE: &str = r##"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Spot box: @TITLE@</title>
<style>
body{font:16px/1.5 system-ui,sans-serif;max-width:38rem;margin:2rem auto;padding:0 1rem;color:#222}
h1{font-size:1.4rem}.detail{color:#555;font-size:.9rem}.box{border:1px solid #ccc;border-radius:8px;padding:1rem;margin:1rem 0}
button{font:inherit;padding:.5rem 1rem;margin-right:.5rem}#erase{color:#a00}#state{font-weight:bold}
</style></head><body>
<h1 id="title">@TITLE@</h1>
<p id="message">@MESSAGE@</p>
<p class="detail" id="detail">@DETAIL@</p>
<div class="box" id="actions" hidden>
<p><button id="repair" hidden>Repair</button></p>
<div id="erase-box" hidden><label><input type="checkbox" id="sure"> I understand that erasing deletes the chat history, accounts and settings for good.</label>
<p><button id="erase" disabled>Erase and start over</button></p></div>
</div>
<p id="state" role="status"></p>
<script>
const $ = (id) => document.getElementById(id);
async function load() {
  const v = await (await fetch("/api/data-problem", {cache: "no-store"})).json();
  $("title").textContent = v.title; $("message").textContent = v.message; $("detail").textContent = v.detail;
  const busy = v.fix && ["starting", "running", "done"].includes(v.fix.state);
  $("actions").hidden = busy || v.actions.length === 0;
  $("repair").hidden = !v.actions.includes("repair");
  $("erase-box").hidden = !v.actions.includes("erase");
  $("state").textContent = v.fix ? v.fix.message : "";
  if (v.fix && v.fix.state === "done") { $("state").textContent += " This page reloads when the box is back."; }
  return v;
}
async function ask(action, body) {
  $("state").textContent = "Asking the box…";
  const r = await fetch("/api/data-problem/" + action, {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)});
  if (!r.ok) { const e = await r.json().catch(() => ({})); $("state").textContent = (e.error && e.error.message) || ("The box said " + r.status); return; }
  await load();
}
$("repair").onclick = () => ask("repair", {});
$("sure").onchange = () => { $("erase").disabled = !$("sure").checked; };
$("erase").onclick = () => ask("erase", {confirm: "erase"});
load().catch(() => {});
setInterval(async () => {
  try { await load(); } catch (e) {
    // The box is restarting; once it answers normally again, show what it serves now.
    fetch("/api/health").then((r) => { if (r.ok) location.reload(); }).catch(() => {});
  }
}, 3000);
</script>
</body></html>
"##;

/// A request head must arrive within this (as the daemon's default `limits.header_timeout_ms`).
const HEADER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Serve until SIGTERM.
pub fn run(listen: &str) -> Result<()> {
    let addr: SocketAddr = listen.parse().with_context(|| format!("--listen {listen:?}"))?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting the async runtime")?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("listening on {addr}"))?;
        let dir = report_dir();
        let ctx = Ctx { dir: dir.clone(), helper: HelperClient::from_env() };
        match report(&ctx) {
            Some(r) => tracing::error!(problem = ?r.problem, detail = %r.detail, "data partition problem: serving the data-problem page"),
            None => tracing::warn!("data-problem mode without a problem report in {}", dir.display()),
        }
        println!("spot data-problem page on http://{}", listener.local_addr()?);
        let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]);
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        let (stop_tx, stop) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            term.recv().await;
            let _ = stop_tx.send(true);
        });
        // The daemon's connection loop: a client that never finishes its headers is dropped.
        server::serve::serve(listener, app(dir, ctx.helper), HEADER_TIMEOUT, stop).await;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Write};

    /// A fake helper on a temp socket: answers every request with `reply` and keeps the lines.
    fn fake_helper(dir: &std::path::Path, reply: &'static str) -> (HelperClient, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
        let path = dir.join("helper.sock");
        let listener = std::os::unix::net::UnixListener::bind(&path).expect("bind");
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let s = seen.clone();
        std::thread::spawn(move || {
            for c in listener.incoming().flatten() {
                let mut line = String::new();
                let _ = BufReader::new(&c).read_line(&mut line);
                s.lock().expect("lock").push(line.trim().to_owned());
                let _ = (&c).write_all(format!("{reply}\n").as_bytes());
            }
        });
        (HelperClient { socket: Some(path) }, seen)
    }

    /// As `run` serves: the daemon's connection loop (its header timeout, the peer address).
    async fn serve(dir: PathBuf, helper: HelperClient) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (stop_tx, stop) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            let _keep = stop_tx;
            server::serve::serve(listener, app(dir, helper), std::time::Duration::from_secs(1), stop).await;
        });
        format!("http://{addr}")
    }

    #[tokio::test]
    async fn a_client_that_never_finishes_its_headers_is_dropped() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let dir = tempfile::tempdir().expect("tmp");
        let (helper, _) = fake_helper(dir.path(), "{\"ok\":true}");
        let url = serve(dir.path().to_path_buf(), helper).await;
        let mut s = tokio::net::TcpStream::connect(url.trim_start_matches("http://")).await.expect("connect");
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").await.expect("partial head");
        let mut buf = [0u8; 256];
        let closed = tokio::time::timeout(std::time::Duration::from_secs(10), s.read(&mut buf)).await;
        assert!(matches!(closed, Ok(Ok(_))), "the half-sent request was not dropped: {closed:?}");
    }

    #[tokio::test]
    async fn the_page_says_what_is_wrong_and_only_the_right_requests_reach_the_helper() {
        let t = tempfile::tempdir().expect("tmp");
        std::fs::write(t.path().join("problem.json"), r#"{"problem":"damaged","detail":"No file system was found on <b>/dev/vda4</b>.","device":"/dev/vda4"}"#).expect("w");
        let (helper, seen) = fake_helper(t.path(), r#"{"ok":true}"#);
        let base = serve(t.path().to_owned(), helper).await;
        let c = reqwest::Client::new();

        for path in ["/", "/setup", "/generate_204", "/hotspot-detect.html"] {
            let r = c.get(format!("{base}{path}")).send().await.expect("get");
            assert_eq!(r.status(), 200, "{path}");
            let html = r.text().await.expect("text");
            assert!(html.contains("The box&#39;s data partition is damaged") && html.contains("Repair"), "{path}: {html}");
            assert!(html.contains("&lt;b&gt;/dev/vda4&lt;/b&gt;") && !html.contains("<b>/dev"), "the detail is escaped");
        }
        let v: Value = c.get(format!("{base}/api/data-problem")).send().await.expect("get").json().await.expect("json");
        assert_eq!((v["problem"].as_str(), v["actions"].clone()), (Some("damaged"), json!(["repair", "erase"])));
        assert_eq!(c.get(format!("{base}/api/health")).send().await.expect("get").status(), 503);

        let post = |path: &str| c.post(format!("{base}/api/data-problem/{path}"));
        let code = |r: reqwest::Response| async move { (r.status().as_u16(), r.json::<Value>().await.expect("json")["error"]["code"].as_str().unwrap_or("").to_owned()) };
        // Refused before the helper hears of it.
        assert_eq!(code(post("repair").body("{}").send().await.expect("post")).await, (400, "bad_content_type".into()));
        assert_eq!(code(post("repair").header("Host", "evil.example.com").json(&json!({})).send().await.expect("post")).await, (403, "not_local".into()));
        assert_eq!(code(post("repair").header("Origin", "http://evil.example.com").json(&json!({})).send().await.expect("post")).await, (403, "bad_origin".into()));
        for body in [json!({}), json!({"confirm": "yes"}), json!({"confirm": "ERASE"}), json!({"confirm": "erase", "device": "/dev/sda"})] {
            assert_eq!(code(post("erase").json(&body).send().await.expect("post")).await, (400, "confirm_required".into()), "{body}");
        }
        assert!(seen.lock().expect("lock").is_empty(), "nothing reached the helper");

        let r = post("repair").json(&json!({})).send().await.expect("post");
        assert_eq!(r.status(), 202);
        let r = post("erase").header("Origin", base.clone()).json(&json!({"confirm": "erase"})).send().await.expect("post");
        assert_eq!(r.status(), 202);
        assert_eq!(*seen.lock().expect("lock"), vec![r#"{"cmd":"data_fix","action":"repair"}"#.to_owned(), r#"{"cmd":"data_fix","action":"erase"}"#.to_owned()]);

        // A missing partition cannot be repaired; with no problem at all nothing is asked.
        std::fs::write(t.path().join("problem.json"), r#"{"problem":"missing","detail":"The card has no partition 4.","device":null}"#).expect("w");
        let html = c.get(format!("{base}/")).send().await.expect("get").text().await.expect("text");
        assert!(html.contains("data partition is missing"), "{html}");
        assert_eq!(code(post("repair").json(&json!({})).send().await.expect("post")).await, (400, "unsupported".into()));
        std::fs::remove_file(t.path().join("problem.json")).expect("rm");
        assert_eq!(code(post("erase").json(&json!({"confirm": "erase"})).send().await.expect("post")).await, (409, "no_data_problem".into()));
        assert_eq!(seen.lock().expect("lock").len(), 2);
        assert_eq!(code(c.delete(format!("{base}/")).send().await.expect("delete")).await.0, 404);
    }
}
