//! How long idempotency keys are kept, and where: a purchase's key lives on its order as long as
//! the order does; an admin write's lives in a daily partition of `idempotency_keys` until
//! retention drops the day whole.

use api::token::Role;
use chrono::{Duration, Utc};
use origin::idempotency::partitions;
use reqwest::StatusCode;
use serde_json::json;
use sqlx::PgPool;

use super::idempotency::{buy, restock, setup, stored_keys};

/// An admin write's key (kept in the daily partitions of `idempotency_keys`) is found across
/// midnight.
#[sqlx::test(migrations = "../migrations")]
async fn a_key_first_used_before_midnight_is_found_after_it(db: PgPool) {
    let s = setup(&db, 5).await;
    let chair = s.shop.item(&db, "CHAIR").await;
    let (status, _, first) = restock(&s, chair.id, "midnight", 1).await;
    assert_eq!(status, StatusCode::OK);
    // Move the stored key to 23:59:59 yesterday: into yesterday's partition.
    let yesterday_last_second =
        (Utc::now().date_naive().and_hms_opt(0, 0, 0).unwrap() - Duration::seconds(1)).and_utc();
    let moved = sqlx::query!(
        "UPDATE idempotency_keys SET created_at = $1 WHERE idempotency_key = 'midnight'",
        yesterday_last_second
    )
    .execute(&db)
    .await
    .unwrap();
    assert_eq!(moved.rows_affected(), 1);
    let partition: String = sqlx::query_scalar!(
        r#"SELECT tableoid::regclass::text AS "p!" FROM idempotency_keys WHERE idempotency_key = 'midnight'"#
    )
    .fetch_one(&db)
    .await
    .unwrap();
    assert!(
        partition.ends_with(&yesterday_last_second.format("%Y%m%d").to_string()),
        "{partition}"
    );

    let (again, replayed, bytes) = restock(&s, chair.id, "midnight", 1).await;
    assert_eq!((again, replayed.as_deref()), (StatusCode::OK, Some("true")));
    assert_eq!(bytes, first);
    assert_eq!(s.shop.item(&db, "CHAIR").await.stock, 6, "restocked once");
}

