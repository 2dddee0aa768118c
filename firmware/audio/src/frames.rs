//! Decoded audio to the internal format: whole 20 ms stereo 48 kHz `Frame`s.
//!
//! `FrameReader` owns a `Decoder`, folds its channels to stereo, resamples when the source is
//! not 48 kHz (rebuilt if a stream changes rate mid-way), and cuts the result into frames; the
//! last frame is padded with silence. Positions count the frames handed out since the start or
//! the last seek, so they follow what is played, not what the demuxer read ahead.

use symphonia::core::formats::probe::Hint;
use symphonia::core::io::MediaSource;

use crate::convert::Downmix;
use crate::decode::{DecodeOptions, Decoder};
use crate::error::AudioError;
use crate::resample::Resampler48;
use crate::{Frame, FRAME_LEN, FRAME_MS, RATE};

pub struct FrameReader {
    dec: Decoder,
    mix: Option<Downmix>,
    resampler: Option<Resampler48>,
    stereo: Vec<f32>,
    /// Interleaved 48 kHz stereo; `pending[at..]` is not handed out yet.
    pending: Vec<f32>,
    at: usize,
    base_ms: u64,
    frames_out: u64,
    done: bool,
}

impl FrameReader {
    pub fn open(
        source: Box<dyn MediaSource>,
        hint: &Hint,
        opts: &DecodeOptions,
    ) -> Result<FrameReader, AudioError> {
        Ok(FrameReader::new(Decoder::open(source, hint, opts)?))
    }

    pub fn new(dec: Decoder) -> FrameReader {
        FrameReader {
            dec,
            mix: None,
            resampler: None,
            stereo: Vec::new(),
            pending: Vec::new(),
            at: 0,
            base_ms: 0,
            frames_out: 0,
            done: false,
        }
    }

    pub fn decoder(&self) -> &Decoder {
        &self.dec
    }

    pub fn decoder_mut(&mut self) -> &mut Decoder {
        &mut self.dec
    }

    /// Where the next frame starts, in ms from the start of the track.
    pub fn position_ms(&self) -> u64 {
        self.base_ms + self.frames_out * u64::from(FRAME_MS)
    }

    /// Fills `out` with the next frame; `false` at the end (then `out` is untouched).
    pub fn next_frame(&mut self, out: &mut Frame) -> Result<bool, AudioError> {
        while self.pending.len() - self.at < FRAME_LEN && !self.done {
            self.decode_more()?;
        }
        let avail = self.pending.len() - self.at;
        if avail == 0 {
            return Ok(false);
        }
        let n = avail.min(FRAME_LEN);
        out[..n].copy_from_slice(&self.pending[self.at..self.at + n]);
        out[n..].fill(0.0);
        self.at += n;
        if self.at == self.pending.len() {
            self.pending.clear();
            self.at = 0;
        } else if self.at > 1 << 16 {
            self.pending.drain(..self.at);
            self.at = 0;
        }
        self.frames_out += 1;
        Ok(true)
    }

    /// Seeks to `ms`; a stream that cannot seek answers `NotSeekable` and plays on.
    pub fn seek(&mut self, ms: u64) -> Result<(), AudioError> {
        self.dec.seek(ms)?;
        self.pending.clear();
        self.at = 0;
        if let Some(r) = &mut self.resampler {
            r.reset();
        }
        self.base_ms = ms;
        self.frames_out = 0;
        self.done = false;
        Ok(())
    }

    fn decode_more(&mut self) -> Result<(), AudioError> {
        let Some(chunk) = self.dec.next_chunk()? else {
            if let Some(r) = &mut self.resampler {
                r.flush(&mut self.pending)?;
            }
            self.done = true;
            return Ok(());
        };
        if self.mix.as_ref().is_none_or(|m| m.layout() != chunk.layout) {
            self.mix = Some(Downmix::new(chunk.layout.clone()));
        }
        let rate = chunk.rate;
        self.stereo.clear();
        if let Some(mix) = &self.mix {
            mix.apply(chunk.samples, &mut self.stereo);
        }
        if rate == RATE {
            if let Some(mut old) = self.resampler.take() {
                old.flush(&mut self.pending)?;
            }
            self.pending.extend_from_slice(&self.stereo);
            return Ok(());
        }
        if self.resampler.as_ref().is_some_and(|r| r.rate_in() != rate) {
            if let Some(mut old) = self.resampler.take() {
                old.flush(&mut self.pending)?;
            }
        }
        if self.resampler.is_none() {
            self.resampler = Some(Resampler48::new(rate)?);
        }
        if let Some(r) = &mut self.resampler {
            r.push(&self.stereo, &mut self.pending)?;
        }
        Ok(())
    }
}
