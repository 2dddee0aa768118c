//! A guard between a media source and symphonia that keeps hostile metadata from costing memory.
//!
//! symphonia 0.6 has `MetadataOptions::limit_tag_bytes`/`limit_visual_bytes`, but its readers do
//! not enforce them yet: an ID3v2 tag (up to 256 MiB) is read whole, and every FLAC PICTURE block
//! (up to 16 MiB each, any number of them) is kept in memory. So before symphonia sees a byte:
//!
//! - an ID3v2 tag at the start that is larger than `max_tag_bytes` is hidden (skipped by a seek,
//!   or read and dropped on a stream); the file then plays without its tags;
//! - FLAC metadata blocks are read as they pass: a PICTURE over `max_picture_bytes` (or past that
//!   total) and a comment/application/cuesheet block over `max_tag_bytes` get their type byte
//!   rewritten to PADDING, which symphonia skips without reading it into memory.
//!
//! The guard also tells an empty source (`AudioError::Empty`) from junk. Positions are shifted
//! by the hidden prefix, so seeking works as before.

use std::io::{self, Read, Seek, SeekFrom};

use symphonia::core::io::MediaSource;

use crate::error::{check_format, AudioError};

const FLAC_PICTURE: u8 = 6;
const FLAC_PADDING: u8 = 1;

pub(crate) struct Guard {
    inner: Box<dyn MediaSource>,
    /// Bytes hidden at the start of `inner` (a skipped ID3v2 tag).
    offset: u64,
    /// Logical position of the next byte handed out.
    pos: u64,
    /// Bytes read from `inner` but not handed out yet; `ahead[at..]` starts at `pos`.
    ahead: Vec<u8>,
    at: usize,
    flac: Option<FlacWatch>,
    /// Reading past a header not seen yet (symphonia looks at the end for trailing tags first):
    /// pass through until a seek comes back to it.
    flac_suspended: bool,
    seekable: bool,
}

/// Follows FLAC metadata block headers as they pass (logical positions).
struct FlacWatch {
    next: u64,
    magic_done: bool,
    pictures: u64,
    max_picture: u64,
    max_block: u64,
}

impl Guard {
    pub(crate) fn new(
        mut inner: Box<dyn MediaSource>,
        max_tag_bytes: u64,
        max_picture_bytes: u64,
    ) -> Result<Guard, AudioError> {
        let seekable = inner.is_seekable();
        let mut head = [0u8; 28];
        let got = read_full(&mut inner, &mut head).map_err(|e| AudioError::io(&e))?;
        if got == 0 {
            return Err(AudioError::Empty);
        }
        check_wav(&head[..got])?;
        let mut guard = Guard {
            inner,
            offset: 0,
            pos: 0,
            ahead: head[..got].to_vec(),
            at: 0,
            flac: None,
            flac_suspended: false,
            seekable,
        };
        let mut flac_at = 0;
        if let Some(total) = id3v2_len(&head[..got]) {
            if total > max_tag_bytes {
                tracing::info!(total, "skipping an oversized ID3v2 tag");
                guard.skip_prefix(total)?;
            } else {
                flac_at = total;
            }
        }
        guard.flac = Some(FlacWatch {
            next: flac_at,
            magic_done: false,
            pictures: 0,
            max_picture: max_picture_bytes,
            max_block: max_tag_bytes,
        });
        Ok(guard)
    }

    fn skip_prefix(&mut self, total: u64) -> Result<(), AudioError> {
        let already = self.ahead.len() as u64;
        self.ahead.clear();
        self.at = 0;
        if self.seekable {
            self.inner
                .seek(SeekFrom::Start(total))
                .map_err(|e| AudioError::io(&e))?;
        } else {
            let mut rest = total.saturating_sub(already);
            let mut sink = [0u8; 8192];
            while rest > 0 {
                let want = rest.min(sink.len() as u64) as usize;
                let n = self
                    .inner
                    .read(&mut sink[..want])
                    .map_err(|e| AudioError::io(&e))?;
                if n == 0 {
                    return Err(AudioError::NoAudioTrack);
                }
                rest -= n as u64;
            }
        }
        self.offset = total;
        Ok(())
    }

