//! Loudness: tones measure what they should; tags (ReplayGain, R128, title…) are read and
//! honoured by the player.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use audio::player::{player, EntryId, PlayerConfig, Pulled};
use audio::scan::{scan_file, ScanOptions};

use crate::fixtures::{self, Fmt};

#[test]
fn scans_measure_the_tone_at_its_loudness() {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = ScanOptions {
        measure: true,
        ..ScanOptions::default()
    };
    for (fmt, ch) in [
        (Fmt::Wav, 2),
        (Fmt::Flac, 2),
        (Fmt::Mp3, 2),
        (Fmt::Opus, 2),
        (Fmt::Wav, 1),
        (Fmt::Vorbis, 6),
    ] {
        let path = fixtures::make_secs(dir.path(), fmt, 44_100, ch, 3.0);
        let info = scan_file(&path, &opts).expect("scan");
        let l = info.loudness.expect("measured");
        // A stereo 1 kHz sine at −12 dBFS peak is −12 LUFS (BS.1770); mono plays on both sides.
        assert!(
            (l.integrated_lufs - -12.0).abs() < 0.5,
            "{fmt:?} {ch} ch: {l:?}"
        );
        assert!((l.gain_db - -6.0).abs() < 0.5, "{fmt:?}: {l:?}");
        assert_eq!(info.rate, if fmt == Fmt::Opus { 48_000 } else { 44_100 });
        let d = info.duration_ms.expect("duration");
        assert!((2900..=3200).contains(&d), "{fmt:?}: {d} ms");
    }
}

const TAGS: [&str; 12] = [
    "-metadata",
    "title=Hello",
    "-metadata",
    "artist=Ann",
    "-metadata",
    "album=Rooms",
    "-metadata",
    "track=3",
    "-metadata",
    "REPLAYGAIN_TRACK_GAIN=-6.00 dB",
    "-metadata",
    "REPLAYGAIN_TRACK_PEAK=0.250000",
];

#[test]
fn tags_are_read_and_replaygain_is_honoured() {
    let dir = tempfile::tempdir().expect("tempdir");
    for fmt in [Fmt::Flac, Fmt::Mp3, Fmt::Vorbis, Fmt::Opus] {
        let path = fixtures::make(dir.path(), fmt, 44_100, 2, &TAGS);
        let info = scan_file(&path, &ScanOptions::default()).expect("scan");
        assert_eq!(info.title, "Hello", "{fmt:?}");
        assert_eq!(info.artist.as_deref(), Some("Ann"), "{fmt:?}");
        assert_eq!(info.album.as_deref(), Some("Rooms"), "{fmt:?}");
        assert_eq!(info.track_number, Some(3), "{fmt:?}");
        let rg = info
            .replaygain
            .unwrap_or_else(|| panic!("{fmt:?}: no ReplayGain in {info:?}"));
        assert_eq!(rg.track_gain_db, -6.0, "{fmt:?}");
        assert_eq!(rg.track_peak, Some(0.25), "{fmt:?}");

        // The player plays it at the tag's gain (target −18 LUFS = ReplayGain 2's reference).
        let (p, mut out) = player(PlayerConfig::default(), |_| {});
        let opener_path = path.clone();
        p.load(
            EntryId(1),
            Box::new(move || {
                let f = std::fs::File::open(&opener_path)
                    .map_err(|e| audio::AudioError::Io(e.to_string()))?;
                Ok((
                    Box::new(f) as Box<dyn audio::MediaSource>,
                    fixtures::hint(&opener_path),
                ))
            }),
            0,
            None,
        );
        let gain = first_gain(&mut out);
        assert_eq!(gain, -6.0, "{fmt:?}");
    }
}

fn first_gain(out: &mut audio::player::PlayerOutput) -> f32 {
    let mut f = [0.0; audio::FRAME_LEN];
    for _ in 0..500 {
        if let Pulled::Frame { gain_db } = out.pull(&mut f) {
            return gain_db;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    panic!("no frame");
}

#[test]
fn without_tags_the_title_is_the_file_name_and_the_gain_adapts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = fixtures::make_secs(dir.path(), Fmt::Flac, 48_000, 2, 3.0);
    let info = scan_file(&path, &ScanOptions::default()).expect("scan");
    assert_eq!(
        info.title,
        path.file_stem().expect("stem").to_string_lossy()
    );
    assert!(info.replaygain.is_none() && info.loudness.is_none());

    // A given gain (a library measurement) wins over everything.
    let events = Arc::new(Mutex::new(Vec::new()));
    let ev = events.clone();
    let (p, mut out) = player(PlayerConfig::default(), move |e| {
        ev.lock().expect("lock").push(e)
    });
    let path2 = path.clone();
    p.load(
        EntryId(2),
        Box::new(move || {
            let f =
                std::fs::File::open(&path2).map_err(|e| audio::AudioError::Io(e.to_string()))?;
            Ok((
                Box::new(f) as Box<dyn audio::MediaSource>,
                fixtures::hint(&path2),
            ))
        }),
        0,
        Some(-3.5),
    );
    assert_eq!(first_gain(&mut out), -3.5);
}

#[test]
fn a_flac_cover_is_returned_and_capped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = fixtures::make_secs(dir.path(), Fmt::Flac, 44_100, 2, 1.0);
    let flac = std::fs::read(&path).expect("read");
    let small = dir.path().join("cover.flac");
    std::fs::write(
        &small,
        fixtures::flac_with_picture(&flac, &fixtures::fake_jpeg(5000), None),
    )
    .expect("write");
    let info = scan_file(&small, &ScanOptions::default()).expect("scan");
    let cover = info.cover.expect("cover");
    assert_eq!(
        (cover.mime.as_str(), cover.data.len()),
        ("image/jpeg", 5000)
    );
    let capped = ScanOptions {
        max_cover_bytes: 4000,
        ..ScanOptions::default()
    };
    assert!(scan_file(&small, &capped).expect("scan").cover.is_none());
}
