//! The captive portal: while the box serves its setup access point its DNS answers every name
//! with the box, so phones' connectivity checks (and any page a person types) arrive here with
//! a foreign `Host`. Until setup is complete they are redirected to the wizard, so the phone
//! opens it by itself; afterwards the probes get the answer their OS expects ("online").

use crate::{firstrun, AppState, LocalAddr};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

pub async fn portal(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let host = req.headers().get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("").to_owned();
    let probe = setup::captive::probe(&host, req.uri().path());
    let foreign = !host.is_empty() && !firstrun::is_box_host(&setup::captive::bare_host(&host));
    // Cheap checks first: most requests carry the box's own name and are no probe.
    if probe.is_none() && !foreign {
        return next.run(req).await;
    }
    let on_ap = firstrun::net_status(&state)
        .await
        .is_some_and(|s| matches!(s.mode, setup::proto::Mode::AccessPoint | setup::proto::Mode::Lost));
    if probe.is_none() && !on_ap {
        // A name the admin gave the box in their own DNS: serve normally.
        return next.run(req).await;
    }
    let complete = firstrun::setup_complete(&state).await;
    if let (Some(p), true) = (probe, complete) {
        let mut r = (StatusCode::from_u16(p.success.status).unwrap_or(StatusCode::OK), p.success.body).into_response();
        r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(p.success.content_type));
        return r;
    }
    let local = req.extensions().get::<LocalAddr>().map(|l| l.0);
    let target = match local {
        Some(a) if !a.ip().is_unspecified() => {
            let ip = match a.ip() {
                std::net::IpAddr::V6(v6) => format!("[{v6}]"),
                v4 => v4.to_string(),
            };
            let port = if a.port() == 80 { String::new() } else { format!(":{}", a.port()) };
            format!("http://{ip}{port}")
        }
        _ => "http://spot.local".to_owned(),
    };
    let path = if complete { "/" } else { "/setup" };
    // 302, not 301: the phone must not remember this once it is back on a real network.
    let mut r = (StatusCode::FOUND, format!("Spot box setup: {target}{path}\n")).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("{target}{path}")) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}
