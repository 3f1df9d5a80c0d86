//! Items this isolate knows to be sold out, so their buys are refused here with `409`
//! `out-of-stock` and never reach the origin.
//!
//! The edge learns it from what passes through: a purchase answered `out-of-stock` with no
//! unit left (the problem's `available` member), and an inventory answer the cache stores showing
//! stock 0. Both are the origin's word of a moment ago, so a mark lasts `KNOWN_MS`, the
//! inventory cache's own lifetime: an item restocked through another isolate is bought again
//! here within about a second. When a mark has run out, one buy goes to the origin as a probe
//! while the others are still refused; its answer marks the item again (sold out) or reopens
//! it (a sale). So after a sell-out an isolate sends the origin about one buy of the item a
//! second, however many shoppers keep trying, and a restock is noticed by the next probe.
//!
//! The probe's turn is taken (`take_probe`) only by a buy every other step admitted, just
//! before it is sent: a buy the cooldown, the limiter or shedding refuses takes nothing. If the
//! turn went to the first buy that found the mark run out, a client whose quota is spent could
//! flood buys of the item (each refused from isolate memory, for free) and win every turn, and
//! honest buyers would be told "sold out" while the database has stock.
//!
//! A restock or item edit through this isolate (`reopen`) reopens the item at once, and an
//! answer read before a reopening (`epoch`) marks nothing: an inventory fetch under way during
//! a restock shows the old stock. Buys of quantity above one are refused only when nothing is
//! left: an answer "only 2 left" marks nothing. The origin stays authoritative: a buy let
//! through is decided there.

use std::cell::Cell;

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
    /// The epoch of each item's (and each shop's) last reopening, kept as long as an answer
    /// read before it may still arrive.
    static REOPENED: IsolateMemo<ItemKey, u64> = IsolateMemo::default();
    static SHOP_REOPENED: IsolateMemo<Uuid, u64> = IsolateMemo::default();
    /// Counts reopenings in this isolate.
    static EPOCH: Cell<u64> = const { Cell::new(0) };
}

/// What the edge does with a buy of an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing known: the origin decides.
    Forward,
    /// The mark has run out: if every other step admits this buy, it may ask the origin
    /// whether the item is still sold out (`take_probe`).
    ProbeDue,
    /// Forward, as the one buy that asks whether the item is still sold out.
    Probe,
    /// Sold out, as far as the edge knows (or another buy is asking).
    SoldOut,
}

/// Whether a buy of `item_id` may go on; takes nothing (see `take_probe`).
pub fn verdict(org_id: Uuid, item_id: Uuid, now_ms: u64) -> Verdict {
    ITEMS.with(|items| match items.get(&(org_id, item_id), now_ms) {
        None => Verdict::Forward,
        Some(until) if now_ms < until => Verdict::SoldOut,
        Some(_) => Verdict::ProbeDue,
    })
}

/// For a buy found `ProbeDue` and since admitted by every other step, just before it is sent:
/// `Probe` when it takes the turn (a lease of `PROBE_LEASE_MS`), `SoldOut` when another buy
/// took it meanwhile or the item was marked again, `Forward` when it was reopened.
pub fn take_probe(org_id: Uuid, item_id: Uuid, now_ms: u64) -> Verdict {
    let key = (org_id, item_id);
    ITEMS.with(|items| match items.get(&key, now_ms) {
        None => Verdict::Forward,
        Some(until) if now_ms < until => Verdict::SoldOut,
        Some(_) => {
            let lease = now_ms + PROBE_LEASE_MS;
            items.remember(key, lease, lease + FORGET_AFTER_MS, now_ms);
            Verdict::Probe
        }
    })
}

/// The origin said no unit of `item_id` is left.
pub fn learn_sold_out(org_id: Uuid, item_id: Uuid, now_ms: u64) {
    let until = now_ms + KNOWN_MS;
    ITEMS.with(|items| items.remember((org_id, item_id), until, until + FORGET_AFTER_MS, now_ms));
}

/// This isolate's count of reopenings, read when a fetch starts: its answer is older than any
/// reopening counted after.
pub fn epoch() -> u64 {
    EPOCH.with(Cell::get)
}

