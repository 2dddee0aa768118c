//! What people see of files: the error words (sizes in MB), the download headers. The store
//! hands over numbers (`store::OverQuota`), `media` its error kinds; the words are made here.

use crate::error::ApiError;
use axum::http::header;
use chat::{Error, ErrorKind};
use media::MediaError;

/// "12.5 MB" for error words.
pub(super) fn megabytes(bytes: u64) -> String {
    let mb = bytes as f64 / (1u64 << 20) as f64;
    if mb >= 10.0 || mb.fract() == 0.0 {
        format!("{mb:.0} MB")
    } else {
        format!("{mb:.1} MB")
    }
}

pub(super) fn bad_file(message: impl Into<String>) -> ApiError {
    ApiError(Error::invalid("bad_file", message))
}

pub(super) fn unknown_attachment() -> ApiError {
    ApiError(Error::not_found("unknown_attachment", "No such file."))
}

pub(super) fn too_large(limit: u64) -> ApiError {
    ApiError(Error::new(ErrorKind::TooLarge, "file_too_large", format!("Files can be at most {}.", megabytes(limit))))
}

pub(super) fn quota_exceeded(used: u64, quota: u64) -> ApiError {
    ApiError(Error::new(
        ErrorKind::TooLarge,
        "storage_quota_exceeded",
        format!(
            "This file does not fit: your files take {} of your {}. Delete some messages with files first.",
            megabytes(used),
            megabytes(quota)
        ),
    ))
}

/// One image would need more memory than the box gives all image processing together.
pub(super) fn image_too_large(needed: u64, budget: u64) -> ApiError {
    ApiError(Error::new(
        ErrorKind::TooLarge,
        "image_too_large",
        format!(
            "This image needs about {} of memory to process, and the box processes at most {} of images at a time. \
             Send it with fewer pixels.",
            megabytes(needed),
            megabytes(budget)
        ),
    ))
}

/// A `media` refusal, in words: damaged or disguised files are `bad_file`; an image that needs
/// more memory than it was given is `image_too_large`.
pub(super) fn media_error(e: MediaError) -> ApiError {
    match e {
        MediaError::TooMuchMemory => ApiError(Error::new(
            ErrorKind::TooLarge,
            "image_too_large",
            "This image needs more memory to process than the box allows. Send it with fewer pixels.",
        )),
        MediaError::BadCrop { .. } => ApiError(Error::invalid("bad_crop", e.to_string())),
        other => bad_file(other.to_string()),
    }
}

/// `attachment; filename="ascii"; filename*=UTF-8''utf8` (or `inline; …`).
pub(super) fn disposition(inline: bool, filename: &str) -> String {
    let ascii: String = filename
        .chars()
        .map(|c| if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' { c } else { '_' })
        .collect();
    let kind = if inline { "inline" } else { "attachment" };
    format!("{kind}; filename=\"{ascii}\"; filename*=UTF-8''{}", chat::model::url_component(filename))
}

/// The headers of a generated download (an export).
pub(super) fn download_headers(content_type: &'static str, filename: &str) -> [(header::HeaderName, String); 3] {
    [
        (header::CONTENT_TYPE, content_type.to_owned()),
        (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{filename}\"")),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn megabytes_read_well() {
        assert_eq!(megabytes(1 << 20), "1 MB");
        assert_eq!(megabytes(25 << 20), "25 MB");
        assert_eq!(megabytes(3 << 19), "1.5 MB");
        assert_eq!(megabytes(1 << 30), "1024 MB");
    }

    #[test]
    fn dispositions_quote_safely() {
        assert_eq!(
            disposition(false, "a \"b\" ü.txt"),
            "attachment; filename=\"a _b_ _.txt\"; filename*=UTF-8''a%20%22b%22%20%C3%BC.txt"
        );
        assert!(disposition(true, "x.png").starts_with("inline; "));
    }

    #[test]
    fn over_budget_words_name_both_sizes() {
        let e = image_too_large(100 << 20, 64 << 20).0;
        assert_eq!((e.code, e.kind), ("image_too_large", ErrorKind::TooLarge));
        assert!(e.message.contains("100 MB") && e.message.contains("64 MB"), "{}", e.message);
        assert_eq!(media_error(MediaError::NotAnImage).0.code, "bad_file");
    }
}
