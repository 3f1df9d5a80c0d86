//! Event streams cannot be hoarded: each user and each shop may hold only so many open at once
//! (`429` problem+json past the cap), a stream ends when its token expires, and a closed
//! stream gives its place back. Driven through the real Worker, as a bot would.

use std::time::{Duration, Instant};

use api::{
    token::{KeyAlgorithm, Lifetime, Role},
    Problem, ProblemKind,
};
use e2e::{sse::SseReader, tokens::claims, Stage};
use origin::{events::hub::StreamCaps, Settings};
use reqwest::StatusCode;
use sqlx::PgPool;

const DOMAIN: &str = "streams.shop.test";

async fn stage(db: &PgPool, caps: StreamCaps) -> Stage {
    let settings = Settings {
        stream_caps: caps,
        ..Settings::default()
    };
    Stage::open_with(db, DOMAIN, &[("CHAIR", 5)], settings).await
}

async fn open(stage: &Stage, token: &str) -> reqwest::Response {
    stage
        .edge
        .get(DOMAIN, "/api/events")
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

async fn assert_refused(response: reqwest::Response) {
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().contains_key("retry-after"));
    let problem: Problem = response.json().await.unwrap();
    assert!(problem.is(ProblemKind::RateLimited), "{problem:?}");
}

#[sqlx::test(migrations = "../migrations")]
async fn one_user_cannot_hold_more_than_its_streams(db: PgPool) {
    let s = stage(
        &db,
        StreamCaps {
            per_user: 3,
            per_shop: 100,
        },
    )
    .await;
    let bot = s.token(Role::Shopper, "bot");
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut stream = SseReader::new(open(&s, &bot).await);
        assert!(stream
            .wait_for("ready", Duration::from_secs(10))
            .await
            .is_some());
        held.push(stream);
    }
    for _ in 0..20 {
        assert_refused(open(&s, &bot).await).await;
    }
    let honest = s.token(Role::Shopper, "honest");
    let mut stream = SseReader::new(open(&s, &honest).await);
    assert!(
        stream
            .wait_for("ready", Duration::from_secs(10))
            .await
            .is_some(),
        "another shopper of the shop still gets a stream"
    );

    // Closing one of the bot's streams gives its place back (once the close reaches the origin).
    held.pop();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let response = open(&s, &bot).await;
        if response.status() == StatusCode::OK {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the closed stream's place never came back"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn a_shop_cannot_hold_more_than_its_streams(db: PgPool) {
    let s = stage(
        &db,
        StreamCaps {
            per_user: 3,
            per_shop: 4,
        },
    )
    .await;
    let mut held = Vec::new();
    for n in 0..4 {
        let mut stream = SseReader::new(open(&s, &s.token(Role::Shopper, &format!("u{n}"))).await);
        assert!(stream
            .wait_for("ready", Duration::from_secs(10))
            .await
            .is_some());
        held.push(stream);
    }
    assert_refused(open(&s, &s.token(Role::Shopper, "rotating-bot-5")).await).await;
}

#[sqlx::test(migrations = "../migrations")]
async fn a_stream_ends_when_its_token_expires(db: PgPool) {
    let s = stage(&db, StreamCaps::default()).await;
    let now = chrono::Utc::now();
    let short = s.keys.token_with(
        KeyAlgorithm::Hs256,
        claims(s.shop.org_id, Role::Shopper, "brief"),
        Lifetime {
            issued_at: now,
            not_before: None,
            expires_at: now + chrono::Duration::seconds(3),
        },
    );
    let opened = Instant::now();
    let mut stream = SseReader::new(open(&s, &short).await);
    assert!(stream
        .wait_for("ready", Duration::from_secs(10))
        .await
        .is_some());
    // Nothing else is sent; the stream must end by itself soon after the expiry, well before
    // the 15 s keep-alive would have shown it alive.
    assert!(stream.next_event(Duration::from_secs(12)).await.is_none());
    let lived = opened.elapsed();
    assert!(
        lived >= Duration::from_secs(2) && lived < Duration::from_secs(12),
        "the stream lived {lived:?} on a token valid for 3 s"
    );
}
