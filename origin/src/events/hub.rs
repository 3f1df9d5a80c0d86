//! The process-wide fan-out of live events, with a bounded number of listeners.
//!
//! One `LISTEN` connection per origin process receives every committed stock change and queued
//! purchase outcome (`pg_notify` inside the writing transaction, so only committed facts are
//! announced), and the refusal counts every origin process publishes once a second
//! (`live_sale::refusal_tally`). Each shop with open streams has its own broadcast channel: an
//! event is parsed once, stored once (behind an `Arc`) and wakes only the streams of its own
//! shop. An `EventObserver` (the admins' live sale view) sees every event of every shop, on the
//! listener's task, before the streams do.
//!
//! Streams are a resource a client could hoard, so opening one takes a `StreamPermit` under two
//! caps, per user and per shop; the permit is given back when the stream ends. A channel holds
//! at most `BUFFER` events per shop: a stream that falls that far behind is ended (its client
//! reconnects and reloads) instead of being buffered without bound.
//!
//! A stream says `ready` only once the listener is connected (`connected`): a notification
//! sent before `LISTEN` ran is never delivered, so a view that claimed to be ready earlier
//! could silently miss the first sales.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use sqlx::{postgres::PgListener, PgPool};
use tokio::sync::{broadcast, watch};
use uuid::Uuid;

use super::{
    channels::{PURCHASE_CHANNEL, REFUSALS_CHANNEL, STOCK_CHANNEL},
    shop_event::{EventObserver, ShopEvent},
};

/// How long a new stream waits for the listener before it is refused (`503`): about what a
/// reconnect takes.
pub const CONNECT_WAIT: Duration = Duration::from_secs(3);

/// Events one shop's stream may be behind by before it is ended.
const BUFFER: usize = 256;

/// How many streams may be open at once in this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamCaps {
    pub per_user: usize,
    pub per_shop: usize,
}

impl StreamCaps {
    /// Also the command line's defaults (`EVENT_STREAMS_PER_USER`, `EVENT_STREAMS_PER_SHOP`).
    pub const DEFAULT: Self = Self {
        per_user: 3,
        per_shop: 5_000,
    };
}

impl Default for StreamCaps {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Why a stream was not opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StreamRefused {
    #[error("this user already has {0} event streams open; close one first")]
    UserCap(usize),
    #[error("this shop has {0} event streams open; retry shortly")]
    ShopCap(usize),
}

/// The process-wide fan-out point.
#[derive(Debug, Clone)]
pub struct EventHub {
    shared: Arc<Hub>,
}

#[derive(Debug)]
struct Hub {
    caps: StreamCaps,
    shops: Mutex<HashMap<Uuid, ShopStreams>>,
    observer: Option<Arc<dyn EventObserver>>,
    /// Whether the `LISTEN` connection is up: events published from now on reach the streams.
    listening: watch::Sender<bool>,
}

#[derive(Debug)]
struct ShopStreams {
    sender: broadcast::Sender<Arc<ShopEvent>>,
    /// Streams under the shop's cap.
    open: usize,
    /// Admins' live views, which the shop's cap does not hold.
    admins: usize,
    by_user: HashMap<String, usize>,
}

/// One open stream's place under the caps; dropping it gives the place back.
#[derive(Debug)]
pub struct StreamPermit {
    hub: Arc<Hub>,
    org_id: Uuid,
    sub: String,
    /// An admin's live view, outside the shop's cap.
    admin: bool,
}

impl Default for EventHub {
    fn default() -> Self {
        Self::new(StreamCaps::default())
    }
}

impl EventHub {
    pub fn new(caps: StreamCaps) -> Self {
        Self::build(caps, None)
    }

    /// A hub whose every event `observer` sees too.
    pub fn observed_by(caps: StreamCaps, observer: Arc<dyn EventObserver>) -> Self {
        Self::build(caps, Some(observer))
    }

    fn build(caps: StreamCaps, observer: Option<Arc<dyn EventObserver>>) -> Self {
        Self {
            shared: Arc::new(Hub {
                caps,
                shops: Mutex::new(HashMap::new()),
                observer,
                listening: watch::Sender::new(false),
            }),
        }
    }

