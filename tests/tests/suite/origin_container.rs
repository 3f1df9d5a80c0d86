//! The origin image users build from `origin/Dockerfile`, run as a container against Postgres,
//! with the real Worker in front: the deployment smoke. Needs the image, so it is `#[ignore]`d;
//! `scripts/test-containers` builds the image and runs it (`ORIGIN_IMAGE` names the image).

use e2e::{
    origin_container::OriginContainer,
    smoke::{run_smoke, SmokeTarget, SMOKE_ITEMS},
    Edge, OriginConfig, Shop, TestKeys,
};
use sqlx::PgPool;

#[sqlx::test(migrations = "../migrations")]
#[ignore = "needs the origin image: run scripts/test-containers"]
async fn the_origin_image_passes_the_smoke_behind_the_worker(db: PgPool) {
    let image = std::env::var("ORIGIN_IMAGE").unwrap_or_else(|_| "furnitureops-origin:dev".into());
    let keys = TestKeys::new();
    let shop = Shop::create(&db, "chairs.acme.test", SMOKE_ITEMS).await;
    let origin =
        OriginContainer::start(&image, &OriginConfig::new(&db.connect_options(), &keys)).await;
    let edge = Edge::start(&origin.url, std::slice::from_ref(&shop), &keys).await;
    run_smoke(SmokeTarget {
        edge: &edge,
        keys: &keys,
        shop: &shop,
        db: &db,
    })
    .await;
}
