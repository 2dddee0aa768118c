//! The password lane: bcrypt (and the other password hashes) run on a few threads of their own,
//! never on the blocking pool that serves SQLite, file IO and DNS.
//!
//! One bcrypt check at cost 12 is ~0.25 s of a core here and ~1 s on a Zero 2 W. On a shared
//! pool, a handful of clients sending logins would fill every thread with hashing and every chat
//! request would queue behind them. Here the work has a fixed number of workers and a short
//! queue; a job that finds both full is refused at once with `rate_limited` (the client retries),
//! so a flood of logins costs the box at most `workers` cores and never delays chat.

use crate::error::ApiError;
use chat::Error;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

type Job = Box<dyn FnOnce() + Send>;

/// How many password jobs run at once, and how many more may wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LaneSize {
    pub workers: usize,
    pub queue: usize,
    /// Extra places only known devices may take (see `login`): a flood of logins from strangers
    /// cannot keep the owner out.
    pub reserved: usize,
}

impl Default for LaneSize {
    /// Half the cores (at least one): the other half keeps chat and voice going.
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        LaneSize { workers: (cores / 2).max(1), queue: 8, reserved: 2 }
    }
}

pub struct PasswordLane {
    tx: Mutex<mpsc::Sender<Job>>,
    /// Jobs admitted and not yet finished (running + waiting).
    pending: Arc<AtomicUsize>,
    capacity: usize,
    reserved: usize,
}

impl PasswordLane {
    pub fn new(size: LaneSize) -> Self {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..size.workers.max(1) {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new().name(format!("spot-password-{i}")).spawn(move || loop {
                let job = match rx.lock() {
                    Ok(rx) => rx.recv(),
                    Err(_) => return,
                };
                match job {
                    Ok(job) => job(),
                    Err(_) => return,
                }
            });
            if let Err(e) = spawned {
                tracing::error!("cannot start a password worker: {e}");
            }
        }
        PasswordLane { tx: Mutex::new(tx), pending: Arc::new(AtomicUsize::new(0)), capacity: size.workers.max(1) + size.queue, reserved: size.reserved }
    }

    /// Jobs running or waiting now.
    pub fn pending(&self) -> usize {
        self.pending.load(Ordering::SeqCst)
    }

    /// Run `f` on the lane, or refuse at once when it is full (`priority` jobs may also take
    /// the reserved places).
    pub async fn run<T: Send + 'static>(&self, priority: bool, f: impl FnOnce() -> T + Send + 'static) -> Result<T, ApiError> {
        let cap = if priority { self.capacity + self.reserved } else { self.capacity };
        let admitted = self.pending.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| (n < cap).then_some(n + 1)).is_ok();
        if !admitted {
            tracing::info!(capacity = self.capacity, "password lane full: refused");
            return Err(ApiError(Error::rate_limited(Duration::from_secs(2).as_millis() as u64)));
        }
        let (reply, answer) = tokio::sync::oneshot::channel();
        let pending = self.pending.clone();
        let job: Job = Box::new(move || {
            let out = f();
            pending.fetch_sub(1, Ordering::SeqCst);
            let _ = reply.send(out);
        });
        let sent = self.tx.lock().unwrap_or_else(|e| e.into_inner()).send(job);
        if sent.is_err() {
            self.pending.fetch_sub(1, Ordering::SeqCst);
            return Err(ApiError(Error::internal("the password workers stopped")));
        }
        answer.await.map_err(|_| ApiError(Error::internal("a password check failed")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_lane_refuses_at_once_and_frees_its_places() {
        let lane = Arc::new(PasswordLane::new(LaneSize { workers: 1, queue: 1, reserved: 1 }));
        let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
        let go_rx = Arc::new(Mutex::new(go_rx));
        let mut held = Vec::new();
        for _ in 0..2 {
            let (lane, go) = (lane.clone(), go_rx.clone());
            held.push(tokio::spawn(async move { lane.run(false, move || go.lock().unwrap().recv().is_ok()).await }));
        }
        while lane.pending() < 2 {
            tokio::task::yield_now().await;
        }
        let refused = lane.run(false, || true).await.expect_err("full");
        assert_eq!(refused.0.code, "rate_limited");
        // A known device still gets the reserved place, and only that one.
        let go = go_rx.clone();
        let l2 = lane.clone();
        held.push(tokio::spawn(async move { l2.run(true, move || go.lock().unwrap().recv().is_ok()).await }));
        while lane.pending() < 3 {
            tokio::task::yield_now().await;
        }
        assert!(lane.run(true, || true).await.is_err());
        for _ in 0..3 {
            go_tx.send(()).unwrap();
        }
        for h in held {
            assert!(h.await.unwrap().unwrap());
        }
        assert_eq!(lane.pending(), 0);
        assert!(lane.run(false, || 7).await.unwrap() == 7);
    }
}
