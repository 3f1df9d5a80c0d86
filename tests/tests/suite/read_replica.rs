//! Reads on a real streaming replica, and a writer always seeing its own writes.
//!
//! Each test runs its own primary and `pg_basebackup -R` replica (throwaway clusters). Pausing
//! WAL replay on the replica makes it visibly stale: a read that shows the old value was served
//! by the replica, one that shows the new value was served by a database that has the write.

use api::{
    headers::{WRITE_LSN, WRITE_LSN_COOKIE},
    inventory::{InventoryList, Item},
    token::Role,
};
use e2e::{
    origin_server::app_pool,
    replication::{unreachable_replica, Replicated},
    Edge, EdgeConfig, OriginServer, Shop, TestKeys,
};
use origin::AppState;
use reqwest::{header::SET_COOKIE, StatusCode};
use serde_json::json;
use sqlx::PgPool;

const DOMAIN: &str = "replica.shop.test";

struct World {
    db: Replicated,
    keys: TestKeys,
    shop: Shop,
    origin: OriginServer,
    http: reqwest::Client,
}

async fn world() -> World {
    world_with_edge_secret(None).await
}

/// With `secret` set, tenant routes need it (only the edge has it) and write positions are
/// sealed under a key the edge derives from it too.
async fn world_with_edge_secret(secret: Option<&str>) -> World {
    let db = Replicated::start().await;
    let shop = Shop::create(&db.primary_owner, DOMAIN, &[("CHAIR", 5)]).await;
    db.wait_until_caught_up().await;
    let keys = TestKeys::new();
    let (primary, replica) = db.app_pools().await;
    let origin = OriginServer::start_with(
        AppState::new(primary, keys.verifier())
            .with_replica(Some(replica))
            .with_edge_secret(secret.map(e2e::edge_hop::edge_secret)),
    )
    .await;
    World {
        db,
        keys,
        shop,
        origin,
        http: reqwest::Client::new(),
    }
}

impl World {
    fn url(&self, path: &str) -> String {
        format!("{}/api/tenant/{}{path}", self.origin.url, self.shop.org_id)
    }

    async fn chair(&self) -> Item {
        self.shop.item(&self.db.primary_owner, "CHAIR").await
    }

