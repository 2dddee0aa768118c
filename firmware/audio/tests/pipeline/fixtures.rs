//! Fixtures made at test time: tones written as WAV here, every other format by Debian's ffmpeg
//! (never committed binaries), and the measurements the tests check them with.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use audio::frames::FrameReader;
use audio::{Frame, Hint, FRAME_LEN};

pub const FREQ: f32 = 1000.0;
pub const DBFS: f32 = -12.0;
/// RMS of a sine at `DBFS` peak.
pub const RMS_DB: f32 = DBFS - 3.0103;
pub const SECS: f32 = 3.0;

pub fn ffmpeg() -> &'static str {
    static OK: OnceLock<bool> = OnceLock::new();
    let ok = *OK.get_or_init(|| {
        Command::new("ffmpeg")
            .arg("-version")
            .output()
            .is_ok_and(|o| o.status.success())
    });
    assert!(ok, "ffmpeg is missing: `make test` installs it (Debian's ffmpeg package makes the test fixtures)");
    "ffmpeg"
}

/// A sine of `freq` at `dbfs` peak in every main channel (the LFE of 5.1 gets 60 Hz instead).
pub fn tone(rate: u32, channels: usize, secs: f32, freq: f32, dbfs: f32) -> Vec<f32> {
    let amp = 10f32.powf(dbfs / 20.0);
    let n = (rate as f32 * secs) as usize;
    let mut out = Vec::with_capacity(n * channels);
    for i in 0..n {
        let t = i as f64 / f64::from(rate);
        let s = amp * (2.0 * std::f64::consts::PI * f64::from(freq) * t).sin() as f32;
        for c in 0..channels {
            out.push(if channels == 6 && c == 3 {
                amp * (2.0 * std::f64::consts::PI * 60.0 * t).sin() as f32
            } else {
                s
            });
        }
    }
    out
}

/// 16-bit PCM WAV (WAVE_FORMAT_EXTENSIBLE with the standard mask above two channels).
pub fn wav_bytes(rate: u32, channels: u16, samples: &[f32]) -> Vec<u8> {
    let data_len = (samples.len() * 2) as u32;
    let ext = channels > 2;
    let fmt_len: u32 = if ext { 40 } else { 16 };
    let mut b = Vec::with_capacity(data_len as usize + 80);
    b.extend(b"RIFF");
    b.extend((4 + 8 + fmt_len + 8 + data_len).to_le_bytes());
    b.extend(b"WAVEfmt ");
    b.extend(fmt_len.to_le_bytes());
    b.extend((if ext { 0xfffeu16 } else { 1 }).to_le_bytes());
    b.extend(channels.to_le_bytes());
    b.extend(rate.to_le_bytes());
    b.extend((rate * u32::from(channels) * 2).to_le_bytes());
    b.extend((channels * 2).to_le_bytes());
    b.extend(16u16.to_le_bytes());
    if ext {
        b.extend(22u16.to_le_bytes());
        b.extend(16u16.to_le_bytes());
        let mask: u32 = if channels == 6 {
            0x3f
        } else {
            (1u32 << channels) - 1
        };
        b.extend(mask.to_le_bytes());
        // KSDATAFORMAT_SUBTYPE_PCM
        b.extend([
            1, 0, 0, 0, 0, 0, 0x10, 0, 0x80, 0, 0, 0xaa, 0, 0x38, 0x9b, 0x71,
        ]);
    }
    b.extend(b"data");
    b.extend(data_len.to_le_bytes());
    for s in samples {
        b.extend(((s.clamp(-1.0, 1.0) * 32767.0).round() as i16).to_le_bytes());
    }
    b
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fmt {
    Wav,
    Mp3,
    Flac,
    AacM4a,
    AacAdts,
    Vorbis,
    Opus,
    Alac,
}

impl Fmt {
    pub const ALL: [Fmt; 8] = [
        Fmt::Wav,
        Fmt::Mp3,
        Fmt::Flac,
        Fmt::AacM4a,
        Fmt::AacAdts,
        Fmt::Vorbis,
        Fmt::Opus,
        Fmt::Alac,
    ];

    pub fn ext(self) -> &'static str {
        match self {
            Fmt::Wav => "wav",
            Fmt::Mp3 => "mp3",
            Fmt::Flac => "flac",
            Fmt::AacM4a => "m4a",
            Fmt::AacAdts => "aac",
            Fmt::Vorbis => "ogg",
            Fmt::Opus => "opus",
            Fmt::Alac => "m4a",
        }
    }

    fn args(self) -> &'static [&'static str] {
        match self {
            Fmt::Wav => &[],
            Fmt::Mp3 => &["-c:a", "libmp3lame", "-b:a", "192k"],
            Fmt::Flac => &["-c:a", "flac"],
            Fmt::AacM4a => &["-c:a", "aac", "-b:a", "192k"],
            Fmt::AacAdts => &["-c:a", "aac", "-b:a", "192k", "-f", "adts"],
            Fmt::Vorbis => &["-c:a", "libvorbis", "-q:a", "6"],
            Fmt::Opus => &["-c:a", "libopus", "-b:a", "160k"],
            Fmt::Alac => &["-c:a", "alac"],
        }
    }

    /// What the encoders accept.
    pub fn supports(self, rate: u32, channels: usize) -> bool {
        match self {
            Fmt::Mp3 => rate <= 48_000 && channels <= 2,
            _ => true,
        }
    }
}