/// A purchase's key lives on its order, not in the daily partitions: a retry days later, after
/// every partition it could have been in is dropped, is still answered by the order it bought.
#[sqlx::test(migrations = "../migrations")]
async fn a_purchase_key_is_answered_as_long_as_its_order_exists(db: PgPool) {
    let s = setup(&db, 5).await;
    let chair = s.shop.item(&db, "CHAIR").await;
    let token = s.token(Role::Shopper, "alice");
    let body = json!({"item_id": chair.id, "quantity": 1});
    let (status, _, first) = buy(&s, &token, "long-lived", &body).await;
    assert_eq!(status, StatusCode::CREATED);
    let report = partitions::maintain(&db, Utc::now() + Duration::days(30), Duration::hours(48))
        .await
        .unwrap();
    assert!(report.dropped.len() >= 2, "{report:?}");

    let (again, replayed, bytes) = buy(&s, &token, "long-lived", &body).await;
    assert_eq!(
        (again, replayed.as_deref()),
        (StatusCode::CREATED, Some("true"))
    );
    assert_eq!(bytes, first);
    let other = json!({"item_id": chair.id, "quantity": 2});
    assert_eq!(
        buy(&s, &token, "long-lived", &other).await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(s.shop.order_totals(&db).await, (1, 1));
    assert_eq!(
        stored_keys(&db, &s.shop).await,
        1,
        "the order is the record"
    );
}

/// The same for the item's last unit: once the item is sold out, a retry of the key that bought
/// it is still answered by its order, at the edge and at the origin (where a retry goes once
/// the edge's sold-out mark has run out), never with "sold out".
#[sqlx::test(migrations = "../migrations")]
async fn a_key_that_bought_the_last_unit_is_answered_after_the_sell_out(db: PgPool) {
    let s = setup(&db, 1).await;
    let chair = s.shop.item(&db, "CHAIR").await;
    let alice = s.token(Role::Shopper, "alice");
    let body = json!({"item_id": chair.id, "quantity": 1});
    let (status, _, first) = buy(&s, &alice, "last-unit", &body).await;
    assert_eq!(status, StatusCode::CREATED);
    let bob = s.token(Role::Shopper, "bob");
    assert_eq!(
        buy(&s, &bob, "too-late", &body).await.0,
        StatusCode::CONFLICT,
        "sold out"
    );
    let report = partitions::maintain(&db, Utc::now() + Duration::days(30), Duration::hours(48))
        .await
        .unwrap();
    assert!(report.dropped.len() >= 2, "{report:?}");

    let (again, replayed, bytes) = buy(&s, &alice, "last-unit", &body).await;
    assert_eq!(
        (again, replayed.as_deref()),
        (StatusCode::CREATED, Some("true"))
    );
    assert_eq!(bytes, first);
    let at_origin = reqwest::Client::new()
        .post(format!("{}/api/tenant/{}/buy", s.origin.url, s.shop.org_id))
        .bearer_auth(&alice)
        .header("idempotency-key", "last-unit")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(at_origin.status(), StatusCode::CREATED);
    assert_eq!(
        at_origin
            .headers()
            .get("idempotent-replayed")
            .map(|v| v.to_str().unwrap().to_owned())
            .as_deref(),
        Some("true")
    );
    assert_eq!(at_origin.bytes().await.unwrap().to_vec(), first);
    assert_eq!(s.shop.item(&db, "CHAIR").await.stock, 0);
    assert_eq!(s.shop.order_totals(&db).await, (1, 1));
}

#[sqlx::test(migrations = "../migrations")]
async fn partitions_roll_over_and_old_days_are_dropped_whole(db: PgPool) {
    let partitions_now = |db: PgPool| async move {
        sqlx::query_scalar!(
            r#"SELECT c.relname::text AS "name!" FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
               WHERE i.inhparent = 'idempotency_keys'::regclass ORDER BY 1"#
        )
        .fetch_all(&db)
        .await
        .unwrap()
    };
    let day = |offset: i64| {
        format!(
            "idempotency_keys_p{}",
            (Utc::now() + Duration::days(offset)).format("%Y%m%d")
        )
    };

    // Three days on, maintenance makes the days ahead and drops what is past 48 h.
    let later = Utc::now() + Duration::days(3);
    let report = partitions::maintain(&db, later, Duration::hours(48))
        .await
        .unwrap();
    let names = partitions_now(db.clone()).await;
    assert!(names.contains(&day(5)), "made ahead: {names:?}");
    assert!(
        report.dropped.contains(&day(-1)) && report.dropped.contains(&day(0)),
        "{report:?}"
    );
    assert!(!names.contains(&day(0)));
    assert!(names.contains(&day(2)), "kept within retention: {names:?}");

    // Running again changes nothing.
    let again = partitions::maintain(&db, later, Duration::hours(48))
        .await
        .unwrap();
    assert_eq!(again, partitions::Report::default());
}

#[sqlx::test(migrations = "../migrations")]
async fn lookups_after_a_drop_find_the_keys_that_remain(db: PgPool) {
    let s = setup(&db, 5).await;
    let chair = s.shop.item(&db, "CHAIR").await;
    assert_eq!(restock(&s, chair.id, "old", 1).await.0, StatusCode::OK);
    assert_eq!(restock(&s, chair.id, "fresh", 1).await.0, StatusCode::OK);
    // "old" was used three days ago (a partition made for it), then that day is dropped.
    let three_days_ago = Utc::now() - Duration::days(3);
    sqlx::query_scalar!(
        r#"SELECT ensure_idempotency_partitions($1, 1) AS "n!""#,
        three_days_ago.date_naive()
    )
    .fetch_one(&db)
    .await
    .unwrap();
    sqlx::query!(
        "UPDATE idempotency_keys SET created_at = $1 WHERE idempotency_key = 'old'",
        three_days_ago
    )
    .execute(&db)
    .await
    .unwrap();
    let report = partitions::maintain(&db, Utc::now(), Duration::hours(48))
        .await
        .unwrap();
    assert_eq!(report.dropped.len(), 1, "{report:?}");

    let (fresh, replayed, _) = restock(&s, chair.id, "fresh", 1).await;
    assert_eq!((fresh, replayed.as_deref()), (StatusCode::OK, Some("true")));
    assert_eq!(
        s.shop.item(&db, "CHAIR").await.stock,
        7,
        "each restock applied once"
    );
}
