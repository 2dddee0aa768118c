//! The box's music library as the API shows it, and the rules for what goes into it.

use crate::ids::{TrackId, UserId};
use serde::{Deserialize, Serialize};

/// Largest music file one upload may be (a long FLAC album track fits; a whole disc image not).
pub const MAX_TRACK_BYTES: u64 = 200 * 1024 * 1024;
/// Most tracks in the library (the search and listing stay fast on a Pi's SD card).
pub const MAX_TRACKS: i64 = 20_000;

/// One track of the library.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Track {
    pub id: TrackId,
    pub title: String,
    /// Empty when the file's tags do not say.
    pub artist: String,
    pub album: String,
    pub track_no: Option<i64>,
    pub duration_ms: i64,
    /// What the file is (`flac`, `mp3`, `aac`, `vorbis`, `opus`, `alac`, `pcm`).
    pub codec: String,
    /// The original file name.
    pub filename: String,
    pub size: i64,
    /// `/api/music/tracks/ID/cover` when the file carried cover art.
    pub cover_url: Option<String>,
    pub uploaded_by: Option<UserId>,
    pub created_at: i64,
}

impl Track {
    /// The opaque key the DJ core knows this track by.
    pub fn source_key(id: TrackId) -> String {
        format!("library:{id}")
    }

    /// The track a DJ source key names, if it is a library one.
    pub fn from_source_key(key: &str) -> Option<TrackId> {
        key.strip_prefix("library:")?.parse::<i64>().ok().filter(|n| *n > 0).map(TrackId)
    }

    pub fn cover_url(id: TrackId) -> String {
        format!("/api/music/tracks/{id}/cover")
    }
}

/// Tags are free text from a file: trimmed, control characters dropped, capped.
pub fn clean_tag(s: &str, max_chars: usize) -> String {
    let s: String = s.chars().filter(|c| !c.is_control()).collect();
    s.trim().chars().take(max_chars).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_keys_round_trip_and_refuse_others() {
        assert_eq!(Track::from_source_key(&Track::source_key(TrackId(42))), Some(TrackId(42)));
        for k in ["library:", "library:-1", "library:0", "library:x", "url:https://a", "jellyfin:1"] {
            assert_eq!(Track::from_source_key(k), None, "{k}");
        }
    }

    #[test]
    fn tags_are_cleaned() {
        assert_eq!(clean_tag("  a\u{0}b\nc  ", 10), "abc");
        assert_eq!(clean_tag(&"x".repeat(1000), 5), "xxxxx");
    }
}

/// A library search as an FTS5 MATCH expression: each word quoted (nothing typed is FTS syntax)
/// and matched as a prefix, all words required; `None` when nothing searchable is left.
pub fn search_match(q: &str) -> Option<String> {
    let words: Vec<String> = q
        .split_whitespace()
        .map(|w| w.chars().filter(|c| c.is_alphanumeric() || *c == '\'').collect::<String>())
        .filter(|w| !w.is_empty())
        .take(12)
        .map(|w| format!("\"{}\"*", w.replace('"', "")))
        .collect();
    (!words.is_empty()).then(|| words.join(" AND "))
}

#[cfg(test)]
mod search_tests {
    use super::search_match;

    #[test]
    fn words_become_quoted_prefixes() {
        assert_eq!(search_match("Daft  punk").as_deref(), Some(r#""Daft"* AND "punk"*"#));
        assert_eq!(search_match(r#"a" OR b NEAR(c"#).as_deref(), Some(r#""a"* AND "OR"* AND "b"* AND "NEARc"*"#));
        assert_eq!(search_match("  -- !! "), None);
    }
}
