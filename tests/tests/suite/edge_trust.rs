//! The edge-to-origin hop, attacked as someone who can see it: every value an edge request
//! carries (its proof, its sealed claims, its request id, the trace) is in the attacker's hands,
//! and none of it buys anything. Origins and Workers with a secret too short to trust refuse to
//! run. The nil shop id, which keys the operators' global kill switch, is nobody's shop, and a
//! write position works only for the shopper it was issued to.

use api::{
    edge_key::EdgeSecret,
    edge_proof::{self, EdgeProofKey, ProvedRequest},
    headers,
    token::{
        edge_claims::{self, Binding, EdgeClaimsKey},
        Role, VerifiedToken,
    },
    Problem, ProblemKind,
};
use e2e::{
    edge_hop::{edge_secret, EDGE_SECRET},
    origin_process::{binary, OriginConfig},
    origin_server::app_pool,
    tokens::claims,
    Edge, EdgeConfig, OriginServer, Shop, TestKeys,
};
use reqwest::{Method, StatusCode};
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

const SHOP: &str = "trust.shop.test";

struct World {
    db: PgPool,
    shop: Shop,
    keys: TestKeys,
    origin: OriginServer,
    edge: Edge,
}

/// A shop whose Worker and origin share a strong secret; the Worker's cache keeps answers 30 s,
/// so a hit is a hit however slow the machine.
/// Reads may go to a "replica" (the primary itself, here), so writes hand out write positions.
async fn world(db: PgPool) -> World {
    let keys = TestKeys::new();
    let shop = Shop::create(&db, SHOP, &[("CHAIR", 10)]).await;
    let state = origin::AppState::new(app_pool(&db).await, keys.verifier())
        .with_replica(Some(app_pool(&db).await))
        .with_edge_secret(Some(edge_secret(EDGE_SECRET)));
    let origin = OriginServer::start_with(state).await;
    let config = EdgeConfig::new(&origin.url, std::slice::from_ref(&shop), &keys)
        .var("EDGE_SHARED_SECRET", EDGE_SECRET)
        .var("INVENTORY_CACHE_TTL_SECONDS", "30");
    let edge = Edge::start_with(config).await;
    World {
        db,
        shop,
        keys,
        origin,
        edge,
    }
}

async fn audit_rows(db: &PgPool) -> i64 {
    sqlx::query_scalar!("SELECT count(*) AS \"n!\" FROM audit_log")
        .fetch_one(db)
        .await
        .unwrap()
}

