//! `make bench`: a 10-person audio room through the SFU core, in one process on a fake clock.
//! Ten real str0m clients each send a 20 ms Opus-sized frame (50 packets/s); the SFU forwards
//! every frame to the nine others. Only the time spent inside the SFU is measured.
//!
//! Prints: CPU time per forwarded packet, the packets/s that makes (one core), memory per
//! participant (RSS growth per joined participant), and the time from a datagram entering the SFU
//! to its last forwarded copy leaving it (p50/p99).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use str0m::change::{SdpAnswer, SdpOffer};
use str0m::media::{Direction, Frequency, MediaKind, MediaTime, Mid};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc};
use voice::{ParticipantId, RoomId, Sfu, SfuConfig, SfuEvent, SfuInput, SfuOutput};

const N: usize = 10;
const SECONDS: u64 = 20;

struct Client {
    addr: SocketAddr,
    rtc: Rtc,
    mic: Mid,
    connected: bool,
    sent: u64,
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).map(str::to_owned))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

fn pct(v: &mut [Duration], p: f64) -> Duration {
    v.sort_unstable();
    v.get(((v.len() as f64 - 1.0) * p) as usize).copied().unwrap_or_default()
}

fn main() {
    let sfu_addr: SocketAddr = "10.0.0.1:5000".parse().expect("addr");
    let mut now = Instant::now();
    let mut sfu = Sfu::new(SfuConfig { host_candidates: vec![sfu_addr], tcp_candidates: Vec::new(), public_address: None }, now);
    let mut clients = Vec::new();
    let mut offers = Vec::new();
    for i in 0..N {
        let addr: SocketAddr = format!("10.0.1.{}:6000", i + 10).parse().expect("addr");
        let mut rtc = Rtc::builder().clear_codecs().enable_opus(true, false).build(now);
        rtc.add_local_candidate(Candidate::host(addr, "udp").expect("candidate"));
        let mut api = rtc.sdp_api();
        let mic = api.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None);
        let (offer, pending) = api.apply().expect("offer");
        offers.push((offer.to_sdp_string(), pending));
        clients.push(Client { addr, rtc, mic, connected: false, sent: 0 });
    }
    // Memory: RSS growth while the SFU takes the participants in (their Rtc, buffers, SDP state).
    let rss0 = rss_kib();
    let mut answers = Vec::new();
    for (i, (offer, _)) in offers.iter().enumerate() {
        answers.push(sfu.join(now, ParticipantId(i as u64), RoomId(1), &format!("u{i}"), offer).expect("join"));
    }
    let rss1 = rss_kib();
    for ((c, (_, pending)), answer) in clients.iter_mut().zip(offers).zip(answers) {
        c.rtc.sdp_api().accept_answer(pending, SdpAnswer::from_sdp_string(&answer).expect("sdp")).expect("answer");
    }

    let mut net: Vec<(Instant, SocketAddr, SocketAddr, Vec<u8>)> = Vec::new();
    let mut sfu_time = Duration::ZERO;
    let mut latencies = Vec::new();
    let warmup = Duration::from_secs(3);
    let start = now;
    let mut forwarded_at_warmup = 0;
    let mut tick = 0u64;
    let mut rss_peak_room = 0;
    while now < start + warmup + Duration::from_secs(SECONDS) {
        now += Duration::from_millis(1);
        tick += 1;
        let measuring = now >= start + warmup;
        if measuring && forwarded_at_warmup == 0 {
            forwarded_at_warmup = sfu.stats.media_forwarded.max(1);
            sfu_time = Duration::ZERO;
            latencies.clear();
        }
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut net).into_iter().partition(|p| p.0 <= now);
        net = later;
        let mut offers_out = Vec::new();
        for (_, src, dst, data) in due {
            if dst == sfu_addr {
                let t0 = Instant::now();
                sfu.handle_input(SfuInput::Receive { now, proto: Protocol::Udp, source: src, destination: dst, contents: &data });
                let mut sent = 0;
                loop {
                    match sfu.poll_output() {
                        SfuOutput::Timeout(_) => break,
                        SfuOutput::Transmit { source, destination, contents, .. } => {
                            sent += 1;
                            net.push((now + Duration::from_millis(5), source, destination, contents));
                        }
                        SfuOutput::Event(SfuEvent::Offer { participant, sdp }) => offers_out.push((participant, sdp)),
                        SfuOutput::Event(_) => {}
                    }
                }
                let dt = t0.elapsed();
                sfu_time += dt;
                if sent >= N - 1 {
                    latencies.push(dt);
                }
            } else if let Some(c) = clients.iter_mut().find(|c| c.addr == dst) {
                let Ok(contents) = data.as_slice().try_into() else { continue };
                let input = Input::Receive(now, Receive { proto: Protocol::Udp, source: src, destination: dst, contents });
                if c.rtc.accepts(&input) {
                    let _ = c.rtc.handle_input(input);
                }
            }
        }
        let t0 = Instant::now();
        sfu.handle_input(SfuInput::Timeout(now));
        loop {
            match sfu.poll_output() {
                SfuOutput::Timeout(_) => break,
                SfuOutput::Transmit { source, destination, contents, .. } => {
                    net.push((now + Duration::from_millis(5), source, destination, contents))
                }
                SfuOutput::Event(SfuEvent::Offer { participant, sdp }) => offers_out.push((participant, sdp)),
                SfuOutput::Event(_) => {}
            }
        }
        sfu_time += t0.elapsed();
        for c in clients.iter_mut() {
            let _ = c.rtc.handle_input(Input::Timeout(now));
            if tick % 20 == 0 && c.connected {
                if let Some(w) = c.rtc.writer(c.mic) {
                    let pt = w.payload_params().next().expect("opus").pt();
                    let ts = MediaTime::new(c.sent * 960, Frequency::FORTY_EIGHT_KHZ);
                    let _ = w.audio_level(-30, true).write(pt, now, ts, vec![0u8; 80]);
                    c.sent += 1;
                }
            }
            loop {
                match c.rtc.poll_output() {
                    Ok(Output::Timeout(_)) | Err(_) => break,
                    Ok(Output::Transmit(t)) => net.push((now + Duration::from_millis(5), t.source, t.destination, t.contents.to_vec())),
                    Ok(Output::Event(Event::Connected)) => c.connected = true,
                    Ok(Output::Event(_)) => {}
                }
            }
        }
        for (p, sdp) in offers_out {
            let c = &mut clients[p.0 as usize];
            let answer = c.rtc.sdp_api().accept_offer(SdpOffer::from_sdp_string(&sdp).expect("sdp")).expect("offer");
            sfu.answer(now, p, &answer.to_sdp_string()).expect("answer");
        }
        rss_peak_room = rss_peak_room.max(rss_kib());
    }
    let forwarded = sfu.stats.media_forwarded - forwarded_at_warmup;
    let expected = (N * (N - 1)) as u64 * 50 * SECONDS;
    let per_packet = sfu_time / forwarded.max(1) as u32;
    let mut lat = latencies.clone();
    println!("voice SFU bench: {N} participants, {SECONDS} s of 20 ms Opus frames, fake clock, one core");
    println!("  forwarded packets        {forwarded} (expected {expected})");
    println!("  SFU CPU time             {:.1} ms", sfu_time.as_secs_f64() * 1e3);
    println!("  CPU time per forwarded   {:.2} µs", per_packet.as_secs_f64() * 1e6);
    println!("  forwarded packets/s      {:.0} (at 100 % of one core)", forwarded as f64 / sfu_time.as_secs_f64());
    println!("  room load                {:.2} % of one core", sfu_time.as_secs_f64() / SECONDS as f64 * 100.0);
    println!("  memory per participant   {:.0} KiB (RSS growth on join, {} KiB for {N})", (rss1 - rss0) as f64 / N as f64, rss1 - rss0);
    println!("  process RSS (room + clients) {} KiB", rss_peak_room);
    println!(
        "  added latency in the SFU p50 {:.1} µs  p99 {:.1} µs  (datagram in -> last of its {} copies out)",
        pct(&mut lat, 0.5).as_secs_f64() * 1e6,
        pct(&mut lat, 0.99).as_secs_f64() * 1e6,
        N - 1
    );
}
