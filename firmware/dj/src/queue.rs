//! The queue: one list in play order, and the fair queue's rule for where a new entry goes.
//!
//! With the fair queue on, an entry is inserted where its requester's turn is: before the
//! first entry whose "round" (how many entries of the same requester come before it) is
//! higher than the new entry's round. Turning it on reorders the queue once into rounds
//! (stable); turning it off keeps the order as it is. Manual moves and `playnext` are kept:
//! later insertions count rounds in the list as it is.

use std::collections::{HashMap, HashSet};

use crate::model::{Entry, EntryId};

#[derive(Clone, Debug, Default)]
pub(crate) struct Queue {
    entries: Vec<Entry>,
    fair: bool,
}

impl Queue {
    pub fn from_parts(entries: Vec<Entry>, fair: bool) -> Queue {
        Queue { entries, fair }
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn fair(&self) -> bool {
        self.fair
    }

    pub fn get(&self, i: usize) -> Option<&Entry> {
        self.entries.get(i)
    }

    pub fn index_of(&self, id: EntryId) -> Option<usize> {
        self.entries.iter().position(|e| e.id == id)
    }

    pub fn count_of(&self, user: i64) -> usize {
        self.entries
            .iter()
            .filter(|e| e.requester.id == user)
            .count()
    }

    /// A request: at the end, or at its requester's turn when fair. Returns its index.
    pub fn push(&mut self, e: Entry) -> usize {
        let at = if self.fair {
            fair_index(&self.entries, e.requester.id)
        } else {
            self.entries.len()
        };
        self.entries.insert(at, e);
        at
    }

    /// At the very end whatever the mode (the queue loop's order).
    pub fn push_back(&mut self, e: Entry) {
        self.entries.push(e);
    }

    pub fn insert(&mut self, at: usize, e: Entry) {
        let at = at.min(self.entries.len());
        self.entries.insert(at, e);
    }

    pub fn pop_front(&mut self) -> Option<Entry> {
        if self.entries.is_empty() {
            None
        } else {
            Some(self.entries.remove(0))
        }
    }

    pub fn remove(&mut self, i: usize) -> Option<Entry> {
        (i < self.entries.len()).then(|| self.entries.remove(i))
    }

    pub fn move_to(&mut self, from: usize, to: usize) -> bool {
        if from >= self.entries.len() || to >= self.entries.len() {
            return false;
        }
        let e = self.entries.remove(from);
        self.entries.insert(to, e);
        true
    }

    /// The first `n` entries, taken out.
    pub fn drain_front(&mut self, n: usize) -> Vec<Entry> {
        let n = n.min(self.entries.len());
        self.entries.drain(..n).collect()
    }

    pub fn clear(&mut self) -> usize {
        let n = self.entries.len();
        self.entries.clear();
        n
    }

    pub fn remove_user(&mut self, user: i64) -> usize {
        let before = self.entries.len();
        self.entries.retain(|e| e.requester.id != user);
        before - self.entries.len()
    }

    /// Drops every entry whose source is already earlier in the queue (or is `playing`).
    pub fn dedupe(&mut self, playing: Option<&str>) -> usize {
        let mut seen: HashSet<String> = playing.map(str::to_string).into_iter().collect();
        let before = self.entries.len();
        self.entries.retain(|e| seen.insert(e.track.source.clone()));
        before - self.entries.len()
    }

    pub fn set_fair(&mut self, on: bool) {
        if on && !self.fair {
            let mut rounds: HashMap<i64, usize> = HashMap::new();
            let mut keyed: Vec<(usize, Entry)> = self
                .entries
                .drain(..)
                .map(|e| {
                    let r = rounds.entry(e.requester.id).or_insert(0);
                    let k = *r;
                    *r += 1;
                    (k, e)
                })
                .collect();
            keyed.sort_by_key(|(k, _)| *k);
            self.entries = keyed.into_iter().map(|(_, e)| e).collect();
        }
        self.fair = on;
    }

    /// Fisher–Yates from `seed` (the core has no randomness of its own: the seed comes from
    /// its inputs). With the fair queue on, turns are kept: the shuffle happens within them.
    pub fn shuffle(&mut self, seed: u64) {
        let mut state = seed;
        for i in (1..self.entries.len()).rev() {
            let r = splitmix(&mut state);
            let j = usize::try_from(r % (i as u64 + 1)).unwrap_or(0);
            self.entries.swap(i, j);
        }
        if self.fair {
            self.fair = false;
            self.set_fair(true);
        }
    }
}

fn fair_index(entries: &[Entry], requester: i64) -> usize {
    let k = entries
        .iter()
        .filter(|e| e.requester.id == requester)
        .count();
    let mut rounds: HashMap<i64, usize> = HashMap::new();
    for (i, e) in entries.iter().enumerate() {
        let r = rounds.entry(e.requester.id).or_insert(0);
        if *r > k {
            return i;
        }
        *r += 1;
    }
    entries.len()
}

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
