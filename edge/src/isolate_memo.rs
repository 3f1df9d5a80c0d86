//! Short-lived memory of one isolate: answers that are expensive to fetch (a KV read, an origin
//! round trip) but fine to reuse for a few seconds, such as which shop a host belongs to.
//!
//! An isolate runs its requests on one thread, so each user keeps an `IsolateMemo` in a
//! `thread_local!` and no locking is needed. Entries carry their own expiry; expired ones are
//! swept when the map grows past `SWEEP_AT`, so a flood of distinct keys cannot grow it forever.

use std::{cell::RefCell, collections::HashMap, hash::Hash};

/// Entry count past which expired entries are dropped on the next insert.
const SWEEP_AT: usize = 4_096;

#[derive(Debug)]
pub struct IsolateMemo<K, V> {
    entries: RefCell<HashMap<K, (V, u64)>>,
}

impl<K: Eq + Hash, V: Clone> Default for IsolateMemo<K, V> {
    fn default() -> Self {
        Self {
            entries: RefCell::new(HashMap::new()),
        }
    }
}

impl<K: Eq + Hash, V: Clone> IsolateMemo<K, V> {
    /// The value remembered for `key`, unless it expired at or before `now_ms`.
    pub fn get(&self, key: &K, now_ms: u64) -> Option<V> {
        self.entries
            .borrow()
            .get(key)
            .filter(|(_, until)| *until > now_ms)
            .map(|(value, _)| value.clone())
    }

    /// Remembers `value` for `key` until `until_ms`.
    pub fn remember(&self, key: K, value: V, until_ms: u64, now_ms: u64) {
        let mut entries = self.entries.borrow_mut();
        if entries.len() >= SWEEP_AT {
            entries.retain(|_, (_, until)| *until > now_ms);
        }
        entries.insert(key, (value, until_ms));
    }

    pub fn forget(&self, key: &K) {
        self.entries.borrow_mut().remove(key);
    }

    /// Forgets every key `matches` picks.
    pub fn forget_where(&self, matches: impl Fn(&K) -> bool) {
        self.entries.borrow_mut().retain(|key, _| !matches(key));
    }
}

#[cfg(test)]
mod tests {
    use super::IsolateMemo;

    #[test]
    fn values_are_kept_until_their_expiry_only() {
        let memo = IsolateMemo::default();
        memo.remember("host", 7, 1_000, 0);
        assert_eq!(memo.get(&"host", 999), Some(7));
        assert_eq!(memo.get(&"host", 1_000), None);
        memo.remember("host", 8, 1_000, 0);
        memo.forget(&"host");
        assert_eq!(memo.get(&"host", 0), None);
    }

    #[test]
    fn a_full_memo_sweeps_expired_entries() {
        let memo = IsolateMemo::default();
        for n in 0..super::SWEEP_AT {
            memo.remember(n, n, 10, 0);
        }
        memo.remember(usize::MAX, 0, 100, 50);
        assert_eq!(memo.entries.borrow().len(), 1);
    }
}
