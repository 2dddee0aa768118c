//! The speaker against the fake device: what reaches the device (frequency and level after
//! conversion), and how the sink lives through underruns, suspend, unplug/replug, a stalled
//! device and devices it cannot drive. Time is compressed (the fake plays 10× real time, the
//! retry delays are milliseconds); waits have generous limits and nothing asserts a duration.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use audio::devices::{HwCaps, MixerElem, SampleFormat};
use audio::speaker::fake::{Capture, FakeDevice, FakeHandle};
use audio::speaker::{
    MixerChoice, MixerSetting, Speaker, SpeakerConfig, SpeakerError, SpeakerHandle, SpeakerState,
    VolumeControl,
};
use audio::tone::{self, channel, dominant_frequency, rms_dbfs};
use audio::FrameSink;

const LIMIT: Duration = Duration::from_secs(30);
const DEV: &str = "hw:CARD=Fake,DEV=0";

fn config(volume: u8, mixer: MixerChoice) -> SpeakerConfig {
    SpeakerConfig {
        mixer,
        volume,
        retry: Duration::from_millis(5),
        retry_max: Duration::from_millis(20),
        idle_after: Duration::from_millis(100),
        ..SpeakerConfig::new(Some(DEV))
    }
}

fn caps(formats: &[&str], rates: &[u32], ch: (u32, u32)) -> HwCaps {
    HwCaps {
        formats: formats.iter().map(|s| s.to_string()).collect(),
        rates: rates.to_vec(),
        rate_min: rates.iter().copied().min().unwrap_or(0),
        rate_max: rates.iter().copied().max().unwrap_or(0),
        channels_min: ch.0,
        channels_max: ch.1,
        ..FakeDevice::stereo_caps()
    }
}

fn start(fake: FakeDevice, cfg: SpeakerConfig) -> (Speaker, SpeakerHandle, FakeHandle) {
    let fh = fake.with_speed(10.0);
    let h = fh.handle();
    let s = Speaker::open(cfg, fh).expect("speaker");
    let sh = s.handle();
    (s, sh, h)
}

/// Waits until the speaker has stopped the device `n` times (it does after a clip, once the
/// idle silence is over).
fn played(fake: &FakeHandle, sh: &SpeakerHandle, n: u32) {
    let done = |f: &FakeHandle| f.stops() >= n && sh.stats().state == SpeakerState::Idle;
    assert!(
        fake.wait_for(LIMIT, done),
        "the device was never stopped {n} times: {:?}",
        sh.stats()
    );
}

/// Frequency and level of channel `ch` of a capture, over the tone (silence around it cut).
fn measure(c: &Capture, ch: usize) -> (f64, f64) {
    let n = c.params.channels as usize;
    let s = channel(&c.samples(), n, ch);
    let loud: Vec<usize> = s
        .iter()
        .enumerate()
        .filter(|(_, v)| v.abs() > 0.02)
        .map(|(i, _)| i)
        .collect();
    let (Some(&a), Some(&b)) = (loud.first(), loud.last()) else {
        return (0.0, f64::NEG_INFINITY);
    };
    let trim = (b - a) / 10;
    let part = &s[a + trim..b - trim];
    (
        dominant_frequency(part, c.params.rate).unwrap_or(0.0),
        rms_dbfs(part),
    )
}

fn assert_tone(c: &Capture, ch: usize, dbfs: f64) {
    let (f, db) = measure(c, ch);
    assert!((f - 1000.0).abs() < 1.0, "{:?} ch{ch}: {f} Hz", c.params);
    assert!(
        (db - dbfs).abs() < 0.2,
        "{:?} ch{ch}: {db} dBFS, want {dbfs}",
        c.params
    );
}

