//! Internet radio: a non-seekable `MediaSource` fed from another thread, and the ICY
//! (SHOUTcast/Icecast) metadata stripper.
//!
//! `stream_channel(cap_bytes, idle)` gives a `StreamWriter` (the HTTP body task's end: `send`
//! is an `async fn` that waits for room without any runtime of its own, `try_send` never waits,
//! `send_blocking` is for threads) and a `StreamSource` (the decode thread's end: reads block
//! there only). Memory is bounded by `cap_bytes` (one chunk may overshoot it). Dropping the
//! writer ends the stream cleanly; `fail` ends it with an error; a writer that sends nothing for
//! `idle` makes the reader fail with `TimedOut` (which the decoder reports as `stalled`).
//!
//! `IcyParser` is pure: bytes in, audio bytes and `StreamTitle`s out.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::io::{self, Read, Seek, SeekFrom};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use symphonia::core::io::MediaSource;

struct State {
    chunks: VecDeque<Vec<u8>>,
    bytes: usize,
    cap: usize,
    writer_gone: bool,
    reader_gone: bool,
    error: Option<String>,
    waker: Option<Waker>,
}

struct Shared {
    state: Mutex<State>,
    readable: Condvar,
    writable: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The reader hung up: the decode stopped, stop sending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closed;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrySendError {
    Full(Vec<u8>),
    Closed,
}

pub fn stream_channel(cap_bytes: usize, idle: Duration) -> (StreamWriter, StreamSource) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            chunks: VecDeque::new(),
            bytes: 0,
            cap: cap_bytes.max(1),
            writer_gone: false,
            reader_gone: false,
            error: None,
            waker: None,
        }),
        readable: Condvar::new(),
        writable: Condvar::new(),
    });
    (
        StreamWriter {
            shared: shared.clone(),
        },
        StreamSource {
            shared,
            idle,
            current: Vec::new(),
            at: 0,
            pos: 0,
        },
    )
}

pub struct StreamWriter {
    shared: Arc<Shared>,
}

impl StreamWriter {
    /// Sends a chunk, waiting (asynchronously) while the buffer is full.
    pub async fn send(&mut self, chunk: Vec<u8>) -> Result<(), Closed> {
        let mut chunk = Some(chunk);
        poll_fn(|cx| {
            let mut st = self.shared.lock();
            if st.reader_gone {
                return Poll::Ready(Err(Closed));
            }
            if st.bytes < st.cap {
                let c = chunk.take().unwrap_or_default();
                push(&mut st, &self.shared, c);
                return Poll::Ready(Ok(()));
            }
            st.waker = Some(cx.waker().clone());
            Poll::Pending
        })
        .await
    }

    pub fn try_send(&mut self, chunk: Vec<u8>) -> Result<(), TrySendError> {
        let mut st = self.shared.lock();
        if st.reader_gone {
            return Err(TrySendError::Closed);
        }
        if st.bytes >= st.cap {
            return Err(TrySendError::Full(chunk));
        }
        push(&mut st, &self.shared, chunk);
        Ok(())
    }

    /// Sends from a plain thread, blocking while the buffer is full.
    pub fn send_blocking(&mut self, chunk: Vec<u8>) -> Result<(), Closed> {
        let mut st = self.shared.lock();
        loop {
            if st.reader_gone {
                return Err(Closed);
            }
            if st.bytes < st.cap {
                push(&mut st, &self.shared, chunk);
                return Ok(());
            }
            st = self
                .shared
                .writable
                .wait(st)
                .unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Ends the stream with an error the reader reports (after the bytes already sent).
    pub fn fail(self, why: impl std::fmt::Display) {
        self.shared.lock().error = Some(why.to_string());
    }
}

fn push(st: &mut State, shared: &Shared, chunk: Vec<u8>) {
    if chunk.is_empty() {
        return;
    }
    st.bytes += chunk.len();
    st.chunks.push_back(chunk);
    shared.readable.notify_one();
}

impl Drop for StreamWriter {
    fn drop(&mut self) {
        self.shared.lock().writer_gone = true;
        self.shared.readable.notify_all();
    }
}

pub struct StreamSource {
    shared: Arc<Shared>,
    idle: Duration,
    current: Vec<u8>,
    at: usize,
    pos: u64,
}

impl Read for StreamSource {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.at == self.current.len() {
            let deadline = Instant::now() + self.idle;
            let mut st = self.shared.lock();
            loop {
                if let Some(c) = st.chunks.pop_front() {
                    st.bytes -= c.len();
                    if let Some(w) = st.waker.take() {
                        w.wake();
                    }
                    self.shared.writable.notify_one();
                    self.current = c;
                    self.at = 0;
                    break;
                }
                if let Some(e) = &st.error {
                    return Err(io::Error::other(e.clone()));
                }
                if st.writer_gone {
                    return Ok(0);
                }
                let now = Instant::now();
                if now >= deadline {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the stream sent nothing",
                    ));
                }
                st = self
                    .shared
                    .readable
                    .wait_timeout(st, deadline - now)
                    .unwrap_or_else(|p| p.into_inner())
                    .0;
            }
        }
        let n = buf.len().min(self.current.len() - self.at);
        buf[..n].copy_from_slice(&self.current[self.at..self.at + n]);
        self.at += n;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for StreamSource {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        match to {
            SeekFrom::Current(0) => Ok(self.pos),
            _ => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "a stream cannot seek",
            )),
        }
    }
}

