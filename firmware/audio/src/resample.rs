//! Resampling to 48 kHz stereo with rubato.
//!
//! Decision: rubato's synchronous FFT resampler for every rate whose ratio to 48 kHz reduces to
//! small FFTs (every common rate: 8, 11.025, 16, 22.05, 32, 44.1, 88.2, 96, 176.4, 192 kHz…).
//! It is the cheapest good-quality choice on a Pi (a few multiply-adds per sample, Blackman-
//! Harris anti-aliasing), with ~10 ms of delay that is trimmed here. An odd rate (44 101 Hz) would
//! need a huge FFT, so it gets a short (64-tap) sinc resampler instead. 48 kHz never gets here.
//! The downmix runs first, so at most two channels are ever resampled.

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{
    Async, Fft, FixedAsync, FixedSync, Indexing, Resampler, SincInterpolationParameters,
    SincInterpolationType, WindowFunction,
};

use crate::error::AudioError;
use crate::RATE;

const CHUNK: usize = 1024;
/// Largest reduced input block the FFT resampler is used for.
const MAX_FFT_BLOCK: u32 = 2048;

pub struct Resampler48 {
    inner: Box<dyn Resampler<f32>>,
    rate_in: u32,
    /// Interleaved stereo input not yet resampled.
    input: Vec<f32>,
    scratch: Vec<f32>,
    /// Output frames still to drop (the resampler's delay).
    delay: usize,
    total_in: u64,
    total_out: u64,
}

impl Resampler48 {
    pub fn new(rate_in: u32) -> Result<Resampler48, AudioError> {
        let err = |e: rubato::ResamplerConstructionError| {
            tracing::warn!(%e, rate_in, "cannot build a resampler");
            AudioError::BadSampleRate(rate_in)
        };
        let block = rate_in / gcd(rate_in, RATE);
        let inner: Box<dyn Resampler<f32>> = if block <= MAX_FFT_BLOCK {
            Box::new(
                Fft::<f32>::new(rate_in as usize, RATE as usize, CHUNK, 2, FixedSync::Input)
                    .map_err(err)?,
            )
        } else {
            let mut params = SincInterpolationParameters::new(64, WindowFunction::BlackmanHarris2);
            params.oversampling_factor = 128;
            params.interpolation = SincInterpolationType::Linear;
            let ratio = f64::from(RATE) / f64::from(rate_in);
            Box::new(
                Async::<f32>::new_sinc(ratio, 1.0, &params, CHUNK, 2, FixedAsync::Input)
                    .map_err(err)?,
            )
        };
        let scratch = vec![0.0; inner.output_frames_max() * 2];
        let delay = inner.output_delay();
        Ok(Resampler48 {
            inner,
            rate_in,
            input: Vec::new(),
            scratch,
            delay,
            total_in: 0,
            total_out: 0,
        })
    }

    pub fn rate_in(&self) -> u32 {
        self.rate_in
    }

    /// Resamples interleaved stereo `stereo`, appending whatever is ready to `out`.
    pub fn push(&mut self, stereo: &[f32], out: &mut Vec<f32>) -> Result<(), AudioError> {
        self.input.extend_from_slice(stereo);
        self.total_in += (stereo.len() / 2) as u64;
        let mut used = 0;
        while self.input.len() / 2 - used >= self.inner.input_frames_next() {
            used += self.run(used, None, out)?;
        }
        self.input.drain(..used * 2);
        Ok(())
    }

    /// Resamples what is left and the resampler's tail, so the output is exactly as long as the
    /// input times the ratio; then starts afresh.
    pub fn flush(&mut self, out: &mut Vec<f32>) -> Result<(), AudioError> {
        let want =
            (self.total_in as f64 * f64::from(RATE) / f64::from(self.rate_in)).round() as u64;
        let left = self.input.len() / 2;
        if left > 0 {
            self.run(0, Some(left), out)?;
        }
        while self.total_out < want {
            let before = self.total_out;
            self.run(0, Some(0), out)?;
            if self.total_out == before && self.delay == 0 {
                break;
            }
        }
        let extra = (self.total_out.saturating_sub(want) * 2) as usize;
        out.truncate(out.len().saturating_sub(extra));
        self.reset();
        Ok(())
    }

    pub fn reset(&mut self) {
        self.inner.reset();
        self.input.clear();
        self.delay = self.inner.output_delay();
        self.total_in = 0;
        self.total_out = 0;
    }

    /// One resampler call from input frame `from`; returns the input frames consumed.
    fn run(
        &mut self,
        from: usize,
        partial: Option<usize>,
        out: &mut Vec<f32>,
    ) -> Result<usize, AudioError> {
        let fail = |e: &dyn std::fmt::Display| AudioError::Corrupt(format!("resampler: {e}"));
        let need = self.inner.input_frames_next();
        // With a partial chunk, rubato still wants a whole chunk's worth of buffer.
        let frames_avail = self.input.len() / 2 - from;
        let mut padded;
        let input: &[f32] = if frames_avail < need {
            padded = self.input[from * 2..].to_vec();
            padded.resize(need * 2, 0.0);
            &padded
        } else {
            &self.input[from * 2..]
        };
        let frames_in = input.len() / 2;
        let adapter_in = InterleavedSlice::new(input, 2, frames_in).map_err(|e| fail(&e))?;
        let frames_out = self.scratch.len() / 2;
        let mut adapter_out =
            InterleavedSlice::new_mut(&mut self.scratch, 2, frames_out).map_err(|e| fail(&e))?;
        let idx = partial.map(|p| Indexing::new().partial_len(p));
        let (nin, nout) = self
            .inner
            .process_into_buffer(&adapter_in, &mut adapter_out, idx.as_ref())
            .map_err(|e| fail(&e))?;
        let drop = self.delay.min(nout);
        self.delay -= drop;
        out.extend_from_slice(&self.scratch[drop * 2..nout * 2]);
        self.total_out += (nout - drop) as u64;
        Ok(match partial {
            Some(p) => p.min(nin),
            None => nin,
        })
    }
}

fn gcd(mut a: u32, mut b: u32) -> u32 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(rate: u32, secs: f32) -> Vec<f32> {
        let n = (rate as f32 * secs) as usize;
        (0..n)
            .flat_map(|i| {
                let s = (2.0 * std::f32::consts::PI * 1000.0 * i as f32 / rate as f32).sin() * 0.5;
                [s, s]
            })
            .collect()
    }

    #[test]
    fn lengths_come_out_exact_for_fft_and_sinc_rates() {
        for rate in [44_100, 8_000, 96_000, 44_101] {
            let input = tone(rate, 0.77);
            let mut r = Resampler48::new(rate).expect("resampler");
            let mut out = Vec::new();
            for piece in input.chunks(2 * 333) {
                r.push(piece, &mut out).expect("push");
            }
            r.flush(&mut out).expect("flush");
            let want = (input.len() / 2) as f64 * 48_000.0 / f64::from(rate);
            assert!(
                (out.len() as f64 / 2.0 - want).abs() <= 1.0,
                "{rate}: {} vs {want}",
                out.len() / 2
            );
            // The tone's level survives (RMS of a 0.5 sine is 0.354), away from the edges.
            let mid = &out[out.len() / 4..out.len() * 3 / 4];
            let rms = (mid.iter().map(|s| s * s).sum::<f32>() / mid.len() as f32).sqrt();
            assert!((rms - 0.3536).abs() < 0.01, "{rate}: rms {rms}");
        }
    }
}
