//! Removing an item or a picture leaves no object behind: through the real Worker, the rows go
//! at once (the item's pictures with it), and the Worker's scheduled sweep then deletes the
//! objects no picture names, and only those: another item's pictures and another shop's
//! object of the same bytes stay, and so does an orphan younger than the grace period
//! (`IMAGE_ORPHAN_GRACE_SECONDS`, the documented bound: grace plus the sweep's 15 minutes).

use api::{images::ItemImage, token::Role};
use e2e::{pictures, two_shops::TwoShops, EdgeConfig, Shop};
use reqwest::{Method, StatusCode};
use sqlx::PgPool;
use uuid::Uuid;

const A: &str = "a.orphans.test";
const B: &str = "b.orphans.test";

async fn open(db: &PgPool, edge: impl FnOnce(EdgeConfig) -> EdgeConfig) -> TwoShops {
    TwoShops::open(db, [A, B], &[("CHAIR", 5), ("SOFA", 5)], |config, _, _| {
        edge(config)
    })
    .await
}

/// Uploads a WebP picture (`salt` makes its bytes) to `item` on `domain`, as `size_of`'s size
/// when given.
async fn upload(
    w: &TwoShops,
    domain: &str,
    admin: &str,
    item: Uuid,
    salt: u8,
    size_of: Option<Uuid>,
) -> ItemImage {
    let mut query = vec![("alt", "A picture".to_owned())];
    query.extend(size_of.map(|id| ("size_of", id.to_string())));
    let response = w
        .edge
        .post(domain, &format!("/api/admin/items/{item}/images"))
        .query(&query)
        .bearer_auth(admin)
        .header("idempotency-key", Uuid::new_v4().to_string())
        .body(pictures::webp(640, 480, salt))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    response.json().await.unwrap()
}

/// `DELETE` of `path` on `domain` as `admin`: the status.
async fn delete(w: &TwoShops, domain: &str, admin: &str, path: &str) -> StatusCode {
    w.edge
        .request(Method::DELETE, domain, path)
        .bearer_auth(admin)
        .header("idempotency-key", Uuid::new_v4().to_string())
        .send()
        .await
        .unwrap()
        .status()
}

fn key(shop: &Shop, picture: &ItemImage) -> String {
    format!(
        "{}/{}",
        shop.org_id,
        picture.url.trim_start_matches("/images/")
    )
}

async fn picture_rows_of(db: &PgPool, item: Uuid) -> i64 {
    sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM item_images WHERE item_id = $1"#,
        item
    )
    .fetch_one(db)
    .await
    .unwrap()
}

async fn status_of(w: &TwoShops, domain: &str, path: &str) -> StatusCode {
    w.edge.get(domain, path).send().await.unwrap().status()
}