impl MediaSource for StreamSource {
    fn is_seekable(&self) -> bool {
        false
    }

    fn byte_len(&self) -> Option<u64> {
        None
    }
}

impl Drop for StreamSource {
    fn drop(&mut self) {
        let mut st = self.shared.lock();
        st.reader_gone = true;
        st.chunks.clear();
        st.bytes = 0;
        if let Some(w) = st.waker.take() {
            w.wake();
        }
        self.shared.writable.notify_all();
    }
}

/// Largest `icy-metaint` accepted (servers use 8–64 KiB).
pub const MAX_METAINT: usize = 1 << 20;

/// Strips ICY metadata blocks (every `metaint` audio bytes: one length byte ×16, then that many
/// bytes of `StreamTitle='…';…`) from a byte stream.
pub struct IcyParser {
    metaint: usize,
    left: usize,
    meta_len: Option<usize>,
    meta: Vec<u8>,
    last_title: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IcyOutput {
    pub audio: Vec<u8>,
    /// New stream titles, in order (repeats of the current title are left out).
    pub titles: Vec<String>,
}

impl IcyParser {
    /// `metaint` from the `icy-metaint` header; `None` for absent, zero, junk or absurd values.
    pub fn from_header(value: &str) -> Option<IcyParser> {
        let m: usize = value.trim().parse().ok()?;
        (1..=MAX_METAINT).contains(&m).then(|| IcyParser::new(m))
    }

    fn new(metaint: usize) -> IcyParser {
        IcyParser {
            metaint,
            left: metaint,
            meta_len: None,
            meta: Vec::new(),
            last_title: None,
        }
    }