    /// Sets the chair's stock through the admin API; returns the answer's write position.
    async fn restock(&self, item: &Item, stock: i32) -> reqwest::Response {
        let admin = self.keys.token(self.shop.org_id, Role::Admin, "boss");
        let response = self
            .http
            .patch(self.url(&format!("/admin/items/{}", item.id)))
            .bearer_auth(admin)
            .header("idempotency-key", uuid::Uuid::new_v4().to_string())
            .json(&json!({ "stock": stock }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        response
    }

    /// The item's stock as the writer ("boss") reads it: a position is honoured only with a
    /// token of the user it was issued to.
    async fn stock_read(&self, item: &Item, with: Option<(&str, String)>) -> i32 {
        let writer = self.keys.token(self.shop.org_id, Role::Admin, "boss");
        let mut request = self
            .http
            .get(self.url(&format!("/inventory/{}", item.id)))
            .bearer_auth(writer);
        if let Some((name, value)) = with {
            request = request.header(name, value);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        response.json::<Item>().await.unwrap().stock
    }
}

fn write_lsn(response: &reqwest::Response) -> String {
    response
        .headers()
        .get(WRITE_LSN)
        .expect("a write answers with its position")
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn reads_use_the_replica_and_a_writer_always_sees_its_write() {
    let w = world().await;
    let chair = w.chair().await;
    w.db.pause_replay().await;

    let written = w.restock(&chair, 42).await;
    let lsn = write_lsn(&written);
    let cookie = written
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with(&format!("{WRITE_LSN_COOKIE}={lsn};")))
        .expect("the position as a cookie too");
    assert!(cookie.contains("HttpOnly") && cookie.contains("Path=/"));

    // Without the position, the (paused) replica answers: still the old stock.
    assert_eq!(w.stock_read(&chair, None).await, 5);
    // A position the origin did not seal, or one edited to send reads to the primary, is
    // ignored like no position at all.
    let raised = lsn.replacen(lsn.split('.').next().unwrap(), "FFFFFFFF/FFFFFFFF", 1);
    for forged in ["FFFFFFFF/FFFFFFFF".to_owned(), raised] {
        assert_eq!(w.stock_read(&chair, Some((WRITE_LSN, forged))).await, 5);
    }
    // With it, by header or by cookie, the read goes where the write is.
    assert_eq!(
        w.stock_read(&chair, Some((WRITE_LSN, lsn.clone()))).await,
        42
    );
    assert_eq!(
        w.stock_read(
            &chair,
            Some(("cookie", format!("{WRITE_LSN_COOKIE}={lsn}")))
        )
        .await,
        42
    );
    let list: InventoryList = w
        .http
        .get(w.url("/inventory"))
        .bearer_auth(w.keys.token(w.shop.org_id, Role::Admin, "boss"))
        .header(WRITE_LSN, &lsn)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list.items[0].stock, 42);

    // Once the replica has replayed the write, reads carrying its position run on the replica:
    // with replay paused again, a later change made on the primary stays invisible to them.
    w.db.resume_replay().await;
    w.db.wait_for_replay(&lsn).await;
    w.db.pause_replay().await;
    sqlx::query!(
        "UPDATE inventory SET stock = 7 WHERE organization_id = $1 AND id = $2",
        w.shop.org_id,
        chair.id
    )
    .execute(&w.db.primary_owner)
    .await
    .unwrap();
    assert_eq!(w.chair().await.stock, 7);
    assert_eq!(
        w.stock_read(&chair, Some((WRITE_LSN, lsn.clone()))).await,
        42
    );
    assert_eq!(w.stock_read(&chair, None).await, 42);
    w.db.resume_replay().await;

    let metrics = w
        .http
        .get(format!("{}/metrics", w.origin.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for series in [
        r#"origin_db_reads_total{pool="replica",reason="replica_current"}"#,
        r#"origin_db_reads_total{pool="primary",reason="replica_behind"}"#,
        r#"origin_db_pool_connections{pool="replica",state="idle"}"#,
        "origin_db_replica_lag_bytes",
    ] {
        assert!(
            metrics.contains(series),
            "{series} missing from:\n{metrics}"
        );
    }
}

#[tokio::test]
async fn through_the_edge_a_writer_sees_its_own_write_and_replaying_it_costs_one_read() {
    const SECRET: &str = "edge-secret-for-replicas-0123456789abcde";
    let w = world_with_edge_secret(Some(SECRET)).await;
    let config = EdgeConfig::new(&w.origin.url, std::slice::from_ref(&w.shop), &w.keys)
        .var("EDGE_SHARED_SECRET", SECRET);
    let edge = Edge::start_with(config).await;
    let chair = w.chair().await;
    w.db.pause_replay().await;

    let admin = w.keys.token(w.shop.org_id, Role::Admin, "boss");
    let written = edge
        .request(
            reqwest::Method::PATCH,
            DOMAIN,
            &format!("/api/admin/items/{}", chair.id),
        )
        .bearer_auth(&admin)
        .header("idempotency-key", uuid::Uuid::new_v4().to_string())
        .json(&json!({ "stock": 11 }))
        .send()
        .await
        .unwrap();
    assert_eq!(written.status(), StatusCode::OK);
    let lsn = write_lsn(&written);

    // The writer reads with its token: a position is honoured only for its own user.
    let read = |extra: Option<(&'static str, String)>| {
        let mut request = edge
            .get(DOMAIN, &format!("/api/inventory/{}", chair.id))
            .bearer_auth(&admin);
        if let Some((name, value)) = extra {
            request = request.header(name, value);
        }
        async move { request.send().await.unwrap().json::<Item>().await.unwrap() }
    };
    assert_eq!(read(None).await.stock, 5);
    assert_eq!(read(Some((WRITE_LSN, lsn.clone()))).await.stock, 11);
    assert_eq!(
        read(Some(("cookie", format!("{WRITE_LSN_COOKIE}={lsn}"))))
            .await
            .stock,
        11
    );

    // The writer's own client replaying its position over and over gets the write from the
    // entry that was fetched for it: the position does not switch the cache off (and a bot
    // holding the position without the writer's token is not honoured at all: edge_trust).
    let item_path = format!("/inventory/{}", chair.id);
    let before = w.origin.log.count_ending_with(&item_path);
    for _ in 0..50 {
        assert_eq!(read(Some((WRITE_LSN, lsn.clone()))).await.stock, 11);
    }
    let fetched = w.origin.log.count_ending_with(&item_path) - before;
    assert!(
        fetched <= 3,
        "50 replays of one position cost {fetched} origin reads"
    );
    w.db.resume_replay().await;
}

#[sqlx::test(migrations = "../migrations")]
async fn reads_fall_back_to_the_primary_when_the_replica_is_down(db: PgPool) {
    let keys = TestKeys::new();
    let shop = Shop::create(&db, DOMAIN, &[("CHAIR", 5)]).await;
    let state = AppState::new(app_pool(&db).await, keys.verifier())
        .with_replica(Some(unreachable_replica(&db)));
    let origin = OriginServer::start_with(state).await;
    let http = reqwest::Client::new();
    let list = http
        .get(format!(
            "{}/api/tenant/{}/inventory",
            origin.url, shop.org_id
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(list.status(), StatusCode::OK);
    let list: InventoryList = list.json().await.unwrap();
    assert_eq!(list.items.len(), 1);
    let metrics = http
        .get(format!("{}/metrics", origin.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"origin_db_reads_total{pool="primary",reason="replica_unavailable"}"#)
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn without_a_replica_writes_hand_out_no_position(db: PgPool) {
    let keys = TestKeys::new();
    let shop = Shop::create(&db, DOMAIN, &[("CHAIR", 5)]).await;
    let chair = shop.item(&db, "CHAIR").await;
    let origin = OriginServer::start(&db, &keys).await;
    let http = reqwest::Client::new();
    let written = http
        .patch(format!(
            "{}/api/tenant/{}/admin/items/{}",
            origin.url, shop.org_id, chair.id
        ))
        .bearer_auth(keys.token(shop.org_id, Role::Admin, "boss"))
        .header("idempotency-key", uuid::Uuid::new_v4().to_string())
        .json(&json!({ "stock": 9 }))
        .send()
        .await
        .unwrap();
    assert_eq!(written.status(), StatusCode::OK);
    assert!(written.headers().get(WRITE_LSN).is_none());
    assert!(written.headers().get(SET_COOKIE).is_none());
    // A client that still sends a position reads from the primary, as everyone does.
    let read: Item = http
        .get(format!(
            "{}/api/tenant/{}/inventory/{}",
            origin.url, shop.org_id, chair.id
        ))
        .header(WRITE_LSN, "FFFFFFFF/FFFFFFFF")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(read.stock, 9);
}
