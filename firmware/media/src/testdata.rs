//! Test images, made in code: real encodings from the `image` crate, then given the metadata
//! phones and editors write (EXIF with a GPS block, XMP, MPF second images, a Motion Photo's
//! MP4, comments, trailers). Shared by this crate's tests and the daemon's (feature
//! `testdata`), so both check the same files.

use image::codecs::gif::{GifEncoder, Repeat};
use image::codecs::jpeg::JpegEncoder;
use image::codecs::webp::WebPEncoder;
use image::{AnimationDecoder, Delay, DynamicImage, Frame, ImageEncoder, ImageFormat, Rgb, RgbImage, Rgba, RgbaImage};
use std::io::Cursor;

/// Written into every location block below: a file still holding it still says where.
pub const GPS_MARKER: &[u8] = b"SECRET-GPS-52.5200N-13.4050E";
/// Written into every comment below.
pub const COMMENT_MARKER: &[u8] = b"SECRET-COMMENT-taken-at-home";

pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

fn gradient(w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| Rgb([(x * 255 / w.max(1)) as u8, (y * 255 / h.max(1)) as u8, 90]))
}

/// A baseline JPEG, quality 90.
pub fn jpeg(w: u32, h: u32) -> Vec<u8> {
    let img = gradient(w, h);
    let mut v = Vec::new();
    JpegEncoder::new_with_quality(&mut v, 90).write_image(img.as_raw(), w, h, image::ExtendedColorType::Rgb8).expect("jpeg");
    v
}

pub fn png(w: u32, h: u32) -> Vec<u8> {
    let mut v = Vec::new();
    DynamicImage::ImageRgb8(gradient(w, h)).write_to(&mut Cursor::new(&mut v), ImageFormat::Png).expect("png");
    v
}

/// A lossless WebP in the simple format (one `VP8L` chunk).
pub fn webp_lossless(w: u32, h: u32) -> Vec<u8> {
    let img = DynamicImage::ImageRgb8(gradient(w, h)).to_rgba8();
    let mut v = Vec::new();
    WebPEncoder::new_lossless(&mut v).write_image(img.as_raw(), w, h, image::ExtendedColorType::Rgba8).expect("webp");
    v
}

pub fn gif(w: u32, h: u32) -> Vec<u8> {
    let mut v = Vec::new();
    GifEncoder::new(&mut v).encode_frame(Frame::new(RgbaImage::from_pixel(w, h, Rgba([200, 10, 10, 255])))).expect("gif");
    v
}

/// Two frames (red, blue), looping forever.
pub fn animated_gif() -> Vec<u8> {
    let mut v = Vec::new();
    {
        let mut enc = GifEncoder::new(&mut v);
        enc.set_repeat(Repeat::Infinite).expect("repeat");
        let frames = [Rgba([255, 0, 0, 255]), Rgba([0, 0, 255, 255])]
            .map(|c| Frame::from_parts(RgbaImage::from_pixel(16, 8, c), 0, 0, Delay::from_numer_denom_ms(100, 1)));
        enc.encode_frames(frames).expect("gif");
    }
    v
}

pub fn gif_frames(b: &[u8]) -> Vec<Frame> {
    image::codecs::gif::GifDecoder::new(Cursor::new(b)).expect("gif").into_frames().collect_frames().expect("frames")
}

