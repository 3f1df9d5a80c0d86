//! What this isolate knows about one shop's cached inventory: the entries it stored, the items
//! each one lists, and the purchases made through it.
//!
//! A purchase changes the stock of one item, so it drops only the entries that list that item
//! (every entry whose items are unknown, and every entry when the purchase's item is). Pages
//! that do not list it stay: a scraper that has made the isolate store every page of the
//! catalogue does not make each purchase delete, and the origin refill, all of them. Likewise a
//! fetch that was under way during a purchase is stored afterwards only if it does not list
//! the bought item.

use std::collections::{HashMap, VecDeque};

use serde::Deserialize;
use uuid::Uuid;

/// Purchases remembered for fetches under way; a fetch that started before the oldest of
/// them is never stored.
const PURCHASES_KEPT: usize = 256;

/// One stored entry: until when it lives, and the items it lists (`None`: not known).
#[derive(Debug, Clone)]
struct Stored {
    until_ms: u64,
    items: Option<Vec<Uuid>>,
}

#[derive(Debug, Default)]
pub struct ShopEntries {
    /// Bumped by every purchase.
    generation: u64,
    /// The latest purchases: the generation each made, and the item bought (if known).
    purchases: VecDeque<(u64, Option<Uuid>)>,
    /// Cache URLs this isolate stored.
    stored: HashMap<String, Stored>,
}

impl ShopEntries {
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Remembers an entry stored under `url` until `until_ms`, listing `items`.
    pub fn remember(&mut self, url: String, until_ms: u64, items: Option<Vec<Uuid>>, now_ms: u64) {
        self.stored.retain(|_, stored| stored.until_ms > now_ms);
        self.stored.insert(url, Stored { until_ms, items });
    }

    /// Records a purchase of `item` and forgets the entries it changed; returns their URLs,
    /// to be deleted from the cache.
    pub fn bought(&mut self, item: Option<Uuid>, now_ms: u64) -> Vec<String> {
        self.generation += 1;
        self.purchases.push_back((self.generation, item));
        if self.purchases.len() > PURCHASES_KEPT {
            self.purchases.pop_front();
        }
        let mut changed = Vec::new();
        self.stored.retain(|url, stored| {
            if lists(stored.items.as_deref(), item) {
                changed.push(url.clone());
                return false;
            }
            stored.until_ms > now_ms
        });
        changed
    }

    /// Whether a purchase made after `generation` may have changed an answer listing `items`.
    pub fn changed_since(&self, generation: u64, items: Option<&[Uuid]>) -> bool {
        if generation == self.generation {
            return false;
        }
        let remembered_from = self.purchases.front().map_or(u64::MAX, |(made, _)| *made);
        if remembered_from > generation + 1 {
            return true;
        }
        self.purchases
            .iter()
            .filter(|(made, _)| *made > generation)
            .any(|(_, item)| lists(items, *item))
    }
}

/// Whether an answer listing `items` may show the stock of `bought` (unknowns: it may).
fn lists(items: Option<&[Uuid]>, bought: Option<Uuid>) -> bool {
    match (items, bought) {
        (Some(items), Some(bought)) => items.contains(&bought),
        _ => true,
    }
}

/// What an inventory answer lists: its items, and those of them with no stock left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub items: Vec<Uuid>,
    pub sold_out: Vec<Uuid>,
}

/// The items an inventory answer lists: a page's items, or the one item; `None` when the body
/// is neither.
pub fn listed_items(body: &[u8]) -> Option<Listed> {
    #[derive(Deserialize)]
    struct Listing {
        id: Uuid,
        stock: Option<i64>,
    }
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Answer {
        Page { items: Vec<Listing> },
        Item(Listing),
    }
    let listings = match serde_json::from_slice::<Answer>(body).ok()? {
        Answer::Page { items } => items,
        Answer::Item(item) => vec![item],
    };
    Some(Listed {
        items: listings.iter().map(|item| item.id).collect(),
        sold_out: listings
            .iter()
            .filter(|item| item.stock.is_some_and(|stock| stock <= 0))
            .map(|item| item.id)
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: u128) -> Vec<Uuid> {
        (1..=n).map(Uuid::from_u128).collect()
    }

    #[test]
    fn a_purchase_drops_the_entries_that_list_its_item_and_those_it_cannot_tell() {
        let mut shop = ShopEntries::default();
        shop.remember("page-1".into(), 1_000, Some(ids(2)), 0);
        shop.remember("page-2".into(), 1_000, Some(vec![Uuid::from_u128(3)]), 0);
        shop.remember("unknown".into(), 1_000, None, 0);
        let mut changed = shop.bought(Some(Uuid::from_u128(2)), 10);
        changed.sort();
        assert_eq!(changed, ["page-1", "unknown"]);
        assert_eq!(shop.bought(None, 20), ["page-2"]);
    }

    #[test]
    fn a_fetch_under_way_is_stored_unless_a_purchase_since_touched_what_it_lists() {
        let mut shop = ShopEntries::default();
        let started = shop.generation();
        assert!(!shop.changed_since(started, None));
        shop.bought(Some(Uuid::from_u128(1)), 0);
        assert!(shop.changed_since(started, Some(&ids(2))));
        assert!(!shop.changed_since(started, Some(&[Uuid::from_u128(9)])));
        assert!(shop.changed_since(started, None));
        shop.bought(None, 0);
        assert!(shop.changed_since(started, Some(&[Uuid::from_u128(9)])));
    }

    #[test]
    fn a_fetch_older_than_the_remembered_purchases_is_not_stored() {
        let mut shop = ShopEntries::default();
        let started = shop.generation();
        for _ in 0..=PURCHASES_KEPT {
            shop.bought(Some(Uuid::from_u128(1)), 0);
        }
        assert!(shop.changed_since(started, Some(&[Uuid::from_u128(9)])));
        let recent = shop.generation() - 1;
        assert!(!shop.changed_since(recent, Some(&[Uuid::from_u128(9)])));
    }

    #[test]
    fn pages_and_items_say_what_they_list() {
        let page =
            br#"{"items":[{"id":"00000000-0000-0000-0000-000000000001","stock":3}],"next":null}"#;
        let listed = listed_items(page).unwrap();
        assert_eq!((listed.items, listed.sold_out), (ids(1), vec![]));
        let item = br#"{"id":"00000000-0000-0000-0000-000000000002","sku":"A","stock":0}"#;
        let listed = listed_items(item).unwrap();
        assert_eq!(listed.items, vec![Uuid::from_u128(2)]);
        assert_eq!(listed.sold_out, vec![Uuid::from_u128(2)]);
        assert!(listed_items(b"not json").is_none());
    }
}