    pub fn feed(&mut self, mut input: &[u8]) -> IcyOutput {
        let mut out = IcyOutput {
            audio: Vec::with_capacity(input.len()),
            titles: Vec::new(),
        };
        while !input.is_empty() {
            match self.meta_len {
                None if self.left > 0 => {
                    let n = self.left.min(input.len());
                    out.audio.extend_from_slice(&input[..n]);
                    input = &input[n..];
                    self.left -= n;
                }
                None => {
                    // The length byte: at most 255 × 16 = 4080 bytes, so a block is bounded.
                    let len = usize::from(input[0]) * 16;
                    input = &input[1..];
                    if len == 0 {
                        self.left = self.metaint;
                    } else {
                        self.meta_len = Some(len);
                        self.meta.clear();
                    }
                }
                Some(len) => {
                    let n = (len - self.meta.len()).min(input.len());
                    self.meta.extend_from_slice(&input[..n]);
                    input = &input[n..];
                    if self.meta.len() == len {
                        self.meta_len = None;
                        self.left = self.metaint;
                        if let Some(t) = stream_title(&self.meta) {
                            if self.last_title.as_ref() != Some(&t) {
                                self.last_title = Some(t.clone());
                                out.titles.push(t);
                            }
                        }
                    }
                }
            }
        }
        out
    }
}

/// `StreamTitle='Artist - Song';StreamUrl='…';` → "Artist - Song" (a quote inside a title is
/// common, so the value ends at the last `';` before the next key, or at the block's end).
fn stream_title(block: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(block);
    let text = text.trim_end_matches('\0');
    let start = text.find("StreamTitle='")? + "StreamTitle='".len();
    let rest = &text[start..];
    let end = rest
        .find("';StreamUrl=")
        .or_else(|| rest.rfind("';"))
        .or_else(|| rest.rfind('\''))
        .unwrap_or(rest.len());
    let title: String = rest[..end]
        .chars()
        .filter(|c| !c.is_control())
        .take(256)
        .collect();
    let title = title.trim();
    (!title.is_empty()).then(|| title.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(meta: &str) -> Vec<u8> {
        let mut m = meta.as_bytes().to_vec();
        m.resize(m.len().div_ceil(16) * 16, 0);
        let mut out = vec![(m.len() / 16) as u8];
        out.extend(m);
        out
    }

    fn stream(metaint: usize, parts: &[&str]) -> (Vec<u8>, Vec<u8>) {
        let mut bytes = Vec::new();
        let mut audio = Vec::new();
        let mut counter = 0u8;
        for p in parts {
            for _ in 0..metaint {
                bytes.push(counter);
                audio.push(counter);
                counter = counter.wrapping_add(1);
            }
            if p.is_empty() {
                bytes.push(0);
            } else {
                bytes.extend(block(p));
            }
        }
        (bytes, audio)
    }

    #[test]
    fn strips_blocks_and_reports_titles_in_any_chunking() {
        let (bytes, audio) = stream(
            100,
            &[
                "StreamTitle='Ann - It''s Fine';StreamUrl='x';",
                "",
                "StreamTitle='Ann - It''s Fine';",
                "StreamTitle='Bo';",
            ],
        );
        for piece in [1, 7, 99, 100, 101, 4096] {
            let mut p = IcyParser::from_header("100").expect("metaint");
            let (mut got, mut titles) = (Vec::new(), Vec::new());
            for c in bytes.chunks(piece) {
                let o = p.feed(c);
                got.extend(o.audio);
                titles.extend(o.titles);
            }
            assert_eq!(got, audio, "piece {piece}");
            assert_eq!(titles, ["Ann - It''s Fine", "Bo"], "piece {piece}");
        }
    }

    #[test]
    fn hostile_metaint_values_are_refused() {
        for v in [
            "0",
            "-1",
            "",
            "abc",
            "99999999999999999999",
            "2000000",
            " 8192x",
        ] {
            assert!(IcyParser::from_header(v).is_none(), "{v}");
        }
        assert!(IcyParser::from_header(" 8192 ").is_some());
    }

    #[test]
    fn oversized_and_junk_blocks_stay_bounded() {
        // The largest block (255 × 16 bytes) of junk, no title: audio passes, nothing reported.
        let mut p = IcyParser::from_header("16").expect("metaint");
        let mut bytes = vec![1u8; 16];
        bytes.push(255);
        bytes.extend(std::iter::repeat_n(0xffu8, 255 * 16));
        bytes.extend([2u8; 16]);
        let o = p.feed(&bytes);
        assert_eq!(o.audio.len(), 32);
        assert!(o.titles.is_empty());
        assert_eq!(stream_title(b"StreamTitle='\x01\x02';"), None);
        assert_eq!(stream_title(&[b'S'; 10]), None);
        let long = format!("StreamTitle='{}';", "x".repeat(4000));
        assert_eq!(stream_title(long.as_bytes()).map(|t| t.len()), Some(256));
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        struct Unpark(std::thread::Thread);
        impl std::task::Wake for Unpark {
            fn wake(self: Arc<Self>) {
                self.0.unpark();
            }
        }
        let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
        let mut cx = std::task::Context::from_waker(&waker);
        let mut f = std::pin::pin!(f);
        loop {
            if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
                return v;
            }
            std::thread::park();
        }
    }

    #[test]
    fn channel_bounds_memory_and_ends_cleanly() {
        let (mut w, mut r) = stream_channel(10, Duration::from_secs(5));
        assert_eq!(w.try_send(vec![1; 10]), Ok(()));
        assert_eq!(w.try_send(vec![2; 3]), Err(TrySendError::Full(vec![2; 3])));
        let t = std::thread::spawn(move || {
            block_on(w.send(vec![3; 4])).expect("send");
            drop(w);
        });
        let mut all = Vec::new();
        r.read_to_end(&mut all).expect("read");
        t.join().expect("join");
        assert_eq!(all, [vec![1; 10], vec![3; 4]].concat());
        assert!(!r.is_seekable());
    }

    #[test]
    fn a_silent_writer_times_out_and_a_failed_one_errors() {
        let (w, mut r) = stream_channel(10, Duration::from_millis(50));
        let mut buf = [0u8; 4];
        let err = r.read(&mut buf).expect_err("stalled");
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        w.fail("connection reset");
        assert_eq!(
            r.read(&mut buf).expect_err("failed").to_string(),
            "connection reset"
        );
    }

    #[test]
    fn a_dropped_reader_tells_the_writer() {
        let (mut w, r) = stream_channel(10, Duration::from_secs(1));
        drop(r);
        assert_eq!(w.send_blocking(vec![1]), Err(Closed));
        assert_eq!(block_on(w.send(vec![1])), Err(Closed));
    }
}
