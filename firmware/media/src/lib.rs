//! Image handling for uploads, custom emoji and link-preview images: what a file *is* (by its
//! bytes, never by what the client says), and bounded decoding into small re-encoded copies.
//!
//! Owns no IO and reads no clock: bytes in, bytes out. Callers run [`thumbnail`] and
//! [`reencode`] on a blocking thread (decoding is CPU work) and bound how much memory all
//! decodes in flight take together: [`probe`] reads an image's header and says how much one
//! decode needs ([`Probe::peak_bytes`]); the caller reserves that much of its budget, then
//! passes it to the decode as its ceiling.
//!
//! Decoding is bounded: images wider or taller than [`MAX_SIDE`] pixels, or whose decode would
//! need more than the caller's ceiling, are refused from their header, before any pixel buffer
//! is allocated, so a decompression bomb costs nothing. Only PNG, JPEG, GIF and WebP are
//! decoded (pure-Rust codecs); of an animation only the first frame is kept. Output is PNG when
//! the image has visible transparency, otherwise JPEG; metadata (EXIF, GPS, comments) never
//! survives re-encoding, and the EXIF orientation is applied first so the copy looks upright.
//! Originals are kept as they are, minus their metadata ([`strip_metadata`]).

mod avatar;
mod probe;
mod strip;
#[cfg(any(test, feature = "testdata"))]
pub mod testdata;
pub use avatar::{avatar, avatar_peak_bytes, Crop, MIN_CROP};
pub use probe::{probe, probe_reader, Probe};
pub use strip::strip_metadata;
use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::{CompressionType, FilterType, PngEncoder};
use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageEncoder, ImageError, ImageFormat, ImageReader, Limits};
use std::io::Cursor;

/// Largest width or height we decode.
pub const MAX_SIDE: u32 = 12_000;
/// JPEG quality of the copies we make.
const JPEG_QUALITY: u8 = 82;

/// The raster formats we recognise and decode. Browsers render them as images and never as
/// documents, which is why they are the only types ever served `inline`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImageKind {
    Png,
    Jpeg,
    Gif,
    WebP,
}

impl ImageKind {
    pub fn content_type(self) -> &'static str {
        match self {
            ImageKind::Png => "image/png",
            ImageKind::Jpeg => "image/jpeg",
            ImageKind::Gif => "image/gif",
            ImageKind::WebP => "image/webp",
        }
    }

    /// The kind behind one of our own content types (`image/png` …), if it is one.
    pub fn from_content_type(ct: &str) -> Option<ImageKind> {
        let ct = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        match ct.as_str() {
            "image/png" => Some(ImageKind::Png),
            "image/jpeg" | "image/jpg" | "image/pjpeg" => Some(ImageKind::Jpeg),
            "image/gif" => Some(ImageKind::Gif),
            "image/webp" => Some(ImageKind::WebP),
            _ => None,
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            ImageKind::Png => "png",
            ImageKind::Jpeg => "jpg",
            ImageKind::Gif => "gif",
            ImageKind::WebP => "webp",
        }
    }

    fn format(self) -> ImageFormat {
        match self {
            ImageKind::Png => ImageFormat::Png,
            ImageKind::Jpeg => ImageFormat::Jpeg,
            ImageKind::Gif => ImageFormat::Gif,
            ImageKind::WebP => ImageFormat::WebP,
        }
    }
}

/// What the bytes are, by their magic numbers alone. Needs the first 12 bytes.
pub fn sniff(bytes: &[u8]) -> Option<ImageKind> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(ImageKind::Png)
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(ImageKind::Jpeg)
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some(ImageKind::Gif)
    } else if bytes.len() >= 12 && bytes.starts_with(b"RIFF") && &bytes[8..12] == b"WEBP" {
        Some(ImageKind::WebP)
    } else {
        None
    }
}

