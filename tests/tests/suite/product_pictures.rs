//! Product pictures through the real Worker: an admin uploads the bytes to the edge, which
//! recognises them, stores them in R2 under the shop's prefix and tells the origin; shoppers
//! get them with the items and from the edge, immutable and revalidated with `304`; removed
//! pictures are swept from the bucket. Bad input, other callers and floods of uploads are in
//! `picture_refusals`.

use api::{
    images::ItemImage,
    inventory::{InventoryList, Item},
    token::Role,
};
use e2e::{pictures, two_shops::TwoShops, Edge, Shop};
use reqwest::{header, Method, StatusCode};
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

pub(super) const A: &str = "a.pictures.test";
pub(super) const B: &str = "b.pictures.test";

pub(super) async fn open(db: &PgPool) -> TwoShops {
    TwoShops::open(db, [A, B], &[("CHAIR", 5)], |config, _, _| config).await
}

/// `POST /api/admin/items/{item}/images?alt=...` of `bytes` on `domain` with `token`.
pub(super) fn upload(
    edge: &Edge,
    domain: &str,
    token: Option<&str>,
    item: Uuid,
    bytes: Vec<u8>,
) -> reqwest::RequestBuilder {
    let request = edge
        .post(domain, &format!("/api/admin/items/{item}/images"))
        .query(&[("alt", "An oak chair, seen from the front")])
        .header("idempotency-key", Uuid::new_v4().to_string())
        .header(header::CONTENT_TYPE, "image/png")
        .body(bytes);
    match token {
        Some(token) => request.bearer_auth(token),
        None => request,
    }
}

