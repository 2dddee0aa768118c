//! One memory budget, in bytes, for every image decode in flight: uploads, custom emoji and
//! link-preview images alike. A decode first reads the image's header (`media::probe`), which
//! says how much memory it will hold at once; it reserves that much here (a weighted
//! semaphore: one permit per 4 KiB) and waits, in arrival order, until it fits. An image that
//! alone needs more than the whole budget is refused (`image_too_large`) instead of waiting
//! forever. So however many uploads arrive together, decodes hold at most the budget, which
//! the binary sizes from the board's RAM (`[media] decode_budget_mb`).

use super::view::image_too_large;
use crate::error::ApiResult;
use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Bytes per permit: coarse enough that any image's reservation fits a `u32` of permits.
const UNIT: u64 = 4096;

pub struct DecodeBudget {
    inner: Arc<Inner>,
}

struct Inner {
    permits: Arc<Semaphore>,
    total: u64,
    in_use: AtomicU64,
    peak: AtomicU64,
    waits: AtomicU64,
    decodes: AtomicU64,
    refused: AtomicU64,
}

/// The budget's figures (`GET /api/admin/media`, and the tests that check the bound).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct BudgetStats {
    pub decode_budget_bytes: u64,
    /// Reserved by decodes running now.
    pub decode_in_use_bytes: u64,
    /// The most ever reserved at once.
    pub decode_peak_bytes: u64,
    /// Decodes that had to wait for others to finish.
    pub decode_waits: u64,
    pub decodes: u64,
    /// Images refused because they alone need more than the budget.
    pub decode_refusals: u64,
}

/// What a decode holds while it runs; gives its bytes back when dropped.
struct Reservation {
    _permit: OwnedSemaphorePermit,
    bytes: u64,
    inner: Arc<Inner>,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.inner.in_use.fetch_sub(self.bytes, Ordering::Relaxed);
    }
}

impl DecodeBudget {
    pub fn new(total_bytes: u64) -> DecodeBudget {
        let units = (total_bytes / UNIT).clamp(1, u64::from(u32::MAX));
        DecodeBudget {
            inner: Arc::new(Inner {
                permits: Arc::new(Semaphore::new(units as usize)),
                total: units * UNIT,
                in_use: AtomicU64::new(0),
                peak: AtomicU64::new(0),
                waits: AtomicU64::new(0),
                decodes: AtomicU64::new(0),
                refused: AtomicU64::new(0),
            }),
        }
    }

    pub fn total(&self) -> u64 {
        self.inner.total
    }

    pub fn stats(&self) -> BudgetStats {
        let i = &self.inner;
        BudgetStats {
            decode_budget_bytes: i.total,
            decode_in_use_bytes: i.in_use.load(Ordering::Relaxed),
            decode_peak_bytes: i.peak.load(Ordering::Relaxed),
            decode_waits: i.waits.load(Ordering::Relaxed),
            decodes: i.decodes.load(Ordering::Relaxed),
            decode_refusals: i.refused.load(Ordering::Relaxed),
        }
    }

    async fn reserve(&self, bytes: u64) -> ApiResult<Reservation> {
        let i = &self.inner;
        if bytes > i.total {
            i.refused.fetch_add(1, Ordering::Relaxed);
            return Err(image_too_large(bytes, i.total));
        }
        let n = bytes.div_ceil(UNIT).max(1) as u32;
        let permit = match i.permits.clone().try_acquire_many_owned(n) {
            Ok(p) => p,
            Err(_) => {
                i.waits.fetch_add(1, Ordering::Relaxed);
                // The semaphore is never closed.
                i.permits.clone().acquire_many_owned(n).await.map_err(|_| image_too_large(bytes, i.total))?
            }
        };
        let now = i.in_use.fetch_add(bytes, Ordering::Relaxed) + bytes;
        i.peak.fetch_max(now, Ordering::Relaxed);
        Ok(Reservation { _permit: permit, bytes, inner: i.clone() })
    }

    /// Run `job` on the blocking pool once `bytes` of the budget are reserved for it; the
    /// reservation lasts until the job returns (even if the request is abandoned meanwhile).
    pub async fn run<T: Send + 'static>(&self, bytes: u64, job: impl FnOnce() -> T + Send + 'static) -> ApiResult<T> {
        let reservation = self.reserve(bytes).await?;
        self.inner.decodes.fetch_add(1, Ordering::Relaxed);
        Ok(tokio::task::spawn_blocking(move || {
            let out = job();
            drop(reservation);
            out
        })
        .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn decodes_that_do_not_fit_together_wait_and_one_too_big_is_refused() {
        let b = Arc::new(DecodeBudget::new(10 << 20));
        let (started_tx, started_rx) = std::sync::mpsc::channel::<()>();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let first = {
            let b = b.clone();
            tokio::spawn(async move {
                b.run(6 << 20, move || {
                    let _ = started_tx.send(());
                    let _ = release_rx.recv();
                })
                .await
            })
        };
        tokio::task::spawn_blocking(move || started_rx.recv()).await.expect("join").expect("started");
        // 6 + 6 MB do not fit in 10: the second waits for the first.
        let second = {
            let b = b.clone();
            tokio::spawn(async move { b.run(6 << 20, || ()).await })
        };
        while b.stats().decode_waits == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(!second.is_finished());
        assert_eq!(b.stats().decode_in_use_bytes, 6 << 20);
        let _ = release_tx.send(());
        first.await.expect("join").expect("ran");
        second.await.expect("join").expect("ran");
        let s = b.stats();
        assert_eq!((s.decode_peak_bytes, s.decode_in_use_bytes, s.decodes), (6 << 20, 0, 2));

        let e = b.run(11 << 20, || ()).await.expect_err("refused").0;
        assert_eq!(e.code, "image_too_large");
        assert_eq!(b.stats().decode_refusals, 1);
    }
}