    /// A receiver of `org_id`'s events for user `sub`, if the caps allow one more stream.
    pub fn subscribe(
        &self,
        org_id: Uuid,
        sub: &str,
    ) -> Result<(broadcast::Receiver<Arc<ShopEvent>>, StreamPermit), StreamRefused> {
        let caps = self.shared.caps;
        let mut shops = self.shared.lock();
        let shop = shops.entry(org_id).or_insert_with(ShopStreams::new);
        if shop.open >= caps.per_shop {
            return Err(StreamRefused::ShopCap(caps.per_shop));
        }
        let mine = shop.by_user.entry(sub.to_owned()).or_default();
        if *mine >= caps.per_user {
            return Err(StreamRefused::UserCap(caps.per_user));
        }
        *mine += 1;
        shop.open += 1;
        let receiver = shop.sender.subscribe();
        let permit = StreamPermit {
            hub: Arc::clone(&self.shared),
            org_id,
            sub: sub.to_owned(),
            admin: false,
        };
        Ok((receiver, permit))
    }

    /// A place for an admin's live sale stream of `org_id` (filled from elsewhere) for user
    /// `sub`: under the per-user cap, but not under the shop's, which is meant for shoppers, so
    /// a crowd that fills it cannot shut the owner out of the view of their own sale.
    pub fn admit(&self, org_id: Uuid, sub: &str) -> Result<StreamPermit, StreamRefused> {
        let caps = self.shared.caps;
        let mut shops = self.shared.lock();
        let shop = shops.entry(org_id).or_insert_with(ShopStreams::new);
        let mine = shop.by_user.entry(sub.to_owned()).or_default();
        if *mine >= caps.per_user {
            return Err(StreamRefused::UserCap(caps.per_user));
        }
        *mine += 1;
        shop.admins += 1;
        Ok(StreamPermit {
            hub: Arc::clone(&self.shared),
            org_id,
            sub: sub.to_owned(),
            admin: true,
        })
    }

    /// Streams open now, across every shop (admins' live views included).
    pub fn open_streams(&self) -> usize {
        let shops = self.shared.lock();
        shops.values().map(|shop| shop.open + shop.admins).sum()
    }

    /// Waits up to `within` for the listener to be connected; answers whether it is.
    pub async fn connected(&self, within: Duration) -> bool {
        let mut listening = self.shared.listening.subscribe();
        tokio::time::timeout(within, listening.wait_for(|up| *up))
            .await
            .is_ok_and(|up| up.is_ok())
    }

    /// Hands `event` to the observer and to its shop's open streams (none open: dropped).
    pub fn publish(&self, event: ShopEvent) {
        if let Some(observer) = &self.shared.observer {
            observer.observe(&event);
        }
        let shops = self.shared.lock();
        if let Some(shop) = shops.get(&event.org_id()) {
            // No receiver left is fine: the last stream is closing.
            let _ = shop.sender.send(Arc::new(event));
        }
    }

