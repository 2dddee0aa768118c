//! Validation rules for everything users type. Each failure has a stable code.

use crate::error::{Error, Result};

pub const USERNAME_MAX: usize = 32;
pub const DISPLAY_NAME_MAX: usize = 64;
pub const PASSWORD_MIN: usize = 8;
/// bcrypt only reads 72 bytes; longer passwords would silently be truncated, so refuse them.
pub const PASSWORD_MAX_BYTES: usize = 72;
pub const CHANNEL_NAME_MAX: usize = 64;
pub const TOPIC_MAX: usize = 512;
pub const DEFAULT_MESSAGE_MAX_CHARS: usize = 4000;
pub const NONCE_MAX: usize = 64;
/// History pages hold at most this many messages.
pub const PAGE_MAX: usize = 100;
pub const PAGE_DEFAULT: usize = 50;

/// User names: 2–32 of `a-z 0-9 _ . -`, starting with a letter or digit. Stored lower-case.
pub fn username(s: &str) -> Result<String> {
    let s = s.trim().to_ascii_lowercase();
    let ok_chars = s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_.-".contains(c));
    let ok_start = s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
    if s.len() < 2 || s.len() > USERNAME_MAX || !ok_chars || !ok_start {
        return Err(Error::invalid(
            "invalid_username",
            "User names are 2 to 32 characters: letters, digits, '_', '.' or '-', starting with a letter or digit.",
        ));
    }
    Ok(s)
}

fn has_control(s: &str) -> bool {
    s.chars().any(|c| c.is_control())
}

pub fn display_name(s: &str) -> Result<String> {
    let s = s.trim();
    if s.is_empty() || s.chars().count() > DISPLAY_NAME_MAX || has_control(s) {
        return Err(Error::invalid(
            "invalid_display_name",
            "Display names are 1 to 64 characters without control characters.",
        ));
    }
    Ok(s.to_owned())
}

pub fn password(s: &str) -> Result<()> {
    if s.chars().count() < PASSWORD_MIN {
        return Err(Error::invalid("weak_password", "Passwords need at least 8 characters."));
    }
    if s.len() > PASSWORD_MAX_BYTES {
        return Err(Error::invalid("password_too_long", "Passwords can be at most 72 bytes long."));
    }
    if s.contains('\0') {
        return Err(Error::invalid("invalid_password", "Passwords cannot contain NUL characters."));
    }
    Ok(())
}

/// Channel names: lower-case, spaces become '-', 1–64 characters, no control characters or '#'.
pub fn channel_name(s: &str) -> Result<String> {
    let s: String = s.trim().to_lowercase().split_whitespace().collect::<Vec<_>>().join("-");
    if s.is_empty() || s.chars().count() > CHANNEL_NAME_MAX || has_control(&s) || s.contains('#') {
        return Err(Error::invalid(
            "invalid_channel_name",
            "Channel names are 1 to 64 characters, without '#' or control characters.",
        ));
    }
    Ok(s)
}

/// A thread's name: free text (not a slug), 1–100 characters, one line.
pub fn channel_title(s: &str) -> Result<String> {
    let s = s.trim();
    if s.is_empty() || s.chars().count() > 100 || has_control(s) {
        return Err(Error::invalid("invalid_thread_name", "Thread names are 1 to 100 characters on one line."));
    }
    Ok(s.to_owned())
}

/// A role's name: 1–32 characters, no control characters, not starting with '@'.
pub fn role_name(s: &str) -> Result<String> {
    let s = s.trim();
    if s.is_empty() || s.chars().count() > 32 || has_control(s) || s.starts_with('@') {
        return Err(Error::invalid("invalid_role_name", "Role names are 1 to 32 characters and do not start with '@'."));
    }
    Ok(s.to_owned())
}

/// A colour: empty (none) or `#rrggbb`.
pub fn color(s: &str) -> Result<String> {
    let s = s.trim();
    let ok = s.is_empty() || (s.len() == 7 && s.starts_with('#') && s[1..].bytes().all(|b| b.is_ascii_hexdigit()));
    if !ok {
        return Err(Error::invalid("invalid_color", "Colours look like #3366ff."));
    }
    Ok(s.to_ascii_lowercase())
}

