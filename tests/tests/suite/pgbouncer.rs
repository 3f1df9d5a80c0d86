//! The origin behind PgBouncer in transaction mode (Debian's 1.18), as Supabase-style
//! deployments run it: prepared statements, tenant claims and the whole smoke.

use api::{inventory::InventoryList, token::Role};
use e2e::{
    pgbouncer::{PgBouncer, PgBouncerSettings},
    smoke::{run_smoke, SmokeTarget, SMOKE_ITEMS},
    Edge, OriginConfig, OriginProcess, Shop, TestKeys,
};
use origin::db::{begin_scoped, Scope};
use reqwest::StatusCode;
use sqlx::{
    postgres::{PgConnectOptions, PgPoolOptions},
    PgPool,
};

const APP_USER: &str = "furnitureops_app";

async fn pooler(db: &PgPool, deallocate_after_transaction: bool) -> PgBouncer {
    PgBouncer::start(
        db.connect_options().get_port(),
        PgBouncerSettings {
            pool_size: 1,
            deallocate_after_transaction,
        },
    )
    .await
}

/// A one-connection pool as the application role through `pooler`, with `cache` statements.
async fn client(db: &PgPool, pooler: &PgBouncer, cache: usize) -> PgPool {
    let database = db.connect_options().get_database().unwrap().to_owned();
    let options: PgConnectOptions = pooler.url(APP_USER, &database).parse().unwrap();
    PgPoolOptions::new()
        .max_connections(1)
        .connect_with(options.statement_cache_capacity(cache))
        .await
        .unwrap()
}

/// One transaction with a query that takes a parameter, as every request runs.
async fn transaction(pool: &PgPool) -> Result<i32, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let n: i32 = sqlx::query_scalar("SELECT $1::int + 1")
        .bind(41)
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(n)
}

/// Two clients take turns on PgBouncer's one server connection.
async fn alternate(a: &PgPool, b: &PgPool, rounds: usize) -> Result<(), sqlx::Error> {
    for _ in 0..rounds {
        assert_eq!(transaction(a).await?, 42);
        assert_eq!(transaction(b).await?, 42);
    }
    Ok(())
}

fn sql_state(err: &sqlx::Error) -> Option<String> {
    err.as_database_error()
        .and_then(|e| e.code())
        .map(|c| c.into_owned())
}

#[sqlx::test(migrations = "../migrations")]
async fn cached_statements_collide_between_clients_sharing_a_server_connection(db: PgPool) {
    let pooler = pooler(&db, false).await;
    let (a, b) = (
        client(&db, &pooler, 100).await,
        client(&db, &pooler, 100).await,
    );
    let err = alternate(&a, &b, 3).await.unwrap_err();
    // duplicate_prepared_statement: both clients named theirs sqlx_s_1.
    assert_eq!(sql_state(&err).as_deref(), Some("42P05"), "{err}");
}

#[sqlx::test(migrations = "../migrations")]
async fn a_statement_cache_of_zero_alone_still_collides(db: PgPool) {
    // sqlx 0.8 still names the statements it does not cache, and never closes them.
    let pooler = pooler(&db, false).await;
    let (a, b) = (client(&db, &pooler, 0).await, client(&db, &pooler, 0).await);
    let err = alternate(&a, &b, 3).await.unwrap_err();
    assert_eq!(sql_state(&err).as_deref(), Some("42P05"), "{err}");
}

#[sqlx::test(migrations = "../migrations")]
async fn deallocating_alone_breaks_cached_statements(db: PgPool) {
    let pooler = pooler(&db, true).await;
    let (a, b) = (
        client(&db, &pooler, 100).await,
        client(&db, &pooler, 100).await,
    );
    let err = alternate(&a, &b, 3).await.unwrap_err();
    // invalid_sql_statement_name: the cached statement was deallocated by the pooler.
    assert_eq!(sql_state(&err).as_deref(), Some("26000"), "{err}");
}

#[sqlx::test(migrations = "../migrations")]
async fn no_statement_cache_with_deallocation_works(db: PgPool) {
    let pooler = pooler(&db, true).await;
    let (a, b) = (client(&db, &pooler, 0).await, client(&db, &pooler, 0).await);
    alternate(&a, &b, 50).await.unwrap();
}

