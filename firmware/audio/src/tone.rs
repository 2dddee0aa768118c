//! A test tone in the pipeline's format (Admin → Audio's "play a test tone", and the image test
//! that captures it from a loopback card), and the measurements that check what came out:
//! frequency and RMS level of captured samples. Public, because the capture side of the image
//! test reuses them on samples read back from ALSA.

use crate::{Frame, CHANNELS, FRAME_LEN, FRAME_SAMPLES, RATE};

/// A sine of `freq` Hz, peak `dbfs` (0 dBFS = full scale), on both channels, for `frames`
/// frames of 20 ms. An iterator, so a long tone costs no memory; phase runs on across frames.
#[derive(Debug, Clone)]
pub struct Tone {
    step: f64,
    phase: f64,
    amp: f32,
    left: usize,
}

impl Tone {
    pub fn new(freq: f64, dbfs: f64, duration_ms: u32) -> Tone {
        Tone {
            step: std::f64::consts::TAU * freq / f64::from(RATE),
            phase: 0.0,
            amp: db_to_amp(dbfs) as f32,
            left: duration_ms.div_ceil(crate::FRAME_MS) as usize,
        }
    }
}

impl Iterator for Tone {
    type Item = Frame;

    fn next(&mut self) -> Option<Frame> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let mut f = [0.0f32; FRAME_LEN];
        for s in f.chunks_exact_mut(CHANNELS) {
            let v = self.amp * self.phase.sin() as f32;
            s.fill(v);
            self.phase = (self.phase + self.step) % std::f64::consts::TAU;
        }
        Some(f)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl ExactSizeIterator for Tone {}

/// The whole tone as frames (for a short one).
pub fn sine(freq: f64, dbfs: f64, duration_ms: u32) -> Vec<Frame> {
    Tone::new(freq, dbfs, duration_ms).collect()
}

pub fn db_to_amp(db: f64) -> f64 {
    10f64.powf(db / 20.0)
}

/// One channel out of interleaved samples.
pub fn channel(interleaved: &[f32], channels: usize, which: usize) -> Vec<f32> {
    if channels == 0 {
        return Vec::new();
    }
    interleaved
        .iter()
        .skip(which)
        .step_by(channels)
        .copied()
        .collect()
}

/// RMS level in dBFS, where a full-scale *sine* reads 0 dBFS (AES17: the RMS of a sine is its
/// peak / √2, so the √2 is put back). So a tone made at −12 dBFS reads −12. Silence: −∞.
pub fn rms_dbfs(samples: &[f32]) -> f64 {
    if samples.is_empty() {
        return f64::NEG_INFINITY;
    }
    let sum: f64 = samples.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
    let rms = (sum / samples.len() as f64).sqrt();
    if rms == 0.0 {
        return f64::NEG_INFINITY;
    }
    20.0 * (rms * std::f64::consts::SQRT_2).log10()
}

/// The frequency of the tone in `samples` (one channel at `rate`), in Hz: a coarse estimate
/// from upward zero crossings (with hysteresis, so noise does not count), refined by searching
/// the Goertzel power around it. Good to well under 1 Hz for a tone of a few thousand samples;
/// `None` for silence, too few samples or fewer than two periods.
pub fn dominant_frequency(samples: &[f32], rate: u32) -> Option<f64> {
    if samples.len() < 64 || rms_dbfs(samples) < -100.0 {
        return None;
    }
    let level = (samples
        .iter()
        .map(|&s| f64::from(s) * f64::from(s))
        .sum::<f64>()
        / samples.len() as f64)
        .sqrt();
    let hysteresis = level * 0.3;
    let (mut armed, mut first, mut last, mut count) = (false, None, 0.0, 0usize);
    for (i, w) in samples.windows(2).enumerate() {
        let (a, b) = (f64::from(w[0]), f64::from(w[1]));
        if a < -hysteresis {
            armed = true;
        }
        if armed && a < 0.0 && b >= 0.0 {
            let at = i as f64 + a / (a - b);
            first.get_or_insert(at);
            last = at;
            count += 1;
            armed = false;
        }
    }
    let first = first?;
    if count < 3 || last <= first {
        return None;
    }
    let rate = f64::from(rate);
    let coarse = (count - 1) as f64 * rate / (last - first);
    // Refine by narrowing a window around the best Goertzel power.
    let (mut best, mut width) = (coarse, coarse * 0.03);
    for _ in 0..6 {
        let mut top = f64::MIN;
        let centre = best;
        for k in -8..=8 {
            let f = centre + width * f64::from(k) / 8.0;
            if f <= 0.0 || f >= rate / 2.0 {
                continue;
            }
            let p = goertzel(samples, rate, f);
            if p > top {
                top = p;
                best = f;
            }
        }
        width /= 4.0;
    }
    Some(best)
}

/// Goertzel power of `freq` in `samples` (Hann-windowed, so energy off the bin leaks little):
/// the building block of [`dominant_frequency`], and on its own "how much of `freq` is there".
pub fn goertzel(samples: &[f32], rate: f64, freq: f64) -> f64 {
    let n = samples.len();
    let w = std::f64::consts::TAU * freq / rate;
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for (i, &x) in samples.iter().enumerate() {
        let hann = 0.5 - 0.5 * (std::f64::consts::TAU * i as f64 / n as f64).cos();
        let s0 = f64::from(x) * hann + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    s1 * s1 + s2 * s2 - coeff * s1 * s2
}

/// Level of `freq` in dB relative to the whole signal's power: how far a tone stands above
/// everything else, or (negative, large) how well something was filtered out.
pub fn tone_to_total_db(samples: &[f32], rate: u32, freq: f64) -> f64 {
    let n = samples.len() as f64;
    // Hann window: coherent gain 0.5, so a sine of amplitude A gives |X| = A·n/4.
    let p = goertzel(samples, f64::from(rate), freq);
    let amp = 4.0 * p.sqrt() / n;
    let total: f64 = samples
        .iter()
        .map(|&s| f64::from(s) * f64::from(s))
        .sum::<f64>()
        / n;
    20.0 * (amp / std::f64::consts::SQRT_2).log10() - 10.0 * total.log10()
}

/// Samples per channel in `frames` frames of the internal format (for test arithmetic).
pub const fn samples_in(frames: usize) -> usize {
    frames * FRAME_SAMPLES
}

#[cfg(test)]
mod tests {
    use super::*;

    fn left(frames: &[Frame]) -> Vec<f32> {
        channel(&frames.concat(), CHANNELS, 0)
    }

    #[test]
    fn tone_has_its_frequency_level_and_length() {
        let t = sine(1000.0, -12.0, 500);
        assert_eq!(t.len(), 25);
        let l = left(&t);
        assert_eq!(l.len(), samples_in(25));
        let f = dominant_frequency(&l, RATE).expect("a tone");
        assert!((f - 1000.0).abs() < 0.5, "{f}");
        let db = rms_dbfs(&l);
        assert!((db + 12.0).abs() < 0.05, "{db}");
        let peak = l.iter().fold(0.0f32, |m, s| m.max(s.abs()));
        assert!((f64::from(peak) - db_to_amp(-12.0)).abs() < 1e-3, "{peak}");
    }

    #[test]
    fn phase_runs_on_across_frames() {
        // A discontinuity at a frame edge would show as a jump larger than one step's worth.
        let l = left(&sine(440.0, 0.0, 100));
        let max_step = (std::f64::consts::TAU * 440.0 / f64::from(RATE)) as f32 * 1.01;
        for w in l.windows(2) {
            assert!((w[1] - w[0]).abs() <= max_step, "{w:?}");
        }
    }

    #[test]
    fn measurements_on_edge_inputs() {
        assert_eq!(dominant_frequency(&[0.0; 4096], RATE), None);
        assert_eq!(dominant_frequency(&[0.5; 10], RATE), None);
        assert_eq!(rms_dbfs(&[]), f64::NEG_INFINITY);
        let f = dominant_frequency(&left(&sine(15_000.0, -30.0, 200)), RATE).expect("tone");
        assert!((f - 15_000.0).abs() < 1.0, "{f}");
        let l = left(&sine(1000.0, -6.0, 200));
        assert!(tone_to_total_db(&l, RATE, 1000.0).abs() < 0.2);
        assert!(tone_to_total_db(&l, RATE, 5000.0) < -60.0);
    }
}
