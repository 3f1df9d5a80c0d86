//! Per shop, one aggregate a second for the admins watching it: units sold and stock left per
//! item, refusals by reason.
//!
//! `SaleWatch` observes the process's event hub (see `events::shop_event::EventObserver`), so it
//! folds what the listener already receives: one stock notification per committed batch (with
//! the units it sold), one rejection per decided queued purchase, one refusal count per origin
//! process and second. A purchase itself touches nothing here. Only shops with an admin stream
//! open in this process are folded; for the others an event costs one map lookup.
//!
//! A watched shop has a clock of its own, a task that ticks once a second: it takes the
//! second's counts, serialises them once and hands the same bytes to every admin stream of the
//! shop through a broadcast channel. The task ends, and the shop is forgotten, at the first tick
//! with no stream left. So a second costs the same whether the shop sold nothing or twenty
//! thousand units in it, and N consoles cost N small writes a second.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard, PoisonError, Weak},
    time::Duration,
};

use api::live_sale::{ItemSecond, Refusals, SaleSecond};
use tokio::sync::broadcast;
use uuid::Uuid;

use crate::{
    events::channels::OUT_OF_STOCK_REASON,
    events::shop_event::{EventObserver, ShopEvent},
};

/// How often a watched shop's aggregate is sent.
pub const EVERY: Duration = Duration::from_secs(1);

/// Seconds an admin stream may fall behind before it is ended (its console reconnects).
const BUFFER: usize = 8;

/// The admins' live sale view of this process.
#[derive(Debug, Clone, Default)]
pub struct SaleWatch {
    shared: Arc<Watched>,
}

#[derive(Debug, Default)]
struct Watched {
    shops: Mutex<HashMap<Uuid, WatchedShop>>,
}

#[derive(Debug)]
struct WatchedShop {
    second: Second,
    /// Each second's aggregate as JSON, serialised once for every stream.
    seconds: broadcast::Sender<Arc<str>>,
}

/// What a shop did in the second so far.
#[derive(Debug, Default)]
struct Second {
    /// Item -> (units sold, latest stock).
    items: HashMap<Uuid, (u64, i32)>,
    refused: Refusals,
}

impl Second {
    fn fold(&mut self, event: &ShopEvent) {
        match event {
            ShopEvent::Stock(stock) => {
                let item = self.items.entry(stock.item_id).or_insert((0, stock.stock));
                item.0 = item.0.saturating_add(stock.sold);
                // Notifications arrive in commit order: the last one is the level now.
                item.1 = stock.stock;
            }
            ShopEvent::Purchase(purchase) => {
                let sold_out = purchase.status == "rejected"
                    && purchase
                        .reason
                        .as_deref()
                        .is_some_and(|reason| reason.starts_with(OUT_OF_STOCK_REASON));
                if sold_out {
                    self.refused.sold_out = self.refused.sold_out.saturating_add(1);
                }
            }
            ShopEvent::Refusals(counts) => self.refused.add(counts.refused),
        }
    }

    fn into_aggregate(self, at_ms: i64) -> SaleSecond {
        let mut items: Vec<ItemSecond> = self
            .items
            .into_iter()
            .map(|(item_id, (sold, stock))| ItemSecond {
                item_id,
                sold,
                stock,
            })
            .collect();
        items.sort_by_key(|item| item.item_id);
        SaleSecond {
            at_ms,
            items,
            refused: self.refused,
        }
    }
}

impl SaleWatch {
    /// The aggregates of `org_id`, one a second from the next tick on; starts the shop's clock
    /// when no admin of it was watching in this process.
    pub fn watch(&self, org_id: Uuid) -> broadcast::Receiver<Arc<str>> {
        let mut shops = self.shared.lock();
        if let Some(shop) = shops.get(&org_id) {
            return shop.seconds.subscribe();
        }
        let (seconds, receiver) = broadcast::channel(BUFFER);
        shops.insert(
            org_id,
            WatchedShop {
                second: Second::default(),
                seconds,
            },
        );
        tokio::spawn(tick(Arc::downgrade(&self.shared), org_id));
        receiver
    }