/// Most people in one voice room; a Pi 4 forwards audio for far more, but a "room" of 100 is a
/// broadcast, not a conversation.
pub const VOICE_USER_LIMIT_MAX: i64 = 99;

/// A voice room's user limit: 0 (no limit) to 99.
pub fn user_limit(n: i64) -> Result<i64> {
    if !(0..=VOICE_USER_LIMIT_MAX).contains(&n) {
        return Err(Error::invalid("invalid_user_limit", "The user limit is 0 (no limit) to 99."));
    }
    Ok(n)
}

pub fn topic(s: &str) -> Result<String> {
    let s = s.trim();
    if s.chars().count() > TOPIC_MAX || s.chars().any(|c| c.is_control() && c != '\n') {
        return Err(Error::invalid("invalid_topic", "Topics are at most 512 characters."));
    }
    Ok(s.to_owned())
}

/// Message content: not blank, at most `max_chars` characters, no NUL or other control
/// characters except newline and tab.
pub fn message_content(s: &str, max_chars: usize) -> Result<String> {
    if s.trim().is_empty() {
        return Err(Error::invalid("empty_message", "Messages cannot be empty."));
    }
    if s.chars().count() > max_chars {
        return Err(Error::new(
            crate::ErrorKind::TooLarge,
            "message_too_long",
            format!("Messages can be at most {max_chars} characters."),
        ));
    }
    if s.chars().any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r') {
        return Err(Error::invalid("invalid_characters", "Messages cannot contain control characters."));
    }
    Ok(s.replace("\r\n", "\n"))
}

pub fn nonce(s: &str) -> Result<()> {
    if s.is_empty() || s.len() > NONCE_MAX || !s.chars().all(|c| c.is_ascii_graphic()) {
        return Err(Error::invalid("invalid_nonce", "Nonces are 1 to 64 printable ASCII characters."));
    }
    Ok(())
}

/// Clamp a requested page size to 1..=100 (default 50).
pub fn page_limit(requested: Option<usize>) -> Result<usize> {
    match requested {
        None => Ok(PAGE_DEFAULT),
        Some(n) if (1..=PAGE_MAX).contains(&n) => Ok(n),
        Some(_) => Err(Error::invalid("invalid_limit", "limit must be between 1 and 100.")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        assert_eq!(username(" Alice ").ok().as_deref(), Some("alice"));
        for bad in ["a", "", "-bob", "bob smith", "bøb", "<script>", &"x".repeat(33)] {
            assert_eq!(username(bad).map_err(|e| e.code), Err("invalid_username"), "{bad}");
        }
    }

    #[test]
    fn passwords() {
        assert!(password("correct horse").is_ok());
        assert_eq!(password("short").map_err(|e| e.code), Err("weak_password"));
        assert_eq!(password(&"é".repeat(40)).map_err(|e| e.code), Err("password_too_long"));
    }

    #[test]
    fn messages() {
        assert_eq!(message_content("  ", 10).map_err(|e| e.code), Err("empty_message"));
        assert_eq!(message_content("12345678901", 10).map_err(|e| e.code), Err("message_too_long"));
        assert_eq!(message_content("a\0b", 10).map_err(|e| e.code), Err("invalid_characters"));
        assert_eq!(message_content("a\r\nb", 10).ok().as_deref(), Some("a\nb"));
        // Counted in characters, not bytes.
        assert!(message_content(&"é".repeat(10), 10).is_ok());
    }

    #[test]
    fn channel_names() {
        assert_eq!(channel_name("  Board Games ").ok().as_deref(), Some("board-games"));
        assert!(channel_name("#general").is_err());
        assert!(channel_name("").is_err());
    }

    #[test]
    fn page_limits() {
        assert_eq!(page_limit(None).ok(), Some(50));
        assert_eq!(page_limit(Some(100)).ok(), Some(100));
        assert!(page_limit(Some(101)).is_err());
        assert!(page_limit(Some(0)).is_err());
    }
}