async fn item_of(edge: &Edge, domain: &str, item: Uuid) -> Item {
    let response = edge
        .get(domain, &format!("/api/inventory/{item}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

pub(super) async fn picture_rows(db: &PgPool) -> i64 {
    sqlx::query_scalar!(r#"SELECT count(*) AS "n!" FROM item_images"#)
        .fetch_one(db)
        .await
        .unwrap()
}

pub(super) fn header_of(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

#[sqlx::test(migrations = "../migrations")]
async fn an_admin_adds_orders_and_removes_pictures_and_shoppers_get_them(db: PgPool) {
    let w = open(&db).await;
    let admin = w.keys.token(w.a.org_id, Role::Admin, "owner");
    let chair = w.a.item(&db, "CHAIR").await;
    let photo = pictures::png(64, 48, [200, 160, 110], [90, 60, 30]);

    let created = upload(&w.edge, A, Some(&admin), chair.id, photo.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let first: ItemImage = created.json().await.unwrap();
    let hash = pictures::sha256_hex(&photo);
    assert_eq!(first.url, format!("/images/{hash}.png"));
    assert_eq!((first.width, first.height), (64, 48));
    assert_eq!(first.bytes, i64::try_from(photo.len()).unwrap());
    assert_eq!(first.alt, "An oak chair, seen from the front");
    assert_eq!(first.content_type, "image/png");
    let stored = w.edge.stored_images().await;
    assert_eq!(stored, vec![format!("{}/{hash}.png", w.a.org_id)]);

    // Served by the edge: the bytes, the type they are, immutable, and a validator.
    let served = w.edge.get(A, &first.url).send().await.unwrap();
    assert_eq!(served.status(), StatusCode::OK);
    assert_eq!(header_of(&served, "content-type"), "image/png");
    assert_eq!(
        header_of(&served, "cache-control"),
        "public, max-age=31536000, immutable"
    );
    assert_eq!(header_of(&served, "x-content-type-options"), "nosniff");
    assert_eq!(header_of(&served, "x-edge-cache"), "miss");
    let etag = header_of(&served, "etag");
    assert_eq!(etag, format!("\"{hash}\""));
    assert_eq!(served.bytes().await.unwrap().as_ref(), photo.as_slice());
    let again = w.edge.get(A, &first.url).send().await.unwrap();
    assert_eq!(header_of(&again, "x-edge-cache"), "hit");
    assert_eq!(again.bytes().await.unwrap().as_ref(), photo.as_slice());
    let revalidated = w
        .edge
        .get(A, &first.url)
        .header(header::IF_NONE_MATCH, &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(revalidated.status(), StatusCode::NOT_MODIFIED);
    assert!(revalidated.bytes().await.unwrap().is_empty());
    let head = w
        .edge
        .request(Method::HEAD, A, &first.url)
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(header_of(&head, "content-type"), "image/png");
    assert_eq!(header_of(&head, "etag"), etag);
    assert!(head.bytes().await.unwrap().is_empty());

    // A second picture goes last; the item carries both, in order, on every read.
    let back = pictures::webp(1280, 960, 1);
    let created = upload(&w.edge, A, Some(&admin), chair.id, back)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let second: ItemImage = created.json().await.unwrap();
    assert_eq!(
        second.content_type, "image/webp",
        "told by the bytes, not the header"
    );
    assert_eq!(
        item_of(&w.edge, A, chair.id).await.images,
        vec![first.clone(), second.clone()]
    );
    let list: InventoryList = w
        .edge
        .get(A, "/api/inventory")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list.items[0].images, vec![first.clone(), second.clone()]);

    // Another size of the second picture goes with it, not into the order.
    let narrow = w
        .edge
        .post(A, &format!("/api/admin/items/{}/images", chair.id))
        .query(&[
            ("alt", "The chair's back"),
            ("size_of", &second.id.to_string()),
        ])
        .bearer_auth(&admin)
        .header("idempotency-key", Uuid::new_v4().to_string())
        .body(pictures::webp(320, 240, 1))
        .send()
        .await
        .unwrap();
    assert_eq!(narrow.status(), StatusCode::CREATED);
    let narrow: ItemImage = narrow.json().await.unwrap();
    let images = item_of(&w.edge, A, chair.id).await.images;
    assert_eq!(images.len(), 2);
    assert_eq!(images[1].sizes.len(), 1);
    assert_eq!(
        (images[1].sizes[0].url.as_str(), images[1].sizes[0].width),
        (narrow.url.as_str(), 320)
    );
    let second = images[1].clone();

    // Reordered, then the first removed.
    let reordered = w
        .edge
        .request(
            Method::PUT,
            A,
            &format!("/api/admin/items/{}/images", chair.id),
        )
        .bearer_auth(&admin)
        .header("idempotency-key", Uuid::new_v4().to_string())
        .json(&json!({ "ids": [second.id, first.id] }))
        .send()
        .await
        .unwrap();
    assert_eq!(reordered.status(), StatusCode::OK);
    assert_eq!(
        item_of(&w.edge, A, chair.id).await.images,
        vec![second.clone(), first.clone()]
    );
    let partial = w
        .edge
        .request(
            Method::PUT,
            A,
            &format!("/api/admin/items/{}/images", chair.id),
        )
        .bearer_auth(&admin)
        .header("idempotency-key", Uuid::new_v4().to_string())
        .json(&json!({ "ids": [second.id] }))
        .send()
        .await
        .unwrap();
    assert_eq!(partial.status(), StatusCode::BAD_REQUEST);
    let removed = w
        .edge
        .request(
            Method::DELETE,
            A,
            &format!("/api/admin/items/{}/images/{}", chair.id, first.id),
        )
        .bearer_auth(&admin)
        .header("idempotency-key", Uuid::new_v4().to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(removed.status(), StatusCode::NO_CONTENT);
    assert_eq!(item_of(&w.edge, A, chair.id).await.images, vec![second]);
}

/// Bytes that are no picture the shop shows, each refused with `415`.
pub(super) fn picture_key(shop: &Shop, url: &str) -> String {
    format!("{}/{}", shop.org_id, url.trim_start_matches("/images/"))
}

#[sqlx::test(migrations = "../migrations")]
async fn the_sweep_deletes_objects_no_picture_names(db: PgPool) {
    let w = TwoShops::open(&db, [A, B], &[("CHAIR", 5)], |config, _, _| {
        config.var("IMAGE_ORPHAN_GRACE_SECONDS", "0")
    })
    .await;
    let admin = w.keys.token(w.a.org_id, Role::Admin, "owner");
    let chair = w.a.item(&db, "CHAIR").await;
    let kept: ItemImage = upload(
        &w.edge,
        A,
        Some(&admin),
        chair.id,
        pictures::webp(10, 10, 1),
    )
    .send()
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let removed: ItemImage = upload(
        &w.edge,
        A,
        Some(&admin),
        chair.id,
        pictures::webp(10, 10, 2),
    )
    .send()
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    // An upload the origin refuses (no such item) leaves its object for the sweep too.
    let unknown_item = upload(
        &w.edge,
        A,
        Some(&admin),
        Uuid::new_v4(),
        pictures::webp(10, 10, 3),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(unknown_item.status(), StatusCode::NOT_FOUND);
    let deleted = w
        .edge
        .request(
            Method::DELETE,
            A,
            &format!("/api/admin/items/{}/images/{}", chair.id, removed.id),
        )
        .bearer_auth(&admin)
        .header("idempotency-key", Uuid::new_v4().to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert_eq!(w.edge.stored_images().await.len(), 3);

    w.edge.run_scheduled().await;
    assert_eq!(
        w.edge.stored_images().await,
        vec![picture_key(&w.a, &kept.url)]
    );
    let served = w.edge.get(A, &kept.url).send().await.unwrap();
    assert_eq!(served.status(), StatusCode::OK);
}