#[sqlx::test(migrations = "../migrations")]
async fn a_removed_item_or_picture_leaves_no_object_after_the_sweep(db: PgPool) {
    let w = open(&db, |config| config.var("IMAGE_ORPHAN_GRACE_SECONDS", "0")).await;
    let admin_a = w.keys.token(w.a.org_id, Role::Admin, "owner-a");
    let admin_b = w.keys.token(w.b.org_id, Role::Admin, "owner-b");
    let chair = w.a.item(&db, "CHAIR").await.id;
    let sofa = w.a.item(&db, "SOFA").await.id;
    let chair_front = upload(&w, A, &admin_a, chair, 1, None).await;
    let chair_front_small = upload(&w, A, &admin_a, chair, 2, Some(chair_front.id)).await;
    let sofa_front = upload(&w, A, &admin_a, sofa, 3, None).await;
    let sofa_back = upload(&w, A, &admin_a, sofa, 4, None).await;
    // Shop B's chair has the same bytes as shop A's: the same name, its own object.
    let b_chair = w.b.item(&db, "CHAIR").await.id;
    let b_front = upload(&w, B, &admin_b, b_chair, 1, None).await;
    assert_eq!(b_front.url, chair_front.url);
    assert_eq!(w.edge.stored_images().await.len(), 5);

    // The item goes, and its pictures' rows with it; the objects wait for the sweep.
    let item_path = format!("/api/admin/items/{chair}");
    assert_eq!(
        delete(&w, A, &admin_a, &item_path).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        status_of(&w, A, &format!("/api/inventory/{chair}")).await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(picture_rows_of(&db, chair).await, 0);
    assert_eq!(
        delete(&w, A, &admin_a, &item_path).await,
        StatusCode::NOT_FOUND,
        "removed once"
    );
    // One picture of the other item goes too.
    let back_path = format!("/api/admin/items/{sofa}/images/{}", sofa_back.id);
    assert_eq!(
        delete(&w, A, &admin_a, &back_path).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(picture_rows_of(&db, sofa).await, 1);
    assert_eq!(w.edge.stored_images().await.len(), 5);

    w.edge.run_scheduled().await;
    let mut stored = w.edge.stored_images().await;
    stored.sort();
    let mut kept = vec![key(&w.a, &sofa_front), key(&w.b, &b_front)];
    kept.sort();
    assert_eq!(stored, kept);
    for gone in [&chair_front, &chair_front_small, &sofa_back] {
        assert_eq!(status_of(&w, A, &gone.url).await, StatusCode::NOT_FOUND);
    }
    assert_eq!(status_of(&w, A, &sofa_front.url).await, StatusCode::OK);
    assert_eq!(status_of(&w, B, &b_front.url).await, StatusCode::OK);
}

#[sqlx::test(migrations = "../migrations")]
async fn an_orphan_younger_than_the_grace_period_is_kept(db: PgPool) {
    let w = open(&db, |config| config).await;
    let admin = w.keys.token(w.a.org_id, Role::Admin, "owner-a");
    let chair = w.a.item(&db, "CHAIR").await.id;
    upload(&w, A, &admin, chair, 1, None).await;
    let path = format!("/api/admin/items/{chair}");
    assert_eq!(delete(&w, A, &admin, &path).await, StatusCode::NO_CONTENT);

    // The default grace is an hour: an upload still on its way to the origin looks the same.
    w.edge.run_scheduled().await;
    assert_eq!(w.edge.stored_images().await.len(), 1);
}

/// A picture a shopper has seen is in the edge's cache, whose copy outlives the object: the
/// browser's year would keep a removed picture public. The edge keeps its copy only
/// `IMAGE_EDGE_CACHE_SECONDS`, so after the sweep the picture is gone from the edge too, while
/// shoppers are still told to keep what they have (`immutable`).
#[sqlx::test(migrations = "../migrations")]
async fn a_removed_picture_a_shopper_saw_leaves_the_edge_cache_in_its_keep_time(db: PgPool) {
    let w = open(&db, |config| {
        config
            .var("IMAGE_ORPHAN_GRACE_SECONDS", "0")
            .var("IMAGE_EDGE_CACHE_SECONDS", "2")
    })
    .await;
    let admin = w.keys.token(w.a.org_id, Role::Admin, "owner-a");
    let sofa = w.a.item(&db, "SOFA").await.id;
    let picture = upload(&w, A, &admin, sofa, 9, None).await;
    let seen = |expected: &'static str| {
        let request = w.edge.get(A, &picture.url);
        async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            let header = |name| response.headers()[name].to_str().unwrap().to_owned();
            assert_eq!(header("x-edge-cache"), expected);
            assert_eq!(
                header("cache-control"),
                "public, max-age=31536000, immutable"
            );
        }
    };
    seen("miss").await;
    seen("hit").await;

    let path = format!("/api/admin/items/{sofa}/images/{}", picture.id);
    assert_eq!(delete(&w, A, &admin, &path).await, StatusCode::NO_CONTENT);
    w.edge.run_scheduled().await;
    assert!(w.edge.stored_images().await.is_empty());
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert_eq!(status_of(&w, A, &picture.url).await, StatusCode::NOT_FOUND);
}