/// Does this start like a document a browser would run or render as markup (HTML, SVG, XML,
/// a script)? After an optional byte-order mark and white space: `<` followed by a letter, `!`,
/// `?` or `/` (every HTML tag, comment, doctype and XML declaration), or a script opener.
/// Deliberately broad: it only ever decides that a file is served as a download.
pub fn looks_like_markup(bytes: &[u8]) -> bool {
    let mut b = bytes;
    for bom in [&b"\xEF\xBB\xBF"[..], b"\xFE\xFF", b"\xFF\xFE"] {
        if let Some(rest) = b.strip_prefix(bom) {
            b = rest;
            break;
        }
    }
    // UTF-16 markup ("<\0h\0…"): drop the zero bytes of the first few characters.
    let head: Vec<u8> = b.iter().take(512).copied().filter(|c| *c != 0).collect();
    let start = head.iter().position(|c| !c.is_ascii_whitespace()).unwrap_or(head.len());
    let t = &head[start..];
    if let [b'<', next, ..] = t {
        return next.is_ascii_alphabetic() || matches!(next, b'!' | b'?' | b'/');
    }
    let lower: Vec<u8> = t.iter().take(32).map(|c| c.to_ascii_lowercase()).collect();
    ["javascript:", "#!", "(function", "function", "var ", "let ", "const ", "import ", "export "]
        .iter()
        .any(|p| lower.starts_with(p.as_bytes()))
}

/// A re-encoded copy of an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Processed {
    pub bytes: Vec<u8>,
    /// `image/png` or `image/jpeg`.
    pub content_type: &'static str,
    pub width: u32,
    pub height: u32,
    /// The original's size as shown (after its EXIF orientation).
    pub orig_width: u32,
    pub orig_height: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MediaError {
    #[error("This is not a PNG, JPEG, GIF or WebP image.")]
    NotAnImage,
    #[error("This image is too large to process ({width}×{height} pixels; at most {MAX_SIDE} on a side).")]
    TooLarge { width: u32, height: u32 },
    #[error("This image needs too much memory to decode.")]
    TooMuchMemory,
    #[error("This image could not be read: {0}")]
    Decode(String),
    #[error("The image could not be encoded: {0}")]
    Encode(String),
    #[error("The square to cut must lie inside the picture ({width}×{height} pixels) and be at least {min} pixels wide.", min = avatar::MIN_CROP)]
    BadCrop { width: u32, height: u32 },
}

/// A copy of the image whose longer side is at most `max_side` (never enlarged), PNG if it has
/// transparency, else JPEG. Only the first frame of an animation. Refused with
/// [`MediaError::TooMuchMemory`] if the decode would need more than `max_alloc` bytes
/// ([`Probe::peak_bytes`]).
pub fn thumbnail(bytes: &[u8], max_side: u32, max_alloc: u64) -> Result<Processed, MediaError> {
    let (img, orientation) = decode(bytes, max_side.max(1), max_alloc)?;
    let (ow, oh) = shown_size(img.width(), img.height(), orientation);
    let (tw, th) = fit(img.width(), img.height(), max_side.max(1));
    let mut small = if (tw, th) == (img.width(), img.height()) { img } else { img.thumbnail_exact(tw, th) };
    small.apply_orientation(orientation);
    encode(&small, ow, oh)
}

/// Re-encode an image fetched from elsewhere (a link preview) or made an emoji: same as
/// [`thumbnail`]; the point is that nothing of the original file but its pixels is kept.
pub fn reencode(bytes: &[u8], max_side: u32, max_alloc: u64) -> Result<Processed, MediaError> {
    thumbnail(bytes, max_side, max_alloc)
}

/// The size to scale `w`×`h` to so that the longer side is at most `max_side`.
fn fit(w: u32, h: u32, max_side: u32) -> (u32, u32) {
    let long = w.max(h);
    if long <= max_side {
        return (w, h);
    }
    let scale = |v: u32| ((u64::from(v) * u64::from(max_side) + u64::from(long) / 2) / u64::from(long)).max(1) as u32;
    (scale(w), scale(h))
}

