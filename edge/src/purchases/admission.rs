//! Work-conserving admission of a shop's purchases: client-side adaptive throttling (Google SRE
//! book, "Handling Overload"), one throttle per shop in each isolate.
//!
//! A flash sale is many honest buyers at once, and the origin sells one hot item at thousands
//! of purchases a second, so no fixed shop-wide ceiling fits: one low enough to protect the
//! origin caps the sale far below what it can sell, one high enough to let the sale through
//! protects nothing. Instead the edge sends every purchase while the origin keeps up, and
//! sheds only what the origin shows it cannot take. Over a sliding window of `WINDOW_SECONDS`
//! it counts the shop's purchase requests and the origin's *accepts* (answers that were not an
//! overload signal), and refuses a new purchase with probability
//! `max(0, (requests - K * accepts) / (requests + 1))`. Unlike the book, a request sent to the
//! origin counts when its answer comes, not when it leaves (refused ones count at once): a
//! crowd of two thousand shoppers arriving in one instant has no answers yet, and counting its
//! requests before them would shed an honest sale the origin can take whole. While every purchase is answered that
//! is 0: nothing is refused, whatever the rate. When the origin answers overloaded the shop's
//! excess is refused here, at no cost to the origin, and a share of `K` times what it accepts
//! still goes through, so the edge learns at once when it recovers.
//!
//! The overload signals are the shop's own answers: the origin's `503` carrying
//! `X-Origin-Overloaded` (no connection in time, a statement or request deadline passed), and a
//! call that got no answer before the edge's deadline or could not connect. A global pressure
//! figure (the pool's waiters, a queue depth) was the alternative; it would make a quiet shop
//! pay for a busy one, since every shop would read the same number. Signals carried by each
//! shop's own answers make the shedding fair: a shop whose sale overloads its item (or the
//! pool) sheds its own excess, and another shop whose buys are still answered is not throttled
//! at all. A call refused because the origin is resting (the breaker) says nothing about the
//! shop and is not counted.
//!
//! A shed purchase gets `503` problem+json `shop-busy` with `Retry-After`: the shopper did
//! nothing wrong, so never a `429`. The counts are per isolate, as Cloudflare runs many: each
//! learns from its own answers within a handful of requests, with no shared state to ask.

use std::{cell::RefCell, collections::HashMap};

use uuid::Uuid;

/// How far back requests and accepts are counted.
const WINDOW_SECONDS: u64 = 10;
/// How many requests per accept the throttle lets through before it refuses any (the SRE
/// book's `K`: 2 spends some origin work on requests it will refuse, and recovers quickly).
const K: f64 = 2.0;
/// Shops kept before the idle ones are dropped.
const SWEEP_AT: usize = 1_024;
/// What a shed buyer is told to wait.
pub const RETRY_AFTER_SECONDS: u64 = 1;

/// How an origin call went, as far as admission cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Load {
    /// Answered, and not with an overload signal.
    Accepted,
    /// An overload signal: the origin said so, or gave no answer in time.
    Overloaded,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Second {
    at: u64,
    requests: u32,
    accepts: u32,
}

/// One shop's requests and accepts over the window, a second per slot.
#[derive(Debug, Clone, Default)]
pub struct ShopThrottle {
    seconds: [Second; WINDOW_SECONDS as usize],
}

impl ShopThrottle {
    fn slot(&mut self, now_ms: u64) -> &mut Second {
        let at = now_ms / 1_000;
        let index = usize::try_from(at % WINDOW_SECONDS).unwrap_or(0);
        let slot = &mut self.seconds[index];
        if slot.at != at {
            *slot = Second {
                at,
                ..Second::default()
            };
        }
        slot
    }

    fn totals(&self, now_ms: u64) -> (f64, f64) {
        let at = now_ms / 1_000;
        self.seconds
            .iter()
            .filter(|second| second.at + WINDOW_SECONDS > at && second.at <= at)
            .fold((0.0, 0.0), |(requests, accepts), second| {
                (
                    requests + f64::from(second.requests),
                    accepts + f64::from(second.accepts),
                )
            })
    }

