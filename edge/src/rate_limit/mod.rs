//! Rate limiting at the edge, per shop: a quota for each client (the token's subject, else the
//! address, IPv6 by its /64) and a ceiling for the shop across all clients, per route class.
//!
//! Each shop has one `RateLimiter` Durable Object that keeps the exact logs. It is billed per
//! request, so the isolate spares it what does not need an exact, global count:
//!
//! - **Reads** (GET, HEAD) are counted per client in isolate memory, and only a client past
//!   half its quota in this isolate, or one the object refused recently, is checked by the
//!   object (which is first told what the isolate admitted on its own). A client spread over
//!   many isolates can pass its read quota by the others' unreported share; that is accepted
//!   for reads, which the cache answers and the shop's ceiling still bounds.
//! - **Writes** are always checked by the object, against the client's quota and the shop's
//!   write ceiling in one request.
//! - **The shop's read ceilings** protect the origin, so they count only reads that reach it
//!   (not answered by the cache): each isolate counts a fifth of one on its own, then asks the
//!   object. There is one per audience (`audience`): anonymous reads, signed-in shoppers'
//!   reads; admin routes have a quota per admin instead, so no flood spends the owner's budget.
//! - **Reads that find nothing** (`found_nothing`): an item the origin does not know gives its
//!   slot of the shop's ceiling back and costs its client `NOT_FOUND_COST` reads instead, so a
//!   flood of made-up item ids spends the flooders' quotas, not the shop's.
//!
//! A client in cooldown, and a shop whose ceiling is reached, are remembered by the isolate too,
//! so their requests are refused here without a round trip. When the object cannot be asked in
//! time, `RATE_LIMIT_WHEN_UNREACHABLE` decides between serving unlimited and refusing with
//! 503, and the outage is logged either way.

mod audience;
mod client_key;
mod fields;
mod isolate_memory;
mod limiter_object;
mod local_tally;
mod log_store;
mod object_call;
mod outcome;
pub mod policy;
mod protocol;
mod quotas;
mod sliding_window;

use uuid::Uuid;
use worker::Env;

pub use audience::Audience;
pub use client_key::Client;
pub use fields::{Scope, Standing};
use isolate_memory as memory;
pub use isolate_memory::found_nothing;
pub use limiter_object::RateLimiter;
use outcome::outcome;
pub use outcome::Outcome;
use policy::{Cooldown, Quota};
use protocol::{CheckRequest, QuotaCheck};

use crate::{clock::now_ms, route::RouteClass};

/// The refusal this isolate already holds for `client` and `class`: the client is cooling
/// down, or (for writes other than an admin's) the shop's write ceiling is reached. Decided from isolate memory alone, so the gateway asks it before the request does
/// any I/O: a flood of refused requests then costs no cache lookup.
pub async fn known_refusal(
    env: &Env,
    org_id: Uuid,
    client: &Client,
    audience: Audience,
    class: RouteClass,
) -> Option<Standing> {
    let limits = policy::shop_limits(env, org_id).await;
    let key = (org_id, client.clone(), class);
    match memory::refused_in_isolate(&limits, &key, audience, now_ms()) {
        Some(Outcome::Refused(standing)) => Some(standing),
        _ => None,
    }
}