/// Writes a tone fixture (WAV by hand, the rest through ffmpeg) and returns its path.
pub fn make(dir: &Path, fmt: Fmt, rate: u32, channels: usize, extra: &[&str]) -> PathBuf {
    let name = format!("tone-{rate}-{channels}-{:?}{}", fmt, extra.len());
    let wav = dir.join(format!("{name}.src.wav"));
    std::fs::write(
        &wav,
        wav_bytes(
            rate,
            channels as u16,
            &tone(rate, channels, SECS, FREQ, DBFS),
        ),
    )
    .expect("write wav");
    if fmt == Fmt::Wav && extra.is_empty() {
        return wav;
    }
    let out = dir.join(format!("{name}.{}", fmt.ext()));
    encode(&wav, &out, fmt, extra);
    out
}

pub fn encode(input: &Path, out: &Path, fmt: Fmt, extra: &[&str]) {
    let status = Command::new(ffmpeg())
        .args(["-nostdin", "-y", "-v", "error", "-i"])
        .arg(input)
        .args(fmt.args())
        .args(extra)
        .arg(out)
        .status()
        .expect("run ffmpeg");
    assert!(
        status.success(),
        "ffmpeg failed for {fmt:?} {}",
        out.display()
    );
}

pub fn hint(path: &Path) -> Hint {
    audio::scan::hint_for_path(path)
}

/// Decodes a file to the internal format.
pub fn decode_file(path: &Path) -> Result<Vec<f32>, audio::AudioError> {
    let file = std::fs::File::open(path).expect("open fixture");
    let mut r = FrameReader::open(Box::new(file), &hint(path), &Default::default())?;
    let mut all = Vec::new();
    let mut f: Frame = [0.0; FRAME_LEN];
    while r.next_frame(&mut f)? {
        all.extend_from_slice(&f);
    }
    Ok(all)
}

pub struct Measured {
    pub freq: f32,
    pub rms_db: f32,
    pub secs: f32,
}

/// Frequency (upward zero crossings, interpolated) and RMS of the left channel's middle, away
/// from codec start-up and the tail.
pub fn measure(stereo: &[f32], rate: u32) -> Measured {
    let left: Vec<f32> = stereo.chunks_exact(2).map(|p| p[0]).collect();
    let secs = left.len() as f32 / rate as f32;
    let mid = &left[left.len() / 5..left.len() * 4 / 5];
    let rms = (mid.iter().map(|s| f64::from(*s).powi(2)).sum::<f64>() / mid.len() as f64).sqrt();
    let mut first = None;
    let mut last = 0.0;
    let mut count = 0;
    for i in 1..mid.len() {
        if mid[i - 1] < 0.0 && mid[i] >= 0.0 {
            let at = (i - 1) as f64 + f64::from(-mid[i - 1] / (mid[i] - mid[i - 1]));
            if first.is_none() {
                first = Some(at);
            } else {
                count += 1;
            }
            last = at;
        }
    }
    let freq = match first {
        Some(f) if last > f => (count as f64 * f64::from(rate) / (last - f)) as f32,
        _ => 0.0,
    };
    Measured {
        freq,
        rms_db: (20.0 * rms.max(1e-12).log10()) as f32,
        secs,
    }
}

