//! Removing metadata from uploaded originals without re-encoding them: a phone photo's EXIF
//! carries where it was taken (GPS), the device and the time, which friends have no need for.
//!
//! JPEG: every APP1 (EXIF, XMP), APP13 (Photoshop/IPTC) and COM segment is dropped, and an EXIF
//! block holding only the orientation is put back (so photos still show upright); the image data
//! is copied byte for byte. PNG: the `eXIf`, `tEXt`, `zTXt`, `iTXt` and `tIME` chunks are dropped.
//! Other formats are left alone. Malformed files are left alone too (the decoder decides about
//! those).

const SOI: [u8; 2] = [0xFF, 0xD8];
const PNG_SIGNATURE: &[u8; 8] = b"\x89PNG\r\n\x1a\n";

/// The file without its metadata, or `None` when there was nothing to remove (or the file is
/// not a JPEG/PNG we can walk).
pub fn strip_metadata(bytes: &[u8]) -> Option<Vec<u8>> {
    if bytes.starts_with(&SOI) {
        strip_jpeg(bytes)
    } else if bytes.starts_with(PNG_SIGNATURE) {
        strip_png(bytes)
    } else {
        None
    }
}

fn strip_jpeg(b: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(b.len());
    out.extend_from_slice(&SOI);
    let mut i = 2;
    let mut orientation = None;
    let mut removed = false;
    let mut placed = false;
    loop {
        if i + 4 > b.len() || b[i] != 0xFF {
            return None;
        }
        let marker = b[i + 1];
        if marker == 0xFF {
            i += 1; // fill byte
            continue;
        }
        if marker == 0x01 || (0xD0..=0xD7).contains(&marker) {
            out.extend_from_slice(&b[i..i + 2]);
            i += 2;
            continue;
        }
        let len = usize::from(u16::from_be_bytes([b[i + 2], b[i + 3]]));
        if len < 2 || i + 2 + len > b.len() {
            return None;
        }
        let seg = &b[i..i + 2 + len];
        let body = &seg[4..];
        if marker == 0xDA {
            // Start of scan: the rest is image data.
            if !placed {
                put_orientation(&mut out, orientation);
            }
            out.extend_from_slice(&b[i..]);
            break;
        }
        match marker {
            0xE1 | 0xED | 0xFE => {
                if marker == 0xE1 && body.starts_with(b"Exif\0\0") {
                    orientation = orientation.or_else(|| exif_orientation(&body[6..]));
                }
                removed = true;
            }
            _ => {
                // Keep APP0 (JFIF) first; the orientation block goes right after it.
                if marker != 0xE0 && !placed {
                    put_orientation(&mut out, orientation);
                    placed = true;
                }
                out.extend_from_slice(seg);
            }
        }
        i += 2 + len;
    }
    removed.then_some(out)
}

