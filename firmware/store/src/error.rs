//! Store errors: domain errors (a rule was broken, a thing is missing) pass through untouched;
//! database and IO failures are internal.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Domain(#[from] chat::Error),
    #[error("database: {0}")]
    Db(#[from] rusqlite::Error),
    #[error("internal: {0}")]
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The domain error, if this is one (tests assert on its code).
    pub fn domain(&self) -> Option<&chat::Error> {
        match self {
            Error::Domain(e) => Some(e),
            _ => None,
        }
    }
}