    /// Makes sure `ahead` holds `want` bytes from `pos` (fewer only at the end of the source).
    fn fill(&mut self, want: usize) -> io::Result<()> {
        if self.at > 0 && self.at == self.ahead.len() {
            self.ahead.clear();
            self.at = 0;
        }
        while self.ahead.len() - self.at < want {
            let have = self.ahead.len();
            let need = want - (have - self.at);
            self.ahead.resize(have + need, 0);
            let n = match self.inner.read(&mut self.ahead[have..]) {
                Ok(n) => n,
                Err(e) => {
                    self.ahead.truncate(have);
                    return Err(e);
                }
            };
            self.ahead.truncate(have + n);
            if n == 0 {
                break;
            }
        }
        Ok(())
    }

    /// Reads and patches the FLAC headers that start in the next `len` bytes.
    fn watch_flac(&mut self, len: usize) -> io::Result<()> {
        loop {
            let Some(w) = self.flac.as_ref() else {
                return Ok(());
            };
            let end = self.pos + len as u64;
            if w.next >= end {
                return Ok(());
            }
            let rel = (w.next - self.pos) as usize;
            self.fill(rel + 4)?;
            let window = &mut self.ahead[self.at + rel..];
            if window.len() < 4 {
                self.flac = None;
                return Ok(());
            }
            let Some(w) = self.flac.as_mut() else {
                return Ok(());
            };
            if !w.magic_done {
                if &window[..4] != b"fLaC" {
                    self.flac = None;
                    return Ok(());
                }
                w.magic_done = true;
                w.next += 4;
                continue;
            }
            let last = window[0] & 0x80 != 0;
            let kind = window[0] & 0x7f;
            let block = u64::from(u32::from_be_bytes([0, window[1], window[2], window[3]]));
            // Comments (4), application data (2) and cuesheets (5) have the tag limit; pictures
            // share one budget. STREAMINFO and SEEKTABLE are left alone.
            let patch = if kind == FLAC_PICTURE {
                w.pictures + block > w.max_picture
            } else {
                matches!(kind, 2 | 4 | 5) && block > w.max_block
            };
            if patch {
                tracing::info!(kind, block, "dropping an oversized FLAC metadata block");
                window[0] = (window[0] & 0x80) | FLAC_PADDING;
            } else if kind == FLAC_PICTURE {
                w.pictures += block;
            }
            w.next += 4 + block;
            if last {
                self.flac = None;
            }
        }
    }
}

impl Read for Guard {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if (self.flac.is_none() || self.flac_suspended) && self.at == self.ahead.len() {
            let n = self.inner.read(buf)?;
            self.pos += n as u64;
            return Ok(n);
        }
        if self.at == self.ahead.len() {
            self.fill(buf.len().min(64 * 1024))?;
        }
        let avail = (self.ahead.len() - self.at).min(buf.len());
        if !self.flac_suspended {
            self.watch_flac(avail)?;
        }
        let avail = (self.ahead.len() - self.at).min(buf.len());
        buf[..avail].copy_from_slice(&self.ahead[self.at..self.at + avail]);
        self.at += avail;
        self.pos += avail as u64;
        Ok(avail)
    }
}

impl Seek for Guard {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(p) => p,
            SeekFrom::Current(0) => return Ok(self.pos),
            SeekFrom::Current(d) => self
                .pos
                .checked_add_signed(d)
                .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before start"))?,
            SeekFrom::End(d) => {
                let end = self.inner.seek(SeekFrom::End(0))?;
                let end = end.saturating_sub(self.offset);
                end.checked_add_signed(d).ok_or_else(|| {
                    io::Error::new(io::ErrorKind::InvalidInput, "seek before start")
                })?
            }
        };
        let inner_at = target
            .checked_add(self.offset)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek too far"))?;
        self.inner.seek(SeekFrom::Start(inner_at))?;
        self.ahead.clear();
        self.at = 0;
        self.pos = target;
        // A seek past a header we have not seen: leave the bytes alone until a seek comes back.
        self.flac_suspended = self.flac.as_ref().is_some_and(|w| target > w.next);
        Ok(target)
    }
}

impl MediaSource for Guard {
    fn is_seekable(&self) -> bool {
        self.seekable
    }

    fn byte_len(&self) -> Option<u64> {
        self.inner.byte_len().map(|l| l.saturating_sub(self.offset))
    }
}

