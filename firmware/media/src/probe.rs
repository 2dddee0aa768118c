//! What decoding an image will cost, from its header alone: its size, and an estimate of the
//! most memory a decode (plus the small copy we make of it) holds at once. Callers reserve
//! that much of a shared budget before decoding, so the sum of every decode in flight stays
//! bounded however many uploads arrive together.
//!
//! The estimate follows what the codecs behind `image` allocate:
//! - the decoded pixels (`total_bytes`, in the decoder's own colour type);
//! - JPEG: a copy of the whole input (`image`'s decoder reads it into a buffer), and for
//!   progressive or multi-scan files the DCT coefficients of every component (2 bytes a
//!   sample, after subsampling) that `zune-jpeg` keeps until the last scan;
//! - GIF: a frame buffer next to the canvas (a first frame smaller than the screen);
//! - WebP: the bitstream read into memory, and the YUV or ARGB planes before conversion;
//! - the copy: a resized image, its rotation, its 8-bit conversions and the encoded output,
//!   at most 32 bytes a pixel of the copy.
//!
//! Reading the header allocates nothing in proportion to the image (the JPEG header is walked
//! here, since `image`'s JPEG decoder copies the whole file first).

use crate::{sniff, ImageKind, MediaError, MAX_SIDE};
use image::{ImageDecoder, ImageReader, Limits};
use std::io::{BufRead, Cursor, Read, Seek, SeekFrom};

/// An image's size and what decoding it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    pub kind: ImageKind,
    pub width: u32,
    pub height: u32,
    /// The decoded pixels.
    pub pixel_bytes: u64,
    /// The codec's own buffers (input copies, coefficients, frame buffers).
    pub codec_bytes: u64,
    /// The file itself.
    pub input_bytes: u64,
}

impl Probe {
    /// The most memory decoding this image into a copy of at most `side` pixels on its longer
    /// side holds at once, the input included.
    pub fn peak_bytes(&self, side: u32) -> u64 {
        let side = u64::from(side.min(self.width.max(self.height)));
        self.input_bytes + self.codec_bytes + self.pixel_bytes + side * side * 32
    }
}

/// Read the header of an image in memory. See [`probe_reader`].
pub fn probe(bytes: &[u8]) -> Result<Probe, MediaError> {
    probe_reader(Cursor::new(bytes), bytes.len() as u64)
}

/// Read the header: the kind, the size, the cost. Refuses images over [`MAX_SIDE`] on a side.
/// Reads only headers from `r` (seeking over everything else), so a file on disk can be
/// measured before any of it is loaded. `len` is the whole file's length.
pub fn probe_reader<R: BufRead + Seek>(mut r: R, len: u64) -> Result<Probe, MediaError> {
    let mut head = [0u8; 32];
    let n = read_up_to(&mut r, &mut head).map_err(io_error)?;
    let kind = sniff(&head[..n]).ok_or(MediaError::NotAnImage)?;
    r.seek(SeekFrom::Start(0)).map_err(io_error)?;
    let input_bytes = len;
    let (width, height, pixel_bytes, codec_bytes) = match kind {
        ImageKind::Jpeg => {
            let f = jpeg_frame(&mut r).ok_or_else(|| MediaError::Decode("the JPEG header is damaged".into()))?;
            check_size(f.width, f.height)?;
            let pixels = u64::from(f.width) * u64::from(f.height) * u64::from(f.channels());
            (f.width, f.height, pixels, input_bytes + f.coefficient_bytes())
        }
        _ => {
            let mut reader = ImageReader::new(r);
            reader.set_format(kind.format());
            let mut l = Limits::default();
            l.max_image_width = Some(MAX_SIDE);
            l.max_image_height = Some(MAX_SIDE);
            // Only headers and metadata chunks are read here.
            l.max_alloc = Some(16 << 20);
            reader.limits(l);
            let decoder = reader.into_decoder().map_err(|e| match e {
                image::ImageError::Limits(_) => too_large_from_header(&head[..n], kind),
                other => crate::decode_error(other),
            })?;
            let (w, h) = decoder.dimensions();
            check_size(w, h)?;
            let pixels = decoder.total_bytes();
            let codec = match kind {
                ImageKind::Gif => pixels,
                ImageKind::WebP => pixels + input_bytes,
                _ => 0,
            };
            (w, h, pixels, codec)
        }
    };
    Ok(Probe { kind, width, height, pixel_bytes, codec_bytes, input_bytes })
}

