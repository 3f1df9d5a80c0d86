//! Storing async buys: one transaction per batch of a shop's `Prefer: respond-async` buys
//! (the group committer's `Enqueue` lane) writes the queue rows and their idempotency records,
//! and each fresh buy is answered `202` with its purchase id.

use api::purchase::Accepted;
use chrono::Utc;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::{
    db::{self, Scope},
    idempotency::StoredResponse,
    kill_switch,
    purchase::{
        key_records::{self, KeyRecords},
        order::{BuyOrder, Outcome},
    },
};

/// The `202` answer of an accepted async buy.
fn accepted(purchase_id: Uuid) -> Outcome {
    let body = Accepted {
        purchase_id,
        status: "pending".into(),
    };
    Outcome::Final(StoredResponse {
        status: 202,
        body: serde_json::to_vec(&body).unwrap_or_default(),
    })
}

/// Stores a batch of async buys of one shop in one transaction: each fresh one is answered
/// `202` with a new purchase id; keys already used answer by themselves.
pub(crate) async fn enqueue(
    db: &PgPool,
    org_id: Uuid,
    orders: &[&BuyOrder],
) -> Result<Vec<Outcome>, sqlx::Error> {
    let mut tx = db::begin_scoped(db, &Scope::service(org_id)).await?;
    if let Some(paused) = kill_switch::paused(&mut tx, org_id, Utc::now()).await? {
        tx.rollback().await?;
        return Ok(vec![Outcome::Paused(paused); orders.len()]);
    }
    let settled = key_records::settle(&mut tx, org_id, orders).await?;
    let mut fresh = Vec::new();
    let mut purchase_ids = Vec::new();
    let outcomes: Vec<Outcome> = orders
        .iter()
        .zip(settled)
        .map(|(&order, settled)| {
            settled.unwrap_or_else(|| {
                let purchase_id = Uuid::new_v4();
                fresh.push(order);
                purchase_ids.push(purchase_id);
                accepted(purchase_id)
            })
        })
        .collect();
    // Only the fresh orders' answers are final; the others answered from their keys.
    let keys = KeyRecords::of(orders, &outcomes);
    store(&mut tx, org_id, &fresh, &purchase_ids, &keys).await?;
    tx.commit().await?;
    Ok(outcomes)
}

/// Stores fresh async buys under `purchase_ids`, with their idempotency records, in one
/// statement inside the batch transaction.
async fn store(
    conn: &mut PgConnection,
    org_id: Uuid,
    orders: &[&BuyOrder],
    purchase_ids: &[Uuid],
    keys: &KeyRecords,
) -> Result<(), sqlx::Error> {
    let subs: Vec<&str> = orders.iter().map(|o| o.customer_sub.as_str()).collect();
    let items: Vec<Uuid> = orders.iter().map(|o| o.item_id).collect();
    let quantities: Vec<i32> = orders.iter().map(|o| o.quantity).collect();
    let request_ids: Vec<&str> = orders.iter().map(|o| o.request_id.as_str()).collect();
    sqlx::query!(
        "WITH queued AS (
             INSERT INTO purchase_queue (organization_id, id, customer_sub, item_id, quantity, request_id)
             SELECT $1, q.id, q.sub, q.item, q.quantity, q.request_id
             FROM unnest($2::uuid[], $3::text[], $4::uuid[], $5::int[], $6::text[])
                  WITH ORDINALITY AS q(id, sub, item, quantity, request_id, n)
             ORDER BY q.n
         )
         INSERT INTO idempotency_keys
             (organization_id, customer_sub, idempotency_key, fingerprint,
              response_status, response_body, request_id)
         SELECT $1, k.sub, k.key, k.fingerprint, k.status, k.body, k.request_id
         FROM unnest($7::text[], $8::text[], $9::bytea[], $10::smallint[], $11::bytea[], $12::text[])
              AS k(sub, key, fingerprint, status, body, request_id)",
        org_id,
        purchase_ids,
        &subs as &[&str],
        &items,
        &quantities,
        &request_ids as &[&str],
        &keys.subs,
        &keys.keys,
        &keys.fingerprints,
        &keys.statuses,
        &keys.bodies,
        &keys.request_ids
    )
    .execute(conn)
    .await?;
    Ok(())
}
