//! Loudness: the gain that brings a track to the target, and the stage that applies it.
//!
//! - `Meter` is an EBU R128 / ITU-R BS.1770-4 meter for the internal format (48 kHz stereo):
//!   K-weighting (the standard's two 48 kHz biquads), 400 ms blocks every 100 ms, the absolute
//!   (−70 LUFS) and relative (−10 LU) gates. Blocks go into a 0.1 LU histogram, so a meter over a
//!   whole file or an endless stream has fixed memory.
//! - `gain_from_tags`: ReplayGain 2 track gain (reference −18 LUFS), capped by the track peak so
//!   it cannot clip, else Opus's `R128_TRACK_GAIN` (reference −23 LUFS).
//! - `AdaptiveGain`: for a source with neither (a radio stream): a gated loudness estimate with a
//!   10 s memory, and a gain that follows it slowly (1 dB/s up, 3 dB/s down, within −24/+12 dB).
//! - `GainStage`: gain × volume ramped across each frame (no zipper noise, no clicks), then a
//!   peak limiter (instant attack, 100 ms release, ceiling −1 dBFS) so nothing clips.

use crate::tags::Tags;
use crate::{Frame, RATE};

/// The level every track is brought to.
pub const TARGET_LUFS: f32 = -18.0;
pub const MAX_BOOST_DB: f32 = 12.0;
pub const MAX_CUT_DB: f32 = -24.0;
const RG2_REFERENCE: f32 = -18.0;
const R128_REFERENCE: f32 = -23.0;

pub fn db_to_lin(db: f32) -> f32 {
    10f32.powf(db / 20.0)
}

pub fn lufs_of(mean_square: f64) -> f32 {
    (-0.691 + 10.0 * mean_square.max(1e-20).log10()) as f32
}

fn clamp_gain(db: f32) -> f32 {
    db.clamp(MAX_CUT_DB, MAX_BOOST_DB)
}

/// The gain (dB) that brings a track measured at `lufs` to `target`.
pub fn gain_for_loudness(lufs: f32, target: f32) -> f32 {
    clamp_gain(target - lufs)
}

/// The gain (dB) the tags ask for, adjusted to `target`; `None` without loudness tags.
pub fn gain_from_tags(tags: &Tags, target: f32) -> Option<f32> {
    if let Some(rg) = tags.replaygain {
        let mut gain = rg.track_gain_db + (target - RG2_REFERENCE);
        if let Some(peak) = rg.track_peak {
            gain = gain.min(-20.0 * peak.log10());
        }
        return Some(clamp_gain(gain));
    }
    tags.r128_track_gain_db
        .map(|g| clamp_gain(g + (target - R128_REFERENCE)))
}

#[derive(Clone, Copy)]
struct Biquad {
    b: [f64; 3],
    a: [f64; 2],
    z: [f64; 2],
}

impl Biquad {
    const fn new(b: [f64; 3], a: [f64; 2]) -> Biquad {
        Biquad { b, a, z: [0.0; 2] }
    }

    #[inline]
    fn run(&mut self, x: f64) -> f64 {
        let y = self.b[0] * x + self.z[0];
        self.z[0] = self.b[1] * x - self.a[0] * y + self.z[1];
        self.z[1] = self.b[2] * x - self.a[1] * y;
        y
    }
}

/// BS.1770-4 K-weighting at 48 kHz: the head's high shelf, then the RLB high-pass.
const SHELF: Biquad = Biquad::new(
    [
        1.535_124_859_586_97,
        -2.691_696_189_406_38,
        1.198_392_810_852_85,
    ],
    [-1.690_659_293_182_41, 0.732_480_774_215_85],
);
const HIGHPASS: Biquad = Biquad::new(
    [1.0, -2.0, 1.0],
    [-1.990_047_454_833_98, 0.990_072_250_366_21],
);

const SUB_BLOCK: usize = RATE as usize / 10; // 100 ms
const BINS: usize = 800; // 0.1 LU from −70 to +10 LUFS

pub struct Meter {
    filters: [[Biquad; 2]; 2],
    sub_sum: f64,
    sub_len: usize,
    subs: [f64; 4],
    subs_seen: usize,
    hist_count: Vec<u32>,
    hist_energy: Vec<f64>,
    peak: f32,
}

impl Default for Meter {
    fn default() -> Self {
        Meter::new()
    }
}

impl Meter {
    pub fn new() -> Meter {
        Meter {
            filters: [[SHELF, HIGHPASS]; 2],
            sub_sum: 0.0,
            sub_len: 0,
            subs: [0.0; 4],
            subs_seen: 0,
            hist_count: vec![0; BINS],
            hist_energy: vec![0.0; BINS],
            peak: 0.0,
        }
    }

