//! A shop owner brings their own domains live from the console alone: headless Chromium drives
//! the Domains panel on the shop's domain, against the real Worker and the real origin, whose
//! HTTP check asks the Worker for the challenge (`DOMAIN_CHECK_HTTP_VIA`), exactly as it asks a
//! hostname's DNS target in production.

use std::time::Duration;

use api::token::Role;
use e2e::{browser, domain_stage::DomainStage, ports::free_port};
use origin::domains::DomainSettings;
use sqlx::PgPool;

const HOME: &str = "home.domains.test";

#[sqlx::test(migrations = "../migrations")]
async fn the_owner_brings_domains_live_from_the_console_in_a_real_browser(db: PgPool) {
    let port = free_port();
    let settings = DomainSettings {
        http_via: Some(format!("http://127.0.0.1:{port}")),
        ..DomainSettings::default()
    };
    let stage = DomainStage::open(&db, &[HOME], settings, port).await;
    let shop = &stage.shops[0];

    let run = browser::run_scenario(
        "admin-domains.mjs",
        &[
            ("EDGE_PORT", port.to_string()),
            ("HOME_DOMAIN", HOME.to_owned()),
            ("NEW_DOMAIN", "chairs.acme.test".to_owned()),
            ("WWW_DOMAIN", "www.acme.test".to_owned()),
            ("TARGET", DomainSettings::DEFAULT_CNAME_TARGET.to_owned()),
            (
                "ADMIN_TOKEN",
                stage.keys.token(shop.org_id, Role::Admin, "owner"),
            ),
        ],
        Duration::from_secs(120),
    )
    .await;
    println!("{}", run.output);
    assert!(run.passed, "the browser scenario failed:\n{}", run.output);

    // What the database holds after: the removed domain is gone, the second is live and primary.
    let rows: Vec<(String, String, bool)> = sqlx::query_as(
        "SELECT host, status::text, is_primary FROM domains \
         WHERE organization_id = $1 ORDER BY host",
    )
    .bind(shop.org_id)
    .fetch_all(&db)
    .await
    .unwrap();
    let want = |host: &str, primary| (host.to_owned(), "active".to_owned(), primary);
    assert_eq!(rows, vec![want(HOME, false), want("www.acme.test", true)]);
}
