//! Hostile input: empty, junk, absurd headers, corrupt packets, truncation. Typed errors, never
//! a panic. (Memory bounds under huge tags are in `tests/memory.rs`, a process of its own.)

use crate::fixtures::{self, Fmt};

fn code(r: Result<(Vec<f32>, u64), audio::AudioError>) -> String {
    match r {
        Ok(_) => "ok".into(),
        Err(e) => e.code().into(),
    }
}

#[test]
fn zero_length_and_junk_are_refused_by_kind() {
    assert_eq!(code(fixtures::decode_bytes(Vec::new(), "mp3")), "empty");
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let junk: Vec<u8> = (0..256 * 1024)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    for ext in ["mp3", "flac", "ogg", "m4a", "wav", "bin"] {
        // Random bytes hold MPEG sync words now and then: a reader may take them, then fail.
        let c = code(fixtures::decode_bytes(junk.clone(), ext));
        assert!(c == "unsupported_format" || c == "corrupt", "{ext}: {c}");
    }
    assert_eq!(
        code(fixtures::decode_bytes(b"ID3".to_vec(), "mp3")),
        "corrupt"
    );
}

fn wav_header(rate: u32, channels: u16) -> Vec<u8> {
    let samples = vec![0.25f32; 4800 * usize::from(channels.clamp(1, 16))];
    let mut b = fixtures::wav_bytes(8000, channels.clamp(1, 16), &samples);
    b[22..24].copy_from_slice(&channels.to_le_bytes());
    b[24..28].copy_from_slice(&rate.to_le_bytes());
    b
}

#[test]
fn absurd_wav_headers_get_clear_errors() {
    for rate in [0, 1, 4_000, 400_000, 4_000_000, u32::MAX] {
        let c = code(fixtures::decode_bytes(wav_header(rate, 2), "wav"));
        assert!(
            c == "bad_sample_rate" || (rate == 0 && c == "corrupt"),
            "rate {rate}: {c}"
        );
    }
    for ch in [9u16, 17, 200, u16::MAX] {
        let c = code(fixtures::decode_bytes(wav_header(48_000, ch), "wav"));
        assert!(
            c == "too_many_channels" || c == "corrupt",
            "{ch} channels: {c}"
        );
    }
    let c = code(fixtures::decode_bytes(wav_header(48_000, 0), "wav"));
    assert_ne!(c, "ok");
}

#[test]
fn corrupt_packets_are_skipped_and_counted() {
    let dir = tempfile::tempdir().expect("tempdir");
    for fmt in [
        Fmt::Flac,
        Fmt::Mp3,
        Fmt::Vorbis,
        Fmt::Opus,
        Fmt::AacM4a,
        Fmt::AacAdts,
        Fmt::Alac,
        Fmt::Wav,
    ] {
        let path = fixtures::make_secs(dir.path(), fmt, 44_100, 2, 2.0);
        let clean = std::fs::read(&path).expect("read");
        let mut bytes = clean.clone();
        // Random bytes in three places (headers stay whole).
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for i in 0..3 {
            let at = bytes.len() * (2 + i) / 5;
            for b in &mut bytes[at..(at + 24).min(clean.len())] {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *b = x as u8;
            }
        }
        match fixtures::decode_bytes(bytes, fmt.ext()) {
            Ok((pcm, bad)) => {
                let secs = pcm.len() as f32 / 96_000.0;
                assert!(
                    secs > 1.4,
                    "{fmt:?}: only {secs} s of 2 s survived ({bad} bad packets)"
                );
                // AAC and ALAC packets fail in the decoder: skipped and counted. (FLAC's and
                // MP3's demuxers drop bad frames themselves, by CRC and resync.)
                if matches!(fmt, Fmt::AacM4a | Fmt::AacAdts | Fmt::Alac) {
                    assert!(bad > 0, "{fmt:?}: no bad packet counted");
                }
            }
            // symphonia's Ogg reader checks every page's CRC while it looks for the last page
            // (the duration) and refuses the file: known, see the crate docs.
            Err(e) if matches!(fmt, Fmt::Vorbis | Fmt::Opus) => {
                assert_eq!(e.code(), "corrupt", "{fmt:?}: {e}")
            }
            Err(e) => panic!("{fmt:?}: {e}"),
        }
    }
}

#[test]
fn truncated_files_end_early_or_fail_cleanly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let allowed = [
        "ok",
        "empty",
        "corrupt",
        "unsupported_format",
        "no_audio_track",
        "unsupported_codec",
    ];
    for fmt in [
        Fmt::Flac,
        Fmt::Mp3,
        Fmt::Vorbis,
        Fmt::Opus,
        Fmt::AacM4a,
        Fmt::AacAdts,
        Fmt::Alac,
        Fmt::Wav,
    ] {
        let path = fixtures::make_secs(dir.path(), fmt, 44_100, 2, 1.0);
        let bytes = std::fs::read(&path).expect("read");
        let mut cuts: Vec<usize> = (1..24).collect();
        cuts.extend((1..20).map(|i| i * bytes.len() / 20));
        for cut in cuts {
            let c = code(fixtures::decode_bytes(
                bytes[..cut.min(bytes.len())].to_vec(),
                fmt.ext(),
            ));
            assert!(allowed.contains(&c.as_str()), "{fmt:?} cut at {cut}: {c}");
        }
    }
}