/// A little-endian TIFF block as a phone writes it: IFD0 with the orientation (if any) and a
/// GPS IFD (latitude, and [`GPS_MARKER`] as the processing method).
pub fn gps_exif_tiff(orientation: Option<u16>) -> Vec<u8> {
    let entry = |t: &mut Vec<u8>, tag: u16, kind: u16, count: u32, value: [u8; 4]| {
        t.extend_from_slice(&tag.to_le_bytes());
        t.extend_from_slice(&kind.to_le_bytes());
        t.extend_from_slice(&count.to_le_bytes());
        t.extend_from_slice(&value);
    };
    let n0 = 1 + u16::from(orientation.is_some());
    let gps = 8 + 2 + 12 * u32::from(n0) + 4;
    let lat = gps + 2 + 3 * 12 + 4;
    let method = lat + 24;
    let mut t = b"II\x2a\0\x08\0\0\0".to_vec();
    t.extend_from_slice(&n0.to_le_bytes());
    if let Some(o) = orientation {
        let [a, b] = o.to_le_bytes();
        entry(&mut t, 0x0112, 3, 1, [a, b, 0, 0]);
    }
    entry(&mut t, 0x8825, 4, 1, gps.to_le_bytes());
    t.extend_from_slice(&0u32.to_le_bytes());
    t.extend_from_slice(&3u16.to_le_bytes());
    entry(&mut t, 0x0001, 2, 2, *b"N\0\0\0");
    entry(&mut t, 0x0002, 5, 3, lat.to_le_bytes());
    entry(&mut t, 0x001B, 7, GPS_MARKER.len() as u32, method.to_le_bytes());
    t.extend_from_slice(&0u32.to_le_bytes());
    for (num, den) in [(52u32, 1u32), (31, 1), (12, 1)] {
        t.extend_from_slice(&num.to_le_bytes());
        t.extend_from_slice(&den.to_le_bytes());
    }
    t.extend_from_slice(GPS_MARKER);
    t
}

