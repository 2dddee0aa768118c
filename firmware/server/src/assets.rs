//! The embedded web app. Files are served with their type; hashed files under `/assets/` are
//! cached forever; every other path that is not an API path gets `index.html` (client routing).
//! Text files go out gzipped (made at build time) to a browser that accepts gzip.

use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

include!(concat!(env!("OUT_DIR"), "/assets.rs"));

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, e)| e) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json" | "map") => "application/json",
        Some("webmanifest") => "application/manifest+json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("woff2") => "font/woff2",
        Some("ogg") => "audio/ogg",
        Some("mp3") => "audio/mpeg",
        Some("wav") => "audio/wav",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

type Asset = (&'static [u8], Option<&'static [u8]>);

fn find(path: &str) -> Option<Asset> {
    ASSETS.iter().find(|(p, _, _)| *p == path).map(|(_, b, gz)| (*b, *gz))
}

/// Whether `Accept-Encoding` allows gzip: `gzip` or `*` with a weight above zero.
pub fn accepts_gzip(headers: &HeaderMap) -> bool {
    let mut gzip = None;
    let mut star = None;
    for v in headers.get_all(header::ACCEPT_ENCODING).iter().filter_map(|v| v.to_str().ok()) {
        for item in v.split(',') {
            let mut parts = item.split(';');
            let name = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q=").and_then(|q| q.trim().parse::<f32>().ok()))
                .next()
                .unwrap_or(1.0);
            match name.as_str() {
                "gzip" | "x-gzip" => gzip = Some(q > 0.0),
                "*" => star = Some(q > 0.0),
                _ => {}
            }
        }
    }
    gzip.or(star).unwrap_or(false)
}

fn file(asset: Asset, content_type: &'static str, cache: &'static str, gzip_ok: bool) -> Response {
    let (raw, gz) = asset;
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    if gz.is_some() {
        headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
    match gz.filter(|_| gzip_ok) {
        Some(gz) => {
            headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            (headers, gz).into_response()
        }
        None => (headers, raw).into_response(),
    }
}

pub async fn serve(method: Method, uri: Uri, req_headers: HeaderMap) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return (StatusCode::METHOD_NOT_ALLOWED, "method not allowed").into_response();
    }
    let path = uri.path();
    let gzip_ok = accepts_gzip(&req_headers);
    if let Some(asset) = find(path).filter(|_| path != "/index.html") {
        let cache = if path.starts_with("/assets/") { "public, max-age=31536000, immutable" } else { "no-cache" };
        return file(asset, content_type(path), cache, gzip_ok);
    }
    // A missing hashed asset is a real 404, not the app shell.
    if path.starts_with("/assets/") {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    }
    match find("/index.html") {
        Some(asset) => file(asset, "text/html; charset=utf-8", "no-cache", gzip_ok),
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"))],
            "The Spot box web app was not built into this binary. Run `make web` and rebuild.",
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(v: &str) -> HeaderMap {
        let mut m = HeaderMap::new();
        m.insert(header::ACCEPT_ENCODING, HeaderValue::from_str(v).unwrap());
        m
    }

    #[test]
    fn accept_encoding_is_read_with_its_weights() {
        assert!(accepts_gzip(&h("gzip, deflate, br, zstd")));
        assert!(accepts_gzip(&h("br;q=1.0, GZIP;q=0.5")));
        assert!(accepts_gzip(&h("*")));
        assert!(!accepts_gzip(&h("gzip;q=0")));
        assert!(!accepts_gzip(&h("gzip;q=0, *")), "an explicit refusal wins over *");
        assert!(!accepts_gzip(&h("br, deflate")));
        assert!(!accepts_gzip(&h("identity")));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }
}