/// An APP1 EXIF segment with only the orientation tag (big-endian TIFF, one IFD entry).
fn put_orientation(out: &mut Vec<u8>, orientation: Option<u16>) {
    let Some(o) = orientation.filter(|o| (2..=8).contains(o)) else { return };
    let mut seg = vec![0xFF, 0xE1, 0, 34];
    seg.extend_from_slice(b"Exif\0\0");
    seg.extend_from_slice(b"MM\0\x2a\0\0\0\x08");
    seg.extend_from_slice(&1u16.to_be_bytes());
    seg.extend_from_slice(&0x0112u16.to_be_bytes());
    seg.extend_from_slice(&3u16.to_be_bytes());
    seg.extend_from_slice(&1u32.to_be_bytes());
    seg.extend_from_slice(&o.to_be_bytes());
    seg.extend_from_slice(&[0, 0]);
    seg.extend_from_slice(&0u32.to_be_bytes());
    out.extend_from_slice(&seg);
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

fn strip_png(b: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(b.len());
    out.extend_from_slice(PNG_SIGNATURE);
    let mut i = PNG_SIGNATURE.len();
    let mut removed = false;
    while i < b.len() {
        let len = usize::try_from(u32::from_be_bytes(b.get(i..i + 4)?.try_into().ok()?)).ok()?;
        let end = i.checked_add(12)?.checked_add(len)?;
        let chunk = b.get(i..end)?;
        let kind = &chunk[4..8];
        if matches!(kind, b"eXIf" | b"tEXt" | b"zTXt" | b"iTXt" | b"tIME") {
            removed = true;
        } else {
            out.extend_from_slice(chunk);
        }
        i = end;
        if kind == b"IEND" {
            break;
        }
    }
    removed.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::codecs::jpeg::JpegEncoder;
    use image::{ImageDecoder, ImageEncoder};

    fn jpeg() -> Vec<u8> {
        let img = image::RgbImage::from_fn(8, 4, |x, _| image::Rgb([x as u8 * 30, 10, 10]));
        let mut v = Vec::new();
        JpegEncoder::new_with_quality(&mut v, 90)
            .write_image(img.as_raw(), 8, 4, image::ExtendedColorType::Rgb8)
            .expect("jpeg");
        v
    }

    /// A little-endian EXIF APP1 with orientation 6 and a fake GPS payload, after SOI.
    fn with_exif(j: &[u8]) -> Vec<u8> {
        let mut tiff = b"II\x2a\0\x08\0\0\0".to_vec();
        tiff.extend_from_slice(&1u16.to_le_bytes());
        tiff.extend_from_slice(&0x0112u16.to_le_bytes());
        tiff.extend_from_slice(&3u16.to_le_bytes());
        tiff.extend_from_slice(&1u32.to_le_bytes());
        tiff.extend_from_slice(&[6, 0, 0, 0]);
        tiff.extend_from_slice(&0u32.to_le_bytes());
        tiff.extend_from_slice(b"GPS 52.5200N 13.4050E HOME");
        let mut body = b"Exif\0\0".to_vec();
        body.extend_from_slice(&tiff);
        let mut out = j[..2].to_vec();
        out.extend_from_slice(&[0xFF, 0xE1]);
        out.extend_from_slice(&((body.len() + 2) as u16).to_be_bytes());
        out.extend_from_slice(&body);
        out.extend_from_slice(&[0xFF, 0xFE, 0, 9]);
        out.extend_from_slice(b"comment");
        out.extend_from_slice(&j[2..]);
        out
    }

    fn orientation_of(b: &[u8]) -> image::metadata::Orientation {
        let mut d = image::codecs::jpeg::JpegDecoder::new(std::io::Cursor::new(b)).expect("decoder");
        d.orientation().expect("orientation")
    }

    #[test]
    fn jpeg_loses_gps_and_comments_but_keeps_its_orientation_and_pixels() {
        let plain = jpeg();
        let tagged = with_exif(&plain);
        assert_eq!(orientation_of(&tagged), image::metadata::Orientation::Rotate90);
        let clean = strip_metadata(&tagged).expect("something removed");
        assert!(!clean.windows(3).any(|w| w == b"GPS"), "location left in the file");
        assert!(!clean.windows(7).any(|w| w == b"comment"));
        assert_eq!(orientation_of(&clean), image::metadata::Orientation::Rotate90);
        let a = image::load_from_memory(&tagged).expect("decode").to_rgb8();
        let b = image::load_from_memory(&clean).expect("decode").to_rgb8();
        assert_eq!(a, b, "image data copied byte for byte");
        assert_eq!(strip_metadata(&plain), None, "nothing to remove");
    }

    #[test]
    fn png_text_chunks_go() {
        let img = image::RgbImage::from_fn(3, 3, |_, _| image::Rgb([1, 2, 3]));
        let mut v = Vec::new();
        image::DynamicImage::ImageRgb8(img).write_to(&mut std::io::Cursor::new(&mut v), image::ImageFormat::Png).expect("png");
        // Insert a tEXt chunk after IHDR (8 + 25 bytes).
        let data = b"Location\0home";
        let mut chunk = (data.len() as u32).to_be_bytes().to_vec();
        chunk.extend_from_slice(b"tEXt");
        chunk.extend_from_slice(data);
        chunk.extend_from_slice(&[0, 0, 0, 0]);
        let mut tagged = v[..33].to_vec();
        tagged.extend_from_slice(&chunk);
        tagged.extend_from_slice(&v[33..]);
        let clean = strip_metadata(&tagged).expect("removed");
        assert_eq!(clean, v);
        assert_eq!(strip_metadata(&v), None);
    }

    #[test]
    fn malformed_and_other_files_are_left_alone() {
        assert_eq!(strip_metadata(b"\xFF\xD8\xFF\xE1\xFF\xFF"), None);
        assert_eq!(strip_metadata(b"GIF89a"), None);
        assert_eq!(strip_metadata(b""), None);
        assert_eq!(strip_metadata(b"\x89PNG\r\n\x1a\n\xFF\xFF\xFF\xFF"), None);
    }
}
