//! The phase's checks, read on the new primary directly rather than through HAProxy: every
//! acknowledged order present, units accounted for, one order per key; and the write a client
//! that kept the old primary's address would try after a split.

use std::{collections::HashMap, time::Duration};

use origin::db::{self, PoolLimits};
use sqlx::PgPool;
use uuid::Uuid;

use super::{HaStack, SKU};

/// A write straight to the old primary just woken, past HAProxy: what a client that kept its
/// address would try. It must not commit: Patroni demotes the node, and until then its commits
/// wait for a synchronous standby that now follows the new leader.
pub(super) async fn write_to_old_primary(stack: &HaStack, old_leader: &str) -> String {
    let url = stack.ha.node_url(old_leader, "postgres");
    let attempt = async {
        let pool = owner_pool(&url).await;
        let result = sqlx::query!(
            "UPDATE inventory SET stock = stock - 1 WHERE organization_id = $1",
            stack.shop.org_id
        )
        .execute(&pool)
        .await;
        pool.close().await;
        result
    };
    match tokio::time::timeout(Duration::from_secs(10), attempt).await {
        Ok(Ok(done)) => format!("committed ({} rows)", done.rows_affected()),
        Ok(Err(err)) => format!("refused: {err}"),
        Err(_) => "no commit within 10 s (waiting for a synchronous standby), abandoned".to_owned(),
    }
}

pub(super) struct Checks {
    pub(super) missing: Vec<Uuid>,
    pub(super) stock_left: i64,
    pub(super) units_sold: i64,
    pub(super) keys_with_two_orders: i64,
    pub(super) keys_with_their_order: i64,
}

/// Reads what the phase promises on `db`, the new primary.
pub(super) async fn check_on(
    db: &PgPool,
    stack: &HaStack,
    acknowledged: &HashMap<String, Uuid>,
) -> Checks {
    let present: std::collections::HashSet<Uuid> =
        stack.shop.order_ids(db).await.into_iter().collect();
    let mut missing: Vec<Uuid> = acknowledged
        .values()
        .filter(|id| !present.contains(id))
        .copied()
        .collect();
    missing.sort();
    let (_, units_sold) = stack.shop.order_totals(db).await;
    let stock_left = i64::from(stack.shop.item(db, SKU).await.stock);
    let keys_with_two_orders = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM (
             SELECT customer_sub, idempotency_key FROM orders
             WHERE organization_id = $1 AND idempotency_key IS NOT NULL
             GROUP BY customer_sub, idempotency_key HAVING count(*) > 1) twice"#,
        stack.shop.org_id
    )
    .fetch_one(db)
    .await
    .expect("keys with two orders");
    let (keys, ids): (Vec<String>, Vec<Uuid>) = acknowledged
        .iter()
        .map(|(key, id)| (key.clone(), *id))
        .unzip();
    let keys_with_their_order = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM orders o
           JOIN unnest($2::text[], $3::uuid[]) AS acked(key, id)
             ON o.idempotency_key = acked.key AND o.id = acked.id
           WHERE o.organization_id = $1"#,
        stack.shop.org_id,
        &keys,
        &ids
    )
    .fetch_one(db)
    .await
    .expect("acknowledged keys with their order");
    Checks {
        missing,
        stock_left,
        units_sold,
        keys_with_two_orders,
        keys_with_their_order,
    }
}

/// A small pool as the superuser, retried while the node starts or a leader is elected.
pub(super) async fn owner_pool(url: &str) -> PgPool {
    let limits = PoolLimits {
        max_connections: 2,
        acquire_timeout: Duration::from_secs(10),
    };
    let mut last = None;
    for _ in 0..50 {
        match db::connect(url, limits).await {
            Ok(pool) => return pool,
            Err(err) => last = Some(err),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("connect to {url}: {last:?}");
}