#[sqlx::test(migrations = "../migrations")]
async fn claims_never_leak_between_shops_sharing_one_server_connection(db: PgPool) {
    let pooler = pooler(&db, true).await;
    let acme = Shop::create(&db, "chairs.acme.test", &[("ACME-CHAIR", 5)]).await;
    let globex = Shop::create(&db, "sofas.globex.test", &[("GLOBEX-SOFA", 5)]).await;
    let (a, b) = (client(&db, &pooler, 0).await, client(&db, &pooler, 0).await);

    for _ in 0..20 {
        for (pool, shop, sku) in [(&a, &acme, "ACME-CHAIR"), (&b, &globex, "GLOBEX-SOFA")] {
            let claims = e2e::tokens::claims(shop.org_id, Role::Shopper, "someone");
            let mut tx = begin_scoped(pool, &Scope::for_claims(shop.org_id, &claims))
                .await
                .unwrap();
            let skus: Vec<String> = sqlx::query_scalar("SELECT sku FROM inventory ORDER BY sku")
                .fetch_all(&mut *tx)
                .await
                .unwrap();
            assert_eq!(skus, vec![sku.to_owned()], "a shop sees its own rows only");
            tx.commit().await.unwrap();

            // The next transaction on the same server connection, with no claims of its own,
            // inherits none and sees nothing.
            let other = if std::ptr::eq(pool, &a) { &b } else { &a };
            let mut bare = other.begin().await.unwrap();
            let (claims, rows): (Option<String>, i64) = sqlx::query_as(
                "SELECT nullif(current_setting('request.jwt.claims', true), ''),
                        (SELECT count(*) FROM inventory)",
            )
            .fetch_one(&mut *bare)
            .await
            .unwrap();
            bare.commit().await.unwrap();
            assert_eq!((claims, rows), (None, 0));
        }
    }
    let backend = |pool: PgPool| async move {
        let mut tx = pool.begin().await.unwrap();
        let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        pid
    };
    assert_eq!(
        backend(a).await,
        backend(b).await,
        "both clients were served by one server connection"
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn two_shops_interleaved_through_the_origin_see_only_their_own_items(db: PgPool) {
    let pooler = pooler(&db, true).await;
    let keys = TestKeys::new();
    let acme = Shop::create(&db, "chairs.acme.test", &[("ACME-CHAIR", 500)]).await;
    let globex = Shop::create(&db, "sofas.globex.test", &[("GLOBEX-SOFA", 500)]).await;
    // 200 requests queue for one server connection: what is tested is that they interleave,
    // not how fast, so none may give up waiting (the default 500 ms would answer some 503).
    let config = through(&db, &pooler, &keys).var("DATABASE_ACQUIRE_TIMEOUT_MS", "20000");
    let origin = OriginProcess::start(&config).await;
    let http = reqwest::Client::new();

    let mut requests = Vec::new();
    for i in 0..100 {
        for (shop, sku) in [(&acme, "ACME-CHAIR"), (&globex, "GLOBEX-SOFA")] {
            let token = keys.token(shop.org_id, Role::Shopper, &format!("shopper-{i}"));
            let url = format!("{}/api/tenant/{}/inventory", origin.url, shop.org_id);
            let http = http.clone();
            requests.push(tokio::spawn(async move {
                let response = http.get(url).bearer_auth(token).send().await.unwrap();
                assert_eq!(response.status(), StatusCode::OK);
                let list: InventoryList = response.json().await.unwrap();
                let skus: Vec<String> = list.items.into_iter().map(|i| i.sku).collect();
                assert_eq!(skus, vec![sku.to_owned()]);
            }));
        }
    }
    for request in requests {
        request.await.unwrap();
    }
}

/// The origin with every request connection through `pooler`, as docs/operations.md says.
fn through(db: &PgPool, pooler: &PgBouncer, keys: &TestKeys) -> OriginConfig {
    let database = db.connect_options().get_database().unwrap().to_owned();
    OriginConfig::new(&db.connect_options(), keys)
        .var("DATABASE_POOLED_URL", pooler.url(APP_USER, &database))
        .var("DATABASE_STATEMENT_CACHE_CAPACITY", "0")
}

#[sqlx::test(migrations = "../migrations")]
async fn the_smoke_passes_with_every_request_connection_through_pgbouncer(db: PgPool) {
    let pooler = PgBouncer::start(
        db.connect_options().get_port(),
        PgBouncerSettings {
            pool_size: 2,
            deallocate_after_transaction: true,
        },
    )
    .await;
    let keys = TestKeys::new();
    let shop = Shop::create(&db, "chairs.acme.test", SMOKE_ITEMS).await;
    let origin = OriginProcess::start(&through(&db, &pooler, &keys)).await;
    let edge = Edge::start(&origin.url, std::slice::from_ref(&shop), &keys).await;
    run_smoke(SmokeTarget {
        edge: &edge,
        keys: &keys,
        shop: &shop,
        db: &db,
    })
    .await;

    // The pooler's two server connections, and the origin's one direct LISTEN connection.
    let app_backends: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity WHERE usename = $1 AND datname = current_database()",
    )
    .bind(APP_USER)
    .fetch_one(&db)
    .await
    .unwrap();
    assert!(app_backends <= 3, "{app_backends} application connections");
}
