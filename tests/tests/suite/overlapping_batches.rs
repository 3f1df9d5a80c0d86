//! Two batches of one item at the same time, in the database: a batch that fits the stock writes
//! its orders before it waits for the item's row lock; if the stock is gone when it gets the
//! lock, those writes are undone and its orders are sold one at a time, first come first served.

use e2e::{origin_server::app_pool, Shop};
use origin::{
    db,
    db::Scope,
    idempotency::{self, IdempotencyKey, KeyUse},
    purchase::{buy_item, BuyOrder, Decision, GroupCommitter, Lane, Outcome, Sold},
};
use sqlx::PgPool;
use uuid::Uuid;

/// `count` orders of `quantity` from buyers `{prefix}0..`, each with its own key.
fn orders(shop: &Shop, item_id: Uuid, prefix: &str, count: usize, quantity: i32) -> Vec<BuyOrder> {
    (0..count)
        .map(|n| {
            let sub = format!("{prefix}{n}");
            BuyOrder {
                org_id: shop.org_id,
                customer_sub: sub.clone(),
                item_id,
                quantity,
                request_id: sub.clone(),
                key: Some(KeyUse {
                    org_id: shop.org_id,
                    customer_sub: sub.clone(),
                    key: IdempotencyKey::parse(&format!("key-{sub}")).unwrap(),
                    fingerprint: idempotency::fingerprint("POST", "buy", sub.as_bytes()),
                    request_id: sub,
                }),
            }
        })
        .collect()
}

fn confirmed(sold: &Sold) -> usize {
    sold.decisions
        .iter()
        .filter(|d| matches!(d, Decision::Confirmed { .. }))
        .count()
}

/// Batch `a` commits while batch `b` runs: `a` is bought in a transaction left open (holding the
/// item's row lock), `b` starts, and `a` commits once `b` is seen waiting for the lock.
async fn b_while_a_commits(
    owner: &PgPool,
    shop: &Shop,
    item_id: Uuid,
    a: &[BuyOrder],
    b: Vec<BuyOrder>,
) -> (Sold, Sold) {
    let app = app_pool(owner).await;
    let mut first = db::begin_scoped(&app, &Scope::service(shop.org_id))
        .await
        .unwrap();
    let a: Vec<&BuyOrder> = a.iter().collect();
    let sold_a = buy_item(&mut *first, shop.org_id, item_id, &a)
        .await
        .unwrap();
    let org_id = shop.org_id;
    let second = tokio::spawn(async move {
        let b: Vec<&BuyOrder> = b.iter().collect();
        buy_item(&app, org_id, item_id, &b).await.unwrap()
    });
    // The second batch must be seen waiting for the item's row lock in the database before
    // the first commits (a batch that did not wait would never show up there).
    e2e::wait::until_a_lock_is_awaited(owner).await;
    first.commit().await.unwrap();
    (sold_a, second.await.unwrap())
}

/// (stock, orders, units ordered, orders with their key, audited sales) of `shop`, as the owner
/// sees them.
async fn books(db: &PgPool, shop: &Shop, item_id: Uuid) -> (i32, i64, i64, i64, i64) {
    sqlx::query_as(
        "SELECT (SELECT stock FROM inventory WHERE organization_id = $1 AND id = $2),
                (SELECT count(*) FROM orders WHERE organization_id = $1),
                (SELECT coalesce(sum(quantity), 0)::bigint FROM orders WHERE organization_id = $1),
                (SELECT count(*) FROM orders
                 WHERE organization_id = $1 AND idempotency_key IS NOT NULL),
                (SELECT count(*) FROM audit_entries WHERE organization_id = $1 AND action = 'purchase')",
    )
    .bind(shop.org_id)
    .bind(item_id)
    .fetch_one(db)
    .await
    .unwrap()
}

/// The stock each buyer in `subs` saw before their purchase, from the audit log.
async fn audited_stock_before(db: &PgPool, shop: &Shop, subs: &[String]) -> Vec<Option<i32>> {
    let mut before = Vec::new();
    for sub in subs {
        let stock: Option<i32> = sqlx::query_scalar(
            "SELECT (before->>'stock')::int FROM audit_entries
             WHERE organization_id = $1 AND action = 'purchase' AND actor_sub = $2",
        )
        .bind(shop.org_id)
        .bind(sub)
        .fetch_optional(db)
        .await
        .unwrap();
        before.push(stock);
    }
    before
}