/// Encodes frames to Opus with the crate's encoder and decodes them back with libopus.
pub fn through_opus(stereo: &[f32]) -> Vec<f32> {
    let mut enc = audio::encode::OpusEncoder::new(&Default::default()).expect("encoder");
    let mut dec = opus::Decoder::new(48_000, opus::Channels::Stereo).expect("decoder");
    let mut out = Vec::with_capacity(stereo.len());
    let mut pcm = vec![0.0f32; FRAME_LEN];
    for (i, chunk) in stereo.chunks_exact(FRAME_LEN).enumerate() {
        let frame: &Frame = chunk.try_into().expect("frame");
        let packet = enc.encode(frame, i as u64).expect("encode");
        let n = dec
            .decode_float(&packet.data, &mut pcm, false)
            .expect("decode");
        out.extend_from_slice(&pcm[..n * 2]);
    }
    out
}

/// A tone fixture of `secs` seconds.
pub fn make_secs(dir: &Path, fmt: Fmt, rate: u32, channels: usize, secs: f32) -> PathBuf {
    let wav = dir.join(format!("short-{rate}-{channels}-{fmt:?}-{secs}.src.wav"));
    std::fs::write(
        &wav,
        wav_bytes(
            rate,
            channels as u16,
            &tone(rate, channels, secs, FREQ, DBFS),
        ),
    )
    .expect("write wav");
    if fmt == Fmt::Wav {
        return wav;
    }
    let out = dir.join(format!(
        "short-{rate}-{channels}-{fmt:?}-{secs}.{}",
        fmt.ext()
    ));
    encode(&wav, &out, fmt, &[]);
    out
}

/// Decodes bytes; the internal-format audio and the count of skipped packets.
pub fn decode_bytes(bytes: Vec<u8>, ext: &str) -> Result<(Vec<f32>, u64), audio::AudioError> {
    let mut hint = Hint::new();
    hint.with_extension(ext);
    let mut r = FrameReader::open(
        Box::new(std::io::Cursor::new(bytes)),
        &hint,
        &Default::default(),
    )?;
    let mut all = Vec::new();
    let mut f: Frame = [0.0; FRAME_LEN];
    while r.next_frame(&mut f)? {
        all.extend_from_slice(&f);
    }
    Ok((all, r.decoder().bad_packets()))
}

/// Inserts a FLAC PICTURE block (of `data`) right after STREAMINFO.
pub fn flac_with_picture(flac: &[u8], data: &[u8], declared_len: Option<u32>) -> Vec<u8> {
    assert_eq!(&flac[..4], b"fLaC");
    let info_last = flac[4] & 0x80;
    let info_len = u32::from_be_bytes([0, flac[5], flac[6], flac[7]]) as usize;
    let mut body = Vec::new();
    body.extend(3u32.to_be_bytes());
    body.extend(10u32.to_be_bytes());
    body.extend(b"image/jpeg");
    body.extend(0u32.to_be_bytes());
    for v in [1u32, 1, 24, 0] {
        body.extend(v.to_be_bytes());
    }
    body.extend(declared_len.unwrap_or(data.len() as u32).to_be_bytes());
    body.extend(data);
    let len = body.len() as u32;
    assert!(len < 1 << 24);
    let mut out = flac[..4].to_vec();
    out.push(flac[4] & 0x7f);
    out.extend(&flac[5..8 + info_len]);
    out.push(info_last | 6);
    out.extend(&len.to_be_bytes()[1..]);
    out.extend(body);
    out.extend(&flac[8 + info_len..]);
    out
}

/// A small valid-looking JPEG payload (magic bytes, then filler).
pub fn fake_jpeg(len: usize) -> Vec<u8> {
    let mut v = vec![0xff, 0xd8, 0xff, 0xe0];
    v.resize(len, 0x11);
    v
}
