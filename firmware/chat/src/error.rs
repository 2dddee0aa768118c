//! Domain errors with stable codes. The HTTP layer maps [`ErrorKind`] to a status in one place.

use std::fmt;

/// The broad class of an error: decides the HTTP status and tells tests what went wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Input is malformed or breaks a rule (400).
    Invalid,
    /// No valid session (401).
    Unauthenticated,
    /// Authenticated but not allowed (403).
    Forbidden,
    /// The thing does not exist, or the caller may not know it exists (404).
    NotFound,
    /// Conflicts with existing state, e.g. a taken user name (409).
    Conflict,
    /// Too large (413).
    TooLarge,
    /// Rate limited (429).
    RateLimited,
    /// Something on our side failed (500). Never caused by input.
    Internal,
    /// A part of the box (the system helper) is not answering right now (503).
    Unavailable,
    /// The client took too long to send its request (408).
    Timeout,
}

/// A domain error: a kind, a stable machine-readable code, and words for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub kind: ErrorKind,
    pub code: &'static str,
    pub message: String,
    /// Set for rate limits: how long until the action is allowed again.
    pub retry_after_ms: Option<u64>,
}

impl Error {
    pub fn new(kind: ErrorKind, code: &'static str, message: impl Into<String>) -> Self {
        Error { kind, code, message: message.into(), retry_after_ms: None }
    }
    pub fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Invalid, code, message)
    }
    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Forbidden, code, message)
    }
    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, code, message)
    }
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, code, message)
    }
    pub fn unavailable(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unavailable, code, message)
    }
    pub fn unauthenticated() -> Self {
        Self::new(ErrorKind::Unauthenticated, "unauthenticated", "You need to log in.")
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, "internal", message)
    }
    pub fn rate_limited(retry_after_ms: u64) -> Self {
        let secs = retry_after_ms.div_ceil(1000).max(1);
        Error {
            kind: ErrorKind::RateLimited,
            code: "rate_limited",
            message: format!("Too many attempts. Try again in {secs} s."),
            retry_after_ms: Some(retry_after_ms),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for Error {}

pub type Result<T, E = Error> = std::result::Result<T, E>;
