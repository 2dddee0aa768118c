//! The player and the engine, driven as the DJ drives them: files, stalled streams, endless
//! sources, pause/seek/volume, events, and the real-time engine into Opus.

use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use audio::engine::{Engine, EngineConfig};
use audio::player::{player, EntryId, Opener, PlayerConfig, PlayerEvent, PlayerOutput, Pulled};
use audio::stream::stream_channel;
use audio::{AudioError, Hint, MediaSource, FRAME_LEN};

use crate::fixtures::{self, Fmt};

type Events = Arc<Mutex<Vec<PlayerEvent>>>;

fn recorder() -> (Events, impl FnMut(PlayerEvent) + Send + 'static) {
    let events: Events = Arc::default();
    let e = events.clone();
    (events, move |ev| e.lock().expect("lock").push(ev))
}

fn file(path: &std::path::Path) -> Opener {
    let path = path.to_owned();
    Box::new(move || {
        let f = std::fs::File::open(&path).map_err(|e| AudioError::Io(e.to_string()))?;
        Ok((Box::new(f) as Box<dyn MediaSource>, fixtures::hint(&path)))
    })
}

/// Pulls until `stop` says so (or `max` pulls), sleeping `pace` between pulls.
fn pull_until(
    out: &mut PlayerOutput,
    max: usize,
    pace: Duration,
    mut stop: impl FnMut(Pulled) -> bool,
) -> Vec<Pulled> {
    let mut f = [0.0; FRAME_LEN];
    let mut got = Vec::new();
    for _ in 0..max {
        let p = out.pull(&mut f);
        got.push(p);
        if stop(p) {
            break;
        }
        std::thread::sleep(pace);
    }
    got
}

fn frames(p: &[Pulled]) -> usize {
    p.iter()
        .filter(|p| matches!(p, Pulled::Frame { .. }))
        .count()
}

#[test]
fn a_file_plays_to_its_end_with_events_in_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = fixtures::make_secs(dir.path(), Fmt::Flac, 44_100, 2, 3.0);
    let (events, sink) = recorder();
    let (p, mut out) = player(PlayerConfig::default(), sink);
    p.load(EntryId(7), file(&path), 0, None);
    let mut started = false;
    let pulled = pull_until(&mut out, 2000, Duration::from_millis(1), |x| {
        started |= matches!(x, Pulled::Frame { .. });
        started && x == Pulled::Idle
    });
    assert_eq!(frames(&pulled), 150);
    let ev = events.lock().expect("lock").clone();
    let id = EntryId(7);
    assert_eq!(ev.first(), Some(&PlayerEvent::Started { id }));
    let positions: Vec<u64> = ev
        .iter()
        .filter_map(|e| {
            if let PlayerEvent::Position { ms, .. } = e {
                Some(*ms)
            } else {
                None
            }
        })
        .collect();
    assert_eq!(positions, [0, 1000, 2000]);
    assert_eq!(ev.last(), Some(&PlayerEvent::Ended { id }));
}

#[test]
fn failures_are_events_with_their_codes() {
    let (events, sink) = recorder();
    let (p, mut out) = player(PlayerConfig::default(), sink);
    p.load(
        EntryId(1),
        Box::new(|| Err(AudioError::Io("connection refused".into()))),
        0,
        None,
    );
    pull_until(&mut out, 500, Duration::from_millis(2), |_| {
        !events.lock().expect("lock").is_empty()
    });
    p.load(
        EntryId(2),
        Box::new(|| {
            Ok((
                Box::new(std::io::Cursor::new(vec![0x55u8; 50_000])) as Box<dyn MediaSource>,
                Hint::new(),
            ))
        }),
        0,
        None,
    );
    pull_until(&mut out, 500, Duration::from_millis(2), |_| {
        events.lock().expect("lock").len() >= 2
    });
    let ev = events.lock().expect("lock").clone();
    let codes: Vec<(u64, &str)> = ev
        .iter()
        .filter_map(|e| {
            if let PlayerEvent::Failed { id, error } = e {
                Some((id.0, error.code()))
            } else {
                None
            }
        })
        .collect();
    assert_eq!(codes, [(1, "io"), (2, "unsupported_format")]);
}