    /// Shops with an admin stream open in this process.
    pub fn watched_shops(&self) -> usize {
        self.shared.lock().len()
    }
}

impl EventObserver for SaleWatch {
    fn observe(&self, event: &ShopEvent) {
        let mut shops = self.shared.lock();
        if let Some(shop) = shops.get_mut(&event.org_id()) {
            shop.second.fold(event);
        }
    }
}

impl Watched {
    fn lock(&self) -> MutexGuard<'_, HashMap<Uuid, WatchedShop>> {
        // Every change is a single step, so the map stays consistent under a panic elsewhere.
        self.shops.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A watched shop's clock: sends its aggregate every second until no stream is left.
async fn tick(watched: Weak<Watched>, org_id: Uuid) {
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + EVERY, EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let Some(watched) = watched.upgrade() else {
            return;
        };
        let (second, seconds) = {
            let mut shops = watched.lock();
            let Some(shop) = shops.get_mut(&org_id) else {
                return;
            };
            if shop.seconds.receiver_count() == 0 {
                shops.remove(&org_id);
                return;
            }
            (std::mem::take(&mut shop.second), shop.seconds.clone())
        };
        let aggregate = second.into_aggregate(chrono::Utc::now().timestamp_millis());
        if let Ok(json) = serde_json::to_string(&aggregate) {
            // No receiver left is fine: the next tick forgets the shop.
            let _ = seconds.send(Arc::from(json));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        events::channels::RefusalCounts,
        events::shop_event::{PurchaseEvent, StockEvent},
    };

    fn stock(org_id: Uuid, item_id: Uuid, stock: i32, sold: u64) -> ShopEvent {
        ShopEvent::Stock(StockEvent {
            org_id,
            item_id,
            stock,
            sold,
        })
    }

    #[test]
    fn a_second_adds_units_keeps_the_last_level_and_counts_refusals() {
        let (shop, chair) = (Uuid::new_v4(), Uuid::new_v4());
        let mut second = Second::default();
        second.fold(&stock(shop, chair, 90, 10));
        second.fold(&stock(shop, chair, 60, 30));
        second.fold(&stock(shop, chair, 160, 0)); // a restock
        second.fold(&ShopEvent::Purchase(PurchaseEvent {
            org_id: shop,
            sub: "a".into(),
            purchase_id: Uuid::new_v4(),
            status: "rejected".into(),
            order_id: None,
            reason: Some(format!("{OUT_OF_STOCK_REASON}: only 0 left")),
        }));
        second.fold(&ShopEvent::Refusals(RefusalCounts {
            org_id: shop,
            refused: Refusals {
                sold_out: 2,
                rate_limited: 5,
                paused: 1,
                busy: 0,
            },
        }));
        let aggregate = second.into_aggregate(7);
        assert_eq!(
            aggregate.items,
            vec![ItemSecond {
                item_id: chair,
                sold: 40,
                stock: 160
            }]
        );
        assert_eq!(
            aggregate.refused,
            Refusals {
                sold_out: 3,
                rate_limited: 5,
                paused: 1,
                busy: 0,
            }
        );
    }

    #[tokio::test]
    async fn only_watched_shops_are_folded_and_a_shop_is_forgotten_with_its_last_stream() {
        let watch = SaleWatch::default();
        let (watched, other, chair) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let mut seconds = watch.watch(watched);
        watch.observe(&stock(watched, chair, 9, 1));
        watch.observe(&stock(other, chair, 9, 1));
        assert_eq!(watch.watched_shops(), 1);
        let json = seconds.recv().await.unwrap();
        let aggregate: SaleSecond = serde_json::from_str(&json).unwrap();
        assert_eq!(aggregate.items.len(), 1);
        assert_eq!(aggregate.items[0].sold, 1);
        let quiet: SaleSecond = serde_json::from_str(&seconds.recv().await.unwrap()).unwrap();
        assert!(quiet.items.is_empty(), "a quiet second still ticks");
        drop(seconds);
        let deadline = tokio::time::Instant::now() + EVERY * 5;
        while watch.watched_shops() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(EVERY / 10).await;
        }
        assert_eq!(
            watch.watched_shops(),
            0,
            "forgotten at the first tick with no stream"
        );
    }
}
