//! Token buckets keyed by anything (IP, user, user × action). Sans-IO: the caller passes `now`.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// `burst` tokens at most, refilled at one token per `every`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub burst: u32,
    pub every: Duration,
}

impl Quota {
    pub const fn new(burst: u32, every: Duration) -> Self {
        Quota { burst, every }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    /// Tokens, in units of 1/1000 of a token to keep the arithmetic in integers.
    milli: u64,
    at: Instant,
}

/// A set of buckets sharing one quota.
#[derive(Debug)]
pub struct RateLimiter<K> {
    quota: Quota,
    buckets: HashMap<K, Bucket>,
}

/// Keep memory bounded: past this many keys, full buckets are forgotten.
const PRUNE_AT: usize = 4096;

impl<K: Hash + Eq + Clone> RateLimiter<K> {
    pub fn new(quota: Quota) -> Self {
        RateLimiter { quota, buckets: HashMap::new() }
    }

    fn refill(&self, b: Bucket, now: Instant) -> Bucket {
        let cap = u64::from(self.quota.burst) * 1000;
        let every_ms = (self.quota.every.as_millis() as u64).max(1);
        let elapsed_ms = now.saturating_duration_since(b.at).as_millis() as u64;
        let milli = (b.milli + elapsed_ms.saturating_mul(1000) / every_ms).min(cap);
        Bucket { milli, at: now }
    }

    /// How long until one token is available, without taking it (`None` = available now).
    pub fn peek(&self, key: &K, now: Instant) -> Option<Duration> {
        let b = self.buckets.get(key).map(|b| self.refill(*b, now))?;
        self.wait_for(b)
    }

    fn wait_for(&self, b: Bucket) -> Option<Duration> {
        if b.milli >= 1000 {
            return None;
        }
        let every_ms = self.quota.every.as_millis() as u64;
        Some(Duration::from_millis(((1000 - b.milli) * every_ms).div_ceil(1000).max(1)))
    }

    /// Take one token, or say how long to wait.
    pub fn check(&mut self, key: &K, now: Instant) -> Result<(), Duration> {
        if self.buckets.len() >= PRUNE_AT {
            self.prune(now);
        }
        let full = Bucket { milli: u64::from(self.quota.burst) * 1000, at: now };
        let b = self.buckets.get(key).map(|b| self.refill(*b, now)).unwrap_or(full);
        if let Some(wait) = self.wait_for(b) {
            self.buckets.insert(key.clone(), b);
            return Err(wait);
        }
        self.buckets.insert(key.clone(), Bucket { milli: b.milli - 1000, at: now });
        Ok(())
    }

    /// Return one token taken by [`check`](Self::check) (the attempt turned out legitimate).
    pub fn give_back(&mut self, key: &K) {
        let cap = u64::from(self.quota.burst) * 1000;
        if let Some(b) = self.buckets.get_mut(key) {
            b.milli = (b.milli + 1000).min(cap);
        }
    }

    /// Forget a key (e.g. a user's failure count after a successful login).
    pub fn reset(&mut self, key: &K) {
        self.buckets.remove(key);
    }

    fn prune(&mut self, now: Instant) {
        let cap = u64::from(self.quota.burst) * 1000;
        let quota = self.quota;
        let me = RateLimiter::<()> { quota, buckets: HashMap::new() };
        self.buckets.retain(|_, b| me.refill(*b, now).milli < cap);
    }

    pub fn len(&self) -> usize {
        self.buckets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_refill() {
        let t0 = Instant::now();
        let mut rl = RateLimiter::new(Quota::new(3, Duration::from_secs(1)));
        for _ in 0..3 {
            assert!(rl.check(&"a", t0).is_ok());
        }
        let wait = rl.check(&"a", t0).err();
        assert_eq!(wait, Some(Duration::from_secs(1)));
        // Other keys are independent.
        assert!(rl.check(&"b", t0).is_ok());
        assert!(rl.check(&"a", t0 + Duration::from_millis(500)).is_err());
        assert!(rl.check(&"a", t0 + Duration::from_millis(1000)).is_ok());
        rl.reset(&"a");
        assert!(rl.check(&"a", t0 + Duration::from_millis(1000)).is_ok());
    }

    #[test]
    fn memory_stays_bounded() {
        let t0 = Instant::now();
        let mut rl = RateLimiter::new(Quota::new(1, Duration::from_millis(10)));
        for i in 0..20_000u32 {
            let _ = rl.check(&i, t0 + Duration::from_millis(u64::from(i)));
        }
        assert!(rl.len() <= PRUNE_AT + 1);
    }
}
