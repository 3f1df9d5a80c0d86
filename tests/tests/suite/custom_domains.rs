//! Custom domains, the owner's side: claiming a hostname through the Worker on the shop's own
//! domain, what is refused and why, what another shop's owner can and cannot do, the cap, the
//! lapse of an unverified claim, and what the edge's lookup answers at each step.

use api::{domains::CHALLENGE_PREFIX, headers::PROBLEM_JSON, Problem, ProblemKind};
use e2e::domain_stage::DomainStage;
use origin::domains::DomainSettings;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sqlx::PgPool;

const SHOP_A: &str = "chairs.shop-a.test";
const SHOP_B: &str = "tables.shop-b.test";

async fn two_shops(db: &PgPool, settings: DomainSettings) -> DomainStage {
    DomainStage::open(db, &[SHOP_A, SHOP_B], settings, 0).await
}

async fn domain_rows(db: &PgPool) -> i64 {
    sqlx::query_scalar!(r#"SELECT count(*) AS "n!" FROM domains"#)
        .fetch_one(db)
        .await
        .unwrap()
}

async fn problem(response: reqwest::Response, status: StatusCode, kind: ProblemKind) -> Problem {
    assert_eq!(response.status(), status);
    assert_eq!(response.headers()["content-type"], PROBLEM_JSON);
    let problem: Problem = response.json().await.unwrap();
    assert!(problem.is(kind), "{problem:?}");
    problem
}

#[sqlx::test(migrations = "../migrations")]
async fn a_claim_is_normalised_and_answers_the_records_to_create(db: PgPool) {
    let s = two_shops(&db, DomainSettings::default()).await;
    let claimed = s.claim(0, "  Chairs.ACME.example.:443 ").await;
    assert_eq!(claimed.status(), StatusCode::CREATED);
    let domain: Value = claimed.json().await.unwrap();
    assert_eq!(domain["hostname"], "chairs.acme.example");
    assert_eq!(domain["status"], "pending");
    assert_eq!(domain["primary"], false);
    assert_eq!(
        domain["cname"],
        json!({"name": "chairs.acme.example", "target": "shops.furnitureops.test"})
    );
    let path = domain["verification"]["http"]["path"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(path.starts_with(CHALLENGE_PREFIX), "{path}");
    assert!(path.len() > CHALLENGE_PREFIX.len() + 16);
    let body = domain["verification"]["http"]["body"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(body.len() >= 16);
    assert_eq!(
        domain["verification"]["txt"]["name"],
        "_furnitureops.chairs.acme.example"
    );
    assert!(
        domain["verification"]["txt"]["value"]
            .as_str()
            .unwrap()
            .len()
            >= 16
    );
    assert_eq!(domain["verification"]["txt_required"], false);
    assert!(domain["expires_at"].is_string());

    // A retried claim (the same name, written differently) answers the claim already made.
    let again = s.claim(0, "chairs.acme.example").await;
    assert_eq!(again.status(), StatusCode::OK);
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["verification"]["http"]["path"], path.as_str());

    let listed = s.list(0).await;
    let hosts: Vec<(&str, &str, bool)> = listed
        .iter()
        .map(|d| {
            (
                d["hostname"].as_str().unwrap(),
                d["status"].as_str().unwrap(),
                d["primary"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        hosts,
        [
            (SHOP_A, "active", true),
            ("chairs.acme.example", "pending", false)
        ]
    );
    assert!(listed[0]["verification"].is_null());

    // The edge learns the challenge, and no shop, for the pending hostname.
    let lookup = s.lookup("chairs.acme.example").await;
    assert_eq!(
        lookup,
        json!({"org_id": null, "primary": null, "challenges": [{"path": path, "body": body}]})
    );
    let audited: i64 = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM audit_log WHERE action = 'domain.claim' AND target = 'chairs.acme.example'"#
    )
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!(audited, 1);
}

#[sqlx::test(migrations = "../migrations")]
async fn hostnames_that_cannot_be_a_shops_are_refused_and_nothing_is_written(db: PgPool) {
    let s = two_shops(&db, DomainSettings::default()).await;
    let before = domain_rows(&db).await;
    let too_long = format!("{}.example", vec!["a".repeat(60); 5].join("."));
    for bad in [
        "127.0.0.1",
        "[::1]",
        "10.1",
        "localhost",
        "shop.localhost",
        "*.acme.example",
        "chairs",
        "a..acme.example",
        "-chairs.acme.example",
        "chairs_acme.example",
        "chairs.acme.example/admin",
        too_long.as_str(),
        "",
        "evil.furnitureops.test",
        "shops.furnitureops.test",
    ] {
        let refused = s.claim(0, bad).await;
        let problem = problem(
            refused,
            StatusCode::UNPROCESSABLE_ENTITY,
            ProblemKind::InvalidHostname,
        )
        .await;
        assert!(!problem.detail.is_empty(), "{bad}");
    }
    let malformed = s
        .admin(
            0,
            Method::POST,
            "/api/admin/domains",
            Some(json!({"host": "chairs.acme.example"})),
        )
        .await;
    problem(
        malformed,
        StatusCode::BAD_REQUEST,
        ProblemKind::MalformedRequest,
    )
    .await;
    assert_eq!(domain_rows(&db).await, before);
}

#[sqlx::test(migrations = "../migrations")]
async fn another_shops_live_hostname_cannot_be_claimed(db: PgPool) {
    let s = two_shops(&db, DomainSettings::default()).await;
    let before = domain_rows(&db).await;
    let refused = s.claim(1, &SHOP_A.to_uppercase()).await;
    let problem = problem(refused, StatusCode::CONFLICT, ProblemKind::Conflict).await;
    assert!(
        problem.detail.contains("another shop"),
        "{}",
        problem.detail
    );
    assert_eq!(domain_rows(&db).await, before);
}

#[sqlx::test(migrations = "../migrations")]
async fn another_shops_owner_cannot_see_check_release_or_promote_a_domain(db: PgPool) {
    let s = two_shops(&db, DomainSettings::default()).await;
    assert_eq!(
        s.claim(0, "chairs.acme.example").await.status(),
        StatusCode::CREATED
    );
    for host in ["chairs.acme.example", SHOP_A] {
        for (method, path) in [
            (Method::POST, format!("/api/admin/domains/{host}/verify")),
            (Method::DELETE, format!("/api/admin/domains/{host}")),
            (Method::PUT, format!("/api/admin/domains/{host}/primary")),
        ] {
            let refused = s.admin(1, method.clone(), &path, None).await;
            problem(refused, StatusCode::NOT_FOUND, ProblemKind::NotFound).await;
        }
    }
    let seen: Vec<Value> = s.list(1).await;
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0]["hostname"], SHOP_B);
    // Shop A's claim and live domain are where they were.
    assert_eq!(s.list(0).await.len(), 2);
    assert_eq!(
        s.lookup(SHOP_A).await["org_id"],
        s.shops[0].org_id.to_string()
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn a_shop_holds_at_most_its_cap_of_domains(db: PgPool) {
    let settings = DomainSettings {
        per_shop_cap: 3,
        ..DomainSettings::default()
    };
    let s = two_shops(&db, settings).await;
    assert_eq!(
        s.claim(0, "one.acme.example").await.status(),
        StatusCode::CREATED
    );
    assert_eq!(
        s.claim(0, "two.acme.example").await.status(),
        StatusCode::CREATED
    );
    let refused = s.claim(0, "three.acme.example").await;
    let problem = problem(refused, StatusCode::CONFLICT, ProblemKind::Conflict).await;
    assert!(problem.detail.contains('3'), "{}", problem.detail);
    // Releasing one makes room.
    let released = s
        .admin(
            0,
            Method::DELETE,
            "/api/admin/domains/two.acme.example",
            None,
        )
        .await;
    assert_eq!(released.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        s.claim(0, "three.acme.example").await.status(),
        StatusCode::CREATED
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn a_lapsed_claim_is_not_answered_and_can_be_claimed_afresh(db: PgPool) {
    let s = two_shops(&db, DomainSettings::default()).await;
    let first: Value = s
        .claim(0, "chairs.acme.example")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        s.lookup("chairs.acme.example").await["challenges"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    sqlx::query!("UPDATE domains SET expires_at = now() - interval '1 second' WHERE host = 'chairs.acme.example'")
        .execute(&db)
        .await
        .unwrap();
    assert_eq!(
        s.lookup("chairs.acme.example").await,
        json!({"org_id": null, "primary": null, "challenges": []})
    );
    assert_eq!(s.list(0).await.len(), 1);
    let verify = s.verify(0, "chairs.acme.example").await;
    problem(verify, StatusCode::NOT_FOUND, ProblemKind::NotFound).await;
    let again = s.claim(0, "chairs.acme.example").await;
    assert_eq!(again.status(), StatusCode::CREATED);
    let again: Value = again.json().await.unwrap();
    assert_ne!(again["verification"]["http"], first["verification"]["http"]);
}

#[sqlx::test(migrations = "../migrations")]
async fn the_edges_lookup_needs_the_edges_proof(db: PgPool) {
    let s = two_shops(&db, DomainSettings::default()).await;
    let url = format!("{}/api/edge/hosts/{SHOP_A}", s.origin.url);
    let refused = reqwest::get(&url).await.unwrap();
    problem(refused, StatusCode::FORBIDDEN, ProblemKind::Forbidden).await;
    // Through a shop's domain, a client is told there is no such route.
    let through_edge = s
        .edge
        .get(SHOP_A, &format!("/api/edge/hosts/{SHOP_A}"))
        .send()
        .await
        .unwrap();
    assert_eq!(through_edge.status(), StatusCode::NOT_FOUND);

    let known = s.lookup(SHOP_A).await;
    assert_eq!(
        known,
        json!({"org_id": s.shops[0].org_id, "primary": null, "challenges": []})
    );
    let unknown = s.lookup("nobody.example").await;
    assert_eq!(
        unknown,
        json!({"org_id": null, "primary": null, "challenges": []})
    );
    let nonsense = s.lookup("not a host").await;
    assert_eq!(
        nonsense,
        json!({"org_id": null, "primary": null, "challenges": []})
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn a_shop_keeps_the_platform_name_it_was_given_but_cannot_claim_another(db: PgPool) {
    let s = DomainStage::open(
        &db,
        &["demo.furnitureops.test"],
        DomainSettings::default(),
        0,
    )
    .await;
    let own = s.claim(0, "Demo.FurnitureOps.test.").await;
    assert_eq!(own.status(), StatusCode::OK);
    let own: Value = own.json().await.unwrap();
    assert_eq!(
        (own["status"].as_str(), own["primary"].as_bool()),
        (Some("active"), Some(true))
    );
    let refused = s.claim(0, "other.furnitureops.test").await;
    problem(
        refused,
        StatusCode::UNPROCESSABLE_ENTITY,
        ProblemKind::InvalidHostname,
    )
    .await;
}

#[sqlx::test(migrations = "../migrations")]
async fn the_operators_domain_map_holds_live_domains_only(db: PgPool) {
    let s = two_shops(&db, DomainSettings::default()).await;
    assert_eq!(
        s.claim(0, "chairs.acme.example").await.status(),
        StatusCode::CREATED
    );
    let map = origin::operator::tenants::domain_map(&db).await.unwrap();
    let entries: Vec<(String, String)> = map.into_iter().map(|e| (e.key, e.value)).collect();
    assert_eq!(
        entries,
        [
            (SHOP_A.to_owned(), s.shops[0].org_id.to_string()),
            (SHOP_B.to_owned(), s.shops[1].org_id.to_string()),
        ]
    );
    // `tenant add` of a hostname someone merely claimed makes a new shop live on it.
    let org = origin::operator::tenants::add(&db, "Acme", "chairs.acme.example")
        .await
        .unwrap();
    assert_ne!(org, s.shops[0].org_id);
    assert_eq!(
        s.lookup("chairs.acme.example").await["org_id"],
        org.to_string()
    );
}
