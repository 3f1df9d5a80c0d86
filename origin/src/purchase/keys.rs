//! Idempotency keys inside a purchase batch: settled before anything is sold, recorded by the
//! same statement that writes the sales.

use std::collections::{HashMap, HashSet};

use chrono::{Duration, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::order::{BuyOrder, Outcome};
use crate::idempotency::{lock_id, StoredResponse, RETENTION_HOURS};

/// Locks every key of the batch (without waiting), then reads what the keys already hold, and
/// answers the requests that cannot go ahead. `None` means "go ahead". The lookup is a separate
/// statement after the locks, so it sees anything committed by whoever held a lock before us.
pub(super) async fn settle(
    conn: &mut PgConnection,
    org_id: Uuid,
    orders: &[BuyOrder],
) -> Result<Vec<Option<Outcome>>, sqlx::Error> {
    let mut outcomes: Vec<Option<Outcome>> = vec![None; orders.len()];
    let keyed: Vec<(usize, &crate::idempotency::KeyUse)> = orders
        .iter()
        .enumerate()
        .filter_map(|(i, o)| o.key.as_ref().map(|k| (i, k)))
        .collect();
    if keyed.is_empty() {
        return Ok(outcomes);
    }
    let lock_ids: Vec<i64> = keyed.iter().map(|(_, k)| lock_id(k)).collect();
    let locked = sqlx::query_scalar!(
        r#"SELECT pg_try_advisory_xact_lock(l.id) AS "locked!"
           FROM unnest($1::bigint[]) WITH ORDINALITY AS l(id, n) ORDER BY l.n"#,
        &lock_ids
    )
    .fetch_all(&mut *conn)
    .await?;
    let subs: Vec<&str> = keyed.iter().map(|(_, k)| k.customer_sub.as_str()).collect();
    let keys: Vec<&str> = keyed.iter().map(|(_, k)| k.key.as_str()).collect();
    let cutoff = Utc::now() - Duration::hours(RETENTION_HOURS + 24);
    let stored = sqlx::query!(
        "SELECT customer_sub, idempotency_key, fingerprint, response_status, response_body
         FROM idempotency_keys
         WHERE organization_id = $1 AND created_at >= $2
           AND customer_sub = ANY($3::text[]) AND idempotency_key = ANY($4::text[])",
        org_id,
        cutoff,
        &subs as &[&str],
        &keys as &[&str]
    )
    .fetch_all(&mut *conn)
    .await?;
    // `= ANY` on both columns keeps the lookup on the primary key index of every partition; it
    // may also return a user's other keys of this batch, and the exact pairs are picked here.
    let stored: HashMap<(&str, &str), _> = stored
        .iter()
        .map(|row| {
            (
                (row.customer_sub.as_str(), row.idempotency_key.as_str()),
                row,
            )
        })
        .collect();
    let mut seen: HashSet<(&str, &str)> = HashSet::new();
    for (n, (i, key)) in keyed.iter().enumerate() {
        let slot = (key.customer_sub.as_str(), key.key.as_str());
        outcomes[*i] = if !seen.insert(slot) {
            // Only the first use inside a batch runs; `resolve_duplicates` answers the rest.
            Some(Outcome::KeyInFlight)
        } else if !locked.get(n).copied().unwrap_or(false) {
            Some(Outcome::KeyInFlight)
        } else {
            stored.get(&slot).map(|row| {
                if row.fingerprint == key.fingerprint {
                    Outcome::Replay(StoredResponse {
                        status: u16::try_from(row.response_status).unwrap_or(500),
                        body: row.response_body.clone(),
                    })
                } else {
                    Outcome::KeyReused
                }
            })
        };
    }
    Ok(outcomes)
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
            (Outcome::Final(stored) | Outcome::Replay(stored), true) => {
                Outcome::Replay(stored.clone())
            }
            (other, true) => other.clone(),
        };
    }
    outcomes
}

/// The final answers to store with their keys, column by column for `unnest`.
#[derive(Debug, Default)]
pub struct KeyRecords {
    pub subs: Vec<String>,
    pub keys: Vec<String>,
    pub fingerprints: Vec<Vec<u8>>,
    pub statuses: Vec<i16>,
    pub bodies: Vec<Vec<u8>>,
    pub request_ids: Vec<String>,
}

impl KeyRecords {
    /// Every fresh keyed request's final answer.
    pub(super) fn of(orders: &[BuyOrder], fresh: &[usize], outcomes: &[Outcome]) -> Self {
        let mut records = Self::default();
        for &i in fresh {
            let (Some(key), Outcome::Final(stored)) = (&orders[i].key, &outcomes[i]) else {
                continue;
            };
            records.subs.push(key.customer_sub.clone());
            records.keys.push(key.key.as_str().to_owned());
            records.fingerprints.push(key.fingerprint.clone());
            records
                .statuses
                .push(i16::try_from(stored.status).unwrap_or(500));
            records.bodies.push(stored.body.clone());
            records.request_ids.push(key.request_id.clone());
        }
        records
    }
}
