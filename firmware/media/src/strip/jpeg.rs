//! JPEG: a walk over the marker segments, through the entropy-coded scans, up to the
//! end-of-image marker. Only what decoding needs is copied.

use super::{exif_orientation, orientation_tiff};

const SOI: [u8; 2] = [0xFF, 0xD8];
const EOI: u8 = 0xD9;
const SOS: u8 = 0xDA;

/// The APPn segments a decoder uses: JFIF (APP0), the ICC profile (APP2, possibly in several
/// parts) and Adobe's colour transform flag (APP14, it decides how CMYK/YCCK is read).
fn keep_app(marker: u8, body: &[u8]) -> bool {
    match marker {
        0xE0 => body.starts_with(b"JFIF\0"),
        0xE2 => body.starts_with(b"ICC_PROFILE\0"),
        0xEE => body.starts_with(b"Adobe"),
        _ => false,
    }
}

/// The stripped file, or `None` if it is not a JPEG we can walk.
pub(super) fn strip(b: &[u8]) -> Option<Vec<u8>> {
    if !b.starts_with(&SOI) {
        return None;
    }
    let mut out = Vec::with_capacity(b.len());
    out.extend_from_slice(&SOI);
    let mut i = 2;
    let mut orientation = None;
    let mut placed = false;
    loop {
        // Between segments: fill bytes, and (leniently, as decoders are) stray bytes.
        while i < b.len() && !(b[i] == 0xFF && b.get(i + 1).is_some_and(|m| *m != 0xFF && *m != 0)) {
            i += 1;
        }
        if i + 2 > b.len() {
            // No end-of-image marker: decoders take such files; there is no trailer to drop.
            return placed.then_some(out);
        }
        let marker = b[i + 1];
        if marker == EOI {
            out.extend_from_slice(&[0xFF, EOI]);
            // Whatever follows (a second image, a video, a vendor block) is dropped.
            return Some(out);
        }
        if marker == 0x01 || (0xD0..=0xD7).contains(&marker) {
            out.extend_from_slice(&b[i..i + 2]);
            i += 2;
            continue;
        }
        let len = usize::from(u16::from_be_bytes([*b.get(i + 2)?, *b.get(i + 3)?]));
        if len < 2 || i + 2 + len > b.len() {
            return None;
        }
        let seg = &b[i..i + 2 + len];
        let body = &seg[4..];
        i += 2 + len;
        if (0xE0..=0xEF).contains(&marker) || marker == 0xFE {
            if marker == 0xE1 && body.starts_with(b"Exif\0\0") {
                orientation = orientation.or_else(|| exif_orientation(&body[6..]));
            }
            if !keep_app(marker, body) {
                continue;
            }
            out.extend_from_slice(seg);
            continue;
        }
        // The orientation block goes after JFIF/ICC/Adobe, before the first table or frame.
        if !placed {
            put_orientation(&mut out, orientation);
            placed = true;
        }
        out.extend_from_slice(seg);
        if marker == SOS {
            i = copy_scan(b, i, &mut out);
        }
    }
}

/// Copy entropy-coded data from `i` up to the next marker that is not a restart marker or a
/// stuffed zero; returns where that marker starts (or the end of the file).
fn copy_scan(b: &[u8], mut i: usize, out: &mut Vec<u8>) -> usize {
    let start = i;
    while i + 1 < b.len() {
        if b[i] == 0xFF {
            let next = b[i + 1];
            if next != 0 && next != 0xFF && !(0xD0..=0xD7).contains(&next) {
                break;
            }
            i += 2;
        } else {
            i += 1;
        }
    }
    if i + 1 >= b.len() {
        i = b.len();
    }
    out.extend_from_slice(&b[start..i]);
    i
}