fn io_error(e: std::io::Error) -> MediaError {
    MediaError::Decode(e.to_string())
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

fn check_size(w: u32, h: u32) -> Result<(), MediaError> {
    if w > MAX_SIDE || h > MAX_SIDE {
        return Err(MediaError::TooLarge { width: w, height: h });
    }
    if w == 0 || h == 0 {
        return Err(MediaError::Decode("the image is empty".into()));
    }
    Ok(())
}

/// The decoder refused the header for its limits; say which size it had when we can read it.
fn too_large_from_header(bytes: &[u8], kind: ImageKind) -> MediaError {
    let be32 = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    let le16 = |b: &[u8]| u32::from(u16::from_le_bytes([b[0], b[1]]));
    match kind {
        ImageKind::Png if bytes.len() >= 24 => MediaError::TooLarge { width: be32(&bytes[16..20]), height: be32(&bytes[20..24]) },
        ImageKind::Gif if bytes.len() >= 10 => MediaError::TooLarge { width: le16(&bytes[6..8]), height: le16(&bytes[8..10]) },
        _ => MediaError::TooMuchMemory,
    }
}

/// A JPEG's frame header, and whether its first scan holds every component.
#[derive(Debug, Clone, PartialEq, Eq)]
struct JpegFrame {
    width: u32,
    height: u32,
    /// (horizontal, vertical) sampling factor of each component.
    sampling: Vec<(u32, u32)>,
    progressive: bool,
    /// The first scan does not hold every component (so all coefficients are kept).
    multi_scan: bool,
}

impl JpegFrame {
    /// What `image` decodes it to: grey, or RGB (YCbCr, CMYK and YCCK are converted).
    fn channels(&self) -> u32 {
        if self.sampling.len() == 1 { 1 } else { 3 }
    }

    /// The coefficient buffers of a progressive or multi-scan decode (none for baseline, which
    /// goes one row of blocks at a time).
    fn coefficient_bytes(&self) -> u64 {
        if !self.progressive && !self.multi_scan {
            return 0;
        }
        let hmax = self.sampling.iter().map(|s| s.0).max().unwrap_or(1).max(1);
        let vmax = self.sampling.iter().map(|s| s.1).max().unwrap_or(1).max(1);
        let mcus_x = u64::from(self.width.div_ceil(8 * hmax));
        let mcus_y = u64::from(self.height.div_ceil(8 * vmax));
        self.sampling.iter().map(|(h, v)| mcus_x * mcus_y * u64::from(h * v) * 64 * 2).sum()
    }
}

/// Walk the segments to the frame header (SOFn) and the first scan header, reading only
/// marker headers and those two bodies.
fn jpeg_frame(r: &mut (impl BufRead + Seek)) -> Option<JpegFrame> {
    let mut soi = [0u8; 2];
    r.read_exact(&mut soi).ok()?;
    if soi != [0xFF, 0xD8] {
        return None;
    }
    let mut frame: Option<JpegFrame> = None;
    loop {
        let mut b = [0u8; 1];
        // To the next marker: stray bytes and fill bytes are skipped, as decoders do.
        r.read_exact(&mut b).ok()?;
        if b[0] != 0xFF {
            continue;
        }
        let mut marker = 0xFF;
        while marker == 0xFF {
            r.read_exact(&mut b).ok()?;
            marker = b[0];
        }
        if marker == 0 || marker == 0x01 || (0xD0..=0xD7).contains(&marker) {
            continue;
        }
        if marker == 0xD9 {
            return frame;
        }
        let mut l = [0u8; 2];
        r.read_exact(&mut l).ok()?;
        let len = usize::from(u16::from_be_bytes(l)).checked_sub(2)?;
        let is_sof = matches!(marker, 0xC0..=0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF);
        if (is_sof && frame.is_none()) || marker == 0xDA {
            let mut body = vec![0u8; len];
            r.read_exact(&mut body).ok()?;
            if marker == 0xDA {
                let mut f = frame?;
                f.multi_scan = usize::from(*body.first()?) < f.sampling.len();
                return Some(f);
            }
            let height = u32::from(u16::from_be_bytes([*body.get(1)?, *body.get(2)?]));
            let width = u32::from(u16::from_be_bytes([*body.get(3)?, *body.get(4)?]));
            let n = usize::from(*body.get(5)?);
            let sampling = (0..n)
                .map(|k| body.get(6 + 3 * k + 1).map(|s| (u32::from(s >> 4).max(1), u32::from(s & 15).max(1))))
                .collect::<Option<Vec<_>>>()?;
            let progressive = matches!(marker, 0xC2 | 0xC6 | 0xCA | 0xCE);
            frame = Some(JpegFrame { width, height, sampling, progressive, multi_scan: false });
        } else {
            r.seek_relative(len as i64).ok()?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata::*;

    #[test]
    fn a_jpeg_header_gives_its_size_and_cost() {
        let j = jpeg(640, 480);
        let p = probe(&j).expect("probe");
        assert_eq!((p.kind, p.width, p.height), (ImageKind::Jpeg, 640, 480));
        assert_eq!(p.pixel_bytes, 640 * 480 * 3);
        assert_eq!(p.codec_bytes, j.len() as u64, "baseline: only the input copy");
        let f = jpeg_frame(&mut Cursor::new(&j)).expect("frame");
        let progressive = JpegFrame { progressive: true, ..f };
        // `image` writes 4:4:4: three samples a pixel, 2 bytes each.
        assert_eq!(progressive.coefficient_bytes(), 640 * 480 * 3 * 2);
        // 4:2:0 (what cameras write): 1.5 samples a pixel.
        let subsampled = JpegFrame { sampling: vec![(2, 2), (1, 1), (1, 1)], ..progressive };
        assert_eq!(subsampled.coefficient_bytes(), 640 * 480 * 3 / 2 * 2);
    }

    #[test]
    fn other_headers_give_their_decoded_size() {
        let p = probe(&png(300, 200)).expect("probe");
        assert_eq!((p.width, p.height, p.pixel_bytes, p.codec_bytes), (300, 200, 300 * 200 * 3, 0));
        let g = probe(&gif(10, 20)).expect("probe");
        assert_eq!((g.width, g.height, g.pixel_bytes, g.codec_bytes), (10, 20, 800, 800));
        let w = probe(&webp_lossless(6, 4)).expect("probe");
        assert_eq!((w.width, w.height), (6, 4));
        assert!(w.peak_bytes(400) >= w.pixel_bytes + w.input_bytes);
        // The copy's share is bounded by the copy's size.
        assert_eq!(p.peak_bytes(100) - p.peak_bytes(1), 100 * 100 * 32 - 32);
    }

    #[test]
    fn sizes_over_the_limit_are_refused_from_the_header() {
        let mut j = jpeg(8, 8);
        let sof = j.windows(2).position(|w| w == [0xFF, 0xC0]).expect("SOF0");
        j[sof + 5..sof + 7].copy_from_slice(&20_000u16.to_be_bytes());
        assert_eq!(probe(&j), Err(MediaError::TooLarge { width: 8, height: 20_000 }));
        assert_eq!(probe(b"nope"), Err(MediaError::NotAnImage));
    }
}
