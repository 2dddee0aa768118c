//! A small, tolerant scanner for the metadata in an HTML head: `<title>`, `<meta>` (OpenGraph,
//! Twitter, description, charset). Not an HTML parser: it walks tags, honours quotes, skips
//! comments, `<script>`, `<style>`, `<template>`, `<textarea>` and `<svg>`, and stops at `</head>` or
//! `<body>`. Pure; never panics on any input (it slices only at ASCII delimiters).

/// What the head says, raw (entities decoded, whitespace collapsed, not yet capped).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HeadMeta {
    pub title: Option<String>,
    pub og_title: Option<String>,
    pub twitter_title: Option<String>,
    pub description: Option<String>,
    pub og_description: Option<String>,
    pub twitter_description: Option<String>,
    pub og_site_name: Option<String>,
    pub og_image: Option<String>,
    pub twitter_image: Option<String>,
    /// From `<meta charset>` or `<meta http-equiv="content-type">`, lowercase.
    pub charset: Option<String>,
}

impl HeadMeta {
    pub fn best_title(&self) -> Option<&str> {
        self.og_title.as_deref().or(self.twitter_title.as_deref()).or(self.title.as_deref())
    }

    pub fn best_description(&self) -> Option<&str> {
        self.og_description.as_deref().or(self.twitter_description.as_deref()).or(self.description.as_deref())
    }

    pub fn best_image(&self) -> Option<&str> {
        self.og_image.as_deref().or(self.twitter_image.as_deref())
    }
}

fn set_once(slot: &mut Option<String>, value: String) {
    if slot.is_none() && !value.is_empty() {
        *slot = Some(value);
    }
}

/// Scan `html` for head metadata.
pub fn scan_head(html: &str) -> HeadMeta {
    let b = html.as_bytes();
    let mut meta = HeadMeta::default();
    let mut i = 0;
    while let Some(off) = b[i..].iter().position(|&c| c == b'<') {
        i += off;
        let rest = &b[i..];
        if rest.starts_with(b"<!--") {
            i = find(b, b"-->", i + 4).map_or(b.len(), |e| e + 3);
            continue;
        }
        if rest.starts_with(b"<!") || rest.starts_with(b"<?") {
            i = find(b, b">", i + 2).map_or(b.len(), |e| e + 1);
            continue;
        }
        let closing = rest.starts_with(b"</");
        let name_start = i + if closing { 2 } else { 1 };
        let name_end = name_start
            + b[name_start..]
                .iter()
                .take_while(|c| c.is_ascii_alphanumeric() || **c == b'-' || **c == b':')
                .count();
        if name_end == name_start {
            i += 1; // a stray '<' in text
            continue;
        }
        let name = html[name_start..name_end].to_ascii_lowercase();
        if closing {
            if name == "head" {
                break;
            }
            i = find(b, b">", name_end).map_or(b.len(), |e| e + 1);
            continue;
        }
        let (attrs, after) = parse_attrs(html, name_end);
        i = after;
        match name.as_str() {
            "body" => break,
            "meta" => on_meta(&mut meta, &attrs),
            "title" => {
                let close = find_ci(b, b"</title", i).unwrap_or(b.len());
                if meta.title.is_none() {
                    set_once(&mut meta.title, clean(&html[i..close]));
                }
                i = close;
            }
            "script" | "style" | "template" | "textarea" | "svg" | "xmp" | "noembed" | "noframes" => {
                let end_tag = format!("</{name}");
                i = find_ci(b, end_tag.as_bytes(), i).unwrap_or(b.len());
            }
            _ => {}
        }
    }
    meta
}

fn on_meta(meta: &mut HeadMeta, attrs: &[(String, String)]) {
    let get = |k: &str| attrs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    if let Some(cs) = get("charset") {
        set_once(&mut meta.charset, cs.trim().to_ascii_lowercase());
    }
    if get("http-equiv").is_some_and(|h| h.trim().eq_ignore_ascii_case("content-type")) {
        if let Some(cs) = get("content").and_then(|c| crate::fetcher::parse_content_type(c).1) {
            set_once(&mut meta.charset, cs);
        }
    }
    let Some(content) = get("content") else { return };
    // OpenGraph uses `property`, Twitter and plain HTML use `name`; sites mix them up, so take either.
    for key in [get("property"), get("name"), get("itemprop")].into_iter().flatten() {
        let key = key.trim().to_ascii_lowercase();
        let slot = match key.as_str() {
            "og:title" => &mut meta.og_title,
            "twitter:title" => &mut meta.twitter_title,
            "og:description" => &mut meta.og_description,
            "twitter:description" => &mut meta.twitter_description,
            "description" => &mut meta.description,
            "og:site_name" => &mut meta.og_site_name,
            "og:image" | "og:image:url" | "og:image:secure_url" => &mut meta.og_image,
            "twitter:image" | "twitter:image:src" => &mut meta.twitter_image,
            _ => continue,
        };
        set_once(slot, clean(content));
    }
}

