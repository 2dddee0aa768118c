//! Skip votes for the entry that plays. Only votes of people in the room count: a vote stays
//! recorded when its voter leaves (and counts again if they come back), so the count is
//! always taken against the listeners of the moment.

use std::collections::BTreeSet;

#[derive(Clone, Debug, Default)]
pub(crate) struct Votes {
    voters: BTreeSet<i64>,
}

impl Votes {
    /// `false` if they had voted already.
    pub fn add(&mut self, user: i64) -> bool {
        self.voters.insert(user)
    }

    pub fn clear(&mut self) {
        self.voters.clear();
    }

    pub fn count(&self, listeners: &BTreeSet<i64>) -> usize {
        self.voters.intersection(listeners).count()
    }
}

/// Votes needed among `listeners` people: `ratio` of them rounded up, at least 1, at most all.
pub(crate) fn needed(ratio: f64, listeners: usize) -> usize {
    // The small nudge keeps 0.1 × 30 (= 3.0000000000000004 in floats) at 3.
    let raw = (ratio * listeners as f64 - 1e-9).ceil();
    let n = if raw.is_finite() && raw > 0.0 {
        raw as usize
    } else {
        0
    };
    n.clamp(1, listeners.max(1))
}

#[cfg(test)]
mod tests {
    use super::needed;

    #[test]
    fn ratio_rounds_up_within_bounds() {
        assert_eq!(needed(0.5, 0), 1);
        assert_eq!(needed(0.5, 1), 1);
        assert_eq!(needed(0.5, 3), 2);
        assert_eq!(needed(0.5, 4), 2);
        assert_eq!(needed(0.1, 30), 3);
        assert_eq!(needed(1.0, 5), 5);
        assert_eq!(needed(7.0, 5), 5);
        assert_eq!(needed(f64::NAN, 5), 1);
    }
}