#[sqlx::test(migrations = "../migrations")]
async fn nothing_seen_on_the_wire_forges_a_request_or_a_seal(db: PgPool) {
    let w = world(db).await;
    let chair = w.shop.item(&w.db, "CHAIR").await;
    let shopper = w.keys.token(w.shop.org_id, Role::Shopper, "alice");
    let key = Uuid::new_v4().to_string();
    let body = json!({"item_id": chair.id, "quantity": 1}).to_string();
    let bought = w
        .edge
        .post(SHOP, "/api/buy")
        .bearer_auth(&shopper)
        .header("idempotency-key", &key)
        .header("content-type", "application/json")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(bought.status(), StatusCode::CREATED);
    assert_eq!(w.shop.order_totals(&w.db).await, (1, 1));

    // What the attacker captured: the edge's request to the origin, headers and body.
    let seen = w.origin.log.last_ending_with("/buy").unwrap();
    assert!(
        seen.headers
            .values()
            .all(|value| value.as_bytes() != EDGE_SECRET.as_bytes()),
        "the raw secret travels in no header"
    );
    assert!(
        seen.header("authorization").is_none(),
        "the shopper's token stays at the edge: its claims travel sealed"
    );
    let proof = seen.header(edge_proof::HEADER).unwrap().to_owned();
    let url = format!("{}{}", w.origin.url, seen.path);
    let replay = |path: &str, body: String| {
        let mut request = reqwest::Client::new()
            .post(format!("{}{path}", w.origin.url))
            .body(body);
        for (name, value) in &seen.headers {
            if name != "host" && name != "content-length" {
                request = request.header(name, value);
            }
        }
        request
    };

    // 1. The very request again: refused, nothing bought twice.
    let again = replay(&seen.path, body.clone()).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::FORBIDDEN);
    // 2. The same headers with another body (ten chairs): refused.
    let more = json!({"item_id": chair.id, "quantity": 10}).to_string();
    let changed = replay(&seen.path, more).send().await.unwrap();
    assert_eq!(changed.status(), StatusCode::FORBIDDEN);
    assert_eq!(w.shop.order_totals(&w.db).await, (1, 1));

    // 3. Every value on the wire tried as the secret: to seal admin claims for the audit log
    //    and prove the request. None opens it.
    let audit_path = format!("/api/tenant/{}/admin/audit", w.shop.org_id);
    let admin = VerifiedToken {
        claims: claims(w.shop.org_id, Role::Admin, "mallory"),
        expires_at: chrono::Utc::now() + chrono::Duration::hours(1),
    };
    let candidates: Vec<String> = seen
        .headers
        .values()
        .filter_map(|value| value.to_str().ok().map(str::to_owned))
        .chain([proof.clone(), url.clone(), body.clone()])
        .chain(proof.split('.').map(str::to_owned))
        .collect();
    let audit_before = audit_rows(&w.db).await;
    // The positive control: the very same sealing and proving with the real secret opens the
    // audit log, so a candidate's refusal below is the key's doing, not a malformed forgery.
    assert_eq!(
        sealed_audit_read(
            &w,
            &audit_path,
            &admin,
            EDGE_SECRET,
            "sealed-with-the-secret"
        )
        .await,
        StatusCode::OK,
        "the real secret, sealed and proved the same way, opens the audit log"
    );
    let mut tried = 0;
    for candidate in &candidates {
        let request_id = format!("forged-{tried}");
        assert_eq!(
            sealed_audit_read(&w, &audit_path, &admin, candidate, &request_id).await,
            StatusCode::FORBIDDEN,
            "a key made of {candidate:?} opened the audit log"
        );
        tried += 1;
    }
    assert!(tried >= 8, "every value on the wire was tried ({tried})");
    assert_eq!(audit_rows(&w.db).await, audit_before);

    // 4. With a valid proof (as if the secret were known) a made-up seal still opens nothing:
    //    the origin wants the token.
    let with_proof = reqwest::Client::new()
        .get(format!("{}{audit_path}", w.origin.url))
        .header(headers::REQUEST_ID, "with-a-proof")
        .header(edge_claims::HEADER, "eyJjbGFpbXMiOnt9fQ.AAAA");
    let response = e2e::edge_hop::SendAsEdge::send_as_edge(with_proof, EDGE_SECRET)
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

/// `GET` of the audit log straight at the origin, as an edge holding `secret` would send it:
/// `admin`'s claims sealed to the request and the request proved, both with keys made of
/// `secret` (padded to the length a secret must have). Answers the status.
async fn sealed_audit_read(
    w: &World,
    audit_path: &str,
    admin: &VerifiedToken,
    secret: &str,
    request_id: &str,
) -> StatusCode {
    let binding = Binding {
        method: "GET",
        path: audit_path,
        org_id: w.shop.org_id,
        request_id,
    };
    let sealed =
        EdgeClaimsKey::from_edge_secret(secret.as_bytes()).seal(binding, admin, chrono::Utc::now());
    let mut request = reqwest::Client::new()
        .get(format!("{}{audit_path}", w.origin.url))
        .header(headers::REQUEST_ID, request_id)
        .header(edge_claims::HEADER, &sealed)
        .build()
        .unwrap();
    let padded = format!("{secret:0<32}");
    let key = EdgeProofKey::new(&EdgeSecret::new(&padded).unwrap());
    let header = |name: &str| match name {
        headers::REQUEST_ID => Some(request_id),
        edge_claims::HEADER => Some(sealed.as_str()),
        _ => None,
    };
    let proved = ProvedRequest {
        method: "GET",
        path_and_query: audit_path,
        body: b"",
    };
    let proof = key.prove(proved, header, chrono::Utc::now().timestamp_millis());
    request
        .headers_mut()
        .insert(edge_proof::HEADER, proof.parse().unwrap());
    reqwest::Client::new()
        .execute(request)
        .await
        .unwrap()
        .status()
}

