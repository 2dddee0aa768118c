//! Test data shared by this crate's tests and the helper's and daemon's update tests.

/// `n` deterministic, incompressible bytes (xorshift64 from `seed`; 0 counts as 1), for
/// root images and bundles in tests.
pub fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.max(1);
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}
