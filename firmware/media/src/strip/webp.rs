//! WebP: the RIFF container's chunks. Image data (`VP8 `, `VP8L`, `ALPH`), the canvas
//! (`VP8X`), colour (`ICCP`) and animation (`ANIM`, `ANMF` with its own sub-chunks) are
//! copied; `EXIF`, `XMP ` and unknown chunks go, and the VP8X flags and sizes are fixed up.

use super::{exif_orientation, orientation_tiff};

const XMP_FLAG: u8 = 0x04;
const EXIF_FLAG: u8 = 0x08;

struct Chunk<'a> {
    fourcc: &'a [u8],
    data: &'a [u8],
}

/// The chunks in `b` (each padded to an even length); `None` if one is cut off.
fn chunks(mut b: &[u8]) -> Option<Vec<Chunk<'_>>> {
    let mut out = Vec::new();
    while !b.is_empty() {
        let fourcc = b.get(0..4)?;
        let len = usize::try_from(u32::from_le_bytes(b.get(4..8)?.try_into().ok()?)).ok()?;
        let data = b.get(8..8usize.checked_add(len)?)?;
        out.push(Chunk { fourcc, data });
        // A missing pad byte at the very end is tolerated (common, and harmless).
        b = b.get(8 + len + (len & 1)..).unwrap_or_default();
    }
    Some(out)
}

fn put(out: &mut Vec<u8>, fourcc: &[u8], data: &[u8]) {
    out.extend_from_slice(fourcc);
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(data);
    if data.len() % 2 == 1 {
        out.push(0);
    }
}

pub(super) fn strip(b: &[u8]) -> Option<Vec<u8>> {
    if b.len() < 12 || &b[0..4] != b"RIFF" || &b[8..12] != b"WEBP" {
        return None;
    }
    let riff_len = usize::try_from(u32::from_le_bytes(b[4..8].try_into().ok()?)).ok()?;
    // Bytes after the RIFF container are not part of the image: dropped.
    let body = b.get(12..8usize.checked_add(riff_len)?)?;
    let all = chunks(body)?;
    let orientation = all.iter().find(|c| c.fourcc == b"EXIF").and_then(|c| {
        // The chunk holds a TIFF block; some writers put JPEG's "Exif\0\0" before it.
        exif_orientation(c.data.strip_prefix(b"Exif\0\0").unwrap_or(c.data))
    });
    let extended = all.iter().any(|c| c.fourcc == b"VP8X");
    // EXIF only exists in the extended format; an orientation is kept only there.
    let exif = if extended { orientation_tiff(orientation) } else { None };

    let mut inner = Vec::with_capacity(body.len());
    for c in &all {
        match c.fourcc {
            b"VP8X" => {
                let mut d = c.data.to_vec();
                if let Some(flags) = d.first_mut() {
                    *flags &= !(XMP_FLAG | EXIF_FLAG);
                    if exif.is_some() {
                        *flags |= EXIF_FLAG;
                    }
                }
                put(&mut inner, c.fourcc, &d);
            }
            b"ANMF" => put(&mut inner, c.fourcc, &frame(c.data)?),
            b"ICCP" | b"ANIM" | b"ALPH" | b"VP8 " | b"VP8L" => put(&mut inner, c.fourcc, c.data),
            _ => {}
        }
    }
    if let Some(tiff) = &exif {
        put(&mut inner, b"EXIF", tiff);
    }
    let mut out = Vec::with_capacity(inner.len() + 12);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&((inner.len() + 4) as u32).to_le_bytes());
    out.extend_from_slice(b"WEBP");
    out.extend_from_slice(&inner);
    Some(out)
}

/// An animation frame: its 16-byte header, then only its image chunks.
fn frame(data: &[u8]) -> Option<Vec<u8>> {
    let (head, rest) = (data.get(..16)?, data.get(16..)?);
    let mut out = head.to_vec();
    for c in chunks(rest)? {
        if matches!(c.fourcc, b"ALPH" | b"VP8 " | b"VP8L") {
            put(&mut out, c.fourcc, c.data);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use crate::strip_metadata;
    use crate::testdata::*;
    use image::ImageDecoder;

    #[test]
    fn webp_loses_exif_and_xmp_but_keeps_its_orientation_and_pixels() {
        let photo = webp_with_exif(Some(6));
        assert!(contains(&photo, GPS_MARKER) && contains(&photo, b"XMP ") && contains(&photo, b"<x:xmpmeta"));
        let clean = strip_metadata(&photo).expect("walkable").expect("removed");
        assert!(!contains(&clean, GPS_MARKER));
        assert!(!contains(&clean, b"XMP ") && !contains(&clean, b"xmpmeta"));
        assert!(!contains(&clean, b"trailing"), "bytes after the RIFF container");
        let mut d = image::codecs::webp::WebPDecoder::new(std::io::Cursor::new(&clean)).expect("decoder");
        assert_eq!(d.orientation().expect("orientation"), image::metadata::Orientation::Rotate90);
        let a = image::load_from_memory(&clean).expect("decodes").to_rgba8();
        let b = image::load_from_memory(&webp_lossless(6, 4)).expect("decodes").to_rgba8();
        assert_eq!(a, b);
        assert_eq!(u32::from_le_bytes(clean[4..8].try_into().expect("4")) as usize, clean.len() - 8, "RIFF size fixed");
    }

    #[test]
    fn without_an_orientation_no_exif_flag_is_left() {
        let clean = strip_metadata(&webp_with_exif(None)).expect("walkable").expect("removed");
        assert!(!contains(&clean, b"EXIF"));
        let vp8x = clean.windows(4).position(|w| w == b"VP8X").expect("VP8X");
        assert_eq!(clean[vp8x + 8] & 0x0C, 0, "EXIF and XMP flags cleared");
        image::load_from_memory(&clean).expect("decodes");
    }
}
