//! GIF: the block stream. Images, graphic control (frame timing, transparency) and the
//! looping and colour-profile application extensions are copied; comments, plain text and
//! other application extensions (XMP) go, and so does anything after the trailer.

const TRAILER: u8 = 0x3B;

/// Application extensions a viewer uses: looping (Netscape, AnimExts) and the ICC profile.
const KEEP_APPS: [&[u8; 11]; 3] = [b"NETSCAPE2.0", b"ANIMEXTS1.0", b"ICCRGBG1012"];

/// The end of the data sub-blocks starting at `i` (just past their zero terminator).
fn sub_blocks(b: &[u8], mut i: usize) -> Option<usize> {
    loop {
        let n = usize::from(*b.get(i)?);
        i += 1;
        if n == 0 {
            return Some(i);
        }
        i += n;
    }
}

fn color_table(packed: u8) -> usize {
    if packed & 0x80 != 0 {
        3 << ((packed & 7) + 1)
    } else {
        0
    }
}

pub(super) fn strip(b: &[u8]) -> Option<Vec<u8>> {
    if !(b.starts_with(b"GIF87a") || b.starts_with(b"GIF89a")) {
        return None;
    }
    let mut i = 13 + color_table(*b.get(10)?);
    if i > b.len() {
        return None;
    }
    let mut out = Vec::with_capacity(b.len());
    out.extend_from_slice(&b[..i]);
    loop {
        let Some(&kind) = b.get(i) else {
            // Ended at a block boundary without a trailer: viewers accept it; add one.
            out.push(TRAILER);
            return Some(out);
        };
        match kind {
            TRAILER => {
                out.push(TRAILER);
                return Some(out);
            }
            0x2C => {
                // Image descriptor, local colour table, LZW code size, image data.
                let packed = *b.get(i + 9)?;
                let data = i + 10 + color_table(packed) + 1;
                let end = sub_blocks(b, data)?;
                out.extend_from_slice(b.get(i..end)?);
                i = end;
            }
            0x21 => {
                let label = *b.get(i + 1)?;
                let end = sub_blocks(b, i + 2)?;
                let keep = match label {
                    0xF9 => true,
                    0xFF => b.get(i + 2) == Some(&11) && b.get(i + 3..i + 14).is_some_and(|id| KEEP_APPS.iter().any(|k| &k[..] == id)),
                    _ => false,
                };
                if keep {
                    out.extend_from_slice(&b[i..end]);
                }
                i = end;
            }
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::strip_metadata;
    use crate::testdata::*;

    #[test]
    fn gif_loses_comments_xmp_and_trailers_but_keeps_its_frames_and_looping() {
        let plain = animated_gif();
        let tagged = gif_with_comment(&plain);
        assert!(contains(&tagged, COMMENT_MARKER) && contains(&tagged, b"XMP DataXMP"));
        let clean = strip_metadata(&tagged).expect("walkable").expect("removed");
        assert!(!contains(&clean, COMMENT_MARKER));
        assert!(!contains(&clean, b"XMP DataXMP") && !contains(&clean, b"xmpmeta"));
        assert!(!contains(&clean, b"after the trailer"));
        assert_eq!(clean, plain, "exactly the original blocks");
        assert!(contains(&clean, b"NETSCAPE2.0"), "looping kept");
        let frames = gif_frames(&clean);
        assert_eq!(frames.len(), 2, "both frames still decode");
    }
}
