//! Extractors whose rejections speak our error format instead of axum's plain text.

use crate::error::ApiError;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use chat::{Error, ErrorKind};
use serde::de::DeserializeOwned;

/// A JSON body. Unknown fields are rejected by the target types (`deny_unknown_fields`).
pub struct Json<T>(pub T);

/// A JSON body (at most 64 KiB) must arrive within this long: a client that trickles one byte
/// at a time does not hold a connection and its task for ever.
pub const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match tokio::time::timeout(BODY_TIMEOUT, axum::Json::<T>::from_request(req, state)).await {
            Ok(Ok(axum::Json(v))) => Ok(Json(v)),
            Ok(Err(rej)) => Err(ApiError(json_rejection(rej))),
            Err(_) => Err(body_timeout()),
        }
    }
}

fn body_timeout() -> ApiError {
    ApiError(Error::new(ErrorKind::Timeout, "body_timeout", "The request body took too long to arrive."))
}

/// A body that is empty (none) or JSON, whatever its content type (a moderation reason, a
/// thread's name), read within [`BODY_TIMEOUT`] like [`Json`].
pub struct OptionalJson<T>(pub Option<T>);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let b = match tokio::time::timeout(BODY_TIMEOUT, axum::body::Bytes::from_request(req, state)).await {
            Ok(Ok(b)) => b,
            Ok(Err(rej)) => return Err(ApiError(json_rejection(JsonRejection::BytesRejection(rej)))),
            Err(_) => return Err(body_timeout()),
        };
        if b.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJson(None));
        }
        serde_json::from_slice(&b).map(|v| OptionalJson(Some(v))).map_err(|e| {
            let msg: String = e.to_string().chars().take(200).collect();
            ApiError(Error::invalid("invalid_json", format!("The body is not valid: {msg}")))
        })
    }
}

fn json_rejection(rej: JsonRejection) -> Error {
    match rej {
        JsonRejection::MissingJsonContentType(_) => {
            Error::invalid("unsupported_media_type", "Send the body as JSON (Content-Type: application/json).")
        }
        JsonRejection::JsonSyntaxError(e) => Error::invalid("invalid_json", format!("The body is not valid JSON: {}", inner(&e.body_text()))),
        JsonRejection::JsonDataError(e) => Error::invalid("invalid_body", format!("The body has the wrong shape: {}", inner(&e.body_text()))),
        JsonRejection::BytesRejection(e) => {
            let text = e.body_text();
            if text.contains("length limit") || e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                Error::new(ErrorKind::TooLarge, "body_too_large", "The request body is too large.")
            } else {
                Error::invalid("invalid_body", "The request body could not be read.")
            }
        }
        _ => Error::invalid("invalid_body", "The request body could not be read."),
    }
}

/// axum's messages start with a generic prefix; keep the useful part, bounded.
fn inner(s: &str) -> String {
    let s = s.rsplit_once(": ").map_or(s, |(_, tail)| tail);
    s.chars().take(200).collect()
}

/// Query parameters with our error format.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(Query(v)),
            Err(QueryRejection::FailedToDeserializeQueryString(e)) => {
                Err(ApiError(Error::invalid("invalid_query", format!("Bad query parameters: {}", inner(&e.body_text())))))
            }
            Err(_) => Err(ApiError(Error::invalid("invalid_query", "Bad query parameters."))),
        }
    }
}

/// A `limit` query parameter for a page (1–100, default 50), with the same error everywhere.
pub fn page_limit(s: Option<&str>) -> Result<usize, ApiError> {
    let n = s
        .map(|l| l.parse::<usize>().map_err(|_| ApiError(Error::invalid("invalid_limit", "limit must be between 1 and 100."))))
        .transpose()?;
    Ok(chat::rules::page_limit(n)?)
}

/// Parse an ID from a path segment.
pub fn parse_id<T: std::str::FromStr>(s: &str) -> Result<T, ApiError> {
    s.parse::<T>().map_err(|_| ApiError(Error::not_found("unknown_id", format!("{:?} is not a valid ID.", truncate(s)))))
}

fn truncate(s: &str) -> String {
    s.chars().take(40).collect()
}