    /// Measures interleaved 48 kHz stereo. Returns the mean square (K-weighted, channels summed)
    /// of the last 400 ms block that completed in it, if one did.
    pub fn push(&mut self, stereo: &[f32]) -> Option<f64> {
        let mut completed = None;
        for pair in stereo.chunks_exact(2) {
            let mut e = 0.0;
            for (ch, &s) in pair.iter().enumerate() {
                self.peak = self.peak.max(s.abs());
                let [f1, f2] = &mut self.filters[ch];
                let y = f2.run(f1.run(f64::from(s)));
                e += y * y;
            }
            self.sub_sum += e;
            self.sub_len += 1;
            if self.sub_len == SUB_BLOCK {
                self.subs[self.subs_seen % 4] = self.sub_sum / SUB_BLOCK as f64;
                self.subs_seen += 1;
                self.sub_sum = 0.0;
                self.sub_len = 0;
                if self.subs_seen >= 4 {
                    let block = self.subs.iter().sum::<f64>() / 4.0;
                    self.add_block(block);
                    completed = Some(block);
                }
            }
        }
        completed
    }

    fn add_block(&mut self, energy: f64) {
        let lufs = lufs_of(energy);
        if lufs < -70.0 {
            return;
        }
        let bin = (((lufs + 70.0) * 10.0) as usize).min(BINS - 1);
        self.hist_count[bin] += 1;
        self.hist_energy[bin] += energy;
    }

    /// Gated integrated loudness so far; `None` before any block passed the absolute gate.
    pub fn integrated_lufs(&self) -> Option<f32> {
        let (n, e) = self.sum_from(0);
        if n == 0 {
            return None;
        }
        let relative = lufs_of(e / n as f64) - 10.0;
        let from = (((relative + 70.0) * 10.0).max(0.0) as usize).min(BINS - 1);
        let (n, e) = self.sum_from(from);
        (n > 0).then(|| lufs_of(e / n as f64))
    }

    fn sum_from(&self, bin: usize) -> (u64, f64) {
        let n = self.hist_count[bin..].iter().map(|&c| u64::from(c)).sum();
        let e = self.hist_energy[bin..].iter().sum();
        (n, e)
    }

    /// The highest sample magnitude seen.
    pub fn peak(&self) -> f32 {
        self.peak
    }
}

/// A slowly adapting gain for sources without a known loudness.
pub struct AdaptiveGain {
    meter: Meter,
    target: f32,
    estimate: Option<f64>,
    blocks: u32,
    gain_db: f32,
}

/// Blocks (100 ms apart) over which the estimate averages: about 10 s.
const MEMORY_BLOCKS: f64 = 100.0;
/// The first 3 s: the estimate is a plain average and the gain moves fast (6 dB/s).
const WARMUP_BLOCKS: u32 = 30;

impl AdaptiveGain {
    pub fn new(target: f32) -> AdaptiveGain {
        AdaptiveGain {
            meter: Meter::new(),
            target,
            estimate: None,
            blocks: 0,
            gain_db: 0.0,
        }
    }

    /// Measures one frame and returns the gain (dB) for it.
    pub fn process(&mut self, frame: &Frame) -> f32 {
        if let Some(block) = self.meter.push(frame) {
            self.update(block);
        }
        self.gain_db
    }

    pub fn gain_db(&self) -> f32 {
        self.gain_db
    }

    fn update(&mut self, block: f64) {
        let lufs = lufs_of(block);
        // Gates: silence, and quiet passages well below what has been playing.
        let gated = lufs < -70.0 || self.estimate.is_some_and(|e| lufs < lufs_of(e) - 20.0);
        if !gated {
            self.blocks += 1;
            let alpha = (1.0 / f64::from(self.blocks)).max(1.0 / MEMORY_BLOCKS);
            self.estimate = Some(match self.estimate {
                None => block,
                Some(e) => e + (block - e) * alpha,
            });
        }
        let Some(estimate) = self.estimate else {
            return;
        };
        let want = gain_for_loudness(lufs_of(estimate), self.target);
        let (up, down) = if self.blocks <= WARMUP_BLOCKS {
            (0.6, 0.6)
        } else {
            (0.1, 0.3)
        };
        self.gain_db += (want - self.gain_db).clamp(-down, up);
    }
}

/// Gain and volume, ramped, then the limiter: what turns a decoded frame into the one sent.
pub struct GainStage {
    current: f32,
    limiter_gain: f32,
    ceiling: f32,
    release: f32,
}

