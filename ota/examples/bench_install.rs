//! `make bench`: the installer's figures on this machine, with real files.
//!
//!   full install    a bundle of a SIZE_MIB root image (default 1024) streamed into an image
//!                   file: build time, install time and throughput, bytes written to the slot,
//!                   the installer's peak RSS (VmHWM, reset before the install)
//!   delta install   v2 = v1 with a 12 MiB region rewritten (what a new daemon binary changes in
//!                   the root image) and EDITS scattered 4 KiB edits (file system metadata:
//!                   inode table, bitmaps, directory blocks; default 16): what a box that has v1
//!                   must download (chunks it lacks), and the install copying the rest from its
//!                   slot
//!
//! Usage: cargo run --release -p ota --example bench_install [SIZE_MIB [EDITS]]

use std::collections::BTreeMap;
use std::io::{BufReader, Seek, SeekFrom, Write};
use std::time::Instant;

use ota::bootstate::{DirStore, Slot};
use ota::install::{index_slot, Device, FileJournal, Install, Payload, Progress, StreamPayload};
use ota::keys::PrivateKey;
use ota::manifest::Verified;

fn vm(key: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with(key)).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()))
        .unwrap_or(0)
}

fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// xorshift filler: incompressible, deterministic.
fn fill(f: &mut std::fs::File, size: u64, seed: u64) {
    let mut s = seed | 1;
    let mut buf = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        for b in buf.chunks_mut(8) {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            b.copy_from_slice(&s.to_le_bytes()[..b.len()]);
        }
        let n = left.min(buf.len() as u64) as usize;
        f.write_all(&buf[..n]).expect("write");
        left -= n as u64;
    }
    f.sync_all().expect("sync");
}

struct Counting<'a> {
    f: &'a mut std::fs::File,
    written: u64,
}

impl Device for Counting<'_> {
    fn read_at(&mut self, o: u64, b: &mut [u8]) -> std::io::Result<()> {
        self.f.read_at(o, b)
    }
    fn write_at(&mut self, o: u64, d: &[u8]) -> std::io::Result<()> {
        self.written += d.len() as u64;
        self.f.write_at(o, d)
    }
    fn sync(&mut self) -> std::io::Result<()> {
        self.f.sync()
    }
    fn size(&mut self) -> std::io::Result<u64> {
        self.f.size()
    }
}

fn build(dir: &std::path::Path, image: &std::path::Path, version: &str, key: &PrivateKey) -> (std::path::PathBuf, Verified, f64) {
    let meta = ota::bundle::Meta {
        version: version.parse().expect("version"),
        boards: vec!["bench".into()],
        min_version: None,
        created: 0,
        notes: String::new(),
        needs_eeprom: None,
    };
    let out = dir.join(format!("{version}.spotota"));
    let t = Instant::now();
    let mut f = std::io::BufWriter::new(std::fs::File::create(&out).expect("bundle"));
    let v = ota::bundle::build(&mut f, &meta, &[("rootfs".into(), image.to_path_buf())], &[key]).expect("build");
    f.flush().expect("flush");
    (out, v, t.elapsed().as_secs_f64())
}

fn mib(b: u64) -> f64 {
    b as f64 / (1 << 20) as f64
}