#[test]
fn a_tone_reaches_odd_devices_at_its_frequency_and_level() {
    let cases: [(&str, HwCaps, u32, SampleFormat, u32); 4] = [
        (
            "only 44.1 kHz",
            caps(&["S16_LE"], &[44_100], (2, 2)),
            44_100,
            SampleFormat::S16Le,
            2,
        ),
        (
            "only S24_3LE, mono",
            caps(&["S24_3LE"], &[48_000], (1, 1)),
            48_000,
            SampleFormat::S24_3Le,
            1,
        ),
        (
            "8 channels, float",
            caps(&["FLOAT_LE"], &[44_100, 48_000], (8, 8)),
            48_000,
            SampleFormat::FloatLe,
            8,
        ),
        (
            "plain stereo",
            FakeDevice::stereo_caps(),
            48_000,
            SampleFormat::S32Le,
            2,
        ),
    ];
    for (what, c, rate, format, channels) in cases {
        let (s, sh, fake) = start(FakeDevice::new(DEV, c), config(100, MixerChoice::Software));
        sh.play_tone(1000.0, -12.0, 600);
        played(&fake, &sh, 1);
        let cap = fake.captures().pop().expect("a capture");
        assert_eq!(
            (cap.params.rate, cap.params.format, cap.params.channels),
            (rate, format, channels),
            "{what}"
        );
        for ch in 0..(channels as usize).min(2) {
            assert_tone(&cap, ch, -12.0);
        }
        for ch in 2..channels as usize {
            assert!(
                channel(&cap.samples(), 8, ch).iter().all(|&v| v == 0.0),
                "{what}: ch{ch} not silent"
            );
        }
        // The tone's whole length arrived: 600 ms of it above the noise.
        let loud = channel(&cap.samples(), channels as usize, 0)
            .iter()
            .filter(|v| v.abs() > 0.2)
            .count();
        assert!(
            loud > rate as usize * 6 / 10 / 3,
            "{what}: {loud} loud samples"
        );
        let st = sh.stats();
        assert_eq!(st.state, SpeakerState::Idle, "{what}");
        assert_eq!(st.opened.map(|o| o.pcm), Some(DEV.to_owned()));
        drop(s);
    }
}

#[test]
fn pushed_frames_are_played_in_order_and_none_dropped() {
    let cfg = SpeakerConfig {
        queue_frames: 64,
        ..config(100, MixerChoice::Software)
    };
    let (mut s, sh, fake) = start(FakeDevice::new(DEV, FakeDevice::stereo_caps()), cfg);
    assert!(fake.wait_for(LIMIT, |f| f.is_open()));
    for f in tone::sine(1000.0, -12.0, 800) {
        s.push(&f);
    }
    played(&fake, &sh, 1);
    assert_tone(&fake.captures()[0], 0, -12.0);
    assert_eq!(sh.stats().dropped_frames, 0);
}

#[test]
fn underruns_are_recovered_and_counted() {
    let (_s, sh, fake) = start(
        FakeDevice::new(DEV, FakeDevice::stereo_caps()),
        config(100, MixerChoice::Software),
    );
    fake.underruns(3);
    sh.play_tone(1000.0, -12.0, 1000);
    played(&fake, &sh, 1);
    assert_eq!(sh.stats().underruns, 3);
    assert_eq!(fake.recoveries().len(), 3);
    // Playing went on: the whole tone is there.
    assert_tone(&fake.captures()[0], 0, -12.0);
    assert!(fake.frames_written() > 48_000);
}

#[test]
fn a_suspended_device_is_resumed() {
    let (_s, sh, fake) = start(
        FakeDevice::new(DEV, FakeDevice::stereo_caps()),
        config(100, MixerChoice::Software),
    );
    fake.suspend();
    sh.play_tone(1000.0, -12.0, 500);
    played(&fake, &sh, 1);
    assert_eq!(sh.stats().suspends, 1);
    assert_eq!(fake.recoveries(), [audio::speaker::ErrorKind::Suspended]);
    assert_tone(&fake.captures()[0], 0, -12.0);
}

/// Counts warnings, to check that a missing device is logged once, not once per retry.
struct Warnings(Arc<AtomicUsize>);

