//! Proofs already used, remembered for as long as they could be presented again: a proof is
//! good within `WINDOW_SECONDS` either side of the time it names, so it can be shown over
//! `2 * WINDOW_SECONDS`. Two generations of that length are kept (the current one and the one
//! before), so a proof seen once is remembered for at least a generation, then both rotate in
//! O(1). Only proofs whose MAC checked out are remembered, so only the edge's own traffic can
//! fill it: at 20,000 requests a second, 800,000 entries of 16 bytes at most.

use std::{collections::HashSet, sync::Mutex, time::Instant};

use api::edge_proof::WINDOW_SECONDS;

/// How long one generation lasts.
const GENERATION_MS: u128 = 2 * WINDOW_SECONDS as u128 * 1_000;

#[derive(Debug)]
pub struct ReplayGuard {
    started: Instant,
    seen: Mutex<Generations>,
}

#[derive(Debug, Default)]
struct Generations {
    number: u128,
    current: HashSet<[u8; 16]>,
    previous: HashSet<[u8; 16]>,
}

impl Default for ReplayGuard {
    fn default() -> Self {
        Self {
            started: Instant::now(),
            seen: Mutex::default(),
        }
    }
}

impl ReplayGuard {
    /// Records `mac` as used; `false` when it was used before.
    pub fn first_use(&self, mac: &[u8; 32]) -> bool {
        let mut id = [0; 16];
        id.copy_from_slice(&mac[..16]);
        let generation = self.started.elapsed().as_millis() / GENERATION_MS;
        let mut seen = self
            .seen
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if generation != seen.number {
            let skipped = generation - seen.number;
            seen.number = generation;
            seen.previous = if skipped == 1 {
                std::mem::take(&mut seen.current)
            } else {
                seen.current.clear();
                HashSet::new()
            };
        }
        !seen.previous.contains(&id) && seen.current.insert(id)
    }
}

#[cfg(test)]
mod tests {
    use super::ReplayGuard;

    #[test]
    fn a_proof_is_accepted_once() {
        let guard = ReplayGuard::default();
        assert!(guard.first_use(&[1; 32]));
        assert!(!guard.first_use(&[1; 32]));
        assert!(guard.first_use(&[2; 32]));
    }
}
