//! `make bench`: the DJ pipeline's cost.
//!
//! 1. Decode + resample + gain + Opus encode of a 60 s music-like file per format, as a
//!    real-time factor (audio seconds per CPU second, and per wall second), beside
//!    `ffmpeg -threads 1 -i FILE -c:a libopus -b:a 128k -f ogg /dev/null` on the same file
//!    (its CPU time from this process's waited-for children, /proc/self/stat).
//! 2. The DJ engine playing in real time for 10 s: CPU share of one core (process CPU / wall)
//!    and memory (VmRSS, VmHWM).
//!
//! The goal from the issue: at least ffmpeg's speed, and a DJ stream under 5 % of a core.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use audio::encode::{OpusConfig, OpusEncoder};
use audio::engine::{Engine, EngineConfig};
use audio::frames::FrameReader;
use audio::loudness::GainStage;
use audio::player::{player, EntryId, PlayerConfig};
use audio::{AudioError, MediaSource, FRAME_LEN};

const SECS: u32 = 60;

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = make_music(dir.path());
    let files = [
        ("FLAC 44.1k", "flac", vec!["-c:a", "flac", "-ar", "44100"]),
        (
            "MP3 44.1k",
            "mp3",
            vec!["-c:a", "libmp3lame", "-b:a", "192k", "-ar", "44100"],
        ),
        (
            "AAC 44.1k",
            "m4a",
            vec!["-c:a", "aac", "-b:a", "192k", "-ar", "44100"],
        ),
        (
            "Vorbis 44.1k",
            "ogg",
            vec!["-c:a", "libvorbis", "-q:a", "6", "-ar", "44100"],
        ),
        ("Opus 48k", "opus", vec!["-c:a", "libopus", "-b:a", "160k"]),
        ("ALAC 44.1k", "m4a", vec!["-c:a", "alac", "-ar", "44100"]),
        ("WAV 48k", "wav", vec!["-c:a", "pcm_s16le", "-ar", "48000"]),
        ("FLAC 96k", "flac", vec!["-c:a", "flac", "-ar", "96000"]),
    ];
    println!("decode + resample + gain + Opus 128 kb/s, {SECS} s of music-like audio, one thread");
    println!(
        "{:<13} {:>14} {:>14} {:>15} {:>16}",
        "format", "ours cpu (x)", "ours wall (x)", "ours c10 cpu", "ffmpeg cpu (x)"
    );
    for (i, (label, ext, args)) in files.iter().enumerate() {
        let path = dir.path().join(format!("music-{i}.{ext}"));
        ffmpeg(
            &[
                &["-i", src.to_str().expect("path")],
                &args[..],
                &[path.to_str().expect("path")],
            ]
            .concat(),
        );
        let (cpu, wall) = ours(&path, 8);
        let (cpu10, _) = ours(&path, 10);
        let theirs = ffmpeg_cpu(&path);
        let x = |t: f64| f64::from(SECS) / t.max(1e-6);
        println!(
            "{label:<13} {:>14.0} {:>14.0} {:>15.0} {:>16.0}",
            x(cpu),
            x(wall),
            x(cpu10),
            x(theirs)
        );
    }
    engine_realtime(&dir.path().join("music-0.flac"));
}

fn make_music(dir: &Path) -> PathBuf {
    let out = dir.join("music.wav");
    let graph = format!(
        "sine=frequency=110:duration={SECS}[a];sine=frequency=277:duration={SECS}[b];\
         sine=frequency=1244:duration={SECS}[c];anoisesrc=color=pink:amplitude=0.2:duration={SECS}[d];\
         [a][b][c][d]amix=inputs=4,tremolo=f=2:d=0.6,aformat=channel_layouts=stereo,aecho=0.8:0.7:60:0.4"
    );
    ffmpeg(&[
        "-filter_complex",
        &graph,
        "-ar",
        "48000",
        out.to_str().expect("path"),
    ]);
    out
}

fn ffmpeg(args: &[&str]) {
    let ok = Command::new("ffmpeg")
        .args(["-nostdin", "-y", "-v", "error"])
        .args(args)
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "ffmpeg failed or is missing (`make deps` installs Debian's ffmpeg)"
    );
}

/// This thread's CPU time (scheduler nanoseconds).
fn thread_cpu() -> f64 {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").expect("schedstat");
    s.split_whitespace()
        .next()
        .and_then(|v| v.parse::<f64>().ok())
        .expect("run time")
        / 1e9
}