fn shown_size(w: u32, h: u32, o: Orientation) -> (u32, u32) {
    match o {
        Orientation::Rotate90 | Orientation::Rotate270 | Orientation::Rotate90FlipH | Orientation::Rotate270FlipH => (h, w),
        _ => (w, h),
    }
}

fn decode_error(e: ImageError) -> MediaError {
    match e {
        ImageError::Limits(_) => MediaError::TooMuchMemory,
        ImageError::Unsupported(_) => MediaError::NotAnImage,
        other => MediaError::Decode(other.to_string()),
    }
}

/// Decode the first frame, refusing oversized images from their header.
fn decode(bytes: &[u8], max_side: u32, max_alloc: u64) -> Result<(DynamicImage, Orientation), MediaError> {
    let p = probe(bytes)?;
    if p.peak_bytes(max_side) > max_alloc {
        return Err(MediaError::TooMuchMemory);
    }
    let mut reader = ImageReader::new(Cursor::new(bytes));
    reader.set_format(p.kind.format());
    let mut l = Limits::default();
    l.max_image_width = Some(MAX_SIDE);
    l.max_image_height = Some(MAX_SIDE);
    l.max_alloc = Some(max_alloc);
    reader.limits(l);
    let mut decoder = reader.into_decoder().map_err(decode_error)?;
    // The header the codec read must be the one we measured.
    if decoder.dimensions() != (p.width, p.height) || decoder.total_bytes() > p.pixel_bytes {
        return Err(MediaError::Decode("the image's headers disagree".into()));
    }
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let img = DynamicImage::from_decoder(decoder).map_err(decode_error)?;
    Ok((img, orientation))
}

/// Does any pixel show transparency?
fn has_visible_alpha(img: &DynamicImage) -> bool {
    if !img.color().has_alpha() {
        return false;
    }
    img.to_rgba8().pixels().any(|p| p.0[3] != u8::MAX)
}

fn encode(img: &DynamicImage, orig_width: u32, orig_height: u32) -> Result<Processed, MediaError> {
    encode_as(img, has_visible_alpha(img), orig_width, orig_height)
}