/// Attributes from `from` (just after the tag name) to the closing `>`; returns them (names
/// lowercase, values entity-decoded) and the index after `>`.
fn parse_attrs(html: &str, from: usize) -> (Vec<(String, String)>, usize) {
    let b = html.as_bytes();
    let mut attrs = Vec::new();
    let mut i = from;
    loop {
        while i < b.len() && (b[i].is_ascii_whitespace() || b[i] == b'/') {
            i += 1;
        }
        if i >= b.len() {
            return (attrs, b.len());
        }
        if b[i] == b'>' {
            return (attrs, i + 1);
        }
        let name_start = i;
        while i < b.len() && !b[i].is_ascii_whitespace() && !matches!(b[i], b'=' | b'>' | b'/') {
            i += 1;
        }
        if i == name_start {
            i += 1; // a lone '=' or similar junk
            continue;
        }
        let name = html[name_start..i].to_ascii_lowercase();
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        let mut value = String::new();
        if i < b.len() && b[i] == b'=' {
            i += 1;
            while i < b.len() && b[i].is_ascii_whitespace() {
                i += 1;
            }
            if i < b.len() && (b[i] == b'"' || b[i] == b'\'') {
                let q = b[i];
                let start = i + 1;
                let end = b[start..].iter().position(|&c| c == q).map_or(b.len(), |p| start + p);
                value = decode_entities(&html[start..end]);
                i = (end + 1).min(b.len());
            } else {
                let start = i;
                while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'>' {
                    i += 1;
                }
                value = decode_entities(&html[start..i]);
            }
        }
        attrs.push((name, value));
    }
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if from > hay.len() {
        return None;
    }
    hay[from..].windows(needle.len()).position(|w| w == needle).map(|p| p + from)
}

fn find_ci(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if from > hay.len() {
        return None;
    }
    hay[from..].windows(needle.len()).position(|w| w.eq_ignore_ascii_case(needle)).map(|p| p + from)
}

