//! Items this isolate knows to be sold out, so their buys are refused here with `409`
//! `out-of-stock` and never reach the origin.
//!
//! The edge learns it from what passes through: a purchase answered `out-of-stock` with no
//! unit left (`api::purchase::units_left`), and an inventory answer the cache stores showing
//! stock 0. Both are the origin's word of a moment ago, so a mark lasts `KNOWN_MS`, the
//! inventory cache's own lifetime: an item restocked through another isolate is bought again
//! here within about a second. When a mark has run out, one buy goes to the origin as a probe
//! while the others are still refused; its answer marks the item again (sold out) or reopens
//! it (a sale). So after a sell-out an isolate sends the origin about one buy of the item a
//! second, however many shoppers keep trying, and a restock is noticed by the next probe.
//!
//! A restock or item edit through this isolate (`reopen`) reopens the item at once. Buys of
//! quantity above one are refused only when nothing is left: an answer "only 2 left" marks
//! nothing. The origin stays authoritative: a buy let through is decided there.

use uuid::Uuid;

use crate::isolate_memo::IsolateMemo;

/// How long the edge trusts that an item is sold out before asking the origin again.
const KNOWN_MS: u64 = 1_000;
/// How long a probe holds its turn before another buy may probe (its answer may never come).
const PROBE_LEASE_MS: u64 = 2_000;
/// How long a run-out mark is kept, so the next buy probes rather than all of them at once.
const FORGET_AFTER_MS: u64 = 60_000;

type ItemKey = (Uuid, Uuid);

thread_local! {
    /// Until when buys of an item are refused here: a sold-out mark, or a probe's lease.
    static ITEMS: IsolateMemo<ItemKey, u64> = IsolateMemo::default();
}

/// What the edge does with a buy of an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing known: the origin decides.
    Forward,
    /// Forward, as the one buy that asks whether the item is still sold out.
    Probe,
    /// Sold out, as far as the edge knows.
    SoldOut,
}

/// Whether a buy of `item_id` may go to the origin.
pub fn verdict(org_id: Uuid, item_id: Uuid, now_ms: u64) -> Verdict {
    let key = (org_id, item_id);
    ITEMS.with(|items| {
        let Some(until) = items.get(&key, now_ms) else {
            return Verdict::Forward;
        };
        if now_ms < until {
            return Verdict::SoldOut;
        }
        let lease = now_ms + PROBE_LEASE_MS;
        items.remember(key, lease, lease + FORGET_AFTER_MS, now_ms);
        Verdict::Probe
    })
}

/// The origin said no unit of `item_id` is left.
pub fn learn_sold_out(org_id: Uuid, item_id: Uuid, now_ms: u64) {
    let until = now_ms + KNOWN_MS;
    ITEMS.with(|items| items.remember((org_id, item_id), until, until + FORGET_AFTER_MS, now_ms));
}

/// A buy of `item_id` went through, or the item was restocked or edited, or a probe got
/// neither a sale nor a sold-out answer: the origin decides the next buys again.
pub fn reopen(org_id: Uuid, item_id: Uuid) {
    ITEMS.with(|items| items.forget(&(org_id, item_id)));
}

/// Reopens every item of `org_id` this isolate holds as sold out (a write whose item is not
/// known, such as a bulk change).
pub fn reopen_shop(org_id: Uuid) {
    ITEMS.with(|items| items.forget_where(|(org, _)| *org == org_id));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sold_out_item_is_refused_then_probed_by_one_buy_at_a_time() {
        let (shop, chair) = (Uuid::from_u128(1), Uuid::from_u128(2));
        assert_eq!(verdict(shop, chair, 0), Verdict::Forward);
        learn_sold_out(shop, chair, 0);
        assert_eq!(verdict(shop, chair, 999), Verdict::SoldOut);
        assert_eq!(verdict(shop, chair, 1_000), Verdict::Probe);
        assert_eq!(verdict(shop, chair, 1_001), Verdict::SoldOut);
        assert_eq!(verdict(shop, chair, 3_000), Verdict::Probe);
        learn_sold_out(shop, chair, 3_010);
        assert_eq!(verdict(shop, chair, 3_020), Verdict::SoldOut);
        reopen(shop, chair);
        assert_eq!(verdict(shop, chair, 3_030), Verdict::Forward);
    }

    #[test]
    fn a_shop_write_reopens_only_that_shops_items() {
        let (shop, other) = (Uuid::from_u128(3), Uuid::from_u128(4));
        let chair = Uuid::from_u128(5);
        learn_sold_out(shop, chair, 0);
        learn_sold_out(other, chair, 0);
        reopen_shop(shop);
        assert_eq!(verdict(shop, chair, 1), Verdict::Forward);
        assert_eq!(verdict(other, chair, 1), Verdict::SoldOut);
    }
}
