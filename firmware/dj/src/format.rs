//! Words for people: durations, track names, the progress bar, and reading times back.

use crate::model::TrackInfo;

/// `4:12`, `1:02:03`.
pub fn duration(ms: u64) -> String {
    let s = ms / 1000;
    let (h, m, s) = (s / 3600, s / 60 % 60, s % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

/// Reads `90` (seconds), `1:30` or `1:02:03` into milliseconds.
pub fn parse_time(s: &str) -> Option<u64> {
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() > 3 {
        return None;
    }
    let mut total: u64 = 0;
    for (i, p) in parts.iter().enumerate() {
        if p.is_empty() || p.len() > 7 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let v: u64 = p.parse().ok()?;
        if i > 0 && v >= 60 {
            return None;
        }
        total = total.checked_mul(60)?.checked_add(v)?;
    }
    total.checked_mul(1000)
}

/// Escapes what the chat's markdown would read as formatting, so a title stays a title.
pub fn md(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(
            c,
            '\\' | '*' | '_' | '`' | '~' | '[' | ']' | '|' | '<' | '>' | '#'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// `**Song** by Artist`.
pub fn track(t: &TrackInfo) -> String {
    match t.artist.as_deref().filter(|a| !a.is_empty()) {
        Some(a) => format!("**{}** by {}", md(&t.title), md(a)),
        None => format!("**{}**", md(&t.title)),
    }
}

/// A track's length in words: `3:12`, or `live`, or `?`.
pub fn length(t: &TrackInfo) -> String {
    match (t.live, t.duration_ms) {
        (true, _) => "live".into(),
        (false, Some(d)) => duration(d),
        (false, None) => "?".into(),
    }
}

/// `━━━━━━●──────────` for `pos` of `len`.
pub fn bar(pos: u64, len: u64, width: usize) -> String {
    let filled = if len == 0 {
        0
    } else {
        let f = (u128::from(pos.min(len)) * width as u128) / u128::from(len);
        usize::try_from(f)
            .unwrap_or(width)
            .min(width.saturating_sub(1))
    };
    let mut s = String::new();
    for i in 0..width {
        s.push(match i.cmp(&filled) {
            std::cmp::Ordering::Less => '━',
            std::cmp::Ordering::Equal => '●',
            std::cmp::Ordering::Greater => '─',
        });
    }
    s
}

/// "1 track", "3 tracks".
pub fn tracks(n: usize) -> String {
    if n == 1 {
        "1 track".into()
    } else {
        format!("{n} tracks")
    }
}

/// Cuts a user's word for an answer (an unknown command can be 500 characters).
pub fn short(s: &str, max: usize) -> String {
    let mut out: String = s.chars().take(max).collect();
    if s.chars().count() > max {
        out.push('…');
    }
    out.replace('`', "'")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_times() {
        assert_eq!(duration(252_000), "4:12");
        assert_eq!(duration(3_723_000), "1:02:03");
        assert_eq!(parse_time("90"), Some(90_000));
        assert_eq!(parse_time("1:30"), Some(90_000));
        assert_eq!(parse_time("1:02:03"), Some(3_723_000));
        for bad in [
            "",
            "1:75",
            "a",
            "1::2",
            "1:2:3:4",
            "-5",
            "99999999999999999999",
            "1.5",
        ] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
    }

    #[test]
    fn markdown_is_escaped_and_bars_fill() {
        assert_eq!(md("**x**_y`"), "\\*\\*x\\*\\*\\_y\\`");
        assert_eq!(bar(0, 100, 5), "●────");
        assert_eq!(bar(50, 100, 5), "━━●──");
        assert_eq!(bar(100, 100, 5), "━━━━●");
        assert_eq!(bar(5, 0, 3), "●──");
        assert_eq!(short("ab`cdef", 3), "ab'…");
    }
}