/// An APP1 EXIF segment with only the orientation tag.
fn put_orientation(out: &mut Vec<u8>, orientation: Option<u16>) {
    let Some(tiff) = orientation_tiff(orientation) else { return };
    let len = (2 + 6 + tiff.len()) as u16;
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(b"Exif\0\0");
    out.extend_from_slice(&tiff);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strip_metadata;
    use crate::testdata::*;
    use image::ImageDecoder;

    fn orientation_of(b: &[u8]) -> image::metadata::Orientation {
        let mut d = image::codecs::jpeg::JpegDecoder::new(std::io::Cursor::new(b)).expect("decoder");
        d.orientation().expect("orientation")
    }

    fn pixels(b: &[u8]) -> image::RgbImage {
        image::load_from_memory(b).expect("decodes").to_rgb8()
    }

    #[test]
    fn jpeg_loses_gps_and_comments_but_keeps_its_orientation_and_pixels() {
        let plain = jpeg(8, 4);
        let tagged = jpeg_with_exif(&plain, Some(6));
        assert!(contains(&tagged, GPS_MARKER) && contains(&tagged, b"a comment"));
        assert_eq!(orientation_of(&tagged), image::metadata::Orientation::Rotate90);
        let clean = strip_metadata(&tagged).expect("walkable").expect("something removed");
        assert!(!contains(&clean, GPS_MARKER), "location left in the file");
        assert!(!contains(&clean, b"a comment"));
        assert_eq!(orientation_of(&clean), image::metadata::Orientation::Rotate90);
        assert_eq!(pixels(&tagged), pixels(&clean), "image data copied byte for byte");
    }

    #[test]
    fn an_mpf_second_image_after_the_end_marker_goes_with_its_location() {
        let photo = mpf_jpeg();
        assert!(contains(&photo, GPS_MARKER) && contains(&photo, b"MPF\0"));
        let clean = strip_metadata(&photo).expect("walkable").expect("removed");
        assert!(!contains(&clean, GPS_MARKER), "the second image's EXIF is still there");
        assert!(!contains(&clean, b"MPF\0"), "the MPF index is still there");
        assert!(!contains(&clean, b"Exif"), "no orientation to keep, so no EXIF at all");
        assert_eq!(clean.iter().rev().take(2).copied().collect::<Vec<_>>(), [EOI, 0xFF], "ends at the first image's end");
        assert_eq!(pixels(&clean), pixels(&jpeg(32, 16)));
    }

    #[test]
    fn a_motion_photo_loses_its_video_and_its_xmp() {
        let photo = motion_photo();
        assert!(contains(&photo, b"ftyp") && contains(&photo, b"MotionPhoto"));
        let clean = strip_metadata(&photo).expect("walkable").expect("removed");
        for gone in [&b"ftyp"[..], b"mdat", b"MotionPhoto", b"http://ns.adobe.com/xap/1.0/", GPS_MARKER] {
            assert!(!contains(&clean, gone), "{} left", String::from_utf8_lossy(gone));
        }
        assert_eq!(pixels(&clean), pixels(&jpeg(32, 16)));
    }

    #[test]
    fn vendor_segments_and_trailers_go_but_icc_jfif_and_adobe_stay() {
        let plain = jpeg(16, 16);
        let mut v = plain[..2].to_vec();
        for (marker, body) in [
            (0xE0u8, &b"JFIF\0\x01\x02\0\0\x01\0\x01\0\0"[..]),
            (0xE2, b"ICC_PROFILE\0\x01\x01fake-profile"),
            (0xE2, b"FPXR\0vendor-flashpix"),
            (0xEB, b"JP\0\0jpeg-xt-or-vendor"),
            (0xED, b"Photoshop 3.0\0IPTC-city"),
            (0xEE, b"Adobe\0\x64\0\0\0\0\x01"),
        ] {
            v.extend_from_slice(&[0xFF, marker]);
            v.extend_from_slice(&((body.len() + 2) as u16).to_be_bytes());
            v.extend_from_slice(body);
        }
        v.extend_from_slice(&plain[2..]);
        v.extend_from_slice(b"SEFT samsung trailer with a location");
        let clean = strip_metadata(&v).expect("walkable").expect("removed");
        assert!(contains(&clean, b"JFIF\0") && contains(&clean, b"fake-profile") && contains(&clean, b"Adobe"));
        for gone in [&b"vendor-flashpix"[..], b"jpeg-xt", b"IPTC-city", b"SEFT"] {
            assert!(!contains(&clean, gone), "{} left", String::from_utf8_lossy(gone));
        }
    }

    #[test]
    fn segments_between_progressive_scans_are_walked_too() {
        // Two scans, with a comment between them and a restart marker inside the first.
        let plain = jpeg(8, 8);
        let sos = plain.windows(2).position(|w| w == [0xFF, SOS]).expect("SOS");
        let mut v = plain[..sos].to_vec();
        v.extend_from_slice(&[0xFF, SOS, 0, 8, 1, 1, 0, 0, 63, 0]);
        v.extend_from_slice(&[0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD0, 0x56]);
        v.extend_from_slice(&[0xFF, 0xFE, 0, 12]);
        v.extend_from_slice(b"between-sc");
        v.extend_from_slice(&plain[sos..]);
        let clean = strip_metadata(&v).expect("walkable").expect("removed");
        assert!(!contains(&clean, b"between-sc"));
        assert!(contains(&clean, &[0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD0, 0x56]), "scan data kept as it was");
        assert!(clean.ends_with(&[0xFF, EOI]));
    }
}
