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
