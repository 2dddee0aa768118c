//! Names: the random names files are stored under, and what is left of the names clients send.

use super::FILENAME_MAX_CHARS;
use crate::error::{ApiError, ApiResult};
use axum::http::HeaderMap;
use chat::Error;
use media::ImageKind;

/// 16 random bytes from the OS, hex: a stored file name.
pub(crate) fn random_name() -> ApiResult<String> {
    use rand::TryRngCore;
    let mut b = [0u8; 16];
    rand::rngs::OsRng
        .try_fill_bytes(&mut b)
        .map_err(|_| ApiError(Error::internal("The system random number generator failed.")))?;
    Ok(hex::encode(b))
}

/// Is this one of our stored names (so joining it to a directory stays in that directory)?
pub(crate) fn is_stored_name(name: &str) -> bool {
    let (stem, ext) = name.split_once('.').unwrap_or((name, ""));
    stem.len() == 32 && stem.bytes().all(|b| b.is_ascii_hexdigit()) && matches!(ext, "" | "png" | "jpg")
}

/// The extension of a stored copy we made (PNG or JPEG).
pub(super) fn copy_extension(content_type: &str) -> &'static str {
    if content_type == "image/png" {
        "png"
    } else {
        "jpg"
    }
}

/// Decode `%XX` escapes (strictly: a stray `%` is an error); raw UTF-8 passes through.
pub(super) fn percent_decode(raw: &[u8]) -> Option<String> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'%' {
            let hex = raw.get(i + 1..i + 3)?;
            let s = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(s, 16).ok()?);
            i += 3;
        } else {
            out.push(raw[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Characters that change how text around them is shown (bidi overrides make `gpj.exe` look
/// like `exe.jpg`) or are invisible.
fn is_format_char(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}')
}

/// The file name to keep: the last path component (either separator), without control or
/// bidi characters, without leading dots or trailing dots and spaces, at most
/// [`FILENAME_MAX_CHARS`] characters (the extension kept). `None` if nothing is left.
pub fn sanitize_filename(raw: &str) -> Option<String> {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let clean: String = base.chars().filter(|c| !c.is_control() && !is_format_char(*c)).collect();
    let clean = clean.trim().trim_start_matches(['.', ' ']).trim_end_matches(['.', ' ']);
    if clean.is_empty() {
        return None;
    }
    if clean.chars().count() <= FILENAME_MAX_CHARS {
        return Some(clean.to_owned());
    }
    let (stem, ext) = match clean.rsplit_once('.') {
        Some((s, e)) if !s.is_empty() && (1..=16).contains(&e.chars().count()) => (s, Some(e)),
        _ => (clean, None),
    };
    let keep = FILENAME_MAX_CHARS - ext.map_or(0, |e| e.chars().count() + 1);
    let stem: String = stem.chars().take(keep).collect();
    Some(match ext {
        Some(e) => format!("{}.{e}", stem.trim_end()),
        None => stem,
    })
}

pub(super) fn filename_header(headers: &HeaderMap, name: &str) -> ApiResult<String> {
    let bad = || ApiError(Error::invalid("bad_filename", "Send the file's name, URL-encoded, in X-Filename."));
    let raw = headers.get(name).ok_or_else(bad)?;
    let decoded = percent_decode(raw.as_bytes()).ok_or_else(bad)?;
    sanitize_filename(&decoded).ok_or_else(bad)
}

/// Does the upload say it is one of the raster images we serve inline?
pub(super) fn claims_image(content_type: &str, filename: &str) -> bool {
    let ext = filename.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
    ImageKind::from_content_type(content_type).is_some() || matches!(ext.as_str(), "png" | "jpg" | "jpeg" | "jpe" | "gif" | "webp")
}

/// A name safe in a `filename="…"` header without escaping.
pub(super) fn header_safe(s: &str) -> String {
    let v: String = s.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')).collect();
    if v.is_empty() {
        "export".into()
    } else {
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_lose_paths_and_control_characters() {
        let s = |r: &str| sanitize_filename(r);
        assert_eq!(s("../../etc/passwd").as_deref(), Some("passwd"));
        assert_eq!(s("..\\..\\windows\\win.ini").as_deref(), Some("win.ini"));
        assert_eq!(s("..\\x").as_deref(), Some("x"));
        assert_eq!(s("../"), None);
        assert_eq!(s(".."), None);
        assert_eq!(s("..."), None);
        assert_eq!(s("   "), None);
        assert_eq!(s(""), None);
        assert_eq!(s(".htaccess").as_deref(), Some("htaccess"));
        assert_eq!(s("a\0b\r\n.txt").as_deref(), Some("ab.txt"));
        assert_eq!(s("photo\u{202E}gpj.exe").as_deref(), Some("photogpj.exe"));
        assert_eq!(s("report. ").as_deref(), Some("report"));
        assert_eq!(s("ünïcödé 📎.png").as_deref(), Some("ünïcödé 📎.png"));
        let long = format!("{}.tar.gz", "x".repeat(500));
        let out = s(&long).unwrap_or_default();
        assert_eq!(out.chars().count(), FILENAME_MAX_CHARS);
        assert!(out.ends_with(".gz"));
    }

    #[test]
    fn percent_decoding_is_strict() {
        assert_eq!(percent_decode(b"%2e%2e%2fx").as_deref(), Some("../x"));
        assert_eq!(percent_decode(b"a%20b+c").as_deref(), Some("a b+c"));
        assert_eq!(percent_decode("ü".as_bytes()).as_deref(), Some("ü"));
        assert_eq!(percent_decode(b"%"), None);
        assert_eq!(percent_decode(b"%zz"), None);
        assert_eq!(percent_decode(b"%ff"), None, "not UTF-8");
    }

    #[test]
    fn stored_names_are_only_ours() {
        assert!(is_stored_name("0123456789abcdef0123456789abcdef"));
        assert!(is_stored_name("0123456789abcdef0123456789abcdef.png"));
        assert!(!is_stored_name("../0123456789abcdef0123456789abcd"));
        assert!(!is_stored_name("0123456789abcdef0123456789abcdef.html"));
        assert!(!is_stored_name("passwd"));
    }

    #[test]
    fn image_claims() {
        assert!(claims_image("image/png", "x.bin"));
        assert!(claims_image("application/octet-stream", "x.JPG"));
        assert!(!claims_image("text/html", "x.html"));
        assert!(!claims_image("image/svg+xml", "x.svg"));
    }
}
