//! PNG (and APNG): chunks that change how the image is drawn are copied; the rest (text,
//! `eXIf`, `tIME`, private chunks such as C2PA or Apple's) and anything after `IEND` goes.

use super::{exif_orientation, orientation_tiff};

const SIGNATURE: &[u8; 8] = b"\x89PNG\r\n\x1a\n";

/// Critical chunks, colour and transparency, physical size, animation (APNG).
const KEEP: [&[u8; 4]; 20] = [
    b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"cHRM", b"gAMA", b"iCCP", b"sBIT", b"sRGB", b"cICP", b"mDCV", b"cLLI",
    b"bKGD", b"hIST", b"pHYs", b"sPLT", b"acTL", b"fcTL", b"fdAT",
];

pub(super) fn strip(b: &[u8]) -> Option<Vec<u8>> {
    if !b.starts_with(SIGNATURE) {
        return None;
    }
    // First pass: the orientation, from an `eXIf` chunk (it may sit anywhere before IEND).
    let chunks = walk(b)?;
    let orientation = chunks.iter().find(|c| &c[4..8] == b"eXIf").and_then(|c| exif_orientation(&c[8..c.len() - 4]));
    let mut out = Vec::with_capacity(b.len());
    out.extend_from_slice(SIGNATURE);
    let mut placed = false;
    for c in chunks {
        let kind = &c[4..8];
        if kind == b"IDAT" && !placed {
            if let Some(tiff) = orientation_tiff(orientation) {
                put_chunk(&mut out, b"eXIf", &tiff);
            }
            placed = true;
        }
        if KEEP.iter().any(|k| &k[..] == kind) {
            out.extend_from_slice(c);
        }
    }
    Some(out)
}

/// The chunks (length, type, data, CRC) up to and including `IEND`; `None` if one is cut off.
fn walk(b: &[u8]) -> Option<Vec<&[u8]>> {
    let mut i = SIGNATURE.len();
    let mut out = Vec::new();
    while i < b.len() {
        let len = usize::try_from(u32::from_be_bytes(b.get(i..i + 4)?.try_into().ok()?)).ok()?;
        let end = i.checked_add(12)?.checked_add(len)?;
        let chunk = b.get(i..end)?;
        out.push(chunk);
        i = end;
        if &chunk[4..8] == b"IEND" {
            break;
        }
    }
    Some(out)
}

fn put_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let start = out.len();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let crc = crc32(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for b in data {
        crc ^= u32::from(*b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use crate::strip_metadata;
    use crate::testdata::*;
    use image::ImageDecoder;

    #[test]
    fn png_text_exif_private_chunks_and_trailers_go() {
        let plain = png(3, 3);
        let tagged = png_with_chunks(
            &plain,
            &[(b"tEXt", b"Location\0home"), (b"iTXt", b"XML:com.adobe.xmp\0\0\0\0\0<x:xmpmeta/>"), (b"caBX", b"c2pa-claim"), (b"tIME", b"\x07\xe8\x01\x01\0\0\0")],
        );
        let mut trailing = tagged.clone();
        trailing.extend_from_slice(b"after-iend");
        let clean = strip_metadata(&trailing).expect("walkable").expect("removed");
        assert_eq!(clean, plain);
        assert_eq!(strip_metadata(&plain), Ok(None));
    }

    #[test]
    fn png_exif_becomes_an_orientation_only_block() {
        let plain = png(4, 2);
        let tagged = png_with_chunks(&plain, &[(b"eXIf", &gps_exif_tiff(Some(6)))]);
        let clean = strip_metadata(&tagged).expect("walkable").expect("removed");
        assert!(!contains(&clean, GPS_MARKER));
        let mut d = image::codecs::png::PngDecoder::new(std::io::Cursor::new(&clean)).expect("decoder");
        assert_eq!(d.orientation().expect("orientation"), image::metadata::Orientation::Rotate90);
        assert_eq!(image::load_from_memory(&clean).expect("decodes").to_rgb8(), image::load_from_memory(&plain).expect("decodes").to_rgb8());
    }

    #[test]
    fn animation_chunks_stay() {
        let plain = png(2, 2);
        let apng = png_with_chunks(&plain, &[(b"acTL", &[0, 0, 0, 1, 0, 0, 0, 0])]);
        assert_eq!(strip_metadata(&apng), Ok(None));
    }
}