#[test]
fn pause_resume_seek_and_volume() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = fixtures::make_secs(dir.path(), Fmt::Wav, 48_000, 2, 3.0);
    let (events, sink) = recorder();
    let (p, mut out) = player(PlayerConfig::default(), sink);
    p.load(EntryId(3), file(&path), 0, None);
    let mut n = 0;
    pull_until(&mut out, 1000, Duration::from_millis(1), |x| {
        n += usize::from(matches!(x, Pulled::Frame { .. }));
        n == 10
    });
    p.pause();
    let paused = pull_until(&mut out, 5, Duration::ZERO, |_| false);
    assert!(paused.iter().all(|x| *x == Pulled::Paused), "{paused:?}");
    p.resume();
    assert!(matches!(
        pull_until(&mut out, 1, Duration::ZERO, |_| true)[0],
        Pulled::Frame { .. }
    ));
    assert!(p.seek(2000));
    events.lock().expect("lock").clear();
    let after = pull_until(&mut out, 1000, Duration::from_millis(1), |x| {
        x == Pulled::Idle
    });
    assert_eq!(frames(&after), 50, "a seek to 2 s of 3 s leaves 1 s");
    assert_eq!(
        events.lock().expect("lock").first(),
        Some(&PlayerEvent::Position {
            id: EntryId(3),
            ms: 2000
        })
    );
    p.set_volume(50);
    assert_eq!(out.volume(), 0.5);
    p.set_volume(900);
    assert_eq!(out.volume(), 1.5);
}

/// A WAV that never ends, non-seekable; counts the bytes it hands out.
struct Endless {
    header: Vec<u8>,
    at: usize,
    read: Arc<AtomicU64>,
}