/// An answer read since `epoch` said no unit of `item_id` is left: marks the item, unless it
/// was reopened after `epoch` (the answer may predate a restock).
pub fn learn_sold_out_as_of(org_id: Uuid, item_id: Uuid, epoch: u64, now_ms: u64) {
    let after = |reopened: Option<u64>| reopened.is_some_and(|at| at > epoch);
    let item = REOPENED.with(|memo| memo.get(&(org_id, item_id), now_ms));
    let shop = SHOP_REOPENED.with(|memo| memo.get(&org_id, now_ms));
    if after(item) || after(shop) {
        return;
    }
    learn_sold_out(org_id, item_id, now_ms);
}

/// Counts one more reopening and returns it.
fn next_epoch() -> u64 {
    EPOCH.with(|epoch| {
        epoch.set(epoch.get() + 1);
        epoch.get()
    })
}

/// A buy of `item_id` went through, or the item was restocked or edited, or a probe got
/// neither a sale nor a sold-out answer: the origin decides the next buys again.
pub fn reopen(org_id: Uuid, item_id: Uuid, now_ms: u64) {
    let key = (org_id, item_id);
    let epoch = next_epoch();
    REOPENED.with(|memo| memo.remember(key, epoch, now_ms + FORGET_AFTER_MS, now_ms));
    ITEMS.with(|items| items.forget(&key));
}

/// Reopens every item of `org_id` this isolate holds as sold out (a write whose item is not
/// known, such as a bulk change).
pub fn reopen_shop(org_id: Uuid, now_ms: u64) {
    let epoch = next_epoch();
    SHOP_REOPENED.with(|memo| memo.remember(org_id, epoch, now_ms + FORGET_AFTER_MS, now_ms));
    ITEMS.with(|items| items.forget_where(|(org, _)| *org == org_id));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sold_out_item_is_refused_then_probed_by_one_admitted_buy_at_a_time() {
        let (shop, chair) = (Uuid::from_u128(1), Uuid::from_u128(2));
        assert_eq!(verdict(shop, chair, 0), Verdict::Forward);
        learn_sold_out(shop, chair, 0);
        assert_eq!(verdict(shop, chair, 999), Verdict::SoldOut);
        // Finding the probe due takes nothing: buys refused by a later step leave it due.
        assert_eq!(verdict(shop, chair, 1_000), Verdict::ProbeDue);
        assert_eq!(verdict(shop, chair, 1_000), Verdict::ProbeDue);
        assert_eq!(take_probe(shop, chair, 1_001), Verdict::Probe);
        assert_eq!(verdict(shop, chair, 1_002), Verdict::SoldOut);
        assert_eq!(take_probe(shop, chair, 1_002), Verdict::SoldOut);
        assert_eq!(verdict(shop, chair, 3_001), Verdict::ProbeDue);
        learn_sold_out(shop, chair, 3_010);
        assert_eq!(take_probe(shop, chair, 3_020), Verdict::SoldOut);
        reopen(shop, chair, 3_030);
        assert_eq!(verdict(shop, chair, 3_030), Verdict::Forward);
        assert_eq!(take_probe(shop, chair, 3_030), Verdict::Forward);
    }

    #[test]
    fn a_shop_write_reopens_only_that_shops_items() {
        let (shop, other) = (Uuid::from_u128(3), Uuid::from_u128(4));
        let chair = Uuid::from_u128(5);
        learn_sold_out(shop, chair, 0);
        learn_sold_out(other, chair, 0);
        reopen_shop(shop, 0);
        assert_eq!(verdict(shop, chair, 1), Verdict::Forward);
        assert_eq!(verdict(other, chair, 1), Verdict::SoldOut);
    }

    #[test]
    fn an_answer_read_before_a_reopening_marks_nothing() {
        let (shop, chair, table) = (Uuid::from_u128(6), Uuid::from_u128(7), Uuid::from_u128(8));
        let before = epoch();
        reopen(shop, chair, 0);
        learn_sold_out_as_of(shop, chair, before, 1);
        assert_eq!(verdict(shop, chair, 2), Verdict::Forward);
        // Another item's reopening does not void the answer for this one.
        learn_sold_out_as_of(shop, table, before, 1);
        assert_eq!(verdict(shop, table, 2), Verdict::SoldOut);
        // Nor does a reopening the answer was read after.
        learn_sold_out_as_of(shop, chair, epoch(), 3);
        assert_eq!(verdict(shop, chair, 4), Verdict::SoldOut);

        let before_shop = epoch();
        reopen_shop(shop, 10);
        learn_sold_out_as_of(shop, table, before_shop, 11);
        assert_eq!(verdict(shop, table, 12), Verdict::Forward);
    }
}