#[sqlx::test(migrations = "../migrations")]
async fn an_origin_with_an_empty_or_short_secret_does_not_start(db: PgPool) {
    let keys = TestKeys::new();
    let config = OriginConfig::new(&db.connect_options(), &keys);
    for weak in ["", "hunter2", "   31-bytes-is-still-too-short   "] {
        let output = tokio::process::Command::new(binary())
            .arg("serve")
            .env("DATABASE_URL", &config.database_url)
            .env("JWT_JWKS", &config.jwks)
            .env("LISTEN_ADDR", "127.0.0.1:0")
            .env("EDGE_SHARED_SECRET", weak)
            .env("RUST_BACKTRACE", "0")
            .kill_on_drop(true)
            .output();
        let output = tokio::time::timeout(std::time::Duration::from_secs(30), output)
            .await
            .expect("the origin exits at once")
            .unwrap();
        assert!(!output.status.success(), "started with {weak:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("EDGE_SHARED_SECRET"), "{stderr}");
        if !weak.trim().is_empty() {
            assert!(
                !stderr.contains(weak.trim()),
                "the secret was printed: {stderr}"
            );
        }
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn a_worker_with_a_weak_secret_answers_nothing_but_misconfigured(db: PgPool) {
    let keys = TestKeys::new();
    let shop = Shop::create(&db, SHOP, &[("CHAIR", 10)]).await;
    let origin = OriginServer::start(&db, &keys).await;
    let edge = Edge::start_with(
        EdgeConfig::new(&origin.url, std::slice::from_ref(&shop), &keys)
            .var("EDGE_SHARED_SECRET", "hunter2"),
    )
    .await;
    let chair = shop.item(&db, "CHAIR").await;
    let token = keys.token(shop.org_id, Role::Shopper, "alice");
    let admin = keys.token(shop.org_id, Role::Admin, "owner");
    let calls = [
        edge.get(SHOP, "/api/inventory"),
        edge.buy(SHOP, &token, chair.id, 1),
        edge.get(SHOP, "/api/admin/audit").bearer_auth(&admin),
    ];
    for call in calls {
        let response = call.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let problem: Problem = response.json().await.unwrap();
        assert!(problem.is(ProblemKind::Misconfigured), "{problem:?}");
    }
    assert!(
        origin.log.received().is_empty(),
        "nothing reached the origin"
    );
    assert_eq!(shop.order_totals(&db).await, (0, 0));
}

/// An origin reached in the clear (plain http:// beyond the machine) would carry every request,
/// token and seal where anyone on the path reads them: the Worker refuses to use one.
#[sqlx::test(migrations = "../migrations")]
async fn a_worker_whose_origin_is_not_https_answers_misconfigured(db: PgPool) {
    let keys = TestKeys::new();
    let shop = Shop::create(&db, SHOP, &[("CHAIR", 10)]).await;
    let edge = Edge::start_with(
        EdgeConfig::new(
            "http://origin.example-furniture.test:3000",
            std::slice::from_ref(&shop),
            &keys,
        )
        .var("EDGE_SHARED_SECRET", EDGE_SECRET),
    )
    .await;
    let response = edge.get(SHOP, "/api/inventory").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let problem: Problem = response.json().await.unwrap();
    assert!(problem.is(ProblemKind::Misconfigured), "{problem:?}");
}

#[sqlx::test(migrations = "../migrations")]
async fn the_nil_shop_is_nobodys(db: PgPool) {
    let w = world(db).await;
    let nil = Uuid::nil();
    let nil_admin = w.keys.token(nil, Role::Admin, "mallory");
    // At the origin, the global switch's row by its path: 400 before any token is looked at.
    for method in [Method::GET, Method::PUT] {
        let response = reqwest::Client::new()
            .request(
                method.clone(),
                format!("{}/api/tenant/{nil}/admin/kill-switch", w.origin.url),
            )
            .bearer_auth(&nil_admin)
            .json(&json!({"engaged": true, "reason": "mine now"}));
        let response = e2e::edge_hop::SendAsEdge::send_as_edge(response, EDGE_SECRET)
            .await
            .unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        assert_eq!(status, StatusCode::BAD_REQUEST, "{method}: {text}");
    }
    // A token naming the nil shop, at a real shop: 403 at the Worker and at the origin.
    let at_edge = w
        .edge
        .get(SHOP, "/api/admin/kill-switch")
        .bearer_auth(&nil_admin)
        .send()
        .await
        .unwrap();
    assert_eq!(at_edge.status(), StatusCode::FORBIDDEN);
    let direct = reqwest::Client::new()
        .get(format!(
            "{}/api/tenant/{}/admin/kill-switch",
            w.origin.url, w.shop.org_id
        ))
        .bearer_auth(&nil_admin);
    let direct = e2e::edge_hop::SendAsEdge::send_as_edge(direct, EDGE_SECRET)
        .await
        .unwrap();
    assert_eq!(direct.status(), StatusCode::FORBIDDEN);
    let global = sqlx::query_scalar!(
        "SELECT count(*) AS \"n!\" FROM kill_switches WHERE organization_id = $1 AND engaged",
        nil
    )
    .fetch_one(&w.db)
    .await
    .unwrap();
    assert_eq!(global, 0, "the global switch is untouched");
}

#[sqlx::test(migrations = "../migrations")]
async fn a_write_position_works_only_for_its_own_shopper(db: PgPool) {
    let w = world(db).await;
    let chair = w.shop.item(&w.db, "CHAIR").await;
    let alice = w.keys.token(w.shop.org_id, Role::Shopper, "alice");
    let bot = w.keys.token(w.shop.org_id, Role::Shopper, "bot");
    let bought = w.edge.buy(SHOP, &alice, chair.id, 1).send().await.unwrap();
    assert_eq!(bought.status(), StatusCode::CREATED);
    let position = bought.headers()[headers::WRITE_LSN]
        .to_str()
        .unwrap()
        .to_owned();
    let reads = || w.origin.log.count_ending_with("/inventory");
    // Fill the cache (its store may land just after the answer).
    e2e::wait::until(
        std::time::Duration::from_secs(10),
        "a cached list",
        || async {
            let read = w.edge.get(SHOP, "/api/inventory").send().await.ok()?;
            (read.headers().get(headers::EDGE_CACHE)? == "hit").then_some(())
        },
    )
    .await;
    let after_warm = reads();

    // The bot sends alice's position (with its own token, and with none): the cache answers.
    for token in [Some(&bot), None] {
        let mut read = w
            .edge
            .get(SHOP, "/api/inventory")
            .header(headers::WRITE_LSN, &position);
        if let Some(token) = token {
            read = read.bearer_auth(token);
        }
        let response = read.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()[headers::EDGE_CACHE], "hit");
    }
    assert_eq!(
        reads(),
        after_warm,
        "another's position cost the origin nothing"
    );

    // Alice's own read with it reaches past the cache, once.
    let own = w
        .edge
        .get(SHOP, "/api/inventory")
        .header(headers::WRITE_LSN, &position)
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(own.status(), StatusCode::OK);
    assert_eq!(reads(), after_warm + 1, "her own position is honoured");
}

/// A proved request that carries no `X-Request-ID` (the proof binds it as absent) is taken: the
/// origin names the request itself without rewriting what the proof covers.
#[sqlx::test(migrations = "../migrations")]
async fn a_proved_request_without_a_request_id_is_taken(db: PgPool) {
    let w = world(db).await;
    let chair = w.shop.item(&w.db, "CHAIR").await;
    let shopper = w.keys.token(w.shop.org_id, Role::Shopper, "alice");
    let buy = reqwest::Client::new()
        .post(format!("{}/api/tenant/{}/buy", w.origin.url, w.shop.org_id))
        .bearer_auth(&shopper)
        .header("idempotency-key", Uuid::new_v4().to_string())
        .json(&json!({"item_id": chair.id, "quantity": 1}));
    let response = e2e::edge_hop::SendAsEdge::send_as_edge(buy, EDGE_SECRET)
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let named = response.headers().get(headers::REQUEST_ID).unwrap();
    assert!(headers::is_valid_request_id(named.to_str().unwrap()));
    assert_eq!(w.shop.order_totals(&w.db).await, (1, 1));
}
