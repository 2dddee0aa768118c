//! Search queries: words, "quoted phrases" and filters (`from:`, `in:`, `has:link`, `has:file`,
//! `before:YYYY-MM-DD`, `after:YYYY-MM-DD`). Parsing is pure; the store turns a [`Query`] into
//! SQL with every user-given string bound as a parameter, never spliced.

use crate::error::{Error, Result};

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Query {
    /// Words and phrases that must all appear.
    pub terms: Vec<String>,
    /// Author user names (any of).
    pub from: Vec<String>,
    /// Channel names (any of).
    pub in_channels: Vec<String>,
    pub has_link: bool,
    pub has_file: bool,
    /// Unix ms bounds on the message's creation time: `after <= t < before`.
    pub before: Option<i64>,
    pub after: Option<i64>,
}

const MAX_QUERY: usize = 500;
const MAX_TERMS: usize = 16;

pub fn parse(q: &str) -> Result<Query> {
    if q.len() > MAX_QUERY {
        return Err(Error::invalid("query_too_long", "Search for at most 500 characters."));
    }
    let mut out = Query::default();
    let mut rest = q.trim();
    while !rest.is_empty() {
        let token;
        if let Some(stripped) = rest.strip_prefix('"') {
            let end = stripped.find('"').unwrap_or(stripped.len());
            token = Token::Phrase(&stripped[..end]);
            rest = stripped.get(end + 1..).unwrap_or("");
        } else {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            token = Token::Word(&rest[..end]);
            rest = &rest[end..];
        }
        rest = rest.trim_start();
        match token {
            Token::Phrase(p) => push_term(&mut out, p)?,
            Token::Word(w) => match w.split_once(':') {
                Some((key, value)) if !value.is_empty() => match key.to_ascii_lowercase().as_str() {
                    "from" => out.from.push(value.trim_start_matches('@').to_ascii_lowercase()),
                    "in" => out.in_channels.push(value.trim_start_matches('#').to_ascii_lowercase()),
                    "has" => match value.to_ascii_lowercase().as_str() {
                        "link" => out.has_link = true,
                        "file" | "image" | "attachment" => out.has_file = true,
                        _ => return Err(Error::invalid("invalid_filter", "has: takes link or file.")),
                    },
                    "before" => out.before = Some(date(value)?),
                    "after" => out.after = Some(date(value)? + DAY_MS),
                    "during" | "on" => {
                        let d = date(value)?;
                        out.after = Some(d);
                        out.before = Some(d + DAY_MS);
                    }
                    _ => push_term(&mut out, w)?,
                },
                _ => push_term(&mut out, w)?,
            },
        }
    }
    if out.terms.is_empty() && out.from.is_empty() && out.in_channels.is_empty() && !out.has_link && !out.has_file
        && out.before.is_none() && out.after.is_none()
    {
        return Err(Error::invalid("empty_query", "Type something to search for."));
    }
    Ok(out)
}

enum Token<'a> {
    Word(&'a str),
    Phrase(&'a str),
}

fn push_term(out: &mut Query, t: &str) -> Result<()> {
    // FTS5's tokenizer ignores punctuation; keep what it would index.
    let t: String = t.chars().filter(|c| c.is_alphanumeric() || c.is_whitespace() || *c == '\'').collect();
    let t = t.split_whitespace().collect::<Vec<_>>().join(" ");
    if t.is_empty() {
        return Ok(());
    }
    if out.terms.len() >= MAX_TERMS {
        return Err(Error::invalid("query_too_long", "Search for at most 16 words."));
    }
    out.terms.push(t);
    Ok(())
}

impl Query {
    /// The FTS5 MATCH expression: every term quoted (so nothing the user types is FTS syntax),
    /// single words also match as prefixes. `None` when there are only filters.
    pub fn fts_match(&self) -> Option<String> {
        if self.terms.is_empty() {
            return None;
        }
        let parts: Vec<String> = self
            .terms
            .iter()
            .map(|t| {
                let quoted = format!("\"{}\"", t.replace('"', "\"\""));
                // One letter alone would match half the dictionary: only longer words are prefixes.
                if t.contains(' ') || t.chars().count() < 2 { quoted } else { format!("{quoted}*") }
            })
            .collect();
        Some(parts.join(" AND "))
    }
}

const DAY_MS: i64 = 86_400_000;

/// `YYYY-MM-DD` → Unix ms at 00:00 UTC.
fn date(s: &str) -> Result<i64> {
    let bad = || Error::invalid("invalid_date", format!("Dates look like 2026-11-25, not {s:?}."));
    let mut it = s.splitn(3, '-');
    let (y, m, d) = (it.next().ok_or_else(bad)?, it.next().ok_or_else(bad)?, it.next().ok_or_else(bad)?);
    let (y, m, d): (i64, i64, i64) = (y.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?, d.parse().map_err(|_| bad())?);
    if !(1970..=9999).contains(&y) || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return Err(bad());
    }
    // Days from civil (Howard Hinnant's algorithm).
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Ok((era * 146_097 + doe - 719_468) * DAY_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_and_terms() {
        let q = parse(r#"pizza "friday night" from:@Bob in:#General has:link before:2026-01-02 after:2025-12-31"#).unwrap_or_default();
        assert_eq!(q.terms, vec!["pizza", "friday night"]);
        assert_eq!(q.from, vec!["bob"]);
        assert_eq!(q.in_channels, vec!["general"]);
        assert!(q.has_link && !q.has_file);
        assert_eq!(q.before, Some(1_767_312_000_000));
        assert_eq!(q.after, Some(1_767_225_600_000));
        assert_eq!(q.fts_match().as_deref(), Some(r#""pizza"* AND "friday night""#));
    }

    #[test]
    fn fts_syntax_in_input_is_only_text() {
        let q = parse(r#"a" OR NEAR(x y) * ^col:"#).unwrap_or_default();
        let m = q.fts_match().unwrap_or_default();
        assert!(!m.contains("NEAR(") && !m.contains('^'), "{m}");
        assert!(parse("").is_err());
        assert!(parse("has:cake").is_err());
        assert!(parse("before:yesterday").is_err());
        assert!(parse(&"x".repeat(501)).is_err());
        assert!(parse("from:bob").is_ok_and(|q| q.fts_match().is_none()));
    }
}