/// PNG when `alpha` (keeping transparency), else JPEG.
fn encode_as(img: &DynamicImage, alpha: bool, orig_width: u32, orig_height: u32) -> Result<Processed, MediaError> {
    let (width, height) = (img.width(), img.height());
    let mut out = Vec::new();
    let content_type = if alpha {
        let rgba = img.to_rgba8();
        PngEncoder::new_with_quality(&mut out, CompressionType::Default, FilterType::Adaptive)
            .write_image(rgba.as_raw(), width, height, image::ExtendedColorType::Rgba8)
            .map_err(|e| MediaError::Encode(e.to_string()))?;
        "image/png"
    } else {
        let rgb = img.to_rgb8();
        JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY)
            .write_image(rgb.as_raw(), width, height, image::ExtendedColorType::Rgb8)
            .map_err(|e| MediaError::Encode(e.to_string()))?;
        "image/jpeg"
    };
    Ok(Processed { bytes: out, content_type, width, height, orig_width, orig_height })
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::codecs::gif::GifEncoder;
    use image::codecs::webp::WebPEncoder;
    use image::{Delay, Frame, Rgb, RgbImage, Rgba, RgbaImage};

    /// The ceiling these tests decode under (what a 2 GB board's budget would allow).
    const M: u64 = 256 << 20;

    fn rgb(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| Rgb([(x % 256) as u8, (y % 256) as u8, 90]))
    }

    fn png_of(img: &DynamicImage) -> Vec<u8> {
        let mut v = Vec::new();
        img.write_to(&mut Cursor::new(&mut v), ImageFormat::Png).expect("png");
        v
    }

    fn jpeg_of(img: &RgbImage) -> Vec<u8> {
        let mut v = Vec::new();
        JpegEncoder::new_with_quality(&mut v, 90)
            .write_image(img.as_raw(), img.width(), img.height(), image::ExtendedColorType::Rgb8)
            .expect("jpeg");
        v
    }

    fn webp_of(img: &RgbaImage) -> Vec<u8> {
        let mut v = Vec::new();
        WebPEncoder::new_lossless(&mut v)
            .write_image(img.as_raw(), img.width(), img.height(), image::ExtendedColorType::Rgba8)
            .expect("webp");
        v
    }

    fn decoded(p: &Processed) -> DynamicImage {
        image::load_from_memory(&p.bytes).expect("our output decodes")
    }

    /// A real PNG whose IHDR claims `w`×`h` (CRC fixed up, so only the size is a lie).
    fn png_claiming(w: u32, h: u32, color_type: u8) -> Vec<u8> {
        let mut v = png_of(&DynamicImage::ImageRgb8(rgb(1, 1)));
        v[16..20].copy_from_slice(&w.to_be_bytes());
        v[20..24].copy_from_slice(&h.to_be_bytes());
        v[24] = 8;
        v[25] = color_type;
        let crc = crate::testdata::crc32(&v[12..29]);
        v[29..33].copy_from_slice(&crc.to_be_bytes());
        v
    }

    #[test]
    fn sniffs_each_format_by_magic_bytes() {
        let img = DynamicImage::ImageRgb8(rgb(4, 4));
        assert_eq!(sniff(&png_of(&img)), Some(ImageKind::Png));
        assert_eq!(sniff(&jpeg_of(&rgb(4, 4))), Some(ImageKind::Jpeg));
        assert_eq!(sniff(b"GIF89a\x01\x00"), Some(ImageKind::Gif));
        assert_eq!(sniff(b"GIF87a\x01\x00"), Some(ImageKind::Gif));
        assert_eq!(sniff(&webp_of(&RgbaImage::new(2, 2))), Some(ImageKind::WebP));
        assert_eq!(sniff(b"RIFF\0\0\0\0WAVEfmt "), None, "a WAV is not a WebP");
    }

    #[test]
    fn html_svg_and_garbage_are_not_images() {
        for bytes in [
            &b"<!doctype html><script>alert(1)</script>"[..],
            b"<html><body>hi</body></html>",
            b"<svg xmlns=\"http://www.w3.org/2000/svg\" onload=\"alert(1)\"/>",
            b"<?xml version=\"1.0\"?><svg/>",
            b"\xEF\xBB\xBF  <script>alert(1)</script>",
            b"",
            b"\x89PN",
            b"hello world",
            &[0u8; 64],
        ] {
            assert_eq!(sniff(bytes), None, "{:?}", String::from_utf8_lossy(bytes));
            assert_eq!(thumbnail(bytes, 400, M), Err(MediaError::NotAnImage));
        }
        // A real PNG signature followed by garbage is recognised, but does not decode.
        let mut bad = b"\x89PNG\r\n\x1a\n".to_vec();
        bad.extend_from_slice(b"<html>not really</html>");
        assert!(matches!(thumbnail(&bad, 400, M), Err(MediaError::Decode(_) | MediaError::NotAnImage)));
    }

    #[test]
    fn markup_is_recognised_wherever_it_hides() {
        for bytes in [
            &b"<!DOCTYPE html>"[..],
            b"   \n\t<HTML>",
            b"<script>x()</script>",
            b"<svg/>",
            b"<?xml version='1.0'?>",
            b"<!-- comment -->",
            b"\xEF\xBB\xBF<html>",
            b"\xFF\xFE<\0h\0t\0m\0l\0>\0",
            b"<iframe src=x>",
            b"javascript:alert(1)",
        ] {
            assert!(looks_like_markup(bytes), "{:?}", String::from_utf8_lossy(bytes));
        }
        for bytes in [&b"hello <b>"[..], b"%PDF-1.7", b"\x89PNG\r\n\x1a\n", b"1 < 2", b""] {
            assert!(!looks_like_markup(bytes), "{:?}", String::from_utf8_lossy(bytes));
        }
    }

    #[test]
    fn opaque_png_becomes_a_jpeg_thumbnail_keeping_the_aspect() {
        let src = png_of(&DynamicImage::ImageRgb8(rgb(1000, 500)));
        let p = thumbnail(&src, 400, M).expect("thumbnail");
        assert_eq!(p.content_type, "image/jpeg");
        assert_eq!((p.width, p.height, p.orig_width, p.orig_height), (400, 200, 1000, 500));
        assert_eq!(sniff(&p.bytes), Some(ImageKind::Jpeg));
        let d = decoded(&p);
        assert_eq!((d.width(), d.height()), (400, 200));
    }

    #[test]
    fn transparent_png_stays_png() {
        let img = RgbaImage::from_fn(300, 600, |x, _| Rgba([10, 20, 30, if x < 150 { 0 } else { 255 }]));
        let p = thumbnail(&png_of(&DynamicImage::ImageRgba8(img)), 400, M).expect("thumbnail");
        assert_eq!(p.content_type, "image/png");
        assert_eq!((p.width, p.height), (200, 400));
        let d = decoded(&p).to_rgba8();
        assert_eq!(d.get_pixel(0, 0).0[3], 0, "transparency kept");
        assert_eq!(d.get_pixel(199, 0).0[3], 255);
    }

    #[test]
    fn an_alpha_channel_that_is_all_opaque_makes_a_jpeg() {
        let img = RgbaImage::from_pixel(50, 50, Rgba([1, 2, 3, 255]));
        let p = thumbnail(&png_of(&DynamicImage::ImageRgba8(img)), 400, M).expect("thumbnail");
        assert_eq!(p.content_type, "image/jpeg");
    }

    #[test]
    fn small_images_are_never_enlarged() {
        let p = thumbnail(&jpeg_of(&rgb(50, 30)), 400, M).expect("thumbnail");
        assert_eq!((p.width, p.height, p.orig_width, p.orig_height), (50, 30, 50, 30));
    }

    #[test]
    fn jpeg_round_trips() {
        let p = thumbnail(&jpeg_of(&rgb(800, 800)), 128, M).expect("thumbnail");
        assert_eq!((p.content_type, p.width, p.height), ("image/jpeg", 128, 128));
        assert_eq!(decoded(&p).width(), 128);
    }

    #[test]
    fn webp_round_trips() {
        let img = RgbaImage::from_fn(500, 250, |x, y| Rgba([x as u8, y as u8, 0, 255]));
        let p = reencode(&webp_of(&img), 100, M).expect("reencode");
        assert_eq!((p.content_type, p.width, p.height, p.orig_width), ("image/jpeg", 100, 50, 500));
        let t = RgbaImage::from_pixel(20, 20, Rgba([0, 0, 0, 0]));
        assert_eq!(reencode(&webp_of(&t), 100, M).expect("reencode").content_type, "image/png");
    }

    #[test]
    fn gif_keeps_only_the_first_frame() {
        let mut v = Vec::new();
        {
            let mut enc = GifEncoder::new(&mut v);
            let red = RgbaImage::from_pixel(64, 32, Rgba([255, 0, 0, 255]));
            let blue = RgbaImage::from_pixel(64, 32, Rgba([0, 0, 255, 255]));
            let frames = [red, blue].map(|f| Frame::from_parts(f, 0, 0, Delay::from_numer_denom_ms(100, 1)));
            enc.encode_frames(frames).expect("gif");
        }
        assert_eq!(sniff(&v), Some(ImageKind::Gif));
        let p = thumbnail(&v, 400, M).expect("thumbnail");
        assert_eq!((p.width, p.height), (64, 32));
        let px = decoded(&p).to_rgb8().get_pixel(10, 10).0;
        assert!(px[0] > 200 && px[2] < 60, "the first (red) frame, got {px:?}");
    }

    #[test]
    fn metadata_does_not_survive() {
        // A JPEG with an EXIF segment carrying a "GPS" marker string: the copy has none of it.
        let src = jpeg_of(&rgb(40, 40));
        let mut with_exif = src[..2].to_vec();
        let payload = b"Exif\0\0II*\0SECRET-GPS-49.0N";
        with_exif.extend_from_slice(&[0xFF, 0xE1]);
        with_exif.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
        with_exif.extend_from_slice(payload);
        with_exif.extend_from_slice(&src[2..]);
        let p = reencode(&with_exif, 400, M).expect("reencode");
        assert!(!p.bytes.windows(10).any(|w| w == b"SECRET-GPS"));
    }

    #[test]
    fn oversized_dimensions_are_refused_from_the_header() {
        // 100000 × 100000 RGBA would be 40 GB of pixels: refused before any allocation.
        assert!(matches!(
            thumbnail(&png_claiming(100_000, 100_000, 6), 400, M),
            Err(MediaError::TooLarge { width: 100_000, height: 100_000 })
        ));
        // Within the side limit but 11000 × 11000 RGBA = 484 MB: over the memory limit.
        assert_eq!(thumbnail(&png_claiming(11_000, 11_000, 6), 400, M), Err(MediaError::TooMuchMemory));
        // A GIF's logical screen and a JPEG's frame header lie the same way.
        let mut gif = Vec::new();
        {
            let mut enc = GifEncoder::new(&mut gif);
            enc.encode_frame(Frame::new(RgbaImage::new(1, 1))).expect("gif");
        }
        gif[6..8].copy_from_slice(&u16::MAX.to_le_bytes());
        gif[8..10].copy_from_slice(&u16::MAX.to_le_bytes());
        assert!(thumbnail(&gif, 400, M).is_err(), "65535² GIF screen");
        let mut jpeg = jpeg_of(&rgb(8, 8));
        let sof = jpeg.windows(2).position(|w| w == [0xFF, 0xC0]).expect("SOF0");
        jpeg[sof + 5..sof + 7].copy_from_slice(&u16::MAX.to_be_bytes());
        jpeg[sof + 7..sof + 9].copy_from_slice(&u16::MAX.to_be_bytes());
        assert!(thumbnail(&jpeg, 400, M).is_err(), "65535² JPEG");
    }

    #[test]
    fn a_decode_gets_exactly_the_memory_its_probe_asked_for() {
        let src = png_of(&DynamicImage::ImageRgb8(rgb(1000, 700)));
        let need = probe(&src).expect("probe").peak_bytes(400);
        assert!(need > 1000 * 700 * 3, "at least the pixels: {need}");
        assert_eq!(thumbnail(&src, 400, need - 1), Err(MediaError::TooMuchMemory));
        assert!(thumbnail(&src, 400, need).is_ok());
    }

    #[test]
    fn truncated_images_fail_cleanly() {
        let src = png_of(&DynamicImage::ImageRgb8(rgb(100, 100)));
        assert!(thumbnail(&src[..src.len() / 2], 400, M).is_err());
        let j = jpeg_of(&rgb(100, 100));
        // zune-jpeg fills a truncated scan with grey rather than failing; either is fine, a
        // panic or a hang is not.
        let _ = thumbnail(&j[..j.len() / 2], 400, M);
    }

    #[test]
    fn fit_rounds_and_never_reaches_zero() {
        assert_eq!(fit(10_000, 1, 400), (400, 1));
        assert_eq!(fit(3, 2, 2), (2, 1));
        assert_eq!(fit(400, 399, 400), (400, 399));
    }

    #[test]
    fn content_types_map_back() {
        for k in [ImageKind::Png, ImageKind::Jpeg, ImageKind::Gif, ImageKind::WebP] {
            assert_eq!(ImageKind::from_content_type(k.content_type()), Some(k));
        }
        assert_eq!(ImageKind::from_content_type("image/svg+xml"), None);
        assert_eq!(ImageKind::from_content_type("IMAGE/PNG; charset=x"), Some(ImageKind::Png));
    }
}