    /// The chance that a purchase arriving now is refused.
    pub fn refusal_probability(&self, now_ms: u64) -> f64 {
        let (requests, accepts) = self.totals(now_ms);
        ((requests - K * accepts) / (requests + 1.0)).max(0.0)
    }

    /// Decides a purchase: admitted when `draw` (uniform in `[0, 1)`) is at least the refusal
    /// probability. A refused one is counted now; an admitted one when its answer is
    /// (`record`), so purchases still in flight never count as unanswered: a crowd arriving in
    /// the same instant is not shed for having no answers yet.
    pub fn admit(&mut self, now_ms: u64, draw: f64) -> bool {
        if draw >= self.refusal_probability(now_ms) {
            return true;
        }
        let slot = self.slot(now_ms);
        slot.requests = slot.requests.saturating_add(1);
        false
    }

    /// Counts an admitted purchase with how the origin answered it.
    pub fn record(&mut self, now_ms: u64, load: Load) {
        let slot = self.slot(now_ms);
        slot.requests = slot.requests.saturating_add(1);
        if load == Load::Accepted {
            slot.accepts = slot.accepts.saturating_add(1);
        }
    }

    fn idle(&self, now_ms: u64) -> bool {
        self.totals(now_ms).0 == 0.0
    }
}

thread_local! {
    static SHOPS: RefCell<HashMap<Uuid, ShopThrottle>> = RefCell::new(HashMap::new());
}

/// Whether a purchase of `org_id` may go to the origin now.
pub fn admit(org_id: Uuid, now_ms: u64) -> bool {
    let draw = worker::js_sys::Math::random();
    SHOPS.with(|shops| {
        let mut shops = shops.borrow_mut();
        if shops.len() >= SWEEP_AT {
            shops.retain(|_, shop| !shop.idle(now_ms));
        }
        shops.entry(org_id).or_default().admit(now_ms, draw)
    })
}

/// Counts how the origin answered a purchase of `org_id`.
pub fn record(org_id: Uuid, now_ms: u64, load: Load) {
    SHOPS.with(|shops| {
        shops
            .borrow_mut()
            .entry(org_id)
            .or_default()
            .record(now_ms, load);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shop_whose_purchases_are_answered_is_never_refused() {
        let mut shop = ShopThrottle::default();
        for n in 0..10_000 {
            let now = n / 2;
            assert!(shop.admit(now, 0.0), "request {n}");
            shop.record(now, Load::Accepted);
        }
        assert_eq!(shop.refusal_probability(5_000), 0.0);
    }

    #[test]
    fn a_crowd_in_flight_is_not_refused_before_its_answers() {
        let mut shop = ShopThrottle::default();
        assert!((0..2_000).all(|_| shop.admit(0, 0.0)));
    }

    #[test]
    fn overload_signals_raise_the_refusal_probability_and_accepts_lower_it() {
        let mut shop = ShopThrottle::default();
        for _ in 0..99 {
            assert!(shop.admit(0, 0.99));
            shop.record(0, Load::Overloaded);
        }
        assert!((shop.refusal_probability(0) - 0.99).abs() < 1e-9);
        assert!(!shop.admit(0, 0.5));
        for _ in 0..100 {
            shop.record(0, Load::Accepted);
        }
        assert_eq!(shop.refusal_probability(0), 0.0);
    }

    #[test]
    fn what_happened_more_than_a_window_ago_is_forgotten() {
        let mut shop = ShopThrottle::default();
        for _ in 0..100 {
            shop.record(0, Load::Overloaded);
        }
        assert!(shop.refusal_probability(9_999) > 0.9);
        assert_eq!(shop.refusal_probability(10_000), 0.0);
        assert!(shop.idle(10_000));
    }
}
