//! Every format at several rates and channel counts: decoded to the internal format, the tone's
//! frequency, level and duration survive; and again after Opus and back.

use crate::fixtures::{self, Fmt, FREQ, RMS_DB, SECS};

const RATES: [u32; 5] = [8_000, 22_050, 44_100, 48_000, 96_000];

fn cases() -> Vec<(Fmt, u32, usize)> {
    let mut v = Vec::new();
    for fmt in Fmt::ALL {
        for rate in RATES {
            v.push((fmt, rate, 2));
        }
        v.push((fmt, 44_100, 1));
        v.push((fmt, 48_000, 6));
    }
    v.retain(|&(f, r, c)| f.supports(r, c));
    v
}

#[test]
fn every_format_rate_and_layout_decodes_to_the_tone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut failures = Vec::new();
    for (fmt, rate, ch) in cases() {
        let path = fixtures::make(dir.path(), fmt, rate, ch, &[]);
        let label = format!("{fmt:?} {rate} Hz {ch} ch");
        let aac = matches!(fmt, Fmt::AacM4a | Fmt::AacAdts);
        let pcm = match fixtures::decode_file(&path) {
            // symphonia's AAC-LC decoder does mono and stereo only: a clear refusal is right.
            Err(e) if aac && ch > 2 && e.code() == "unsupported_codec" => continue,
            Ok(p) => p,
            Err(e) => {
                failures.push(format!("{label}: {e} ({})", e.code()));
                continue;
            }
        };
        let m = fixtures::measure(&pcm, 48_000);
        // Lossy codecs add up to ~100 ms of priming/padding; a 20 ms frame rounds up. AAC is not
        // gapless in symphonia: its 2048 samples of priming and padding stay.
        let slack = 0.12 + if aac { 2048.0 / rate as f32 } else { 0.0 };
        let ok_len = (m.secs - SECS).abs() < slack;
        let ok_freq = (m.freq - FREQ).abs() < 3.0;
        let ok_level = (m.rms_db - RMS_DB).abs() < 1.0;
        let o = fixtures::measure(&fixtures::through_opus(&pcm), 48_000);
        let ok_opus = (o.freq - FREQ).abs() < 3.0 && (o.rms_db - RMS_DB).abs() < 1.0;
        if !(ok_len && ok_freq && ok_level && ok_opus) {
            failures.push(format!(
                "{label}: {:.3} s, {:.1} Hz, {:.2} dB; after Opus {:.1} Hz, {:.2} dB",
                m.secs, m.freq, m.rms_db, o.freq, o.rms_db
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases:\n{}",
        failures.len(),
        cases().len(),
        failures.join("\n")
    );
}

#[test]
fn the_surround_lfe_is_dropped_in_the_downmix() {
    // The 5.1 fixture carries 60 Hz only in its LFE: after the downmix it must be gone.
    let dir = tempfile::tempdir().expect("tempdir");
    for fmt in [Fmt::Wav, Fmt::Flac, Fmt::Vorbis, Fmt::Opus, Fmt::Alac] {
        let path = fixtures::make(dir.path(), fmt, 48_000, 6, &[]);
        let pcm = fixtures::decode_file(&path).expect("decode");
        let left: Vec<f32> = pcm.chunks_exact(2).map(|p| p[0]).collect();
        let p60 = goertzel(&left, 60.0);
        let p1k = goertzel(&left, 1000.0);
        assert!(p60 < p1k * 1e-3, "{fmt:?}: 60 Hz {p60} vs 1 kHz {p1k}");
    }
}

fn goertzel(x: &[f32], freq: f32) -> f64 {
    let w = 2.0 * std::f64::consts::PI * f64::from(freq) / 48_000.0;
    let c = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &v in x {
        let s = f64::from(v) + c * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    (s1 * s1 + s2 * s2 - c * s1 * s2) / (x.len() as f64).powi(2)
}

#[test]
fn seeking_lands_where_asked() {
    let dir = tempfile::tempdir().expect("tempdir");
    for fmt in [
        Fmt::Wav,
        Fmt::Flac,
        Fmt::Mp3,
        Fmt::Vorbis,
        Fmt::Opus,
        Fmt::AacM4a,
    ] {
        let path = fixtures::make(dir.path(), fmt, 44_100, 2, &[]);
        let file = std::fs::File::open(&path).expect("open");
        let mut r = audio::frames::FrameReader::open(
            Box::new(file),
            &fixtures::hint(&path),
            &Default::default(),
        )
        .expect("open");
        r.seek(2000).expect("seek");
        let mut f = [0.0; audio::FRAME_LEN];
        let mut n = 0;
        while r.next_frame(&mut f).expect("frame") {
            n += 1;
        }
        let left_ms = n * 20;
        assert!(
            (900..=1150).contains(&left_ms),
            "{fmt:?}: {left_ms} ms after a seek to 2 s of 3 s"
        );
    }
}
