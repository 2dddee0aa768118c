//! Memory stays bounded under hostile metadata: a many-MB ID3v2 tag, a many-MB FLAC picture.
//! In a process of its own (not `tests/pipeline`), so other tests' allocations do not blur the
//! resident-set figures; the cases run one after the other.

use std::io::Write;
use std::path::Path;
use std::process::Command;

use audio::frames::FrameReader;
use audio::scan::{scan_file, ScanOptions};
use audio::{Frame, FRAME_LEN};

fn rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

fn ffmpeg(args: &[&str]) {
    let ok = Command::new("ffmpeg")
        .args(["-nostdin", "-y", "-v", "error"])
        .args(args)
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "ffmpeg failed or is missing: `make test` installs it (Debian's ffmpeg package)"
    );
}

/// Decodes a whole file; returns seconds of audio and the peak RSS growth seen (kB).
fn decode_watching_rss(path: &Path) -> (f32, u64) {
    let base = rss_kb();
    let f = std::fs::File::open(path).expect("open");
    let mut r = FrameReader::open(
        Box::new(f),
        &audio::scan::hint_for_path(path),
        &Default::default(),
    )
    .expect("open");
    let mut frame: Frame = [0.0; FRAME_LEN];
    let mut n = 0u32;
    let mut peak = 0;
    while r.next_frame(&mut frame).expect("frame") {
        n += 1;
        peak = peak.max(rss_kb().saturating_sub(base));
    }
    (n as f32 * 0.02, peak)
}

#[test]
fn huge_tags_and_pictures_cost_no_memory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let src = d.join("tone.wav");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=1000:duration=3:sample_rate=44100",
        "-ac",
        "2",
        src.to_str().expect("path"),
    ]);
    let mp3 = d.join("tone.mp3");
    ffmpeg(&[
        "-i",
        src.to_str().expect("path"),
        "-c:a",
        "libmp3lame",
        "-id3v2_version",
        "0",
        mp3.to_str().expect("path"),
    ]);
    let flac = d.join("tone.flac");
    ffmpeg(&[
        "-i",
        src.to_str().expect("path"),
        "-c:a",
        "flac",
        flac.to_str().expect("path"),
    ]);

    // An MP3 behind a 40 MB ID3v2.3 tag (one APIC frame), written in pieces.
    let big = d.join("big-id3.mp3");
    {
        let pic: u32 = 40 << 20;
        let frame_body = 1 + 11 + 1 + 1 + pic;
        let tag_size = 10 + frame_body;
        let mut f = std::io::BufWriter::new(std::fs::File::create(&big).expect("create"));
        let syncsafe = |v: u32| {
            [
                (v >> 21) as u8 & 0x7f,
                (v >> 14) as u8 & 0x7f,
                (v >> 7) as u8 & 0x7f,
                v as u8 & 0x7f,
            ]
        };
        f.write_all(b"ID3\x03\x00\x00").expect("w");
        f.write_all(&syncsafe(tag_size)).expect("w");
        f.write_all(b"APIC").expect("w");
        f.write_all(&frame_body.to_be_bytes()).expect("w");
        f.write_all(&[0, 0, 0]).expect("w");
        f.write_all(b"image/jpeg\0\x03\0").expect("w");
        f.write_all(&[0xff, 0xd8, 0xff, 0xe0]).expect("w");
        let chunk = vec![0x11u8; 1 << 20];
        for i in 0..40 {
            f.write_all(if i == 0 { &chunk[4..] } else { &chunk })
                .expect("w");
        }
        f.write_all(&std::fs::read(&mp3).expect("mp3")).expect("w");
    }
    let (secs, grew) = decode_watching_rss(&big);
    assert!((2.9..3.2).contains(&secs), "{secs} s");
    assert!(grew < 12 * 1024, "RSS grew {grew} kB behind a 40 MB tag");

    // A FLAC with a 14 MB picture (over the 4 MiB cover cap): plays, no cover, little memory.
    let pic_flac = d.join("big-picture.flac");
    {
        let bytes = std::fs::read(&flac).expect("flac");
        let mut pic = vec![0x11u8; 14 << 20];
        pic[..4].copy_from_slice(&[0xff, 0xd8, 0xff, 0xe0]);
        let with = flac_with_picture(&bytes, &pic);
        drop(pic);
        std::fs::write(&pic_flac, with).expect("write");
    }
    let (secs, grew) = decode_watching_rss(&pic_flac);
    assert!((2.9..3.2).contains(&secs), "{secs} s");
    assert!(grew < 8 * 1024, "RSS grew {grew} kB with a 14 MB picture");
    let base = rss_kb();
    let info = scan_file(&pic_flac, &ScanOptions::default()).expect("scan");
    assert!(info.cover.is_none());
    assert!(rss_kb().saturating_sub(base) < 8 * 1024);
}

fn flac_with_picture(flac: &[u8], data: &[u8]) -> Vec<u8> {
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
    body.extend((data.len() as u32).to_be_bytes());
    body.extend(data);
    let mut out = flac[..4].to_vec();
    out.push(flac[4] & 0x7f);
    out.extend(&flac[5..8 + info_len]);
    out.push(info_last | 6);
    out.extend(&(body.len() as u32).to_be_bytes()[1..]);
    out.extend(body);
    out.extend(&flac[8 + info_len..]);
    out
}