fn jpeg_segment(out: &mut Vec<u8>, marker: u8, body: &[u8]) {
    out.extend_from_slice(&[0xFF, marker]);
    out.extend_from_slice(&((body.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(body);
}

/// `plain` with a phone's EXIF (orientation, GPS) and a comment ("a comment") after SOI.
pub fn jpeg_with_exif(plain: &[u8], orientation: Option<u16>) -> Vec<u8> {
    let mut body = b"Exif\0\0".to_vec();
    body.extend_from_slice(&gps_exif_tiff(orientation));
    let mut out = plain[..2].to_vec();
    jpeg_segment(&mut out, 0xE1, &body);
    jpeg_segment(&mut out, 0xFE, b"a comment");
    out.extend_from_slice(&plain[2..]);
    out
}

/// An MPF (CIPA DC-007) file as cameras write for depth maps and previews: a 32×16 primary
/// image with an APP2 MPF index, followed after its end marker by a second JPEG that carries
/// its own EXIF with the GPS block.
pub fn mpf_jpeg() -> Vec<u8> {
    let primary = jpeg(32, 16);
    let secondary = jpeg_with_exif(&jpeg(16, 8), None);
    // "MPF\0", then a TIFF header and an MP index IFD: version, number of images, entries.
    let mut mpf = b"MPF\0II\x2a\0\x08\0\0\0".to_vec();
    mpf.extend_from_slice(&2u16.to_le_bytes());
    mpf.extend_from_slice(&[0x00, 0xB0, 7, 0, 4, 0, 0, 0]);
    mpf.extend_from_slice(b"0100");
    mpf.extend_from_slice(&[0x01, 0xB0, 4, 0, 1, 0, 0, 0]);
    mpf.extend_from_slice(&2u32.to_le_bytes());
    mpf.extend_from_slice(&0u32.to_le_bytes());
    let mut out = primary[..2].to_vec();
    jpeg_segment(&mut out, 0xE2, &mpf);
    out.extend_from_slice(&primary[2..]);
    out.extend_from_slice(&secondary);
    out
}

/// A Motion Photo (Google's format, also Samsung's): a 32×16 JPEG whose XMP says
/// `Camera:MotionPhoto` (and holds a location), with an MP4 appended after the end marker.
pub fn motion_photo() -> Vec<u8> {
    let primary = jpeg(32, 16);
    let mp4 = {
        let mut v = Vec::new();
        v.extend_from_slice(&24u32.to_be_bytes());
        v.extend_from_slice(b"ftypmp42\0\0\0\0isommp42");
        let payload = b"video frames of the living room";
        v.extend_from_slice(&((payload.len() + 8) as u32).to_be_bytes());
        v.extend_from_slice(b"mdat");
        v.extend_from_slice(payload);
        v
    };
    let xmp = format!(
        "http://ns.adobe.com/xap/1.0/\0<x:xmpmeta xmlns:x=\"adobe:ns:meta/\"><rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\">\
         <rdf:Description xmlns:Camera=\"http://ns.google.com/photos/1.0/camera/\" xmlns:exif=\"http://ns.adobe.com/exif/1.0/\" \
         Camera:MotionPhoto=\"1\" Camera:MotionPhotoVersion=\"1\" Camera:MotionPhotoPresentationTimestampUs=\"0\" \
         exif:GPSLatitude=\"{}\"><Container:Directory><rdf:Seq><rdf:li Item:Mime=\"video/mp4\" Item:Semantic=\"MotionPhoto\" \
         Item:Length=\"{}\"/></rdf:Seq></Container:Directory></rdf:Description></rdf:RDF></x:xmpmeta>",
        String::from_utf8_lossy(GPS_MARKER),
        mp4.len()
    );
    let mut out = primary[..2].to_vec();
    jpeg_segment(&mut out, 0xE1, xmp.as_bytes());
    out.extend_from_slice(&primary[2..]);
    out.extend_from_slice(&mp4);
    out
}

fn riff_chunk(out: &mut Vec<u8>, fourcc: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(fourcc);
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(data);
    if data.len() % 2 == 1 {
        out.push(0);
    }
}

/// A 6×4 extended-format WebP (VP8X + VP8L) with an `EXIF` chunk (orientation, GPS) and an
/// `XMP ` chunk, and bytes after the RIFF container ("trailing").
pub fn webp_with_exif(orientation: Option<u16>) -> Vec<u8> {
    let simple = webp_lossless(6, 4);
    let vp8l = &simple[12..];
    assert_eq!(&vp8l[..4], b"VP8L", "the encoder writes the simple format");
    let mut vp8x = vec![0x08 | 0x04, 0, 0, 0];
    vp8x.extend_from_slice(&5u32.to_le_bytes()[..3]);
    vp8x.extend_from_slice(&3u32.to_le_bytes()[..3]);
    let mut body = b"WEBP".to_vec();
    riff_chunk(&mut body, b"VP8X", &vp8x);
    body.extend_from_slice(vp8l);
    riff_chunk(&mut body, b"EXIF", &gps_exif_tiff(orientation));
    riff_chunk(&mut body, b"XMP ", b"<x:xmpmeta xmlns:x=\"adobe:ns:meta/\">home</x:xmpmeta>");
    let mut out = b"RIFF".to_vec();
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&body);
    out.extend_from_slice(b"trailing bytes");
    out
}

/// `plain` (a GIF) with a comment extension ([`COMMENT_MARKER`]) and an XMP application
/// extension after its colour table, and bytes after its trailer.
pub fn gif_with_comment(plain: &[u8]) -> Vec<u8> {
    let packed = plain[10];
    let at = 13 + if packed & 0x80 != 0 { 3 << ((packed & 7) + 1) } else { 0 };
    let mut out = plain[..at].to_vec();
    out.extend_from_slice(&[0x21, 0xFE, COMMENT_MARKER.len() as u8]);
    out.extend_from_slice(COMMENT_MARKER);
    out.push(0);
    out.extend_from_slice(&[0x21, 0xFF, 11]);
    out.extend_from_slice(b"XMP DataXMP");
    let xmp = b"<x:xmpmeta xmlns:x=\"adobe:ns:meta/\">home</x:xmpmeta>";
    out.push(xmp.len() as u8);
    out.extend_from_slice(xmp);
    out.push(0);
    out.extend_from_slice(&plain[at..]);
    out.extend_from_slice(b"after the trailer");
    out
}

/// `plain` (a PNG) with these chunks inserted after IHDR.
pub fn png_with_chunks(plain: &[u8], chunks: &[(&[u8; 4], &[u8])]) -> Vec<u8> {
    let mut out = plain[..33].to_vec();
    for (kind, data) in chunks {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let start = out.len();
        out.extend_from_slice(*kind);
        out.extend_from_slice(data);
        let crc = crc32(&out[start..]);
        out.extend_from_slice(&crc.to_be_bytes());
    }
    out.extend_from_slice(&plain[33..]);
    out
}

/// PNG's CRC-32 (kept here so these images do not depend on the code they test; the other
/// tests that build PNGs by hand use it too).
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for b in data {
        crc ^= u32::from(*b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}
