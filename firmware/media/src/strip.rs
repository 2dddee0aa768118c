//! Removing metadata from uploaded originals without re-encoding them: a phone photo carries
//! where it was taken (GPS), the device and the time, in places a viewer never shows, and
//! friends have no need for any of it.
//!
//! Each format is walked structurally and only what a browser needs to draw the image is
//! copied, byte for byte; everything else goes, wherever it hides:
//! - JPEG ([`jpeg`]): every APPn segment but JFIF, the ICC profile and Adobe's colour
//!   transform (so EXIF, XMP, Motion Photo XMP, MPF indexes, IPTC, vendor blocks), every
//!   comment, and **everything after the end-of-image marker** (MPF secondary images with
//!   their own EXIF and GPS, Motion Photo MP4s, vendor trailers).
//! - PNG ([`png`]): every chunk but the ones that affect rendering (so `eXIf`, text, `tIME`,
//!   private chunks), and anything after `IEND`.
//! - WebP ([`webp`]): the `EXIF` and `XMP ` chunks and unknown ones (also inside animation
//!   frames), the VP8X flags fixed to match, and anything after the RIFF container.
//! - GIF ([`gif`]): comment, plain-text and unknown application extensions (XMP), and
//!   anything after the trailer.
//!
//! The EXIF orientation is the one thing kept (JPEG, PNG, WebP): a block holding only it is
//! put back, so photos still show upright.
//!
//! A file of one of these formats that cannot be walked to its end is an error rather than
//! "left alone": what cannot be read cannot be cleaned, so it is not stored.

mod gif;
mod jpeg;
mod png;
mod webp;

use crate::{sniff, ImageKind, MediaError};

/// The file without its metadata; `Ok(None)` when there was nothing to remove (or the bytes
/// are not a PNG, JPEG, GIF or WebP at all); an error when the file is one of those but
/// malformed.
pub fn strip_metadata(bytes: &[u8]) -> Result<Option<Vec<u8>>, MediaError> {
    let out = match sniff(bytes) {
        Some(ImageKind::Jpeg) => jpeg::strip(bytes),
        Some(ImageKind::Png) => png::strip(bytes),
        Some(ImageKind::WebP) => webp::strip(bytes),
        Some(ImageKind::Gif) => gif::strip(bytes),
        None => return Ok(None),
    };
    let out = out.ok_or_else(|| MediaError::Decode("its structure is damaged, so its metadata cannot be removed".into()))?;
    Ok((out != bytes).then_some(out))
}

/// A TIFF block (big-endian) holding only IFD0's orientation tag, or nothing for "upright".
fn orientation_tiff(orientation: Option<u16>) -> Option<Vec<u8>> {
    let o = orientation.filter(|o| (2..=8).contains(o))?;
    let mut t = b"MM\0\x2a\0\0\0\x08".to_vec();
    t.extend_from_slice(&1u16.to_be_bytes());
    t.extend_from_slice(&0x0112u16.to_be_bytes());
    t.extend_from_slice(&3u16.to_be_bytes());
    t.extend_from_slice(&1u32.to_be_bytes());
    t.extend_from_slice(&o.to_be_bytes());
    t.extend_from_slice(&[0, 0]);
    t.extend_from_slice(&0u32.to_be_bytes());
    Some(t)
}

/// The orientation tag (0x0112) of IFD0 in a TIFF block, if readable.
fn exif_orientation(tiff: &[u8]) -> Option<u16> {
    let le = match tiff.get(0..2)? {
        b"II" => true,
        b"MM" => false,
        _ => return None,
    };
    let u16_at = |p: usize| -> Option<u16> {
        let s = tiff.get(p..p + 2)?;
        Some(if le { u16::from_le_bytes([s[0], s[1]]) } else { u16::from_be_bytes([s[0], s[1]]) })
    };
    let u32_at = |p: usize| -> Option<u32> {
        let s = tiff.get(p..p + 4)?;
        Some(if le { u32::from_le_bytes([s[0], s[1], s[2], s[3]]) } else { u32::from_be_bytes([s[0], s[1], s[2], s[3]]) })
    };
    let ifd = usize::try_from(u32_at(4)?).ok()?;
    let n = usize::from(u16_at(ifd)?);
    (0..n.min(256)).find_map(|k| {
        let e = ifd + 2 + k * 12;
        (u16_at(e)? == 0x0112).then(|| u16_at(e + 8)).flatten()
    })
}

#[cfg(test)]
mod tests {
    use crate::testdata::*;
    use super::*;

    #[test]
    fn files_that_are_not_images_are_left_alone_and_damaged_images_are_errors() {
        assert_eq!(strip_metadata(b""), Ok(None));
        assert_eq!(strip_metadata(b"hello"), Ok(None));
        for damaged in [
            &b"\xFF\xD8\xFF\xE1\xFF\xFF"[..],
            b"GIF89a",
            b"\x89PNG\r\n\x1a\n\xFF\xFF\xFF\xFF",
            b"RIFF\xFF\0\0\0WEBPVP8L",
        ] {
            assert!(strip_metadata(damaged).is_err(), "{damaged:?}");
        }
    }

    #[test]
    fn clean_files_are_unchanged() {
        for clean in [jpeg(16, 8), png(5, 5), webp_lossless(6, 4), gif(7, 3)] {
            assert_eq!(strip_metadata(&clean), Ok(None));
        }
    }

    #[test]
    fn orientation_blocks_read_back() {
        let t = orientation_tiff(Some(6)).expect("a block");
        assert_eq!(exif_orientation(&t), Some(6));
        assert_eq!(orientation_tiff(Some(1)), None, "upright needs no block");
        assert_eq!(orientation_tiff(None), None);
        assert_eq!(exif_orientation(&gps_exif_tiff(Some(8))), Some(8));
    }
}
