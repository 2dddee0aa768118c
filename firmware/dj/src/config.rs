//! The admin's settings for the DJ.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The DJ's settings. Missing keys take their defaults; unknown keys are refused.
/// [`Config::validate`] names the first bad key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Share of the listeners whose votes skip a track (rounded up, at least one vote).
    pub vote_ratio: f64,
    /// Entries in the queue, all requesters together.
    pub max_queue: usize,
    /// Entries one person may have in the queue; 0 = no limit. DJs are not limited.
    pub per_user_limit: usize,
    /// Longest track accepted; `null` = any length. Live streams have no length.
    pub max_track_ms: Option<u64>,
    /// The DJ stops and leaves once the room has been empty, or it has had nothing to play,
    /// this long.
    pub leave_empty_after_ms: u64,
    /// Played entries kept for `!history` and `!prev`.
    pub history_len: usize,
    /// Hits shown by `!search`.
    pub search_results: usize,
    /// How long `!pick N` can pick from a `!search`.
    pub search_expiry_ms: u64,
    /// How long the core waits for an [`crate::Input::Resolved`] before giving up.
    pub resolve_timeout_ms: u64,
    /// Saved playlists, everyone's together.
    pub max_playlists: usize,
    /// Tracks in one saved playlist.
    pub playlist_len: usize,
    /// What starts a command in the chat.
    pub prefix: char,
    /// Source-key schemes a chat argument may name directly (`!play library:12`); any other
    /// `word:thing` is searched for.
    pub track_schemes: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            vote_ratio: 0.5,
            max_queue: 500,
            per_user_limit: 25,
            max_track_ms: Some(3 * 3600 * 1000),
            leave_empty_after_ms: 60_000,
            history_len: 50,
            search_results: 5,
            search_expiry_ms: 5 * 60_000,
            resolve_timeout_ms: 2 * 60_000,
            max_playlists: 100,
            playlist_len: 500,
            prefix: '!',
            track_schemes: vec!["library".into()],
        }
    }
}

/// A bad setting: which key, and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub key: &'static str,
    pub problem: &'static str,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "dj.{}: {}", self.key, self.problem)
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Checks every value; the core also stays sane with unchecked ones (it clamps), but the
    /// admin should hear about a typo.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key, problem| Err(ConfigError { key, problem });
        if !(self.vote_ratio > 0.0 && self.vote_ratio <= 1.0) {
            return bad("vote_ratio", "must be above 0 and at most 1");
        }
        if self.max_queue == 0 || self.max_queue > 100_000 {
            return bad("max_queue", "must be from 1 to 100000");
        }
        if self.max_track_ms == Some(0) {
            return bad("max_track_ms", "must be above 0 (null means no limit)");
        }
        if self.history_len > 10_000 {
            return bad("history_len", "must be at most 10000");
        }
        if self.search_results == 0 || self.search_results > 25 {
            return bad("search_results", "must be from 1 to 25");
        }
        if self.max_playlists > 10_000 {
            return bad("max_playlists", "must be at most 10000");
        }
        if self.playlist_len == 0 || self.playlist_len > 100_000 {
            return bad("playlist_len", "must be from 1 to 100000");
        }
        if self.prefix.is_alphanumeric() || self.prefix.is_whitespace() {
            return bad("prefix", "must be a symbol such as ! or .");
        }
        let scheme_ok = |s: &String| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        };
        if !self.track_schemes.iter().all(scheme_ok)
            || self
                .track_schemes
                .iter()
                .any(|s| s == "http" || s == "https")
        {
            return bad(
                "track_schemes",
                "must be lowercase words other than http and https",
            );
        }
        Ok(())
    }
}
