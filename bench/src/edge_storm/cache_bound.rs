//! "Origin reads bounded by the cache", as a bound a broken cache key would exceed.
//!
//! With the cache working, one entry costs the origin at most one fetch per cache lifetime
//! (`CACHE_TTL_SECONDS`), plus the one under way when the phase starts; an entry that lists
//! the hot item (the list, the scraper's first page and the item's own entry) also at most one
//! more after each purchase, which drops it; and never more fetches than it had reads. Summed
//! over the entries the phase's reads named (the honest buyers' list and what the attackers
//! asked for), that is the most the origin can answer.
//!
//! A key that kept what a client varies would make each such read an entry of its own: 5 of
//! the cache-busters' 8 tricks vary the query, about 375 of their 600 admitted reads a phase at
//! the default rate, which would put the origin at about 600 reads against a bound near 500.
//! The earlier bound, every entry times (lifetimes + purchases + 1), counted each purchase
//! against every entry (1,206 at the default rate), and such a key would have stayed below it.

use std::{collections::BTreeMap, time::Duration};

/// How long a cached inventory answer lives (the Worker's default).
pub const CACHE_TTL_SECONDS: f64 = 1.0;

/// One cache entry the storm's reads name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Entry {
    /// `GET /api/inventory` (the default page): honest readers and most cache-busting tricks.
    List,
    /// `GET /api/inventory/{hot item}`.
    HotItem,
    /// The scraper's `n`-th page (`limit=20`); the first lists the hot items.
    Page(usize),
}

impl Entry {
    /// Whether a purchase of the hot item drops this entry.
    fn lists_hot_item(self) -> bool {
        matches!(self, Self::List | Self::HotItem | Self::Page(0))
    }
}

/// Reads that could reach the origin (every answer but a 429), per entry.
#[derive(Debug, Clone, Default)]
pub struct EntryReads(BTreeMap<Entry, usize>);

impl EntryReads {
    pub fn add(&mut self, entry: Entry, reads: usize) {
        *self.0.entry(entry).or_default() += reads;
    }

    /// Distinct entries read.
    pub fn entries(&self) -> usize {
        self.0.len()
    }

    /// The most origin reads a working cache lets through in a phase of `length` with
    /// `purchases` of the hot item.
    pub fn most_origin_reads(&self, length: Duration, purchases: usize) -> usize {
        let lifetimes = (length.as_secs_f64() / CACHE_TTL_SECONDS).ceil() as usize + 1;
        self.0
            .iter()
            .map(|(entry, reads)| {
                let dropped = if entry.lists_hot_item() { purchases } else { 0 };
                (*reads).min(lifetimes + dropped)
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_costs_a_fetch_per_lifetime_and_per_purchase_that_drops_it_at_most() {
        let mut reads = EntryReads::default();
        reads.add(Entry::List, 900);
        reads.add(Entry::HotItem, 75);
        reads.add(Entry::Page(0), 170);
        reads.add(Entry::Page(1), 170);
        let phase = Duration::from_secs_f64(18.5);
        // List: 19 + 1 lifetimes + 180 purchases; the hot item: its 75 reads; page 0: its
        // 170 reads; page 1: 20 lifetimes, purchases do not drop it.
        assert_eq!(reads.most_origin_reads(phase, 180), 200 + 75 + 170 + 20);
        assert_eq!(reads.entries(), 4);
    }
}
