//! Content-defined chunking (a gear rolling hash, as in FastCDC): cut points depend on the bytes
//! around them, not on their offset, so an image in which a file grew or shrank still shares
//! almost every chunk with the image before it. That is what makes a daemon-only update a small
//! download: the box chunks its running slot and fetches only chunks it does not have.
//!
//! The parameters and the gear table are part of the bundle format (manifest `format` 1):
//! changing either makes every old chunk miss.

/// Chunks are at least this long (except the last of an image)...
pub const MIN_CHUNK: usize = 16 * 1024;
/// ...and at most this long; a run of equal bytes (zeros in free space) is cut at this size.
pub const MAX_CHUNK: usize = 256 * 1024;
/// 16 bits: one cut per 64 KiB on average after `MIN_CHUNK`.
const MASK: u64 = 0xffff_0000_0000_0000;

const fn gear_table() -> [u64; 256] {
    // splitmix64 from a fixed seed: any fixed table works, this one must never change.
    let mut t = [0u64; 256];
    let mut x: u64 = 0x5350_4f54_424f_5831; // "SPOTBOX1"
    let mut i = 0;
    while i < 256 {
        x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        t[i] = z ^ (z >> 31);
        i += 1;
    }
    t
}
static GEAR: [u64; 256] = gear_table();

/// The length of the chunk that starts at `data[0]`. `data` holds at least `MAX_CHUNK` bytes
/// unless it is the rest of the input (`at_end`).
pub fn cut(data: &[u8], at_end: bool) -> usize {
    debug_assert!(at_end || data.len() >= MAX_CHUNK);
    let end = data.len().min(MAX_CHUNK);
    if end <= MIN_CHUNK {
        return end;
    }
    let mut h: u64 = 0;
    for (i, &b) in data[MIN_CHUNK..end].iter().enumerate() {
        h = (h << 1).wrapping_add(GEAR[b as usize]);
        if h & MASK == 0 {
            return MIN_CHUNK + i + 1;
        }
    }
    end
}

/// Splits a reader into chunks, holding at most 2 × `MAX_CHUNK` bytes.
pub struct Chunks<R> {
    reader: R,
    buf: Vec<u8>,
    start: usize,
    eof: bool,
    limit: u64,
}

impl<R: std::io::Read> Chunks<R> {
    /// Chunks of the first `limit` bytes of `reader` (`u64::MAX`: all of it).
    pub fn new(reader: R, limit: u64) -> Self {
        Chunks { reader, buf: Vec::with_capacity(2 * MAX_CHUNK), start: 0, eof: false, limit }
    }

    /// The next chunk, or `None` at the end.
    pub fn next_chunk(&mut self) -> std::io::Result<Option<&[u8]>> {
        if self.start > 0 && self.buf.len() - self.start < MAX_CHUNK {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        while !self.eof && self.buf.len() - self.start < MAX_CHUNK {
            let want = (2 * MAX_CHUNK - self.buf.len()).min(self.limit.min(usize::MAX as u64) as usize);
            if want == 0 {
                self.eof = true;
                break;
            }
            let old = self.buf.len();
            self.buf.resize(old + want, 0);
            let n = match self.reader.read(&mut self.buf[old..]) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => 0,
                Err(e) => {
                    self.buf.truncate(old);
                    return Err(e);
                }
            };
            self.buf.truncate(old + n);
            self.limit -= n as u64;
            if n == 0 {
                self.eof = true;
            }
        }
        let rest = &self.buf[self.start..];
        if rest.is_empty() {
            return Ok(None);
        }
        let n = cut(rest, self.eof);
        let chunk = &self.buf[self.start..self.start + n];
        self.start += n;
        Ok(Some(chunk))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata::noise;


    fn lens(data: &[u8]) -> Vec<usize> {
        let mut c = Chunks::new(data, u64::MAX);
        let mut out = vec![];
        while let Some(ch) = c.next_chunk().unwrap() {
            out.push(ch.len());
        }
        out
    }

    #[test]
    fn chunks_cover_the_input_within_bounds() {
        let data = noise(3 << 20, 7);
        let l = lens(&data);
        assert_eq!(l.iter().sum::<usize>(), data.len());
        assert!(l[..l.len() - 1].iter().all(|&n| (MIN_CHUNK..=MAX_CHUNK).contains(&n)));
        let avg = data.len() / l.len();
        assert!((40 << 10..=140 << 10).contains(&avg), "average chunk {avg}");
        // Zeros: maximal chunks.
        assert!(lens(&vec![0u8; 1 << 20]).iter().all(|&n| n == MAX_CHUNK));
    }

    #[test]
    fn an_insertion_changes_only_the_chunks_around_it() {
        use std::collections::HashSet;
        let a = noise(4 << 20, 9);
        let mut b = a.clone();
        b.splice(1_000_000..1_000_000, noise(12_345, 3));
        let set = |d: &[u8]| -> HashSet<Vec<u8>> {
            let mut c = Chunks::new(d, u64::MAX);
            let mut s = HashSet::new();
            while let Some(ch) = c.next_chunk().unwrap() {
                s.insert(ch.to_vec());
            }
            s
        };
        let (sa, sb) = (set(&a), set(&b));
        let new: usize = sb.difference(&sa).map(Vec::len).sum();
        assert!(new < 600 << 10, "{new} new bytes for a 12 KiB insertion");
    }

    #[test]
    fn limit_stops_early() {
        let data = noise(1 << 20, 1);
        let mut c = Chunks::new(&data[..], 100_000);
        let mut total = 0;
        while let Some(ch) = c.next_chunk().unwrap() {
            total += ch.len();
        }
        assert_eq!(total, 100_000);
    }
}