/// A WAV header's own claims, refused before symphonia reads them (it trusts the channel count).
fn check_wav(head: &[u8]) -> Result<(), AudioError> {
    if head.len() < 28 || &head[..4] != b"RIFF" || &head[8..16] != b"WAVEfmt " {
        return Ok(());
    }
    let channels = usize::from(u16::from_le_bytes([head[22], head[23]]));
    let rate = u32::from_le_bytes([head[24], head[25], head[26], head[27]]);
    check_format(rate, channels)
}

/// The whole length of an ID3v2 tag that starts `head`, if it is one.
fn id3v2_len(head: &[u8]) -> Option<u64> {
    if head.len() < 10 || &head[..3] != b"ID3" || head[3] == 0xff || head[4] == 0xff {
        return None;
    }
    let size = &head[6..10];
    if size.iter().any(|b| b & 0x80 != 0) {
        return None;
    }
    let size = size.iter().fold(0u64, |acc, b| (acc << 7) | u64::from(*b));
    let footer = if head[5] & 0x10 != 0 { 10 } else { 0 };
    Some(10 + size + footer)
}

fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn guard(bytes: Vec<u8>, tag: u64, pic: u64) -> Guard {
        Guard::new(Box::new(Cursor::new(bytes)), tag, pic).expect("guard")
    }

    #[test]
    fn empty_is_empty() {
        let err = Guard::new(Box::new(Cursor::new(Vec::new())), 10, 10).err();
        assert_eq!(err, Some(AudioError::Empty));
    }

    #[test]
    fn oversized_id3_is_hidden_and_positions_shift() {
        let mut bytes = b"ID3\x04\x00\x00\x00\x00\x01\x00".to_vec(); // 128 bytes of tag
        bytes.extend(std::iter::repeat_n(7u8, 128));
        bytes.extend(b"AUDIO");
        let mut g = guard(bytes, 64, 64);
        let mut out = Vec::new();
        g.read_to_end(&mut out).expect("read");
        assert_eq!(out, b"AUDIO");
        assert_eq!(g.seek(SeekFrom::Start(1)).expect("seek"), 1);
        let mut two = [0u8; 2];
        g.read_exact(&mut two).expect("read");
        assert_eq!(&two, b"UD");
        assert_eq!(g.byte_len(), Some(5));
    }

    #[test]
    fn small_id3_is_kept() {
        let mut bytes = b"ID3\x04\x00\x00\x00\x00\x00\x02".to_vec();
        bytes.extend(b"xxAUDIO");
        let mut out = Vec::new();
        guard(bytes.clone(), 64, 64)
            .read_to_end(&mut out)
            .expect("read");
        assert_eq!(out, bytes);
    }

    #[test]
    fn a_look_at_the_end_first_does_not_stop_the_watch() {
        let mut bytes = b"fLaC".to_vec();
        bytes.extend([0x86, 0, 0, 40]);
        bytes.extend(std::iter::repeat_n(5u8, 40));
        bytes.extend(b"FRAMES-AND-A-TAIL");
        let mut g = guard(bytes.clone(), 1 << 20, 16);
        g.seek(SeekFrom::End(-4)).expect("seek");
        let mut tail = Vec::new();
        g.read_to_end(&mut tail).expect("read");
        assert_eq!(tail, b"TAIL");
        g.seek(SeekFrom::Start(0)).expect("seek");
        let mut out = Vec::new();
        g.read_to_end(&mut out).expect("read");
        assert_eq!(out[4], 0x81, "the picture became padding");
    }

    #[test]
    fn oversized_flac_picture_becomes_padding() {
        let mut bytes = b"fLaC".to_vec();
        bytes.extend([0x00, 0, 0, 2, 9, 9]); // a 2-byte "STREAMINFO"
        bytes.extend([0x06, 0, 0, 3, 1, 2, 3]); // a 3-byte picture (small: kept)
        bytes.extend([0x86, 0, 0, 40]); // a 40-byte picture, last block: too big
        bytes.extend(std::iter::repeat_n(5u8, 40));
        bytes.extend(b"FRAMES");
        let mut g = guard(bytes.clone(), 1 << 20, 16);
        // Read in awkward pieces so headers straddle the reads.
        let mut out = Vec::new();
        let mut piece = [0u8; 3];
        loop {
            let n = g.read(&mut piece).expect("read");
            if n == 0 {
                break;
            }
            out.extend_from_slice(&piece[..n]);
        }
        let mut want = bytes;
        want[17] = 0x81;
        assert_eq!(out, want);
    }
}