/// Checks `client`'s own quota for `class` (and, for writes other than an admin's, the shop's
/// write ceiling).
pub async fn check(
    env: &Env,
    org_id: Uuid,
    client: Client,
    audience: Audience,
    class: RouteClass,
) -> Outcome {
    let limits = policy::shop_limits(env, org_id).await;
    let shop_ceiling = match (class, audience) {
        (RouteClass::Write, Audience::Anonymous | Audience::SignedIn) => limits.shop_quota(class),
        _ => None,
    };
    let now = now_ms();
    let key = (org_id, client, class);
    if let Some(refused) = memory::refused_in_isolate(&limits, &key, audience, now) {
        return refused;
    }
    let mut checks = Vec::with_capacity(2);
    let mut admitted_locally = 0;
    if let Some(quota) = quotas::own_quota(&limits, audience, class) {
        if class == RouteClass::Read && !limits.exact_reads {
            match memory::admit_read_locally(&key, audience.own_scope(), quota, now) {
                Ok(standing) => return Outcome::Admitted(standing),
                Err(unreported) => admitted_locally = unreported,
            }
        } else if class == RouteClass::Read {
            // Nothing is admitted here, but not-founds may have been charged (`found_nothing`).
            admitted_locally = memory::take_charged_reads(&key, now);
        }
        // An admin is refused while over the quota, and never locked out beyond it.
        let cooldown = match audience {
            Audience::Admin | Audience::Uploader => Cooldown::NONE,
            Audience::Anonymous | Audience::SignedIn => limits.cooldown,
        };
        checks.push(QuotaCheck {
            scope: audience.own_scope(),
            client: Some(key.1.key().to_owned()),
            quota,
            cooldown,
            admitted_locally,
            given_back: 0,
        });
    }
    if let Some(quota) = shop_ceiling {
        checks.push(ceiling_check(Scope::Shop, quota, 0));
    }
    if checks.is_empty() {
        return Outcome::Unlimited;
    }
    let request = CheckRequest { class, checks };
    match object_call::ask(env, org_id, &request).await {
        Ok(verdict) => {
            memory::remember_client_verdict(&key, &request, verdict, now);
            memory::remember_shop_verdict((org_id, Scope::Shop, class), verdict, now);
            outcome(&request, verdict)
        }
        Err(err) => {
            memory::restore_client_reads(&key, admitted_locally, now);
            unreachable(env, org_id, class, &err)
        }
    }
}

/// Checks the audience's read ceiling for a read that will reach the origin. Writes were
/// checked against theirs with the client's quota, and admins have no ceiling, so they pass.
pub async fn origin_ceiling(
    env: &Env,
    org_id: Uuid,
    audience: Audience,
    class: RouteClass,
) -> Outcome {
    if class == RouteClass::Write {
        return Outcome::Unlimited;
    }
    let Some(scope) = audience.read_ceiling() else {
        return Outcome::Unlimited;
    };
    let limits = policy::shop_limits(env, org_id).await;
    let Some(quota) = quotas::ceiling_quota(&limits, scope, class) else {
        return Outcome::Unlimited;
    };
    let now = now_ms();
    let key = (org_id, scope, class);
    if let Some(refused) = memory::shop_full(&limits, key, now) {
        return refused;
    }
    let (admitted_locally, given_back) = match memory::admit_ceiling_read_locally(key, quota, now) {
        Ok(standing) => return Outcome::Admitted(standing),
        Err(report) => report,
    };
    let mut check = ceiling_check(scope, quota, admitted_locally);
    check.given_back = given_back;
    let request = CheckRequest {
        class,
        checks: vec![check],
    };
    match object_call::ask(env, org_id, &request).await {
        Ok(verdict) => {
            memory::remember_shop_verdict(key, verdict, now);
            if verdict.admitted {
                memory::count_ceiling_read(key, quota, now);
            }
            outcome(&request, verdict)
        }
        Err(err) => {
            memory::restore_ceiling_reads(key, quota, (admitted_locally, given_back), now);
            unreachable(env, org_id, class, &err)
        }
    }
}

fn ceiling_check(scope: Scope, quota: Quota, admitted_locally: u32) -> QuotaCheck {
    QuotaCheck {
        scope,
        client: None,
        quota,
        cooldown: Cooldown::NONE,
        admitted_locally,
        given_back: 0,
    }
}

fn unreachable(env: &Env, org_id: Uuid, class: RouteClass, err: &worker::Error) -> Outcome {
    let fallback = policy::when_unreachable(env, class);
    worker::console_error!(
        "rate limiter unreachable for shop {org_id} ({} requests, failing {fallback:?}): {err}",
        class.name()
    );
    Outcome::Unreachable(fallback)
}
