//! The honest side: a hot-item sale through the Worker. Buyers arrive at a fixed rate, each a
//! different shopper with its own token and address; each loads the inventory, then buys one
//! unit under a fresh `Idempotency-Key`. There are more buyers than units, so the last ones
//! are told the item sold out.
//!
//! A request succeeds when it gets the answer a real buyer should get: the list (200), an
//! order (201) or "sold out" (409 `out-of-stock`). A 429, a 5xx, any other answer, or none
//! within `GIVE_UP_AFTER` is a failure.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use api::{headers::CF_CONNECTING_IP, Problem, ProblemKind};
use reqwest::{RequestBuilder, StatusCode};

use super::{
    pace::{paced, Until},
    world::{HotItem, World, DOMAIN},
};

/// An honest request still unanswered after this long has failed.
const GIVE_UP_AFTER: Duration = Duration::from_secs(10);

/// How one request was answered.
#[derive(Debug, Clone, Copy)]
pub struct Answered {
    pub latency: Duration,
    /// `None`: no answer (connection failed or timed out).
    pub status: Option<u16>,
    pub success: bool,
}

/// One buyer's two requests.
#[derive(Debug, Clone, Copy)]
pub struct Buyer {
    pub read: Answered,
    pub buy: Answered,
}

/// Who buys in one sale: buyers `first..first + count`, arriving `per_second`.
#[derive(Debug, Clone, Copy)]
pub struct Crowd {
    pub first: usize,
    pub count: usize,
    pub per_second: f64,
}

/// Runs the sale of `item` to `crowd` and returns every buyer's answers.
pub async fn sale(world: &Arc<World>, item: HotItem, crowd: Crowd) -> Vec<Buyer> {
    // Tokens are minted before the clock starts: a buyer arrives with one.
    let tokens: Arc<Vec<String>> = Arc::new(
        (crowd.first..crowd.first + crowd.count)
            .map(|n| world.token(&format!("buyer-{n}")))
            .collect(),
    );
    let job = |n: usize| {
        let (world, tokens) = (world.clone(), tokens.clone());
        async move {
            let token = &tokens[n];
            let address = buyer_address(crowd.first + n);
            let read = world
                .edge
                .get(DOMAIN, "/api/inventory")
                .bearer_auth(token)
                .header(CF_CONNECTING_IP, &address);
            let read = timed(read, |status, _| status == StatusCode::OK).await;
            let buy = world
                .edge
                .buy(DOMAIN, token, item.id, 1)
                .header(CF_CONNECTING_IP, &address);
            let buy = timed(buy, |status, body| {
                status == StatusCode::CREATED
                    || (status == StatusCode::CONFLICT
                        && serde_json::from_slice::<Problem>(body)
                            .is_ok_and(|problem| problem.is(ProblemKind::OutOfStock)))
            })
            .await;
            Buyer { read, buy }
        }
    };
    paced(
        crowd.per_second,
        Until::Count(crowd.count),
        crowd.count,
        job,
    )
    .await
    .done
}

/// Sends `request` and reads its answer to the end; `expected` says whether a buyer should get
/// that status and body.
async fn timed(request: RequestBuilder, expected: impl Fn(StatusCode, &[u8]) -> bool) -> Answered {
    let sent = Instant::now();
    let answer = async {
        let response = request.timeout(GIVE_UP_AFTER).send().await.ok()?;
        let status = response.status();
        let body = response.bytes().await.ok()?;
        Some((status, body))
    }
    .await;
    Answered {
        latency: sent.elapsed(),
        status: answer.as_ref().map(|(status, _)| status.as_u16()),
        success: answer.is_some_and(|(status, body)| expected(status, &body)),
    }
}

/// Buyer `n`'s address, one of its own (RFC 2544's benchmarking range).
fn buyer_address(n: usize) -> String {
    format!("198.18.{}.{}", n / 250, n % 250 + 1)
}
