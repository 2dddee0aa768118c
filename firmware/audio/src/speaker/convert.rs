//! From the pipeline's 48 kHz stereo `f32` to the bytes a device took: gain, rate, channels,
//! sample format. Pure. [`decode`] is the inverse of the last step, for the fake device and
//! for a capture side (the image test reads a loopback card back with it).

use crate::devices::SampleFormat;
use crate::{Frame, CHANNELS, RATE};

use super::device::Params;
use super::resample::Resampler;

pub struct Converter {
    format: SampleFormat,
    channels: usize,
    resampler: Option<Resampler>,
    dither: Dither,
    /// Scratch, kept to avoid allocating per frame.
    stereo: Vec<f32>,
    resampled: Vec<f32>,
}

impl Converter {
    pub fn new(p: &Params) -> Converter {
        Converter {
            format: p.format,
            channels: p.channels.max(1) as usize,
            resampler: Resampler::new(RATE, p.rate, CHANNELS),
            dither: Dither(0x2545_F491_4F6C_DD1D),
            stereo: Vec::with_capacity(crate::FRAME_LEN),
            resampled: Vec::new(),
        }
    }

    /// Converts one frame at linear `gain`, appending the device's bytes to `out`.
    pub fn push(&mut self, frame: &Frame, gain: f32, out: &mut Vec<u8>) {
        self.stereo.clear();
        self.stereo.extend(frame.iter().map(|s| s * gain));
        let samples: &[f32] = match &mut self.resampler {
            Some(r) => {
                self.resampled.clear();
                r.process(&self.stereo, &mut self.resampled);
                &self.resampled
            }
            None => &self.stereo,
        };
        out.reserve(samples.len() / CHANNELS * self.channels * self.format.bytes());
        for lr in samples.chunks_exact(CHANNELS) {
            match self.channels {
                // Mono: the average, so a centred (L = R) signal keeps its level.
                1 => encode(self.format, 0.5 * (lr[0] + lr[1]), &mut self.dither, out),
                n => {
                    encode(self.format, lr[0], &mut self.dither, out);
                    encode(self.format, lr[1], &mut self.dither, out);
                    for _ in 2..n {
                        encode(self.format, 0.0, &mut self.dither, out);
                    }
                }
            }
        }
    }

    /// After a pause: the resampler forgets the audio before it.
    pub fn reset(&mut self) {
        if let Some(r) = &mut self.resampler {
            r.reset();
        }
    }
}

/// TPDF dither of ±1 LSB (two uniform draws), from xorshift64: cheap and reproducible.
struct Dither(u64);

impl Dither {
    fn uniform(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64 - 0.5
    }
    fn tpdf(&mut self) -> f64 {
        self.uniform() + self.uniform()
    }
}

/// One sample, clipped to full scale. 16-bit gets TPDF dither (its quantisation error is
/// audible on quiet passages otherwise); 24 and 32 bits are rounded (their error is below any
/// DAC's own noise). Exact zeros stay exact zeros, dither or not: digital silence lets a DAC
/// or an I2S amplifier mute itself, and hiss between tracks on a loud amplifier is noticed.
fn encode(format: SampleFormat, s: f32, dither: &mut Dither, out: &mut Vec<u8>) {
    let x = if s.is_nan() {
        0.0
    } else {
        f64::from(s).clamp(-1.0, 1.0)
    };
    let le = format.little_endian();
    match format.bits() {
        0 => {
            let b = (x as f32).to_bits().to_le_bytes();
            push_ordered(out, &b, le);
        }
        bits => {
            let full = (1i64 << (bits - 1)) as f64;
            let d = if bits == 16 && x != 0.0 {
                dither.tpdf()
            } else {
                0.0
            };
            let v = (x * full + d).round().clamp(-full, full - 1.0) as i64 as i32;
            let b = v.to_le_bytes();
            match format.bytes() {
                2 => push_ordered(out, &b[..2], le),
                3 => push_ordered(out, &b[..3], le),
                // 24 in 32: the value in the low three bytes, sign-extended into the fourth.
                _ => push_ordered(out, &b, le),
            }
        }
    }
}

fn push_ordered(out: &mut Vec<u8>, le_bytes: &[u8], little: bool) {
    if little {
        out.extend_from_slice(le_bytes);
    } else {
        out.extend(le_bytes.iter().rev());
    }
}