impl Endless {
    fn new(read: Arc<AtomicU64>) -> Endless {
        let mut header = fixtures::wav_bytes(48_000, 2, &[]);
        header[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        let n = header.len();
        header[n - 4..].copy_from_slice(&u32::MAX.to_le_bytes());
        Endless {
            header,
            at: 0,
            read,
        }
    }
}

impl Read for Endless {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(4096);
        for b in &mut buf[..n] {
            *b = self
                .header
                .get(self.at)
                .copied()
                .unwrap_or((self.at % 97) as u8);
            self.at += 1;
        }
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

impl std::io::Seek for Endless {
    fn seek(&mut self, _: std::io::SeekFrom) -> std::io::Result<u64> {
        Err(std::io::Error::new(std::io::ErrorKind::Unsupported, "no"))
    }
}

impl MediaSource for Endless {
    fn is_seekable(&self) -> bool {
        false
    }
    fn byte_len(&self) -> Option<u64> {
        None
    }
}

#[test]
fn an_endless_source_fills_the_buffer_and_stops_there() {
    let read = Arc::new(AtomicU64::new(0));
    let r = read.clone();
    let (p, _out) = player(PlayerConfig::default(), |_| {});
    p.load(
        EntryId(1),
        Box::new(move || {
            Ok((
                Box::new(Endless::new(r)) as Box<dyn MediaSource>,
                Hint::new(),
            ))
        }),
        0,
        None,
    );
    std::thread::sleep(Duration::from_millis(700));
    let s1 = p.stats();
    let bytes1 = read.load(Ordering::Relaxed);
    std::thread::sleep(Duration::from_millis(500));
    let s2 = p.stats();
    let bytes2 = read.load(Ordering::Relaxed);
    assert_eq!(s1.buffered_frames, s1.capacity_frames);
    assert_eq!(s2.buffered_frames, s2.capacity_frames);
    // Reading stopped too: 3 s of 48 kHz 16-bit stereo is 576 kB, plus symphonia's read-ahead.
    assert_eq!(bytes1, bytes2, "the decoder kept reading");
    assert!(bytes2 < 576_000 + 256 * 1024, "{bytes2} bytes read ahead");
}

#[test]
fn a_stalled_stream_gives_silence_at_pace_and_recovers() {
    let (events, sink) = recorder();
    let (p, mut out) = player(PlayerConfig::default(), sink);
    let (mut w, src) = stream_channel(64 * 1024, Duration::from_secs(30));
    let src = Mutex::new(Some(src));
    p.load(
        EntryId(9),
        Box::new(move || {
            let s = src.lock().expect("lock").take().expect("once");
            let mut h = Hint::new();
            h.with_extension("wav");
            Ok((Box::new(s) as Box<dyn MediaSource>, h))
        }),
        0,
        None,
    );
    let mut bytes = fixtures::wav_bytes(48_000, 2, &fixtures::tone(48_000, 2, 2.0, 1000.0, -12.0));
    bytes[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
    bytes[40..44].copy_from_slice(&u32::MAX.to_le_bytes());
    let second = bytes.split_off(44 + 192_000); // header + 1 s now, 1 s later
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let writer = std::thread::spawn(move || {
        for c in bytes.chunks(8192) {
            w.send_blocking(c.to_vec()).expect("send");
        }
        go_rx.recv().expect("go");
        for c in second.chunks(8192) {
            w.send_blocking(c.to_vec()).expect("send");
        }
    });
    // Pull at the engine's pace for 2.5 s: every pull returns at once.
    let mut slowest = Duration::ZERO;
    let mut f = [0.0; FRAME_LEN];
    let mut got = Vec::new();
    let start = Instant::now();
    for i in 0..125u32 {
        let t = Instant::now();
        let x = out.pull(&mut f);
        slowest = slowest.max(t.elapsed());
        if x == Pulled::Underrun {
            assert!(f.iter().all(|s| *s == 0.0));
        }
        got.push(x);
        let due = start + Duration::from_millis(20) * (i + 1);
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
    }
    assert!(
        slowest < Duration::from_millis(5),
        "a pull took {slowest:?}"
    );
    // The packet at the stall's edge waits in the decoder for its last bytes.
    let first = frames(&got);
    assert!(
        (48..=50).contains(&first),
        "{first} frames of the first second played"
    );
    let underruns = got.iter().filter(|x| **x == Pulled::Underrun).count();
    assert!(underruns >= 70, "{underruns} underruns");
    assert_eq!(p.stats().underruns, underruns as u64);
    go_tx.send(()).expect("go");
    writer.join().expect("writer");
    let rest = pull_until(&mut out, 3000, Duration::from_millis(1), |x| {
        x == Pulled::Idle
    });
    assert_eq!(
        first + frames(&rest),
        100,
        "the rest played after the stall"
    );
    assert_eq!(
        events.lock().expect("lock").last(),
        Some(&PlayerEvent::Ended { id: EntryId(9) })
    );
}

#[test]
fn a_new_load_does_not_wait_for_a_stuck_source() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = fixtures::make_secs(dir.path(), Fmt::Wav, 48_000, 2, 1.0);
    let (p, mut out) = player(PlayerConfig::default(), |_| {});
    let (w, src) = stream_channel(1024, Duration::from_secs(60));
    let src = Mutex::new(Some(src));
    p.load(
        EntryId(1),
        Box::new(move || {
            Ok((
                Box::new(src.lock().expect("lock").take().expect("once")) as Box<dyn MediaSource>,
                Hint::new(),
            ))
        }),
        0,
        None,
    );
    std::thread::sleep(Duration::from_millis(50));
    let t = Instant::now();
    p.load(EntryId(2), file(&path), 0, None);
    pull_until(&mut out, 1000, Duration::from_millis(1), |x| {
        matches!(x, Pulled::Frame { .. })
    });
    assert!(
        t.elapsed() < Duration::from_millis(500),
        "{:?}",
        t.elapsed()
    );
    drop(w);
}

#[test]
fn the_engine_sends_opus_in_real_time_at_gain_and_volume() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = fixtures::make(
        dir.path(),
        Fmt::Flac,
        44_100,
        2,
        &["-metadata", "REPLAYGAIN_TRACK_GAIN=-6.00 dB"],
    );
    let (events, sink) = recorder();
    let (p, out) = player(PlayerConfig::default(), sink);
    let sent = Arc::new(Mutex::new(Vec::new()));
    let s = sent.clone();
    let engine = Engine::spawn(
        out,
        Box::new(move |f| s.lock().expect("lock").push((Instant::now(), f))),
        None,
        EngineConfig::default(),
    )
    .expect("engine");
    p.set_volume(50);
    p.load(EntryId(5), file(&path), 0, None);
    let start = Instant::now();
    while !events
        .lock()
        .expect("lock")
        .contains(&PlayerEvent::Ended { id: EntryId(5) })
    {
        assert!(start.elapsed() < Duration::from_secs(6), "no end");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(100));
    let stats = engine.stats();
    drop(engine);
    let sent = sent.lock().expect("lock");
    assert_eq!(sent.len(), 150, "{stats:?}");
    assert!(
        sent.windows(2).all(|w| w[1].1.tick == w[0].1.tick + 1),
        "ticks are consecutive"
    );
    let wall = sent[149].0 - sent[0].0;
    assert!(
        (2.9..3.1).contains(&wall.as_secs_f32()),
        "149 ticks took {wall:?}"
    );
    let mut dec = opus::Decoder::new(48_000, opus::Channels::Stereo).expect("decoder");
    let mut pcm = Vec::new();
    let mut buf = vec![0.0f32; FRAME_LEN];
    for (_, f) in sent.iter() {
        let n = dec.decode_float(&f.data, &mut buf, false).expect("decode");
        pcm.extend_from_slice(&buf[..n * 2]);
    }
    let m = fixtures::measure(&pcm, 48_000);
    let want = fixtures::RMS_DB - 6.0 - 6.02;
    assert!(
        (m.rms_db - want).abs() < 1.0,
        "{} dB, want {want}",
        m.rms_db
    );
    assert!((m.freq - 1000.0).abs() < 3.0);
    let level = sent[75].1.level;
    assert!((i32::from(level) - 27).abs() <= 2, "level {level}");
}
