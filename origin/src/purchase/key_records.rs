//! Idempotency keys inside a purchase batch: settled before anything is sold, recorded by the
//! same transaction that writes the sales.
//!
//! Only the first use of a key in a batch goes to the database; later uses in the same batch
//! get its answer afterwards (`resolve_duplicates`), exactly as if they had arrived just after
//! it committed.

use std::collections::{HashMap, HashSet};

use sqlx::PgConnection;
use uuid::Uuid;

use super::order::{BuyOrder, Outcome};
use crate::idempotency::{lock_id, Claim, KeyState};

/// Positions of the orders that go to the database: every order without a key and the first
/// use of each key.
pub(super) fn first_uses(orders: &[BuyOrder]) -> Vec<usize> {
    let mut seen: HashSet<(&str, &str)> = HashSet::new();
    (0..orders.len())
        .filter(|&i| match &orders[i].key {
            Some(key) => seen.insert((key.customer_sub.as_str(), key.key.as_str())),
            None => true,
        })
        .collect()
}

/// A batch's keys column by column, as the database functions take them (`None` where an order
/// has no key).
#[derive(Debug, Default)]
pub(super) struct KeyColumns<'a> {
    pub lock_ids: Vec<Option<i64>>,
    pub subs: Vec<&'a str>,
    pub keys: Vec<Option<&'a str>>,
    pub fingerprints: Vec<Option<&'a [u8]>>,
}

impl<'a> KeyColumns<'a> {
    pub fn of(orders: &[&'a BuyOrder]) -> Self {
        let mut columns = Self::default();
        for order in orders {
            let key = order.key.as_ref();
            columns.lock_ids.push(key.map(lock_id));
            columns.subs.push(order.customer_sub.as_str());
            columns.keys.push(key.map(|k| k.key.as_str()));
            columns
                .fingerprints
                .push(key.map(|k| k.fingerprint.as_slice()));
        }
        columns
    }
}

/// Locks every key of `orders` (without waiting) and reads what the keys already hold, in one
/// round trip (the database's `settle_purchase_keys`: a purchase's key lives on its order or its
/// queued buy). `None` means "go ahead".
pub(super) async fn settle(
    conn: &mut PgConnection,
    org_id: Uuid,
    orders: &[&BuyOrder],
) -> Result<Vec<Option<Outcome>>, sqlx::Error> {
    let columns = KeyColumns::of(orders);
    let rows = sqlx::query!(
        r#"SELECT n AS "n!", state AS "state!: KeyState", response_status, response_body
           FROM settle_purchase_keys($1, $2, $3, $4, $5)"#,
        org_id,
        &columns.lock_ids as &[Option<i64>],
        &columns.subs as &[&str],
        &columns.keys as &[Option<&str>],
        &columns.fingerprints as &[Option<&[u8]>]
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut outcomes = vec![None; orders.len()];
    for row in rows {
        let slot = usize::try_from(row.n - 1)
            .ok()
            .and_then(|i| outcomes.get_mut(i));
        if let Some(slot) = slot {
            *slot = Claim::from_settled(row.state, row.response_status, row.response_body)
                .and_then(outcome_of_claim);
        }
    }
    Ok(outcomes)
}

/// The answer a settled key gives by itself, if any (`Fresh` goes ahead).
pub(super) fn outcome_of_claim(claim: Claim) -> Option<Outcome> {
    match claim {
        Claim::Fresh => None,
        Claim::Replay(stored) => Some(Outcome::Replay(stored)),
        Claim::Mismatch => Some(Outcome::KeyReused),
        Claim::InFlight => Some(Outcome::KeyInFlight),
    }
}

/// Later uses of a key inside the same batch get the first use's answer (same request) or
/// `422` (different request), exactly as if they had arrived just after it committed.
pub(super) fn resolve_duplicates(orders: &[BuyOrder], mut outcomes: Vec<Outcome>) -> Vec<Outcome> {
    let mut first_use: HashMap<(&str, &str), usize> = HashMap::new();
    for (i, order) in orders.iter().enumerate() {
        let Some(key) = &order.key else { continue };
        let slot = (key.customer_sub.as_str(), key.key.as_str());
        let Some(&first) = first_use.get(&slot) else {
            first_use.insert(slot, i);
            continue;
        };
        let same_request = orders[first]
            .key
            .as_ref()
            .is_some_and(|k| k.fingerprint == key.fingerprint);
        outcomes[i] = match (&outcomes[first], same_request) {
            (_, false) => Outcome::KeyReused,
            // A stored answer is replayed; a refusal is stored by nobody, so the repeat is
            // refused afresh, as it would be a moment later.
            (Outcome::Final(stored), true) if stored.is_success() => {
                Outcome::Replay(stored.clone())
            }
            (Outcome::Replay(stored), true) => Outcome::Replay(stored.clone()),
            (other, true) => other.clone(),
        };
    }
    outcomes
}