/// Bytes of `format` back to samples in [-1, 1] (trailing bytes short of a sample are left).
pub fn decode(format: SampleFormat, bytes: &[u8]) -> Vec<f32> {
    let n = format.bytes();
    bytes
        .chunks_exact(n)
        .map(|c| {
            let mut le = [0u8; 4];
            for (i, b) in c.iter().enumerate() {
                le[if format.little_endian() { i } else { n - 1 - i }] = *b;
            }
            match format.bits() {
                0 => f32::from_bits(u32::from_le_bytes(le)),
                bits => {
                    // Sign-extend from the sample's width, then scale.
                    let width = 8 * n as u32;
                    let raw = i32::from_le_bytes(le) << (32 - width) >> (32 - width);
                    // A 24-in-32 word's upper byte only repeats the sign: mask it off.
                    let raw = if bits == 24 && n == 4 {
                        raw << 8 >> 8
                    } else {
                        raw
                    };
                    (f64::from(raw) / (1i64 << (bits - 1)) as f64) as f32
                }
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tone::{channel, dominant_frequency, rms_dbfs, sine};

    fn params(rate: u32, format: SampleFormat, channels: u32) -> Params {
        Params {
            rate,
            format,
            channels,
            period_frames: 960,
            buffer_frames: 7680,
        }
    }

    fn convert(p: &Params, frames: &[Frame], gain: f32) -> Vec<f32> {
        let mut c = Converter::new(p);
        let mut bytes = Vec::new();
        for f in frames {
            c.push(f, gain, &mut bytes);
        }
        assert_eq!(bytes.len() % p.frame_bytes(), 0);
        decode(p.format, &bytes)
    }

    /// The brief's matrix: a 1 kHz tone at −12 dBFS, measured on the device's side.
    #[test]
    fn tone_survives_every_rate_format_and_layout() {
        let tone = sine(1000.0, -12.0, 500);
        for rate in [48_000, 44_100] {
            for format in SampleFormat::ALL {
                for ch in [1u32, 2, 8] {
                    let p = params(rate, format, ch);
                    let out = convert(&p, &tone, 1.0);
                    let n = ch as usize;
                    let frames = out.len() / n;
                    let expect = rate as usize / 2;
                    assert!(frames.abs_diff(expect) < 64, "{p:?}: {frames} frames");
                    for c in 0..n.min(2) {
                        let s = channel(&out, n, c);
                        let steady = &s[s.len() / 4..];
                        let f = dominant_frequency(steady, rate).expect("a tone");
                        assert!((f - 1000.0).abs() < 0.5, "{p:?} ch{c}: {f} Hz");
                        let db = rms_dbfs(steady);
                        assert!((db + 12.0).abs() < 0.1, "{p:?} ch{c}: {db} dBFS");
                    }
                    for c in 2..n {
                        assert!(
                            channel(&out, n, c).iter().all(|&s| s == 0.0),
                            "{p:?} ch{c} not silent"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn gain_is_applied() {
        let p = params(48_000, SampleFormat::S32Le, 2);
        let out = convert(&p, &sine(1000.0, -12.0, 200), 0.5);
        let db = rms_dbfs(&channel(&out, 2, 0));
        assert!((db - (-12.0 - 6.0206)).abs() < 0.05, "{db}");
    }

    #[test]
    fn clipping_rounding_and_packing() {
        let mut d = Dither(1);
        let mut b = Vec::new();
        for s in [1.5, -1.5, 1.0, -1.0, f32::NAN, 0.0] {
            encode(SampleFormat::S24_3Le, s, &mut d, &mut b);
        }
        assert_eq!(
            b,
            [
                0xff, 0xff, 0x7f, 0x00, 0x00, 0x80, 0xff, 0xff, 0x7f, 0x00, 0x00, 0x80, 0, 0, 0, 0,
                0, 0
            ]
        );
        // Rounding, not truncation: half an LSB of 24 bits up is one LSB.
        b.clear();
        encode(SampleFormat::S24Le, 1.5 / 8_388_608.0, &mut d, &mut b);
        encode(SampleFormat::S24Le, -1.0 / 8_388_608.0, &mut d, &mut b);
        assert_eq!(b, [2, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]);
        // Big-endian is the same value, reversed.
        b.clear();
        encode(SampleFormat::S16Be, 0.0, &mut d, &mut b);
        encode(SampleFormat::S32Be, -1.0, &mut d, &mut b);
        encode(SampleFormat::FloatBe, 0.5, &mut d, &mut b);
        assert_eq!(b, [0, 0, 0x80, 0, 0, 0, 0x3f, 0, 0, 0]);
        // Full-scale S32 does not wrap around.
        b.clear();
        encode(SampleFormat::S32Le, 1.0, &mut d, &mut b);
        assert_eq!(b, i32::MAX.to_le_bytes());
    }

    #[test]
    fn dither_is_tpdf_and_silence_stays_silent() {
        let mut d = Dither(7);
        let mut b = Vec::new();
        // A constant a quarter LSB up: dithered, its average is kept (undithered it would
        // round to 0 every time).
        let quarter = 0.25 / 32768.0;
        for _ in 0..20_000 {
            encode(SampleFormat::S16Le, quarter, &mut d, &mut b);
        }
        let vals = decode(SampleFormat::S16Le, &b);
        let mean = vals.iter().map(|&v| f64::from(v) * 32768.0).sum::<f64>() / vals.len() as f64;
        assert!((mean - 0.25).abs() < 0.03, "{mean}");
        assert!(vals.iter().all(|v| (v * 32768.0).abs() <= 2.0));
        b.clear();
        for _ in 0..100 {
            encode(SampleFormat::S16Le, 0.0, &mut d, &mut b);
        }
        assert!(b.iter().all(|&x| x == 0));
    }

    #[test]
    fn decode_inverts_encode() {
        let mut d = Dither(3);
        for format in SampleFormat::ALL {
            let mut b = Vec::new();
            let xs = [0.0f32, 0.5, -0.5, 0.999, -1.0, 0.123_456];
            xs.iter().for_each(|&x| encode(format, x, &mut d, &mut b));
            assert_eq!(b.len(), xs.len() * format.bytes());
            let back = decode(format, &b);
            let lsb = if format.bits() == 0 {
                1e-7
            } else {
                2.5 / (1u64 << (format.bits() - 1)) as f32
            };
            for (x, y) in xs.iter().zip(&back) {
                assert!((x - y).abs() <= lsb, "{format}: {x} → {y}");
            }
        }
    }
}