    /// Listens on Postgres and publishes until the process ends, reconnecting after failures.
    pub async fn listen(self, db: PgPool) {
        loop {
            let outcome = self.listen_once(&db).await;
            self.shared.listening.send_replace(false);
            if let Err(err) = outcome {
                tracing::warn!(error = %err, "event listener lost its connection; reconnecting");
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    async fn listen_once(&self, db: &PgPool) -> Result<(), sqlx::Error> {
        let mut listener = PgListener::connect_with(db).await?;
        listener
            .listen_all([STOCK_CHANNEL, PURCHASE_CHANNEL, REFUSALS_CHANNEL])
            .await?;
        self.shared.listening.send_replace(true);
        loop {
            let notification = listener.recv().await?;
            let event = match notification.channel() {
                STOCK_CHANNEL => serde_json::from_str(notification.payload())
                    .ok()
                    .map(ShopEvent::Stock),
                PURCHASE_CHANNEL => serde_json::from_str(notification.payload())
                    .ok()
                    .map(ShopEvent::Purchase),
                REFUSALS_CHANNEL => serde_json::from_str(notification.payload())
                    .ok()
                    .map(ShopEvent::Refusals),
                _ => None,
            };
            if let Some(event) = event {
                self.publish(event);
            }
        }
    }
}

impl ShopStreams {
    fn new() -> Self {
        Self {
            sender: broadcast::channel(BUFFER).0,
            open: 0,
            admins: 0,
            by_user: HashMap::new(),
        }
    }
}

impl Hub {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, ShopStreams>> {
        // The map stays consistent under a panic elsewhere: every change is a single step.
        self.shops.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for StreamPermit {
    fn drop(&mut self) {
        let mut shops = self.hub.lock();
        let Some(shop) = shops.get_mut(&self.org_id) else {
            return;
        };
        if self.admin {
            shop.admins = shop.admins.saturating_sub(1);
        } else {
            shop.open = shop.open.saturating_sub(1);
        }
        if let Some(mine) = shop.by_user.get_mut(&self.sub) {
            *mine = mine.saturating_sub(1);
            if *mine == 0 {
                shop.by_user.remove(&self.sub);
            }
        }
        if shop.open == 0 && shop.admins == 0 {
            shops.remove(&self.org_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::shop_event::StockEvent;

    #[tokio::test]
    async fn a_hub_is_connected_only_while_its_listener_is_up() {
        let hub = EventHub::default();
        assert!(!hub.connected(Duration::from_millis(20)).await);
        hub.shared.listening.send_replace(true);
        assert!(hub.connected(Duration::from_millis(20)).await);
        hub.shared.listening.send_replace(false);
        assert!(!hub.connected(Duration::from_millis(20)).await);
    }

    #[test]
    fn a_user_past_the_cap_is_refused_and_a_closed_stream_gives_its_place_back() {
        let hub = EventHub::new(StreamCaps {
            per_user: 2,
            per_shop: 3,
        });
        let shop = Uuid::new_v4();
        let first = hub.subscribe(shop, "alice").unwrap();
        let _second = hub.subscribe(shop, "alice").unwrap();
        assert_eq!(
            hub.subscribe(shop, "alice").unwrap_err(),
            StreamRefused::UserCap(2)
        );
        let _bob = hub.subscribe(shop, "bob").unwrap();
        assert_eq!(
            hub.subscribe(shop, "carol").unwrap_err(),
            StreamRefused::ShopCap(3)
        );
        assert!(
            hub.subscribe(Uuid::new_v4(), "carol").is_ok(),
            "other shops are not capped"
        );
        drop(first);
        assert!(hub.subscribe(shop, "alice").is_ok());
    }

    #[test]
    fn an_admins_live_view_takes_no_place_under_the_shops_cap() {
        let hub = EventHub::new(StreamCaps {
            per_user: 2,
            per_shop: 2,
        });
        let shop = Uuid::new_v4();
        let _owner = hub.admit(shop, "owner").unwrap();
        let _alice = hub.subscribe(shop, "alice").unwrap();
        let _bob = hub.subscribe(shop, "bob").unwrap();
        assert_eq!(
            hub.subscribe(shop, "carol").unwrap_err(),
            StreamRefused::ShopCap(2)
        );
        // The crowd filled the shop's cap; the owner's second view still opens, the third is
        // past the owner's own cap.
        let second = hub.admit(shop, "owner").unwrap();
        assert_eq!(
            hub.admit(shop, "owner").unwrap_err(),
            StreamRefused::UserCap(2)
        );
        drop(second);
        assert!(hub.admit(shop, "owner").is_ok());
    }

    #[test]
    fn a_stream_that_falls_behind_is_told_so_instead_of_buffered() {
        let hub = EventHub::default();
        let shop = Uuid::new_v4();
        let (mut rx, _permit) = hub.subscribe(shop, "sleepy").unwrap();
        for stock in 0..(BUFFER as i32 + 10) {
            hub.publish(ShopEvent::Stock(StockEvent {
                org_id: shop,
                item_id: Uuid::nil(),
                stock,
                sold: 1,
            }));
        }
        assert!(matches!(
            rx.try_recv(),
            Err(broadcast::error::TryRecvError::Lagged(10))
        ));
    }

    #[test]
    fn events_reach_only_their_own_shop() {
        let hub = EventHub::default();
        let (mine, other) = (Uuid::new_v4(), Uuid::new_v4());
        let (mut rx, _permit) = hub.subscribe(mine, "alice").unwrap();
        let stock = |org_id| {
            ShopEvent::Stock(StockEvent {
                org_id,
                item_id: Uuid::nil(),
                stock: 1,
                sold: 0,
            })
        };
        hub.publish(stock(other));
        hub.publish(stock(mine));
        let got = rx.try_recv().unwrap();
        assert_eq!(got.org_id(), mine);
        assert!(rx.try_recv().is_err());
    }
}
