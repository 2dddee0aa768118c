//! What the server reads out of a message's text: mentions, links, emoji names. The client's
//! Markdown renderer follows the same rules.

use crate::error::{Error, Result};

/// Mentions in a message: `@username` (lowercased, deduplicated) and whether `@everyone` or
/// `@here` appears. A mention starts at the beginning or after a character that cannot be part
/// of a name (so `me@example.com` mentions nobody); text inside backticks is skipped.
pub fn mentions(content: &str) -> (Vec<String>, bool) {
    let mut names: Vec<String> = Vec::new();
    let mut everyone = false;
    let mut in_code = false;
    let mut prev: Option<char> = None;
    for (i, c) in content.char_indices() {
        if c == '`' {
            in_code = !in_code;
        } else if c == '@' && !in_code && !prev.is_some_and(is_name_char) {
            let rest = &content[i + 1..];
            let end = rest.find(|ch: char| !is_name_char(ch)).unwrap_or(rest.len());
            let name = rest[..end].trim_end_matches(['.', '-']).to_ascii_lowercase();
            if name == "everyone" || name == "here" {
                everyone = true;
            } else if !name.is_empty() && name.len() <= 32 && !names.contains(&name) && names.len() < 50 {
                names.push(name);
            }
        }
        prev = Some(c);
    }
    (names, everyone)
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')
}

/// `http(s)://` links in a message, in order, deduplicated, at most `max`. Links inside
/// backticks or angle brackets `<…>` (the author asked for no preview) are skipped.
pub fn links(content: &str, max: usize) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut in_code = false;
    let bytes = content.as_bytes();
    let mut i = 0;
    while i < bytes.len() && out.len() < max {
        if bytes[i] == b'`' {
            in_code = !in_code;
            i += 1;
            continue;
        }
        let rest = &content[i..];
        let starts = rest.starts_with("http://") || rest.starts_with("https://");
        if !in_code && starts && (i == 0 || !bytes[i - 1].is_ascii_alphanumeric()) {
            let end = rest.find(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"' | '`')).unwrap_or(rest.len());
            let mut link = &rest[..end];
            // Trailing punctuation belongs to the sentence, and an unbalanced ')' to the text.
            loop {
                let t = link.trim_end_matches(['.', ',', ';', ':', '!', '?', '\'', '*', '_', '~']);
                let t = if t.ends_with(')') && t.matches('(').count() < t.matches(')').count() { &t[..t.len() - 1] } else { t };
                if t.len() == link.len() {
                    break;
                }
                link = t;
            }
            let suppressed = i > 0 && bytes[i - 1] == b'<';
            if !suppressed && link.len() > "https://".len() && link.len() <= 2048 && !out.iter().any(|l| l == link) {
                out.push(link.to_owned());
            }
            i += end.max(1);
            continue;
        }
        i += rest.chars().next().map_or(1, char::len_utf8);
    }
    out
}

/// A custom emoji name: 2–32 of `a-z0-9_`.
pub fn emoji_name(s: &str) -> Result<String> {
    let s = s.trim().trim_matches(':').to_ascii_lowercase();
    if (2..=32).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') {
        Ok(s)
    } else {
        Err(Error::invalid("invalid_emoji_name", "Emoji names are 2–32 letters, digits or _."))
    }
}

/// What a reaction names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReactionEmoji {
    Unicode(String),
    Custom(String),
}

/// A reaction key: one Unicode emoji (with modifiers, ZWJ sequences, flags, keycaps) or
/// `:custom_name:`.
pub fn reaction_emoji(s: &str) -> Result<ReactionEmoji> {
    let bad = || Error::invalid("invalid_emoji", "A reaction is one emoji.");
    if s.starts_with(':') && s.ends_with(':') && s.len() > 2 {
        return emoji_name(s).map(ReactionEmoji::Custom).map_err(|_| bad());
    }
    if s.is_empty() || s.len() > 64 || s.chars().count() > 16 {
        return Err(bad());
    }
    let mut pictographic = false;
    for c in s.chars() {
        let u = c as u32;
        let emojiish = matches!(u,
            0x1F000..=0x1FAFF | 0x2600..=0x27BF | 0x2300..=0x23FF | 0x2B00..=0x2BFF | 0x2190..=0x21FF
            | 0x25A0..=0x25FF | 0x2934..=0x2935 | 0x3030 | 0x303D | 0x3297 | 0x3299 | 0xA9 | 0xAE
            | 0x2122 | 0x2139 | 0x203C | 0x2049);
        let joiner = matches!(u, 0x200D | 0xFE0E | 0xFE0F | 0x20E3 | 0xE0020..=0xE007F);
        let keycap_base = c.is_ascii_digit() || c == '#' || c == '*';
        if emojiish {
            pictographic = true;
        } else if !(joiner || keycap_base) {
            return Err(bad());
        }
        if keycap_base && !s.contains('\u{20E3}') {
            return Err(bad());
        }
    }
    if pictographic || s.contains('\u{20E3}') {
        Ok(ReactionEmoji::Unicode(s.to_owned()))
    } else {
        Err(bad())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mentions_are_found_where_a_person_would_see_them() {
        assert_eq!(mentions("hi @Bob and @alice."), (vec!["bob".into(), "alice".into()], false));
        assert_eq!(mentions("mail me@example.com"), (vec![], false));
        assert_eq!(mentions("`@bob` is code, @here"), (vec![], true));
        assert_eq!(mentions("@everyone @bob @bob"), (vec!["bob".into()], true));
        assert_eq!(mentions("@"), (vec![], false));
    }

    #[test]
    fn links_skip_code_and_trailing_punctuation() {
        assert_eq!(links("see https://a.example/x, and (http://b.example/y).", 5), vec!["https://a.example/x", "http://b.example/y"]);
        assert_eq!(links("`https://c.example` <https://d.example> https://e.example/(x)", 5), vec!["https://e.example/(x)"]);
        assert_eq!(links("https://a.example https://a.example https://b.example", 1), vec!["https://a.example"]);
        assert!(links("javascript:alert(1) ftp://x", 5).is_empty());
    }

    #[test]
    fn reactions_are_one_emoji() {
        for ok in ["👍", "❤️", "👩‍👩‍👧", "🇫🇷", "1️⃣", "👍🏽"] {
            assert!(reaction_emoji(ok).is_ok(), "{ok}");
        }
        assert_eq!(reaction_emoji(":party_parrot:"), Ok(ReactionEmoji::Custom("party_parrot".into())));
        for bad in ["", "a", "<script>", "👍 ", "1", "::", ":a b:", &"👍".repeat(20)] {
            assert!(reaction_emoji(bad).is_err(), "{bad}");
        }
    }
}