impl tracing::Subscriber for Warnings {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, e: &tracing::Event<'_>) {
        if *e.metadata().level() == tracing::Level::WARN {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[test]
fn unplugged_device_is_waited_for_quietly_and_plays_again_when_back() {
    let warnings = Arc::new(AtomicUsize::new(0));
    let sub = Warnings(warnings.clone());
    tracing::subscriber::with_default(sub, || {
        let (_s, sh, fake) = start(
            FakeDevice::new(DEV, FakeDevice::stereo_caps()),
            config(100, MixerChoice::Software),
        );
        sh.play_tone(1000.0, -12.0, 60_000);
        assert!(fake.wait_for(LIMIT, |f| f.frames_written() > 10_000));
        fake.unplug();
        let waiting =
            |h: &SpeakerHandle| matches!(h.stats().state, SpeakerState::WaitingForDevice { .. });
        assert!(fake.wait_for(LIMIT, |_| waiting(&sh)), "{:?}", sh.stats());
        assert!(!fake.is_open());
        // Many retries, one warning.
        let attempts = fake.open_attempts();
        assert!(fake.wait_for(LIMIT, |f| f.open_attempts() >= attempts + 5));
        assert_eq!(warnings.load(Ordering::SeqCst), 1);
        assert!(waiting(&sh));

        fake.replug();
        assert!(
            fake.wait_for(LIMIT, |_| sh.stats().state == SpeakerState::Playing),
            "{:?}",
            sh.stats()
        );
        let st = sh.stats();
        assert_eq!(st.reopens, 1);
        assert!(st.opened.is_some());
        // The tone goes on after the replug.
        assert!(fake.wait_for(LIMIT, |f| f
            .captures()
            .last()
            .is_some_and(|c| c.bytes.len() > 200_000)));
        let cap = fake.captures().pop().expect("capture");
        let (f, _) = measure(&cap, 0);
        assert!((f - 1000.0).abs() < 1.0, "{f}");
        assert_eq!(warnings.load(Ordering::SeqCst), 1);
    });
}

#[test]
fn a_stalled_device_makes_push_drop_not_block() {
    let cfg = SpeakerConfig {
        queue_frames: 8,
        ..config(100, MixerChoice::Software)
    };
    let (s, sh, fake) = start(FakeDevice::new(DEV, FakeDevice::stereo_caps()), cfg);
    assert!(fake.wait_for(LIMIT, |f| f.is_open()));
    fake.stall(true);
    // Push from another thread: if push blocked, the limit below would be hit.
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let pusher = std::thread::spawn(move || {
        let mut s = s;
        for f in tone::Tone::new(1000.0, -12.0, 4000) {
            s.push(&f);
        }
        let _ = done_tx.send(());
        s
    });
    assert!(
        done_rx.recv_timeout(LIMIT).is_ok(),
        "push blocked on a stalled device"
    );
    let s = pusher.join().expect("pusher");
    let st = sh.stats();
    // Unstalled before any assertion: a failing one must not leave the thread stuck in a write
    // (dropping the speaker joins it).
    fake.stall(false);
    // 200 pushed; the queue holds 8 and the thread took at most a couple before it stuck.
    assert_eq!(st.queued_frames, 8);
    assert!((200 - 8 - 3..=200 - 8).contains(&st.dropped_frames), "{st:?}");
    let before = fake.frames_written();
    assert!(fake.wait_for(LIMIT, |f| f.frames_written() > before));
    drop(s);
}

fn pcm_mixer() -> MixerElem {
    MixerElem {
        name: "PCM".into(),
        index: 0,
        volume_min: -10239,
        volume_max: 400,
        db_min: Some(-10239),
        db_max: Some(400),
        has_switch: true,
        volume: None,
        db: None,
    }
}

#[test]
fn the_hardware_mixer_is_used_when_the_card_has_one() {
    let fake = FakeDevice::new(DEV, FakeDevice::stereo_caps()).with_mixer(pcm_mixer());
    let (_s, sh, fake) = start(fake, config(50, MixerChoice::Auto));
    sh.play_tone(1000.0, -12.0, 500);
    played(&fake, &sh, 1);
    let settings = fake.mixer_settings();
    assert!(
        matches!(settings.as_slice(), [MixerSetting::Db(d)] if (-1900..=-1700).contains(d)),
        "{settings:?}"
    );
    // The samples are untouched: the card does the volume.
    assert_tone(&fake.captures()[0], 0, -12.0);
    let opened = sh.stats().opened.expect("open");
    assert_eq!(
        opened.volume,
        VolumeControl::Hardware {
            element: "PCM".into()
        }
    );
    sh.set_volume(100);
    assert!(fake.wait_for(LIMIT, |f| f.mixer_settings().last()
        == Some(&MixerSetting::Db(0))));
    sh.set_volume(0);
    assert!(fake.wait_for(LIMIT, |f| f.mixer_settings().last()
        == Some(&MixerSetting::Mute)));
}

#[test]
fn software_gain_without_a_mixer() {
    // The card has a mixer, but the configuration says software; and a card without one.
    for fake in [
        FakeDevice::new(DEV, FakeDevice::stereo_caps()).with_mixer(pcm_mixer()),
        FakeDevice::new(DEV, FakeDevice::stereo_caps()),
    ] {
        let choice = MixerChoice::Software;
        let (_s, sh, fake) = start(fake, config(50, choice));
        sh.play_tone(1000.0, -12.0, 500);
        played(&fake, &sh, 1);
        assert!(fake.mixer_settings().is_empty());
        assert_tone(&fake.captures()[0], 0, -12.0 - 18.06);
        assert_eq!(
            sh.stats().opened.map(|o| o.volume),
            Some(VolumeControl::Software)
        );
    }
    // A configured element the card lacks: software too.
    let fake = FakeDevice::new(DEV, FakeDevice::stereo_caps()).with_mixer(pcm_mixer());
    let (_s, sh, fake) = start(fake, config(50, MixerChoice::Element("Digital".into())));
    sh.play_tone(1000.0, -12.0, 500);
    played(&fake, &sh, 1);
    assert!(fake.mixer_settings().is_empty());
    assert_tone(&fake.captures()[0], 0, -12.0 - 18.06);
}

#[test]
fn plug_or_hdmi_only_when_hw_offers_nothing_we_write() {
    let odd = caps(&["MU_LAW"], &[8000], (1, 1));
    let fake =
        FakeDevice::new(DEV, odd).with_name("plughw:CARD=Fake,DEV=0", FakeDevice::stereo_caps());
    let (_s, sh, fake) = start(fake, config(100, MixerChoice::Software));
    assert!(fake.wait_for(LIMIT, |_| sh.stats().opened.is_some()));
    assert_eq!(
        sh.stats().opened.map(|o| o.pcm),
        Some("plughw:CARD=Fake,DEV=0".into())
    );
    assert_eq!(fake.opens(), [DEV, "plughw:CARD=Fake,DEV=0"]);

    // The Pi's HDMI: IEC958 subframes only on hw:, the hdmi: plugin takes S16.
    let hw = "hw:CARD=vc4hdmi0,DEV=0";
    let iec = caps(&["IEC958_SUBFRAME_LE"], &[48_000], (2, 8));
    let fake =
        FakeDevice::new(hw, iec).with_name("hdmi:CARD=vc4hdmi0,DEV=0", FakeDevice::stereo_caps());
    let cfg = SpeakerConfig {
        device: Some(hw.into()),
        ..config(100, MixerChoice::Software)
    };
    let (_s, sh, fake) = start(fake, cfg);
    assert!(fake.wait_for(LIMIT, |_| sh.stats().opened.is_some()));
    assert_eq!(
        sh.stats().opened.map(|o| o.pcm),
        Some("hdmi:CARD=vc4hdmi0,DEV=0".into())
    );

    // And a hw: we can drive is never swapped for plughw:.
    let fake = FakeDevice::new(DEV, FakeDevice::stereo_caps())
        .with_name("plughw:CARD=Fake,DEV=0", FakeDevice::stereo_caps());
    let (_s, sh, fake) = start(fake, config(100, MixerChoice::Software));
    assert!(fake.wait_for(LIMIT, |_| sh.stats().opened.is_some()));
    assert_eq!(fake.opens(), [DEV]);
}

#[test]
fn a_device_that_cannot_be_driven_is_an_error_in_words_and_retried() {
    let cfg = SpeakerConfig {
        device: Some("default".into()),
        ..config(100, MixerChoice::Software)
    };
    let fake = FakeDevice::new("default", caps(&[], &[], (0, 0)));
    let (_s, sh, fake) = start(fake, cfg);
    assert!(fake.wait_for(LIMIT, |f| f.open_attempts() >= 3));
    let SpeakerState::Error { message } = sh.stats().state else {
        panic!("{:?}", sh.stats())
    };
    assert!(message.contains("no sample format"), "{message}");
}

#[test]
fn idle_stops_the_device_and_a_new_sound_starts_it() {
    let (_s, sh, fake) = start(
        FakeDevice::new(DEV, FakeDevice::stereo_caps()),
        config(100, MixerChoice::Software),
    );
    sh.play_tone(1000.0, -12.0, 200);
    played(&fake, &sh, 1);
    assert_eq!(sh.stats().state, SpeakerState::Idle);
    // Stopped means stopped: no more silence is written.
    let written = fake.frames_written();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(fake.frames_written(), written);
    sh.play_tone(1000.0, -12.0, 200);
    played(&fake, &sh, 2);
    assert!(fake.frames_written() > written);
    assert_eq!(sh.stats().underruns, 0);
}

#[test]
fn without_a_device_configured_the_speaker_is_off() {
    let fake = FakeDevice::new(DEV, FakeDevice::stereo_caps());
    let h = fake.handle();
    let mut s = Speaker::open(SpeakerConfig::new(None), fake).expect("speaker");
    s.push(&[0.0; audio::FRAME_LEN]);
    assert_eq!(s.handle().stats().state, SpeakerState::NoDeviceConfigured);
    assert_eq!(h.open_attempts(), 0);
}

#[test]
fn bad_configuration_is_refused_by_key() {
    for bad in ["", "hw:0\0", "hw:CARD=a b"] {
        let cfg = SpeakerConfig::new(Some(bad));
        let e = Speaker::open(cfg, FakeDevice::new(DEV, FakeDevice::stereo_caps())).err();
        assert_eq!(e, Some(SpeakerError::DeviceName(bad.into())));
    }
    let cfg = SpeakerConfig {
        volume: 101,
        ..SpeakerConfig::new(Some(DEV))
    };
    let e = Speaker::open(cfg, FakeDevice::new(DEV, FakeDevice::stereo_caps())).err();
    assert!(e.is_some_and(|e| e.to_string().starts_with("speaker.volume")));
}
