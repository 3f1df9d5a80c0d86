//! Custom domains going live: the HTTP challenge (asked of a local server standing for what the
//! hostname's DNS reaches, through `DOMAIN_CHECK_HTTP_VIA`), the TXT proof a hostname lately
//! live for another shop needs (a real DNS server, dnsmasq), Cloudflare for SaaS (a local
//! stand-in speaking its JSON, down or with a certificate that never validates), and what the
//! edge's lookup answers after each step.

use api::{Problem, ProblemKind};
use e2e::{
    challenge_server::{Answer, ChallengeServer},
    cloudflare_stand_in::{CloudflareStandIn, API_TOKEN, ZONE_ID},
    dns_server::DnsServer,
    domain_stage::DomainStage,
    ports::free_port,
    wait,
};
use origin::domains::{CloudflareSettings, DomainSettings};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sqlx::PgPool;

const SHOP_A: &str = "chairs.shop-a.test";
const SHOP_B: &str = "tables.shop-b.test";
const HOST: &str = "chairs.acme.example";

fn via(server: &ChallengeServer) -> DomainSettings {
    DomainSettings {
        http_via: Some(server.url.clone()),
        check_timeout: std::time::Duration::from_secs(2),
        ..DomainSettings::default()
    }
}

/// The claim's HTTP challenge, as (path, body).
fn challenge(domain: &Value) -> (String, String) {
    let http = &domain["verification"]["http"];
    (
        http["path"].as_str().unwrap().to_owned(),
        http["body"].as_str().unwrap().to_owned(),
    )
}

async fn refused(response: reqwest::Response, status: StatusCode, kind: ProblemKind) -> Problem {
    assert_eq!(response.status(), status);
    let problem: Problem = response.json().await.unwrap();
    assert!(problem.is(kind), "{problem:?}");
    problem
}

async fn status_of(s: &DomainStage, shop: usize, host: &str) -> Value {
    s.list(shop)
        .await
        .into_iter()
        .find(|d| d["hostname"] == host)
        .unwrap_or(Value::Null)
}

