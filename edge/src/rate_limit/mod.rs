//! Rate limiting at the edge: each (shop, client) pair has a `RateLimiter` Durable Object that
//! keeps an exact sliding-window log per route class, so a shopper is held to the same quota
//! whichever isolate or data centre serves them.
//!
//! The client is the token's subject when the request carried a verified token, else the
//! address Cloudflare saw (`CF-Connecting-IP`). A client in cooldown is remembered by the isolate
//! too, so its requests are refused here without a round trip to the object. When the object
//! cannot be asked in time, `RATE_LIMIT_WHEN_UNREACHABLE` decides between serving unlimited and
//! refusing with 503, and the outage is logged either way.

mod fields;
mod limiter_object;
pub mod policy;
mod protocol;
mod sliding_window;

use std::time::Duration;

use api::{headers, token::TokenClaims};
use futures::future::{select, Either};
use uuid::Uuid;
use worker::{Delay, Env, Method, Request, RequestInit, Result};

pub use fields::Standing;
pub use limiter_object::RateLimiter;
use policy::WhenUnreachable;
use protocol::{CheckRequest, Verdict, CHECK_URL};

use crate::{clock::now_ms, isolate_memo::IsolateMemo, route::RouteClass};

const BINDING: &str = "RATE_LIMITER";
/// How long a check may take before the limiter counts as unreachable.
const CHECK_TIMEOUT: Duration = Duration::from_millis(1_000);

/// Who a quota belongs to within a shop.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Client(String);

impl Client {
    pub fn of(claims: Option<&TokenClaims>, req: &Request) -> Self {
        if let Some(claims) = claims {
            return Self(format!("sub:{}", claims.sub));
        }
        match req.headers().get(headers::CF_CONNECTING_IP).ok().flatten() {
            Some(ip) => Self(format!("ip:{ip}")),
            None => Self("anonymous".to_owned()),
        }
    }
}

/// The limiter's answer for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// No quota applies to this shop and class.
    Unlimited,
    Admitted(Standing),
    Refused(Standing),
    /// The limiter could not be asked.
    Unreachable(WhenUnreachable),
}

type CoolingKey = (Uuid, Client, RouteClass);

thread_local! {
    /// Clients in cooldown, until when: refused without asking the object.
    static COOLING: IsolateMemo<CoolingKey, u64> = IsolateMemo::default();
}

pub async fn check(env: &Env, org_id: Uuid, client: Client, class: RouteClass) -> Outcome {
    let limits = policy::shop_limits(env, org_id).await;
    let Some(quota) = limits.quota(class) else {
        return Outcome::Unlimited;
    };
    let standing = |remaining, reset_ms| Standing {
        class,
        quota,
        remaining,
        reset_seconds: fields::whole_seconds(reset_ms),
    };
    let now = now_ms();
    let key = (org_id, client, class);
    if let Some(until) = COOLING.with(|cooling| cooling.get(&key, now)) {
        return Outcome::Refused(standing(0, until - now));
    }
    let check = CheckRequest {
        class,
        quota,
        cooldown: limits.cooldown,
    };
    match ask(env, org_id, &key.1, &check).await {
        Ok(verdict) => {
            if verdict.cooling_down {
                let until = now + verdict.reset_ms;
                COOLING.with(|cooling| cooling.remember(key, until, until, now));
            }
            let standing = standing(verdict.remaining, verdict.reset_ms);
            if verdict.admitted {
                Outcome::Admitted(standing)
            } else {
                Outcome::Refused(standing)
            }
        }
        Err(err) => {
            let fallback = policy::when_unreachable(env, class);
            worker::console_error!(
                "rate limiter unreachable for shop {org_id} ({} requests, failing {fallback:?}): {err}",
                class.name()
            );
            Outcome::Unreachable(fallback)
        }
    }
}

async fn ask(env: &Env, org_id: Uuid, client: &Client, check: &CheckRequest) -> Result<Verdict> {
    let stub = env
        .durable_object(BINDING)?
        .id_from_name(&format!("{org_id}/{}", client.0))?
        .get_stub()?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_body(Some(serde_json::to_string(check)?.into()));
    let request = Request::new_with_init(CHECK_URL, &init)?;
    let call = Box::pin(async move {
        let mut response = stub.fetch_with_request(request).await?;
        if response.status_code() != 200 {
            return Err(worker::Error::RustError(format!(
                "the limiter answered {}",
                response.status_code()
            )));
        }
        response.json::<Verdict>().await
    });
    match select(call, Delay::from(CHECK_TIMEOUT)).await {
        Either::Left((verdict, _)) => verdict,
        Either::Right(_) => Err(worker::Error::RustError(format!(
            "no answer within {} ms",
            CHECK_TIMEOUT.as_millis()
        ))),
    }
}
