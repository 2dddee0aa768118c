//! Search and history paging over a big box: 1,000,000 messages (`BENCH_MESSAGES` to change) in
//! 20 channels by 50 people, words drawn from a Zipf-like vocabulary (a few very common words,
//! a long tail of rare ones), then timed queries through the real store (FTS5, visibility, the
//! hydration every API answer does). Prints p50/p99 per query kind, build time, file size, RSS.
//!
//! `cargo run --release -p store --example bench_search`

use chat::ids::{ChannelId, MessageId, UserId, ID_EPOCH_MS};
use chat::model::Role;
use std::time::{Duration, Instant};
use store::{Page, Store};

fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<f64>().ok()))
        .unwrap_or(0.0)
        / 1024.0
}

/// A small deterministic PRNG (xorshift), so runs are comparable.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn word(i: u64) -> String {
    // Pronounceable, distinct words: w0 = "ba", w1 = "be", ...
    const C: &[u8] = b"bdfgklmnprstvz";
    const V: &[u8] = b"aeiou";
    let mut s = String::new();
    let mut n = i;
    loop {
        s.push(C[(n % 14) as usize] as char);
        n /= 14;
        s.push(V[(n % 5) as usize] as char);
        n /= 5;
        if n == 0 {
            break;
        }
    }
    s
}

fn percentiles(mut v: Vec<Duration>) -> (f64, f64) {
    v.sort_unstable();
    let at = |p: f64| v[((v.len() as f64 - 1.0) * p).round() as usize].as_secs_f64() * 1000.0;
    (at(0.50), at(0.99))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let total: u64 = std::env::var("BENCH_MESSAGES").ok().and_then(|s| s.parse().ok()).unwrap_or(1_000_000);
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("bench.db");
    let store = Store::open(&path)?;
    let mut users = Vec::new();
    for i in 0..50 {
        users.push(store.create_user(&format!("user{i}"), &format!("User {i}"), "x", if i == 0 { Role::Admin } else { Role::Member }, 0)?.id);
    }
    let mut channels = Vec::new();
    for i in 0..20 {
        channels.push(store.create_channel(&format!("channel-{i}"), "", 0)?.id);
    }

    // Bulk load in big transactions straight into the tables (the FTS triggers index as usual);
    // going through `send_message` would fsync a million times.
    let t0 = Instant::now();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    {
        let mut c = rusqlite::Connection::open(&path)?;
        c.pragma_update(None, "synchronous", "OFF")?;
        let start_ms = ID_EPOCH_MS + 365 * 24 * 3600 * 1000;
        let mut done = 0u64;
        while done < total {
            let tx = c.transaction()?;
            {
                let mut st = tx.prepare("INSERT INTO messages (id, channel_id, author_id, content, created_at) VALUES (?1, ?2, ?3, ?4, ?5)")?;
                for _ in 0..50_000.min(total - done) {
                    let ms = start_ms + done as i64 * 30_000; // one message every 30 s: ~1 year
                    let id = ((ms - ID_EPOCH_MS) << 16) | (done as i64 & 0xff);
                    let len = 4 + rng.below(16);
                    let text: Vec<String> = (0..len)
                        .map(|_| {
                            // Zipf-ish: square a uniform draw to favour small ranks.
                            let u = rng.below(1 << 20) as f64 / (1u64 << 20) as f64;
                            word((u * u * u * 20_000.0) as u64)
                        })
                        .collect();
                    let ch = channels[rng.below(channels.len() as u64) as usize];
                    let au = users[rng.below(users.len() as u64) as usize];
                    st.execute(rusqlite::params![id, ch.0, au.0, text.join(" "), ms])?;
                    done += 1;
                }
            }
            tx.commit()?;
        }
        c.execute_batch("INSERT INTO messages_fts(messages_fts) VALUES ('optimize'); ANALYZE; PRAGMA wal_checkpoint(TRUNCATE);")?;
    }
    let build = t0.elapsed();
    let size_mib = std::fs::metadata(&path)?.len() as f64 / (1 << 20) as f64;
    println!("built {total} messages in {:.1} s; database {size_mib:.0} MiB", build.as_secs_f64());

    let admin = store.actor(users[0], 0)?;
    let member = store.actor(users[7], 0)?;
    // Words by frequency rank: w(0) is in ~a third of all messages, w(3000) in a few hundred.
    let (common, second, mid, rare) = (word(0), word(1), word(300), word(3000));
    let qs = [
        ("common word", common.clone()),
        ("mid word", mid.clone()),
        ("rare word", rare.clone()),
        ("two words", format!("{common} {second}")),
        ("phrase", format!("\"{common} {second}\"")),
        ("2-letter prefix", mid[..2].to_owned()),
        ("word + from:", format!("{mid} from:user3")),
        ("word + in:", format!("{mid} in:channel-4")),
        ("filters only", "from:user3 in:channel-4".to_owned()),
        ("word + date range", format!("{mid} after:2025-03-01 before:2025-06-01")),
    ];
    let queries: Vec<(&str, &str)> = qs.iter().map(|(a, b)| (*a, b.as_str())).collect();
    println!("{:<22} {:>9} {:>9} {:>8}", "search (25 results)", "p50 ms", "p99 ms", "hits");
    for (name, q) in queries {
        let parsed = chat::search::parse(q)?;
        let mut times = Vec::new();
        let mut hits = 0;
        for i in 0..60 {
            let actor = if i % 2 == 0 { admin } else { member };
            let t = Instant::now();
            let (_r, n) = store.search(&parsed, 25, 0, actor)?;
            times.push(t.elapsed());
            hits = n;
        }
        let (p50, p99) = percentiles(times);
        println!("{name:<22} {p50:>9.2} {p99:>9.2} {hits:>8}");
    }

    println!("{:<22} {:>9} {:>9}", "history (50 messages)", "p50 ms", "p99 ms");
    let newest = store.last_message_id()?.map_or(0, |m| m.0);
    let mut latest = Vec::new();
    let mut before = Vec::new();
    let mut around = Vec::new();
    for i in 0..300 {
        let ch: ChannelId = channels[i % channels.len()];
        let t = Instant::now();
        store.history(ch, Page::Latest, 50)?;
        latest.push(t.elapsed());
        let anchor = MessageId(rng.below(newest as u64) as i64);
        let t = Instant::now();
        store.history(ch, Page::Before(anchor), 50)?;
        before.push(t.elapsed());
        let page = store.history(ch, Page::Before(anchor), 1)?;
        if let Some(m) = page.first() {
            let t = Instant::now();
            store.history(ch, Page::Around(m.id), 50)?;
            around.push(t.elapsed());
        }
    }
    for (name, v) in [("latest", latest), ("before (deep)", before), ("around (jump)", around)] {
        let (p50, p99) = percentiles(v);
        println!("{name:<22} {p50:>9.2} {p99:>9.2}");
    }
    let t = Instant::now();
    let n = store.channels_for(store.actor(UserId(users[3].0), 0)?)?.len();
    println!("channel list ({n} channels, unread + mentions): {:.2} ms", t.elapsed().as_secs_f64() * 1000.0);
    println!("RSS {:.1} MiB", rss_mib());
    Ok(())
}