/// Fields of /proc/self/stat after the command name: (utime+stime, cutime+cstime) in seconds.
fn process_cpu() -> (f64, f64) {
    let s = std::fs::read_to_string("/proc/self/stat").expect("stat");
    let rest = &s[s.rfind(')').expect("stat") + 2..];
    let f: Vec<f64> = rest
        .split_whitespace()
        .map(|v| v.parse().unwrap_or(0.0))
        .collect();
    // After ")": state(0) ... utime(11) stime(12) cutime(13) cstime(14); USER_HZ is 100 on Linux.
    ((f[11] + f[12]) / 100.0, (f[13] + f[14]) / 100.0)
}

fn ours(path: &Path, complexity: i32) -> (f64, f64) {
    let (cpu0, wall0) = (thread_cpu(), Instant::now());
    let f = std::fs::File::open(path).expect("open");
    let mut r = FrameReader::open(
        Box::new(f),
        &audio::scan::hint_for_path(path),
        &Default::default(),
    )
    .expect("open");
    let mut enc = OpusEncoder::new(&OpusConfig {
        complexity,
        ..OpusConfig::default()
    })
    .expect("encoder");
    let mut stage = GainStage::new();
    let mut frame = [0.0; FRAME_LEN];
    let mut bytes = 0;
    let mut tick = 0;
    while r.next_frame(&mut frame).expect("decode") {
        stage.apply(&mut frame, -3.0, 1.0);
        bytes += enc.encode(&frame, tick).expect("encode").data.len();
        tick += 1;
    }
    assert!(tick >= u64::from(SECS) * 50 - 10 && bytes > 0);
    (thread_cpu() - cpu0, wall0.elapsed().as_secs_f64())
}

fn ffmpeg_cpu(path: &Path) -> f64 {
    let before = process_cpu().1;
    let p = path.to_str().expect("path");
    ffmpeg(&[
        "-threads",
        "1",
        "-i",
        p,
        "-c:a",
        "libopus",
        "-b:a",
        "128k",
        "-f",
        "ogg",
        "/dev/null",
    ]);
    process_cpu().1 - before
}

fn status_kb(key: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").expect("status");
    s.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn engine_realtime(path: &Path) {
    let run = Duration::from_secs(10);
    let rss0 = status_kb("VmRSS:");
    let (p, out) = player(PlayerConfig::default(), |_| {});
    let bytes = Arc::new(AtomicU64::new(0));
    let frames = Arc::new(AtomicU64::new(0));
    let (b, n) = (bytes.clone(), frames.clone());
    let engine = Engine::spawn(
        out,
        Box::new(move |f| {
            b.fetch_add(f.data.len() as u64, Ordering::Relaxed);
            n.fetch_add(1, Ordering::Relaxed);
        }),
        None,
        EngineConfig::default(),
    )
    .expect("engine");
    let path = path.to_owned();
    let (cpu0, wall0) = (process_cpu().0, Instant::now());
    p.load(
        EntryId(1),
        Box::new(move || {
            let f = std::fs::File::open(&path).map_err(|e| AudioError::Io(e.to_string()))?;
            Ok((
                Box::new(f) as Box<dyn MediaSource>,
                audio::scan::hint_for_path(&path),
            ))
        }),
        0,
        None,
    );
    let mut rss_max = 0;
    while wall0.elapsed() < run {
        std::thread::sleep(Duration::from_millis(200));
        rss_max = rss_max.max(status_kb("VmRSS:"));
    }
    let (cpu, wall) = (process_cpu().0 - cpu0, wall0.elapsed().as_secs_f64());
    let stats = engine.stats();
    drop(engine);
    let sent = frames.load(Ordering::Relaxed);
    println!();
    println!(
        "DJ engine in real time ({:.0} s, FLAC 44.1k → 48k Opus 128 kb/s, decode ahead 3 s):",
        wall
    );
    println!(
        "  cpu {:.2} % of one core; {} frames sent ({:.0} kb/s), {} skipped ticks, {} underruns",
        100.0 * cpu / wall,
        sent,
        bytes.load(Ordering::Relaxed) as f64 * 8.0 / wall / 1000.0,
        stats.skipped_ticks,
        p.stats().underruns
    );
    println!(
        "  VmRSS {} kB at most (+{} kB for the DJ), VmHWM {} kB",
        rss_max,
        rss_max.saturating_sub(rss0),
        status_kb("VmHWM:")
    );
}