#[sqlx::test(migrations = "../migrations")]
async fn a_domain_goes_live_when_its_challenge_answers_then_can_be_primary_and_released(
    db: PgPool,
) {
    let server = ChallengeServer::start().await;
    let s = DomainStage::open(&db, &[SHOP_A, SHOP_B], via(&server), 0).await;
    let claimed: Value = s.claim(0, HOST).await.json().await.unwrap();
    let (path, body) = challenge(&claimed);

    // DNS not pointed yet: nothing answers the challenge.
    let problem = not_verified(&s, 0, HOST).await;
    assert!(problem.detail.contains("CNAME"), "{}", problem.detail);
    let listed = status_of(&s, 0, HOST).await;
    assert_eq!(listed["status"], "failed");
    assert_eq!(listed["reason"], problem.detail.as_str());
    assert!(listed["last_checked_at"].is_string());
    assert!(
        listed["verification"].is_object(),
        "a failed claim still shows what to do"
    );

    // Another server answers on the hostname: a wrong body, then a redirect elsewhere.
    server.answer(HOST, &path, Answer::Body("something else".into()));
    not_verified(&s, 0, HOST).await;
    server.answer(
        HOST,
        &path,
        Answer::RedirectTo(format!("{}{path}", server.url)),
    );
    not_verified(&s, 0, HOST).await;
    assert_eq!(s.lookup(HOST).await["org_id"], Value::Null);

    server.answer(HOST, &path, Answer::Body(body));
    let verified = s.verify(0, HOST).await;
    assert_eq!(verified.status(), StatusCode::OK);
    let live: Value = verified.json().await.unwrap();
    assert_eq!(live["status"], "active");
    assert_eq!(live["primary"], false);
    assert!(
        live["verification"].is_null() && live["reason"].is_null() && live["expires_at"].is_null()
    );
    let org_a = s.shops[0].org_id;
    assert_eq!(
        s.lookup(HOST).await,
        json!({"org_id": org_a, "primary": SHOP_A, "challenges": []})
    );
    // Checking a live domain again changes nothing.
    assert_eq!(s.verify(0, HOST).await.status(), StatusCode::OK);

    // Another shop can no longer claim it.
    refused(
        s.claim(1, HOST).await,
        StatusCode::CONFLICT,
        ProblemKind::Conflict,
    )
    .await;

    // The new domain becomes primary: the old one now points at it.
    let promoted = s
        .admin(
            0,
            Method::PUT,
            &format!("/api/admin/domains/{HOST}/primary"),
            None,
        )
        .await;
    assert_eq!(promoted.status(), StatusCode::OK);
    assert_eq!(promoted.json::<Value>().await.unwrap()["primary"], true);
    assert_eq!(
        s.lookup(SHOP_A).await,
        json!({"org_id": org_a, "primary": HOST, "challenges": []})
    );
    assert_eq!(s.lookup(HOST).await["primary"], Value::Null);

    // The primary cannot be released; the former one can, and then serves nothing.
    let kept = s
        .admin(
            0,
            Method::DELETE,
            &format!("/api/admin/domains/{HOST}"),
            None,
        )
        .await;
    refused(kept, StatusCode::CONFLICT, ProblemKind::Conflict).await;
    let released = s
        .admin(
            0,
            Method::DELETE,
            &format!("/api/admin/domains/{SHOP_A}"),
            None,
        )
        .await;
    assert_eq!(released.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        s.lookup(SHOP_A).await,
        json!({"org_id": null, "primary": null, "challenges": []})
    );
    let actions: Vec<String> = sqlx::query_scalar!(
        "SELECT action FROM audit_log WHERE action LIKE 'domain.%' ORDER BY id"
    )
    .fetch_all(&db)
    .await
    .unwrap();
    assert_eq!(
        actions,
        [
            "domain.claim",
            "domain.activate",
            "domain.primary",
            "domain.release"
        ]
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn a_pending_claim_cannot_be_made_primary(db: PgPool) {
    let server = ChallengeServer::start().await;
    let s = DomainStage::open(&db, &[SHOP_A], via(&server), 0).await;
    assert_eq!(s.claim(0, HOST).await.status(), StatusCode::CREATED);
    let refused_primary = s
        .admin(
            0,
            Method::PUT,
            &format!("/api/admin/domains/{HOST}/primary"),
            None,
        )
        .await;
    refused(refused_primary, StatusCode::CONFLICT, ProblemKind::Conflict).await;
    assert_eq!(s.lookup(SHOP_A).await["primary"], Value::Null);
}

/// Shop A has `HOST` live, then releases it: shop B's claim of it needs the TXT proof.
async fn released_by_shop_a(s: &DomainStage, server: &ChallengeServer) {
    let claimed: Value = s.claim(0, HOST).await.json().await.unwrap();
    let (path, body) = challenge(&claimed);
    server.answer(HOST, &path, Answer::Body(body));
    assert_eq!(s.verify(0, HOST).await.status(), StatusCode::OK);
    let released = s
        .admin(
            0,
            Method::DELETE,
            &format!("/api/admin/domains/{HOST}"),
            None,
        )
        .await;
    assert_eq!(released.status(), StatusCode::NO_CONTENT);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_hostname_lately_live_for_another_shop_needs_the_txt_record(db: PgPool) {
    let server = ChallengeServer::start().await;
    // The resolver the origin asks: the zone without the record at first.
    let dns = DnsServer::start(&[]).await;
    let mut settings = via(&server);
    settings.dns_server = Some(dns.addr);
    let s = DomainStage::open(&db, &[SHOP_A, SHOP_B], settings, 0).await;
    released_by_shop_a(&s, &server).await;

    let claimed: Value = s.claim(1, HOST).await.json().await.unwrap();
    assert_eq!(claimed["verification"]["txt_required"], true);
    let (path, body) = challenge(&claimed);
    let txt_value = claimed["verification"]["txt"]["value"]
        .as_str()
        .unwrap()
        .to_owned();
    // The dangling CNAME still reaches the platform: the HTTP challenge alone would pass.
    server.answer(HOST, &path, Answer::Body(body));
    let problem = not_verified(&s, 1, HOST).await;
    assert!(
        problem.detail.contains("_furnitureops.chairs.acme.example"),
        "{}",
        problem.detail
    );
    assert_eq!(s.lookup(HOST).await["org_id"], Value::Null);

    // A wrong value is not the proof.
    let name = format!("_furnitureops.{HOST}");
    let dns = dns
        .restart_with(&[(&name, "furnitureops-verify=wrong")])
        .await;
    not_verified(&s, 1, HOST).await;

    // Shop A itself needs no TXT record to take it back: the rule is about other shops.
    let own = s.claim(0, HOST).await.json::<Value>().await.unwrap();
    assert_eq!(own["verification"]["txt_required"], false);
    let released = s
        .admin(
            0,
            Method::DELETE,
            &format!("/api/admin/domains/{HOST}"),
            None,
        )
        .await;
    assert_eq!(released.status(), StatusCode::NO_CONTENT);

    // With the record published (beside a wrong one), shop B's check passes.
    let _dns = dns
        .restart_with(&[(&name, "furnitureops-verify=wrong"), (&name, &txt_value)])
        .await;
    let verified = s.verify(1, HOST).await;
    assert_eq!(verified.status(), StatusCode::OK);
    assert_eq!(
        s.lookup(HOST).await["org_id"],
        s.shops[1].org_id.to_string()
    );
}

/// Asks shop `shop` to check `host` and expects it refused as not verified yet.
async fn not_verified(s: &DomainStage, shop: usize, host: &str) -> Problem {
    refused(
        s.verify(shop, host).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        ProblemKind::DomainNotVerified,
    )
    .await
}

fn with_cloudflare(server: &ChallengeServer, cloudflare: &CloudflareStandIn) -> DomainSettings {
    DomainSettings {
        cloudflare: Some(CloudflareSettings {
            api_base: cloudflare.api_base.clone(),
            zone_id: ZONE_ID.to_owned(),
            api_token: API_TOKEN.to_owned().into(),
        }),
        ..via(server)
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn with_cloudflare_a_domain_is_live_only_once_its_certificate_is(db: PgPool) {
    let server = ChallengeServer::start().await;
    let cloudflare = CloudflareStandIn::start().await;
    let s = DomainStage::open(&db, &[SHOP_A], with_cloudflare(&server, &cloudflare), 0).await;
    let claimed: Value = s.claim(0, HOST).await.json().await.unwrap();
    assert_eq!(
        cloudflare.created(),
        [HOST],
        "the custom hostname is made with the claim"
    );
    assert_eq!(claimed["certificate"], "pending_validation");
    let (path, body) = challenge(&claimed);
    server.answer(HOST, &path, Answer::Body(body));

    // The certificate never validates: the domain stays pending, never live.
    for _ in 0..2 {
        let problem = not_verified(&s, 0, HOST).await;
        assert!(
            problem.detail.contains("pending_validation"),
            "{}",
            problem.detail
        );
        let listed = status_of(&s, 0, HOST).await;
        assert_eq!(listed["status"], "pending");
        assert_eq!(listed["certificate"], "pending_validation");
        assert_eq!(s.lookup(HOST).await["org_id"], Value::Null);
    }

    // Cloudflare gives up on it: the owner must act.
    cloudflare.set_certificate_status("validation_timed_out");
    not_verified(&s, 0, HOST).await;
    assert_eq!(status_of(&s, 0, HOST).await["status"], "failed");

    cloudflare.set_certificate_status("active");
    let verified = s.verify(0, HOST).await;
    assert_eq!(verified.status(), StatusCode::OK);
    let live: Value = verified.json().await.unwrap();
    assert_eq!(
        (live["status"].as_str(), live["certificate"].as_str()),
        (Some("active"), Some("active"))
    );
    assert_eq!(
        s.lookup(HOST).await["org_id"],
        s.shops[0].org_id.to_string()
    );
    assert_eq!(cloudflare.created(), [HOST], "made once");

    let released = s
        .admin(
            0,
            Method::DELETE,
            &format!("/api/admin/domains/{HOST}"),
            None,
        )
        .await;
    assert_eq!(released.status(), StatusCode::NO_CONTENT);
    assert_eq!(cloudflare.deleted(), [HOST]);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_cloudflare_outage_is_a_retryable_503_and_never_fails_the_domain(db: PgPool) {
    let server = ChallengeServer::start().await;
    let cloudflare = CloudflareStandIn::start().await;
    cloudflare.set_down(true);
    let s = DomainStage::open(&db, &[SHOP_A], with_cloudflare(&server, &cloudflare), 0).await;
    let claimed = s.claim(0, HOST).await;
    assert_eq!(
        claimed.status(),
        StatusCode::CREATED,
        "a claim does not wait for Cloudflare"
    );
    let claimed: Value = claimed.json().await.unwrap();
    let (path, body) = challenge(&claimed);
    server.answer(HOST, &path, Answer::Body(body));

    let answer = s.verify(0, HOST).await;
    assert!(answer.headers().get("retry-after").is_some());
    let problem = refused(
        answer,
        StatusCode::SERVICE_UNAVAILABLE,
        ProblemKind::CheckUnavailable,
    )
    .await;
    assert!(problem.detail.contains("Cloudflare"), "{}", problem.detail);
    assert_eq!(status_of(&s, 0, HOST).await["status"], "pending");

    cloudflare.set_down(false);
    // Back up: the custom hostname is made at this check, its certificate not issued yet.
    not_verified(&s, 0, HOST).await;
    assert_eq!(cloudflare.created(), [HOST]);
    assert_eq!(status_of(&s, 0, HOST).await["status"], "pending");
    cloudflare.set_certificate_status("active");
    assert_eq!(s.verify(0, HOST).await.status(), StatusCode::OK);
}

/// The whole flow through the Worker: the edge answers the challenge from the origin's lookup,
/// the origin's check reaches the edge, and the shop answers on its new hostname.
#[sqlx::test(migrations = "../migrations")]
async fn a_shop_goes_live_on_its_own_domain_through_the_worker(db: PgPool) {
    let port = free_port();
    let settings = DomainSettings {
        http_via: Some(format!("http://127.0.0.1:{port}")),
        ..DomainSettings::default()
    };
    let s = DomainStage::open(&db, &[SHOP_A], settings, port).await;
    assert_eq!(
        s.edge
            .get(HOST, "/api/inventory")
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
    let claimed: Value = s.claim(0, HOST).await.json().await.unwrap();
    let (path, body) = challenge(&claimed);
    let answered = s.edge.get(HOST, &path).send().await.unwrap();
    assert_eq!(answered.status(), StatusCode::OK);
    assert_eq!(answered.text().await.unwrap(), body);
    // Nothing of the shop is served on the hostname before it is live.
    assert_eq!(
        s.edge
            .get(HOST, "/api/inventory")
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );

    assert_eq!(s.verify(0, HOST).await.status(), StatusCode::OK);
    wait::until(
        std::time::Duration::from_secs(5),
        "the hostname serves the shop",
        || async {
            let response = s.edge.get(HOST, "/api/inventory").send().await.ok()?;
            (response.status() == StatusCode::OK).then_some(())
        },
    )
    .await;
    // Pages on the non-primary hostname redirect to the primary one; the API is served.
    let not_following = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = not_following
        .get(format!("{}/", s.edge.url))
        .header("host", HOST)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::MOVED_PERMANENTLY);
    assert!(page.headers()["location"]
        .to_str()
        .unwrap()
        .contains(SHOP_A));
}