fn subs(prefix: &str, count: usize) -> Vec<String> {
    (0..count).map(|n| format!("{prefix}{n}")).collect()
}

#[sqlx::test(migrations = "../migrations")]
async fn batches_that_both_fit_are_sold_whole_with_exact_books(db: PgPool) {
    let shop = Shop::create(&db, "overlap.shop.test", &[("CHAIR", 200)]).await;
    let chair = shop.item(&db, "CHAIR").await;
    let a = orders(&shop, chair.id, "a", 6, 10);
    let b = orders(&shop, chair.id, "b", 6, 10);

    let (sold_a, sold_b) = b_while_a_commits(&db, &shop, chair.id, &a, b).await;

    assert_eq!((confirmed(&sold_a), confirmed(&sold_b)), (6, 6));
    assert_eq!(sold_a.stock_left, Some(140));
    assert_eq!(sold_b.stock_left, Some(80));
    assert_eq!(books(&db, &shop, chair.id).await, (80, 12, 120, 12, 12));
    // `b` wrote its orders before it had the lock, yet its audit rows record the stock it met.
    let befores: Vec<Option<i32>> = [140, 130, 120, 110, 100, 90].map(Some).to_vec();
    assert_eq!(
        audited_stock_before(&db, &shop, &subs("b", 6)).await,
        befores
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn a_batch_that_no_longer_fits_is_sold_in_order_and_its_early_writes_undone(db: PgPool) {
    let shop = Shop::create(&db, "overlap.shop.test", &[("CHAIR", 100)]).await;
    let chair = shop.item(&db, "CHAIR").await;
    let a = orders(&shop, chair.id, "a", 6, 10);
    // When `b` starts, the committed stock (100) covers it; once `a` commits, only 40 are left.
    let b = orders(&shop, chair.id, "b", 6, 10);

    let (sold_a, sold_b) = b_while_a_commits(&db, &shop, chair.id, &a, b).await;

    assert_eq!(confirmed(&sold_a), 6);
    assert_eq!(confirmed(&sold_b), 4, "{:?}", sold_b.decisions);
    // First come, first served: b0..b3 bought, b4 and b5 were refused.
    assert!(sold_b.decisions[..4]
        .iter()
        .all(|d| matches!(d, Decision::Confirmed { .. })));
    assert!(sold_b.decisions[4..]
        .iter()
        .all(|d| *d == Decision::OutOfStock { available: 0 }));
    assert_eq!(sold_b.stock_left, Some(0));
    // No order, key or audit row of the refused two survives the undone early writes.
    assert_eq!(books(&db, &shop, chair.id).await, (0, 10, 100, 10, 10));
    let befores = vec![Some(40), Some(30), Some(20), Some(10), None, None];
    assert_eq!(
        audited_stock_before(&db, &shop, &subs("b", 6)).await,
        befores
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn a_stored_answer_is_replayed_even_while_another_retry_holds_its_key(db: PgPool) {
    let shop = Shop::create(&db, "overlap.shop.test", &[("CHAIR", 10)]).await;
    let chair = shop.item(&db, "CHAIR").await;
    let app = app_pool(&db).await;
    let order = orders(&shop, chair.id, "alice", 1, 1).remove(0);
    let first = buy_item(&app, shop.org_id, chair.id, &[&order])
        .await
        .unwrap();
    let Decision::Confirmed { response, .. } = &first.decisions[0] else {
        panic!("{:?}", first.decisions);
    };

    // A retry holds the key's lock in a transaction still open...
    let mut retry = db::begin_scoped(&app, &Scope::service(shop.org_id))
        .await
        .unwrap();
    let held = buy_item(&mut *retry, shop.org_id, chair.id, &[&order])
        .await
        .unwrap();
    // ...and another retry, meanwhile, gets the same stored answer, not "in flight".
    let meanwhile = buy_item(&app, shop.org_id, chair.id, &[&order])
        .await
        .unwrap();
    retry.commit().await.unwrap();
    let replay = Decision::Answered(Outcome::Replay(response.clone()));
    assert_eq!(held.decisions, vec![replay.clone()]);
    assert_eq!(meanwhile.decisions, vec![replay]);
    assert_eq!(books(&db, &shop, chair.id).await, (9, 1, 1, 1, 1));
}

#[sqlx::test(migrations = "../migrations")]
async fn near_the_end_of_the_stock_earlier_buyers_are_served_first_across_batches(db: PgPool) {
    let shop = Shop::create(&db, "overlap.shop.test", &[("CHAIR", 100)]).await;
    let chair = shop.item(&db, "CHAIR").await;
    let committer = GroupCommitter::new(app_pool(&db).await, 8);
    // 300 buyers in a known order, of 1, 2 or 3 chairs: many small batches, several in flight.
    let mut buyers = orders(&shop, chair.id, "buyer", 300, 1);
    for (n, order) in buyers.iter_mut().enumerate() {
        order.quantity = 1 + (n % 3) as i32;
    }
    // `join_all` polls the buys in order, and a buy joins its lane's queue on its first poll.
    let answers = futures::future::join_all(
        buyers
            .iter()
            .map(|order| committer.submit(Lane::Item(chair.id), order.clone())),
    )
    .await;

    // What serving them one by one, in order, would have sold.
    let mut left = 100;
    let expected: Vec<u16> = buyers
        .iter()
        .map(|order| {
            if order.quantity <= left {
                left -= order.quantity;
                201
            } else {
                409
            }
        })
        .collect();
    let statuses: Vec<u16> = answers
        .into_iter()
        .map(|answer| match answer.unwrap() {
            Outcome::Final(stored) => stored.status,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(statuses, expected);
    let sold: i64 = expected
        .iter()
        .zip(&buyers)
        .filter(|(s, _)| **s == 201)
        .map(|(_, o)| i64::from(o.quantity))
        .sum();
    assert_eq!(sold, 100);
    assert_eq!(books(&db, &shop, chair.id).await.0, 0);
}

/// The SQLSTATE of a failed statement.
fn sqlstate(result: Result<sqlx::postgres::PgQueryResult, sqlx::Error>) -> Option<String> {
    result
        .err()?
        .as_database_error()?
        .code()
        .map(|c| c.into_owned())
}

/// Orders name items of their own shop, checked once per statement (not per row, which locked
/// the hot item's row once per order): an unknown or another shop's item is refused, an item
/// with orders cannot be deleted or renumbered, and a delete racing an order waits for it and
/// then fails, as a foreign key would.
#[sqlx::test(migrations = "../migrations")]
async fn orders_name_items_of_their_shop_and_those_items_stay(db: PgPool) {
    let shop = Shop::create(&db, "one.shop.test", &[("CHAIR", 5)]).await;
    let other = Shop::create(&db, "two.shop.test", &[("LAMP", 5)]).await;
    let chair = shop.item(&db, "CHAIR").await.id;
    let lamp = other.item(&db, "LAMP").await.id;
    let place = |item: Uuid| {
        sqlx::query(
            "INSERT INTO orders (organization_id, id, item_id, customer_sub, quantity, unit_price_cents)
             SELECT $1, gen_random_uuid(), x, 'alice', 1, 100 FROM unnest($2::uuid[]) AS x",
        )
        .bind(shop.org_id)
        .bind(vec![chair, item])
    };
    for item in [Uuid::new_v4(), lamp] {
        assert_eq!(
            sqlstate(place(item).execute(&db).await).as_deref(),
            Some("23503"),
            "a statement naming a missing item writes none of its orders"
        );
    }
    assert_eq!(shop.order_totals(&db).await, (0, 0));

    let mut ordering = db.begin().await.unwrap();
    place(chair).execute(&mut *ordering).await.unwrap();
    let deleting = tokio::spawn({
        let db = db.clone();
        async move {
            sqlx::query("DELETE FROM inventory WHERE id = $1")
                .bind(chair)
                .execute(&db)
                .await
        }
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(!deleting.is_finished(), "the delete waits for the order");
    ordering.commit().await.unwrap();
    assert_eq!(sqlstate(deleting.await.unwrap()).as_deref(), Some("23503"));
    let renumber = sqlx::query("UPDATE inventory SET id = gen_random_uuid() WHERE id = $1")
        .bind(chair)
        .execute(&db)
        .await;
    assert_eq!(sqlstate(renumber).as_deref(), Some("23503"));
    assert_eq!(shop.order_totals(&db).await, (2, 2));
    assert_eq!(shop.item(&db, "CHAIR").await.stock, 5);
}