/// Decode entities, drop control characters, collapse whitespace, trim.
pub fn clean(raw: &str) -> String {
    let decoded = decode_entities(raw);
    let no_controls: String = decoded.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    no_controls.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Cap at `max` characters; a cut string ends with `…` (still within `max`).
pub fn cap_chars(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.truncate(out.trim_end().len());
    out.push('…');
    out
}

/// HTML character references: named (a common subset), decimal and hex. Unknown names stay as
/// written; bad numbers become U+FFFD; 0x80–0x9F are read as windows-1252, as browsers do.
pub fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        match decode_one(rest) {
            Some((c, used)) => {
                out.push(c);
                rest = &rest[used..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// `s` starts with '&'. Returns the character and the bytes consumed.
fn decode_one(s: &str) -> Option<(char, usize)> {
    let b = s.as_bytes();
    if b.get(1) == Some(&b'#') {
        let hex = matches!(b.get(2), Some(b'x' | b'X'));
        let start = if hex { 3 } else { 2 };
        let len = b[start..]
            .iter()
            .take_while(|c| if hex { c.is_ascii_hexdigit() } else { c.is_ascii_digit() })
            .count();
        if len == 0 {
            return None;
        }
        let digits = &s[start..start + len];
        let mut used = start + len;
        if b.get(used) == Some(&b';') {
            used += 1;
        }
        let n = if len > 8 { None } else { u32::from_str_radix(digits, if hex { 16 } else { 10 }).ok() };
        let c = match n {
            Some(n @ 0x80..=0x9f) => windows_1252(n as u8),
            Some(0) | None => '\u{fffd}',
            Some(n) => char::from_u32(n).unwrap_or('\u{fffd}'),
        };
        return Some((c, used));
    }
    let len = b[1..].iter().take(32).take_while(|c| c.is_ascii_alphanumeric()).count();
    if len == 0 || b.get(1 + len) != Some(&b';') {
        return None;
    }
    named(&s[1..1 + len]).map(|c| (c, len + 2))
}

fn named(name: &str) -> Option<char> {
    Some(match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        "nbsp" => '\u{a0}',
        "copy" => '©',
        "reg" => '®',
        "trade" => '™',
        "hellip" => '…',
        "mdash" => '—',
        "ndash" => '–',
        "lsquo" => '‘',
        "rsquo" => '’',
        "sbquo" => '‚',
        "ldquo" => '“',
        "rdquo" => '”',
        "bdquo" => '„',
        "laquo" => '«',
        "raquo" => '»',
        "lsaquo" => '‹',
        "rsaquo" => '›',
        "middot" => '·',
        "bull" => '•',
        "deg" => '°',
        "euro" => '€',
        "pound" => '£',
        "yen" => '¥',
        "cent" => '¢',
        "times" => '×',
        "divide" => '÷',
        "plusmn" => '±',
        "sect" => '§',
        "para" => '¶',
        "iexcl" => '¡',
        "iquest" => '¿',
        "shy" => '\u{ad}',
        "ensp" => '\u{2002}',
        "emsp" => '\u{2003}',
        "thinsp" => '\u{2009}',
        "zwnj" => '\u{200c}',
        "zwj" => '\u{200d}',
        "auml" => 'ä',
        "ouml" => 'ö',
        "uuml" => 'ü',
        "Auml" => 'Ä',
        "Ouml" => 'Ö',
        "Uuml" => 'Ü',
        "szlig" => 'ß',
        "aacute" => 'á',
        "agrave" => 'à',
        "acirc" => 'â',
        "atilde" => 'ã',
        "aring" => 'å',
        "aelig" => 'æ',
        "ccedil" => 'ç',
        "eacute" => 'é',
        "egrave" => 'è',
        "ecirc" => 'ê',
        "euml" => 'ë',
        "iacute" => 'í',
        "igrave" => 'ì',
        "icirc" => 'î',
        "iuml" => 'ï',
        "ntilde" => 'ñ',
        "oacute" => 'ó',
        "ograve" => 'ò',
        "ocirc" => 'ô',
        "otilde" => 'õ',
        "oslash" => 'ø',
        "uacute" => 'ú',
        "ugrave" => 'ù',
        "ucirc" => 'û',
        "yacute" => 'ý',
        "yuml" => 'ÿ',
        "Aacute" => 'Á',
        "Agrave" => 'À',
        "Aring" => 'Å',
        "AElig" => 'Æ',
        "Ccedil" => 'Ç',
        "Eacute" => 'É',
        "Egrave" => 'È',
        "Ntilde" => 'Ñ',
        "Oacute" => 'Ó',
        "Oslash" => 'Ø',
        "Uacute" => 'Ú',
        _ => return None,
    })
}

/// The windows-1252 character for a byte in 0x80–0x9F (the rest of the byte range is Latin-1).
fn windows_1252(b: u8) -> char {
    const HIGH: [char; 32] = [
        '€', '\u{81}', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u{8d}', 'Ž', '\u{8f}',
        '\u{90}', '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\u{9d}', 'ž', 'Ÿ',
    ];
    match b {
        0x80..=0x9f => HIGH[usize::from(b - 0x80)],
        _ => char::from(b),
    }
}

/// Whether a charset label means windows-1252 (WHATWG maps ASCII and Latin-1 labels to it).
fn is_windows_1252(label: &str) -> bool {
    matches!(
        label.trim(),
        "windows-1252"
            | "cp1252"
            | "x-cp1252"
            | "iso-8859-1"
            | "iso8859-1"
            | "iso_8859-1"
            | "latin1"
            | "l1"
            | "us-ascii"
            | "ascii"
            | "ansi_x3.4-1968"
            | "cp819"
            | "ibm819"
            | "iso-ir-100"
    )
}

/// Decode a page body to text and scan it: UTF-8 unless the header or a `<meta>` says
/// windows-1252/Latin-1 (and the bytes are not valid UTF-8 anyway). Other charsets are read as
/// UTF-8 with replacement characters: good enough for ASCII metadata, never a panic.
pub fn scan_body(body: &[u8], header_charset: Option<&str>) -> HeadMeta {
    let latin = |b: &[u8]| -> String { b.iter().map(|&c| windows_1252(c)).collect() };
    if header_charset.is_some_and(is_windows_1252) && std::str::from_utf8(body).is_err() {
        return scan_head(&latin(body));
    }
    let text = String::from_utf8_lossy(body);
    let meta = scan_head(&text);
    if header_charset.is_none()
        && meta.charset.as_deref().is_some_and(is_windows_1252)
        && std::str::from_utf8(body).is_err()
    {
        return scan_head(&latin(body));
    }
    meta
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn entities() {
        assert_eq!(decode_entities("a &amp; b &lt;c&gt; &quot;d&quot; &#39;e&#x27;"), "a & b <c> \"d\" 'e'");
        assert_eq!(decode_entities("caf&eacute; &hellip; &mdash; &#8217; &#x1F600;"), "café … — ’ 😀");
        assert_eq!(decode_entities("&#146;"), "’", "0x80-0x9F as windows-1252");
        assert_eq!(decode_entities("&#0; &#xD800; &#99999999999;"), "\u{fffd} \u{fffd} \u{fffd}");
        assert_eq!(decode_entities("&nosuch; & &amp &#; AT&T"), "&nosuch; & &amp &#; AT&T");
        assert_eq!(decode_entities("&#65&#66;"), "AB");
        assert_eq!(decode_entities("&"), "&");
        assert_eq!(decode_entities("&#x"), "&#x");
    }

    #[test]
    fn cleaning_and_caps() {
        assert_eq!(clean("  Hello\n\t &nbsp; world\u{7}  "), "Hello world");
        assert_eq!(cap_chars("abcdef", 6), "abcdef");
        assert_eq!(cap_chars("abcdefg", 6), "abcde…");
        assert_eq!(cap_chars("ééééééé", 4), "ééé…");
        assert_eq!(cap_chars("ab   cdefg", 4), "ab…");
    }

    #[test]
    fn og_twitter_and_html() {
        let html = r#"<!doctype html><html><head>
            <!-- <meta property="og:title" content="commented out"> -->
            <meta charset=utf-8>
            <title> The &lt;Title&gt; </title>
            <meta name=description content='Plain description'>
            <meta property="og:title" content="OG &amp; title">
            <meta content="OG description" property="og:description"/>
            <META NAME="twitter:title" CONTENT="tw title">
            <meta name="twitter:image" content="/tw.png">
            <meta property='og:image' content="/img/a.png?x=1&amp;y=2">
            <meta property="og:image" content="/second.png">
            <meta property="og:site_name" content="Example">
            <script>var s = '<meta property="og:description" content="from script">';</script>
            </head><body><meta property="og:site_name" content="in body"></body></html>"#;
        let m = scan_head(html);
        assert_eq!(m.title.as_deref(), Some("The <Title>"));
        assert_eq!(m.best_title(), Some("OG & title"));
        assert_eq!(m.best_description(), Some("OG description"));
        assert_eq!(m.description.as_deref(), Some("Plain description"));
        assert_eq!(m.best_image(), Some("/img/a.png?x=1&y=2"));
        assert_eq!(m.twitter_image.as_deref(), Some("/tw.png"));
        assert_eq!(m.og_site_name.as_deref(), Some("Example"));
        assert_eq!(m.charset.as_deref(), Some("utf-8"));
    }

    #[test]
    fn tolerant_of_junk() {
        for junk in [
            "",
            "<",
            "<<<>>>",
            "<meta",
            "<meta content=\"x",
            "<title>unterminated",
            "</",
            "<!--",
            "<a =x>",
            "<meta property=og:title content=unq>",
            "<\u{e9}t\u{e9}>",
            "<meta content=\"é\" name=\"description\"",
            "&#",
            "<script>",
            "<svg><title>x</title>",
        ] {
            let _ = scan_head(junk);
        }
        assert_eq!(
            scan_head("<meta property=og:title content=unquoted>").og_title.as_deref(),
            Some("unquoted")
        );
        assert_eq!(scan_head("<title>unterminated").title.as_deref(), Some("unterminated"));
        assert_eq!(
            scan_head("<svg><title>icon</title></svg><title>real</title>").title.as_deref(),
            Some("real")
        );
        assert_eq!(
            scan_head("<meta name=\"description\" content=\"a > b\">").description.as_deref(),
            Some("a > b")
        );
        assert_eq!(scan_head("<head></head><title>late</title>").title, None, "stops at </head>");
    }

    #[test]
    fn latin1_pages() {
        let mut body =
            b"<meta http-equiv=\"Content-Type\" content=\"text/html; charset=ISO-8859-1\"><title>Caf"
                .to_vec();
        body.extend_from_slice(&[0xe9, 0x20, 0x93, b'x', 0x94]);
        body.extend_from_slice(b"</title>");
        assert_eq!(scan_body(&body, None).title.as_deref(), Some("Café “x”"));
        assert_eq!(scan_body(b"<title>Caf\xe9</title>", Some("latin1")).title.as_deref(), Some("Café"));
        assert_eq!(
            scan_body("<title>Café</title>".as_bytes(), Some("iso-8859-1")).title.as_deref(),
            Some("Café"),
            "valid UTF-8 wins"
        );
        assert_eq!(scan_body(b"<title>Caf\xe9</title>", None).title.as_deref(), Some("Caf\u{fffd}"));
    }
}
