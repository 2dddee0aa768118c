//! The one place errors become HTTP responses: `{"error": {"code", "message"}}` with a status
//! chosen by the error's kind. Internal failures are logged and shown without details.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chat::ErrorKind;
use serde::Serialize;

#[derive(Debug)]
pub struct ApiError(pub chat::Error);

pub type ApiResult<T> = Result<T, ApiError>;

impl From<chat::Error> for ApiError {
    fn from(e: chat::Error) -> Self {
        ApiError(e)
    }
}

impl From<store::Error> for ApiError {
    fn from(e: store::Error) -> Self {
        match e {
            store::Error::Domain(d) => ApiError(d),
            other => {
                tracing::error!(error = %other, "store failure");
                ApiError(chat::Error::internal("Something went wrong on the box. Please try again."))
            }
        }
    }
}

impl From<tokio::task::JoinError> for ApiError {
    fn from(e: tokio::task::JoinError) -> Self {
        tracing::error!(error = %e, "blocking task failed");
        ApiError(chat::Error::internal("Something went wrong on the box. Please try again."))
    }
}

pub fn status_of(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::Invalid => StatusCode::BAD_REQUEST,
        ErrorKind::Unauthenticated => StatusCode::UNAUTHORIZED,
        ErrorKind::Forbidden => StatusCode::FORBIDDEN,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorKind::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Timeout => StatusCode::REQUEST_TIMEOUT,
    }
}

/// The error body, shared by HTTP responses and gateway error events.
#[derive(Debug, Serialize)]
pub struct ErrorBody<'a> {
    pub code: &'a str,
    pub message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_s: Option<u64>,
}

impl<'a> From<&'a chat::Error> for ErrorBody<'a> {
    fn from(e: &'a chat::Error) -> Self {
        ErrorBody {
            code: e.code,
            message: &e.message,
            retry_after_ms: e.retry_after_ms,
            retry_after_s: e.retry_after_ms.map(|ms| ms.div_ceil(1000).max(1)),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let e = self.0;
        let status = status_of(e.kind);
        let body = serde_json::json!({ "error": ErrorBody::from(&e) });
        let mut resp = (status, axum::Json(body)).into_response();
        if let Some(ms) = e.retry_after_ms {
            if let Ok(v) = HeaderValue::from_str(&ms.div_ceil(1000).max(1).to_string()) {
                resp.headers_mut().insert("retry-after", v);
            }
        }
        resp
    }
}

/// Longest framework error text kept (a path rejection names the segment it could not decode).
const FRAMEWORK_TEXT: usize = 16 * 1024;

/// Middleware on `/api`: an error the framework made before any handler ran (405 from the method
/// router, a path that does not decode, a body limit) is plain text; it leaves in our shape, with
/// a stable code chosen by its status. Our own errors are JSON already and pass untouched.
pub async fn json_errors(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let method = req.method().clone();
    let resp = next.run(req).await;
    let status = resp.status();
    let is_json = resp
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let text = axum::body::to_bytes(body, FRAMEWORK_TEXT).await.map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default();
    let (kind, code, message) = framework_error(status, &method, &text);
    let mut out = ApiError(chat::Error::new(kind, code, message)).into_response();
    *out.status_mut() = status;
    // Keep what the framework said beyond the body (`Allow` on a 405).
    if let Some(allow) = parts.headers.get(axum::http::header::ALLOW) {
        out.headers_mut().insert(axum::http::header::ALLOW, allow.clone());
    }
    out
}

fn framework_error(status: StatusCode, method: &axum::http::Method, text: &str) -> (ErrorKind, &'static str, String) {
    match status {
        StatusCode::METHOD_NOT_ALLOWED => (ErrorKind::Invalid, "method_not_allowed", format!("This endpoint does not accept {method}.")),
        StatusCode::NOT_FOUND => (ErrorKind::NotFound, "not_found", "No such API endpoint.".to_owned()),
        StatusCode::PAYLOAD_TOO_LARGE => (ErrorKind::TooLarge, "body_too_large", "The request body is too large.".to_owned()),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            (ErrorKind::Invalid, "unsupported_media_type", "Send the body as JSON (Content-Type: application/json).".to_owned())
        }
        _ if text.starts_with("Invalid URL") => (ErrorKind::Invalid, "invalid_path", "A part of the address could not be read.".to_owned()),
        s if s.is_client_error() => {
            let detail: String = text.trim().chars().take(200).collect();
            let message = if detail.is_empty() { "The request could not be understood.".to_owned() } else { format!("The request could not be understood: {detail}") };
            (ErrorKind::Invalid, "bad_request", message)
        }
        _ => (ErrorKind::Internal, "internal", "Something went wrong on the box. Please try again.".to_owned()),
    }
}
