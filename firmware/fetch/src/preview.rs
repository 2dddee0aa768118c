//! Link embeds: a page's preview metadata, and a preview image's bytes.

use url::Url;

use crate::error::{Reason, Refused};
use crate::fetcher::{Fetcher, GetOptions};
use crate::html::{cap_chars, scan_body};

/// Bytes of a page read for its preview. The head is near the top; a longer page is cut here,
/// not refused (some big sites put 500 KiB of inline script before `</head>`, most far less).
pub const PAGE_MAX_BYTES: usize = 512 * 1024;
/// Characters kept of a title.
pub const TITLE_MAX_CHARS: usize = 256;
/// Characters kept of a description.
pub const DESCRIPTION_MAX_CHARS: usize = 1000;
/// Characters kept of a site name.
pub const SITE_NAME_MAX_CHARS: usize = 128;
/// Longer image URLs are dropped rather than stored.
pub const IMAGE_URL_MAX_LEN: usize = 2048;

/// What an embed shows. Text is entity-decoded, whitespace-collapsed, trimmed and capped.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Preview {
    /// The page finally fetched, after redirects.
    pub url: String,
    /// `og:title`, else `twitter:title`, else `<title>`.
    pub title: Option<String>,
    /// `og:description`, else `twitter:description`, else `<meta name=description>`.
    pub description: Option<String>,
    /// `og:site_name`, else the page's host.
    pub site_name: Option<String>,
    /// `og:image` (else `twitter:image`) resolved against the page URL; http(s) only. Not
    /// fetched: the caller passes it to [`fetch_image`], which checks it like any other URL.
    pub image_url: Option<String>,
}

/// Fetch an HTML page (`text/html` or `application/xhtml+xml`, first 512 KiB) and extract its
/// preview metadata.
pub async fn page_preview(fetcher: &Fetcher, url: &str) -> Result<Preview, Refused> {
    let opts = GetOptions {
        accept: vec!["text/html".into(), "application/xhtml+xml".into()],
        max_bytes: PAGE_MAX_BYTES,
        truncate: true,
    };
    let page = fetcher.get(url, &opts).await?;
    let meta = scan_body(&page.body, page.charset.as_deref());
    let nonempty = |s: String| (!s.is_empty()).then_some(s);
    let host = page.url.host_str().map(|h| h.trim_end_matches('.').to_owned());
    Ok(Preview {
        url: page.url.to_string(),
        title: meta.best_title().map(|t| cap_chars(t, TITLE_MAX_CHARS)).and_then(nonempty),
        description: meta.best_description().map(|d| cap_chars(d, DESCRIPTION_MAX_CHARS)).and_then(nonempty),
        site_name: meta
            .og_site_name
            .as_deref()
            .map(|s| cap_chars(s, SITE_NAME_MAX_CHARS))
            .or(host)
            .and_then(nonempty),
        image_url: meta.best_image().and_then(|raw| resolve_image(&page.url, raw)),
    })
}

fn resolve_image(page: &Url, raw: &str) -> Option<String> {
    let url = page.join(raw.trim()).ok()?;
    let s = url.to_string();
    (matches!(url.scheme(), "http" | "https") && s.len() <= IMAGE_URL_MAX_LEN).then_some(s)
}

/// Fetch an image of at most `max_bytes` (`image/*`, SVG excluded: it is a document that can
/// carry script, and the caller re-encodes raster images only). Returns the bytes and the media
/// type. The bytes are untrusted: decode them with a bounded decoder.
pub async fn fetch_image(
    fetcher: &Fetcher,
    url: &str,
    max_bytes: usize,
) -> Result<(Vec<u8>, String), Refused> {
    let opts = GetOptions { accept: vec!["image/*".into()], max_bytes, truncate: false };
    let image = fetcher.get(url, &opts).await?;
    if image.content_type == "image/svg+xml" {
        let refused =
            Refused::new(Reason::BadContentType, image.url.as_str(), "SVG is not accepted as an image");
        refused.log(url);
        return Err(refused);
    }
    Ok((image.body, image.content_type))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn image_urls() {
        let page = Url::parse("https://example.com/a/b.html?q=1").unwrap();
        assert_eq!(resolve_image(&page, "img.png").as_deref(), Some("https://example.com/a/img.png"));
        assert_eq!(resolve_image(&page, " /img.png ").as_deref(), Some("https://example.com/img.png"));
        assert_eq!(
            resolve_image(&page, "//cdn.example.net/i.jpg").as_deref(),
            Some("https://cdn.example.net/i.jpg")
        );
        assert_eq!(
            resolve_image(&page, "http://other.test/x.png").as_deref(),
            Some("http://other.test/x.png")
        );
        assert_eq!(resolve_image(&page, "javascript:alert(1)"), None);
        assert_eq!(resolve_image(&page, "data:image/png;base64,AAAA"), None);
        assert_eq!(resolve_image(&page, "file:///etc/passwd"), None);
        let long = format!("/{}", "a".repeat(IMAGE_URL_MAX_LEN));
        assert_eq!(resolve_image(&page, &long), None);
    }
}
