//! Radio playlists (M3U, M3U8, PLS) to stream URLs. Pure; only the first `MAX_BYTES` are read
//! and at most `MAX_URLS` kept. Only absolute `http(s)://` URLs are returned: a playlist's
//! local paths or other schemes mean nothing to the box (and the fetch that follows does its
//! own address checks).

pub const MAX_BYTES: usize = 64 * 1024;
pub const MAX_URLS: usize = 64;
const MAX_URL_LEN: usize = 2048;

pub fn parse_playlist(bytes: &[u8]) -> Vec<String> {
    let bytes = &bytes[..bytes.len().min(MAX_BYTES)];
    let text = String::from_utf8_lossy(bytes);
    let text = text.trim_start_matches('\u{feff}');
    let is_pls = text
        .lines()
        .take(8)
        .any(|l| l.trim().eq_ignore_ascii_case("[playlist]"));
    let mut urls = Vec::new();
    for line in text.lines() {
        let line = line.trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}' || c == '\0');
        let candidate = if is_pls {
            match line.split_once('=') {
                Some((key, value))
                    if key.trim().len() > 4 && key.trim()[..4].eq_ignore_ascii_case("file") =>
                {
                    value.trim()
                }
                _ => continue,
            }
        } else if line.starts_with('#') {
            continue;
        } else {
            line
        };
        if let Some(url) = clean_url(candidate) {
            if !urls.contains(&url) {
                urls.push(url);
            }
            if urls.len() == MAX_URLS {
                break;
            }
        }
    }
    urls
}

fn clean_url(s: &str) -> Option<String> {
    let lower = s.get(..8)?.to_ascii_lowercase();
    let ok = lower.starts_with("http://") || lower.starts_with("https://");
    let clean = s.len() <= MAX_URL_LEN && !s.chars().any(|c| c.is_whitespace() || c.is_control());
    (ok && clean && s.len() > "https://".len()).then(|| s.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn m3u_with_bom_crlf_comments_and_junk() {
        let text = "\u{feff}#EXTM3U\r\n#EXTINF:-1,Radio\r\nhttp://radio.example/stream\r\n\r\n\
                    /local/file.mp3\r\nftp://x.example/a\r\njunk\r\nHTTPS://b.example/live?x=1\r\nhttp://radio.example/stream\r\n";
        assert_eq!(
            parse_playlist(text.as_bytes()),
            ["http://radio.example/stream", "HTTPS://b.example/live?x=1"]
        );
    }

    #[test]
    fn pls() {
        let text = "[playlist]\nNumberOfEntries=2\nFile1=http://a.example:8000/\nTitle1=A\nfile2 = https://b.example/s\nLength1=-1\nVersion=2\n";
        assert_eq!(
            parse_playlist(text.as_bytes()),
            ["http://a.example:8000/", "https://b.example/s"]
        );
    }

    #[test]
    fn binary_junk_and_huge_inputs_are_capped() {
        let junk: Vec<u8> = (0..200_000u32).map(|i| (i * 7919 % 251) as u8).collect();
        assert!(parse_playlist(&junk).is_empty());
        let many: String = (0..10_000)
            .map(|i| format!("http://r{i}.example/\n"))
            .collect();
        let urls = parse_playlist(many.as_bytes());
        assert_eq!(urls.len(), MAX_URLS);
        let late = format!("{}\nhttp://late.example/\n", "#".repeat(MAX_BYTES));
        assert!(parse_playlist(late.as_bytes()).is_empty());
        let long = format!("http://x.example/{}", "a".repeat(5000));
        assert!(parse_playlist(long.as_bytes()).is_empty());
        assert!(parse_playlist(b"").is_empty());
    }
}