fn main() {
    let size_mib: u64 = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(1024);
    let edits: u64 = std::env::args().nth(2).and_then(|s| s.parse().ok()).unwrap_or(16);
    let size = size_mib << 20;
    let dir = tempfile::tempdir_in(std::env::var("BENCH_DIR").unwrap_or_else(|_| "/var/tmp".into())).expect("tmp");
    let d = dir.path();
    let key = PrivateKey::from_seed([5; 32]);

    let v1 = d.join("v1.img");
    let mut f = std::fs::File::create(&v1).expect("v1");
    fill(&mut f, size, 1);
    // v2: a 12 MiB region rewritten in the middle, plus `edits` scattered 4 KiB edits.
    let v2 = d.join("v2.img");
    std::fs::copy(&v1, &v2).expect("copy");
    let mut g = std::fs::OpenOptions::new().write(true).open(&v2).expect("v2");
    g.seek(SeekFrom::Start(size / 2)).expect("seek");
    let mut region = std::fs::File::create(d.join("region")).expect("region");
    fill(&mut region, 12 << 20, 99);
    drop(region);
    let bytes = std::fs::read(d.join("region")).expect("region");
    g.write_all(&bytes).expect("write");
    drop(bytes);
    for i in 0..edits {
        let at = (i * 7919 * 4096 * 37) % (size - 4096);
        g.seek(SeekFrom::Start(at)).expect("seek");
        g.write_all(&[i as u8; 4096]).expect("edit");
    }
    g.sync_all().expect("sync");
    drop(g);

    let (bundle1, verified1, build1) = build(d, &v1, "1.0.0", &key);
    let (bundle2, verified2, _) = build(d, &v2, "2.0.0", &key);
    let blen = std::fs::metadata(&bundle1).expect("len").len();
    println!("ota bench: {size_mib} MiB root image, {} chunks, bundle {:.1} MiB, built in {build1:.1} s", verified1.distinct.len(), mib(blen));

    // Full install: every chunk from the stream.
    let target_path = d.join("slot-b.img");
    std::fs::File::create(&target_path).expect("slot").set_len(size + (64 << 20)).expect("size");
    let run = |bundle: &std::path::Path, v: &Verified, active: Option<&std::path::Path>, state: &std::path::Path| -> (f64, u64, u64, u64) {
        let _ = std::fs::remove_dir_all(state);
        std::fs::create_dir_all(state).expect("state");
        let mut tf = std::fs::OpenOptions::new().read(true).write(true).open(&target_path).expect("target");
        let mut target = Counting { f: &mut tf, written: 0 };
        let mut boot = DirStore(state.join("boot"));
        let mut journal = FileJournal(state.join("journal.json"));
        let mut r = BufReader::with_capacity(1 << 16, std::fs::File::open(bundle).expect("bundle"));
        let _ = ota::bundle::read_header(&mut r).expect("header");
        let mut act = active.map(|p| std::fs::File::open(p).expect("active"));
        let index = act.as_mut().map(|a| index_slot(a, size).expect("index"));
        let mut progress = |_: Progress| {};
        reset_peak();
        let t = Instant::now();
        let wanted = {
            let mut payload = StreamPayload { reader: r, pos: 0, len: v.manifest.payload_len };
            let mut count = CountingPayload { inner: &mut payload, bytes: 0 };
            let active_dev = match (act.as_mut(), index.as_ref()) {
                (Some(a), Some(i)) => Some((a as &mut dyn Device, i)),
                _ => None,
            };
            Install {
                verified: v,
                boot: &mut boot,
                journal: &mut journal,
                target: &mut target,
                active: active_dev,
                factory_version: "1.0.0",
                running: Slot::A,
                progress: &mut progress,
                checkpoint: ota::install::CHECKPOINT,
            }
            .run(&mut count)
            .expect("install");
            count.bytes
        };
        let secs = t.elapsed().as_secs_f64();
        (secs, target.written, vm("VmHWM:"), wanted)
    };
    let (secs, written, peak_kib, streamed) = run(&bundle1, &verified1, None, &d.join("state1"));
    println!(
        "full install:  {secs:.1} s, {:.0} MiB/s, {:.1} MiB written to the slot, {:.1} MiB read from the bundle, installer peak RSS {:.1} MiB",
        mib(size) / secs,
        mib(written),
        mib(streamed),
        peak_kib as f64 / 1024.0
    );

    // Delta: the box runs v1 (slot A); only the chunks it lacks come from v2's bundle.
    let mut a = std::fs::File::open(&v1).expect("v1");
    let index = index_slot(&mut a, size).expect("index");
    let have: BTreeMap<[u8; 32], ()> = index.keys().map(|k| (*k, ())).collect();
    let asm = ota::assemble::Assembler::new(&verified2, &[0], |h| !have.contains_key(h));
    let download = asm.wanted_bytes();
    let ranges = asm.wanted_ranges().len();
    let b2len = std::fs::metadata(&bundle2).expect("len").len();
    println!(
        "delta update ({edits} metadata edits + 12 MiB binary): download {:.1} MiB in {ranges} ranges (+ manifest {:.2} MiB) instead of {:.1} MiB ({:.1} %)",
        mib(download),
        mib(verified2.envelope_len),
        mib(b2len),
        100.0 * (download + verified2.envelope_len) as f64 / b2len as f64
    );
    let (secs, written, peak_kib, _) = run(&bundle2, &verified2, Some(&v1), &d.join("state2"));
    println!(
        "delta install: {secs:.1} s (copying {:.1} MiB from the running slot), {:.1} MiB written, installer peak RSS {:.1} MiB",
        mib(written.saturating_sub(download)),
        mib(written),
        peak_kib as f64 / 1024.0
    );
}

/// Counts the payload bytes the installer pulls.
struct CountingPayload<'a, P> {
    inner: &'a mut P,
    bytes: u64,
}

impl<P: Payload> Payload for CountingPayload<'_, P> {
    fn read_range(&mut self, offset: u64, len: u64, sink: &mut dyn FnMut(&[u8]) -> ota::Result<()>) -> ota::Result<()> {
        self.bytes += len;
        self.inner.read_range(offset, len, sink)
    }
}
