//! A shop owner adds pictures in the console and a shopper sees them: headless Chromium against
//! the real Worker under miniflare and the real origin (tests/browser/pictures.mjs). The
//! browser makes the sizes (canvas to WebP) and uploads them with progress, from the file
//! picker and by drag and drop; the owner reorders and removes; the storefront shows the first
//! picture with its sizes in `srcset`. This test then checks the rows and the bucket.

use std::time::Duration;

use api::token::Role;
use e2e::{browser, pictures, Stage};
use sqlx::PgPool;

const DEMO: &str = "demo.shop.test";

#[sqlx::test(migrations = "../migrations")]
async fn an_owner_adds_pictures_in_the_console_and_shoppers_see_them(db: PgPool) {
    let stage = Stage::open(&db, DEMO, &[("CHAIR", 10), ("SOFA", 1)]).await;
    let port = reqwest::Url::parse(&stage.edge.url)
        .unwrap()
        .port()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("front.png");
    std::fs::write(
        &file,
        pictures::png(1600, 1200, [214, 180, 130], [120, 84, 40]),
    )
    .unwrap();

    let run = browser::run_scenario(
        "pictures.mjs",
        &[
            ("EDGE_PORT", port.to_string()),
            ("DEMO_DOMAIN", DEMO.to_owned()),
            ("ADMIN_TOKEN", stage.token(Role::Admin, "owner")),
            ("PICTURE_FILE", file.display().to_string()),
            (
                "SCREENSHOT_DIR",
                browser::workspace_root()
                    .join("target/pictures")
                    .display()
                    .to_string(),
            ),
        ],
        Duration::from_secs(180),
    )
    .await;
    println!("{}", run.output);
    assert!(run.passed, "the browser scenario failed:\n{}", run.output);

    // The side picture stays, in three sizes made by the browser, all WebP.
    let chair = stage.shop.item(&db, "CHAIR").await;
    let rows = sqlx::query!(
        r#"SELECT width, content_type, size_of IS NOT NULL AS "is_size!" FROM item_images
           WHERE organization_id = $1 AND item_id = $2 ORDER BY width"#,
        stage.shop.org_id,
        chair.id
    )
    .fetch_all(&db)
    .await
    .unwrap();
    let seen: Vec<(i32, &str, bool)> = rows
        .iter()
        .map(|row| (row.width, row.content_type.as_str(), row.is_size))
        .collect();
    assert_eq!(
        seen,
        vec![
            (320, "image/webp", true),
            (640, "image/webp", true),
            (900, "image/webp", false)
        ]
    );
    // Both pictures' sizes were stored; the removed one's wait for the sweep.
    assert_eq!(stage.edge.stored_images().await.len(), 6);
}