impl Default for GainStage {
    fn default() -> Self {
        GainStage::new()
    }
}

impl GainStage {
    pub fn new() -> GainStage {
        GainStage {
            current: 1.0,
            limiter_gain: 1.0,
            ceiling: db_to_lin(-1.0),
            release: 1.0 - (-1.0 / (0.1 * RATE as f32)).exp(),
        }
    }

    /// Applies `gain_db` (the track's) times `volume` (linear, 1.0 = 100 %), ramping from the
    /// previous frame's factor, then limits.
    pub fn apply(&mut self, frame: &mut Frame, gain_db: f32, volume: f32) {
        let target = db_to_lin(gain_db) * volume.max(0.0);
        let from = self.current;
        let step = (target - from) / (frame.len() / 2) as f32;
        for (i, pair) in frame.chunks_exact_mut(2).enumerate() {
            let g = from + step * (i + 1) as f32;
            let (l, r) = (pair[0] * g, pair[1] * g);
            let peak = l.abs().max(r.abs());
            let want = if peak > self.ceiling {
                self.ceiling / peak
            } else {
                1.0
            };
            if want < self.limiter_gain {
                self.limiter_gain = want;
            } else {
                self.limiter_gain += (want - self.limiter_gain) * self.release;
            }
            pair[0] = l * self.limiter_gain;
            pair[1] = r * self.limiter_gain;
        }
        self.current = target;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FRAME_LEN;

    fn sine_frames(freq: f32, dbfs: f32, secs: f32) -> Vec<Frame> {
        let amp = db_to_lin(dbfs);
        let n = (secs * 50.0) as usize;
        (0..n)
            .map(|f| {
                let mut fr = [0.0; FRAME_LEN];
                for i in 0..FRAME_LEN / 2 {
                    let t = (f * FRAME_LEN / 2 + i) as f32 / RATE as f32;
                    let s = amp * (2.0 * std::f32::consts::PI * freq * t).sin();
                    fr[2 * i] = s;
                    fr[2 * i + 1] = s;
                }
                fr
            })
            .collect()
    }

    #[test]
    fn a_stereo_1k_sine_measures_its_level() {
        // BS.1770: a 0 dBFS 1 kHz sine in one channel reads −3.01 LUFS; in both, about 0.
        let mut m = Meter::new();
        for f in sine_frames(1000.0, -12.0, 3.0) {
            m.push(&f);
        }
        let l = m.integrated_lufs().expect("loudness");
        assert!((l - -12.0).abs() < 0.3, "{l}");
    }

    #[test]
    fn gating_ignores_silence() {
        let mut m = Meter::new();
        for f in sine_frames(1000.0, -20.0, 2.0) {
            m.push(&f);
        }
        for _ in 0..500 {
            m.push(&[0.0; FRAME_LEN]);
        }
        // The blocks that straddle the end of the tone pass the relative gate: a little lower.
        let l = m.integrated_lufs().expect("loudness");
        assert!((l - -20.0).abs() < 0.5, "{l}");
    }

    #[test]
    fn adaptive_gain_levels_a_loud_stream() {
        let mut g = AdaptiveGain::new(TARGET_LUFS);
        let mut last = 0.0;
        for f in sine_frames(1000.0, -6.0, 20.0) {
            last = g.process(&f);
        }
        assert!((last - -12.0).abs() < 0.5, "{last}");
    }

    #[test]
    fn limiter_keeps_every_sample_under_the_ceiling() {
        let mut st = GainStage::new();
        for mut f in sine_frames(440.0, 0.0, 1.0) {
            st.apply(&mut f, 12.0, 1.5);
            assert!(f.iter().all(|s| s.abs() <= db_to_lin(-1.0) + 1e-6));
        }
    }

    #[test]
    fn tags_pick_replaygain_capped_by_peak_then_r128() {
        use crate::tags::ReplayGain;
        let mut t = Tags {
            replaygain: Some(ReplayGain {
                track_gain_db: -4.0,
                track_peak: None,
            }),
            ..Tags::default()
        };
        assert_eq!(gain_from_tags(&t, -18.0), Some(-4.0));
        assert_eq!(gain_from_tags(&t, -20.0), Some(-6.0));
        t.replaygain = Some(ReplayGain {
            track_gain_db: 9.0,
            track_peak: Some(0.5),
        });
        let g = gain_from_tags(&t, -18.0).expect("gain");
        assert!((g - 6.02).abs() < 0.01, "{g}");
        t.replaygain = None;
        t.r128_track_gain_db = Some(-2.0);
        assert_eq!(gain_from_tags(&t, -18.0), Some(3.0));
    }
}
