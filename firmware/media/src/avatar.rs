//! Avatars: a square cut out of an uploaded picture, made into small square copies.
//!
//! The client sends the original and the square it chose (in the picture's pixels as shown,
//! that is after its EXIF orientation); the box decodes, cuts, scales and re-encodes, so what
//! is served is always the box's own square image of the asked side, with no metadata.

use crate::{decode, encode_as, has_visible_alpha, MediaError, Probe, Processed};
use image::imageops::FilterType;

/// The smallest square we cut (a smaller one would be mostly blur at 256 px).
pub const MIN_CROP: u32 = 16;

/// A square in the picture's pixels as shown (after orientation): its top-left corner and side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Crop {
    pub x: u32,
    pub y: u32,
    pub side: u32,
}

/// What cutting an avatar out of this picture holds at once: the decode and copy of
/// [`Probe::peak_bytes`], plus one more picture's pixels (turning it upright, then the cut
/// square, are copies of at most the picture's size).
pub fn avatar_peak_bytes(p: &Probe, side: u32) -> u64 {
    p.peak_bytes(side) + p.pixel_bytes
}

/// Cut `crop` out of the picture and make one copy per entry of `sides` (each exactly
/// `side`×`side`; a small square is enlarged), all PNG if one shows transparency, else all
/// JPEG; of an animation the first frame. A square not inside the picture is [`MediaError::BadCrop`].
pub fn avatar(bytes: &[u8], crop: Crop, sides: &[u32], max_alloc: u64) -> Result<Vec<Processed>, MediaError> {
    let largest = sides.iter().copied().max().unwrap_or(1).max(1);
    let (mut img, orientation) = decode(bytes, largest, max_alloc)?;
    img.apply_orientation(orientation);
    let (w, h) = (img.width(), img.height());
    let inside = u64::from(crop.x) + u64::from(crop.side) <= u64::from(w) && u64::from(crop.y) + u64::from(crop.side) <= u64::from(h);
    if crop.side < MIN_CROP || !inside {
        return Err(MediaError::BadCrop { width: w, height: h });
    }
    let square = img.crop_imm(crop.x, crop.y, crop.side, crop.side);
    drop(img);
    let copies: Vec<_> = sides
        .iter()
        .map(|&side| {
            let side = side.max(1);
            if side < crop.side {
                square.thumbnail_exact(side, side)
            } else {
                square.resize_exact(side, side, FilterType::CatmullRom)
            }
        })
        .collect();
    drop(square);
    // One format for every copy (they share a name): PNG if any shows transparency.
    let alpha = copies.iter().any(has_visible_alpha);
    let mut out = Vec::with_capacity(copies.len());
    for copy in &copies {
        out.push(encode_as(copy, alpha, w, h)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{probe, sniff, ImageKind};
    use image::codecs::gif::GifEncoder;
    use image::{DynamicImage, Delay, Frame, ImageFormat, Rgb, RgbImage, Rgba, RgbaImage};
    use std::io::Cursor;

    const M: u64 = 256 << 20;

    fn png_of(img: &DynamicImage) -> Vec<u8> {
        let mut v = Vec::new();
        img.write_to(&mut Cursor::new(&mut v), ImageFormat::Png).expect("png");
        v
    }

    /// Left half red, right half blue.
    fn halves(w: u32, h: u32) -> Vec<u8> {
        png_of(&DynamicImage::ImageRgb8(RgbImage::from_fn(w, h, |x, _| if x < w / 2 { Rgb([255, 0, 0]) } else { Rgb([0, 0, 255]) })))
    }

    #[test]
    fn the_square_asked_for_becomes_each_side() {
        let src = halves(400, 200);
        // The right half's square: all blue.
        let out = avatar(&src, Crop { x: 200, y: 0, side: 200 }, &[256, 64], M).expect("avatar");
        assert_eq!(out.iter().map(|p| (p.width, p.height, p.content_type)).collect::<Vec<_>>(), [(256, 256, "image/jpeg"), (64, 64, "image/jpeg")]);
        for p in &out {
            assert_eq!(sniff(&p.bytes), Some(ImageKind::Jpeg));
            let d = image::load_from_memory(&p.bytes).expect("decodes").to_rgb8();
            let c = d.get_pixel(d.width() / 2, d.height() / 2).0;
            assert!(c[2] > 200 && c[0] < 50, "blue, got {c:?}");
        }
        // The left one: red.
        let out = avatar(&src, Crop { x: 0, y: 0, side: 200 }, &[64], M).expect("avatar");
        let c = image::load_from_memory(&out[0].bytes).expect("decodes").to_rgb8().get_pixel(32, 32).0;
        assert!(c[0] > 200 && c[2] < 50, "red, got {c:?}");
    }

    #[test]
    fn a_square_outside_the_picture_or_too_small_is_refused() {
        let src = halves(100, 80);
        for c in [
            Crop { x: 0, y: 0, side: 81 },
            Crop { x: 30, y: 0, side: 80 },
            Crop { x: u32::MAX, y: u32::MAX, side: u32::MAX },
            Crop { x: 0, y: 0, side: MIN_CROP - 1 },
            Crop { x: 0, y: 0, side: 0 },
        ] {
            assert_eq!(avatar(&src, c, &[64], M), Err(MediaError::BadCrop { width: 100, height: 80 }), "{c:?}");
        }
        assert!(avatar(&src, Crop { x: 20, y: 0, side: 80 }, &[64], M).is_ok());
    }

    #[test]
    fn transparency_stays_and_an_animation_gives_its_first_frame() {
        let t = RgbaImage::from_pixel(50, 50, Rgba([0, 0, 0, 0]));
        let out = avatar(&png_of(&DynamicImage::ImageRgba8(t)), Crop { x: 0, y: 0, side: 50 }, &[64], M).expect("avatar");
        assert_eq!(out[0].content_type, "image/png");

        let mut v = Vec::new();
        {
            let mut enc = GifEncoder::new(&mut v);
            let red = RgbaImage::from_pixel(40, 40, Rgba([255, 0, 0, 255]));
            let blue = RgbaImage::from_pixel(40, 40, Rgba([0, 0, 255, 255]));
            enc.encode_frames([red, blue].map(|f| Frame::from_parts(f, 0, 0, Delay::from_numer_denom_ms(100, 1)))).expect("gif");
        }
        let out = avatar(&v, Crop { x: 0, y: 0, side: 40 }, &[64], M).expect("avatar");
        let c = image::load_from_memory(&out[0].bytes).expect("decodes").to_rgb8().get_pixel(32, 32).0;
        assert!(c[0] > 200 && c[2] < 60, "the first (red) frame, got {c:?}");
    }

    #[test]
    fn the_budget_asked_for_is_the_one_needed() {
        let src = halves(600, 600);
        let p = probe(&src).expect("probe");
        let need = avatar_peak_bytes(&p, 256);
        assert!(need > p.peak_bytes(256));
        assert_eq!(avatar(&src, Crop { x: 0, y: 0, side: 600 }, &[256], p.peak_bytes(256) - 1), Err(MediaError::TooMuchMemory));
        assert!(avatar(&src, Crop { x: 0, y: 0, side: 600 }, &[256, 64], need).is_ok());
    }
}
