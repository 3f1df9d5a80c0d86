//! Short-lived memory of one isolate: answers that are expensive to fetch (a KV read, an origin
//! round trip) but fine to reuse for a few seconds, such as which shop a host belongs to.
//!
//! An isolate runs its requests on one thread, so each user keeps an `IsolateMemo` in a
//! `thread_local!` and no locking is needed. Entries carry their own expiry, and the memo holds
//! at most `CAPACITY` of them, least recently used out first (`hashlink::LruCache`): every
//! insert and lookup is O(1) however many distinct keys arrive, so a bot rotating its address
//! on every request neither grows the isolate's memory nor makes each request scan a map (the
//! sweep this replaced ran over every entry on each insert past 4,096).

use std::{cell::RefCell, hash::Hash};

use hashlink::LruCache;

/// The most entries a memo keeps: room for every honest client an isolate sees in a window, at
/// about 1.5 MB for the largest values kept here.
pub const CAPACITY: usize = 16_384;

#[derive(Debug)]
pub struct IsolateMemo<K: Eq + Hash, V> {
    entries: RefCell<LruCache<K, (V, u64)>>,
}

impl<K: Eq + Hash, V: Clone> Default for IsolateMemo<K, V> {
    fn default() -> Self {
        Self::with_capacity(CAPACITY)
    }
}

impl<K: Eq + Hash, V: Clone> IsolateMemo<K, V> {
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            entries: RefCell::new(LruCache::new(capacity)),
        }
    }

    /// The value remembered for `key`, unless it expired at or before `now_ms`.
    pub fn get(&self, key: &K, now_ms: u64) -> Option<V> {
        let mut entries = self.entries.borrow_mut();
        match entries.get(key) {
            Some((value, until)) if *until > now_ms => Some(value.clone()),
            Some(_) => {
                entries.remove(key);
                None
            }
            None => None,
        }
    }

    /// Remembers `value` for `key` until `until_ms` (dropping the least recently used entry
    /// when the memo is full). `now_ms` is kept for callers' symmetry with `get`.
    pub fn remember(&self, key: K, value: V, until_ms: u64, _now_ms: u64) {
        self.entries.borrow_mut().insert(key, (value, until_ms));
    }

    pub fn forget(&self, key: &K) {
        self.entries.borrow_mut().remove(key);
    }

    /// Forgets every key `matches` picks.
    /// A full scan, for rare events (a restock), never on a request's hot path.
    pub fn forget_where(&self, matches: impl Fn(&K) -> bool)
    where
        K: Clone,
    {
        let mut entries = self.entries.borrow_mut();
        let doomed: Vec<K> = entries
            .iter()
            .filter(|(key, _)| matches(key))
            .map(|(key, _)| key.clone())
            .collect();
        for key in doomed {
            entries.remove(&key);
        }
    }

    /// Forgets every entry whose key and value `matches` picks (a full scan, like
    /// `forget_where`).
    pub fn forget_entries_where(&self, mut matches: impl FnMut(&K, &V) -> bool)
    where
        K: Clone,
    {
        let mut entries = self.entries.borrow_mut();
        let doomed: Vec<K> = entries
            .iter()
            .filter(|(key, (value, _))| matches(key, value))
            .map(|(key, _)| key.clone())
            .collect();
        for key in doomed {
            entries.remove(&key);
        }
    }

    /// How many entries are held (expired ones included, until they are looked up or pushed
    /// out).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.borrow().len()
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
    fn a_full_memo_drops_the_least_recently_used_entry() {
        let memo = IsolateMemo::with_capacity(3);
        for n in 0..3 {
            memo.remember(n, n, 100, 0);
        }
        assert_eq!(memo.get(&0, 1), Some(0), "0 is now the most recently used");
        memo.remember(3, 3, 100, 1);
        assert_eq!(memo.len(), 3);
        assert_eq!(memo.get(&1, 1), None, "1 was the least recently used");
        assert_eq!(memo.get(&0, 1), Some(0));
        for n in 0..1_000_000_u32 {
            memo.remember(n, n, 100, 1);
        }
        assert_eq!(memo.len(), 3, "a million distinct keys hold three entries");
    }
}
