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
//! - **The shop's read ceiling** protects the origin, so it counts only reads that reach it (not
//!   answered by the cache): each isolate counts a fifth of it on its own, then asks the object.
//!
//! A client in cooldown, and a shop whose ceiling is reached, are remembered by the isolate too,
//! so their requests are refused here without a round trip. When the object cannot be asked in
//! time, `RATE_LIMIT_WHEN_UNREACHABLE` decides between serving unlimited and refusing with
//! 503, and the outage is logged either way.

mod client_key;
mod fields;
mod limiter_object;
mod local_tally;
mod log_store;
mod object_call;
pub mod policy;
mod protocol;
mod sliding_window;

use uuid::Uuid;
use worker::Env;

pub use client_key::Client;
pub use fields::{Scope, Standing};
pub use limiter_object::RateLimiter;
use local_tally::{threshold, LocalTally};
use policy::{Cooldown, Quota, ShopLimits, WhenUnreachable};
use protocol::{CheckRequest, QuotaCheck, Verdict};

use crate::{clock::now_ms, isolate_memo::IsolateMemo, route::RouteClass};

/// Share of a client's read quota an isolate admits before asking the object.
const CLIENT_LOCAL_PERCENT: u32 = 50;
/// Share of a shop's read ceiling an isolate admits before asking the object. Reads that miss
/// the cache are many during a sale (every purchase drops the cached answers listing its
/// item), and an honest shop must not pay an object request for them.
const SHOP_LOCAL_PERCENT: u32 = 20;

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

type ClientKey = (Uuid, Client, RouteClass);
type ShopKey = (Uuid, RouteClass);

thread_local! {
    /// Clients in cooldown, until when: refused without asking the object.
    static COOLING: IsolateMemo<ClientKey, u64> = IsolateMemo::default();
    /// Clients the object refused: their reads go to the object until a window has passed.
    static FLAGGED: IsolateMemo<ClientKey, ()> = IsolateMemo::default();
    /// Shops whose ceiling is reached, until when: refused without asking the object.
    static SHOP_FULL: IsolateMemo<ShopKey, u64> = IsolateMemo::default();
    static CLIENT_READS: IsolateMemo<ClientKey, LocalTally> = IsolateMemo::default();
    static SHOP_READS: IsolateMemo<ShopKey, LocalTally> = IsolateMemo::default();
}

/// The refusal this isolate already holds for `client` and `class`: the client is cooling
/// down, or (for writes under the shop's ceiling, `ceiling`) the shop's write ceiling is
/// reached. Decided from isolate memory alone, so the gateway asks it before the request does
/// any I/O: a flood of refused requests then costs no cache lookup.
pub async fn known_refusal(
    env: &Env,
    org_id: Uuid,
    client: &Client,
    class: RouteClass,
    ceiling: Ceiling,
) -> Option<Standing> {
    let limits = policy::shop_limits(env, org_id).await;
    let key = (org_id, client.clone(), class);
    match refused_in_isolate(&limits, &key, ceiling, now_ms()) {
        Some(Outcome::Refused(standing)) => Some(standing),
        _ => None,
    }
}

/// Whether a request counts against the shop's write ceiling: shoppers' writes do, the shop's
/// admins' (pausing, restocking) never, so shoppers' demand cannot lock the owner out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ceiling {
    Shop,
    Exempt,
}

/// A client in cooldown, or a write to a shop whose write ceiling is reached.
fn refused_in_isolate(
    limits: &ShopLimits,
    key: &ClientKey,
    ceiling: Ceiling,
    now: u64,
) -> Option<Outcome> {
    let (org_id, class) = (key.0, key.2);
    if let Some(until) = COOLING.with(|cooling| cooling.get(key, now)) {
        if let Some(quota) = limits.quota(class) {
            return Some(Outcome::Refused(standing(
                Scope::Client,
                class,
                quota,
                0,
                until - now,
            )));
        }
    }
    match (class, ceiling) {
        (RouteClass::Write, Ceiling::Shop) => shop_full(limits, org_id, class, now),
        _ => None,
    }
}

/// Checks `client`'s quota for `class` (and, for writes under `ceiling`, the shop's write
/// ceiling).
pub async fn check(
    env: &Env,
    org_id: Uuid,
    client: Client,
    class: RouteClass,
    ceiling: Ceiling,
) -> Outcome {
    let limits = policy::shop_limits(env, org_id).await;
    let shop_ceiling = match (class, ceiling) {
        (RouteClass::Write, Ceiling::Shop) => limits.shop_quota(class),
        _ => None,
    };
    let now = now_ms();
    let key = (org_id, client, class);
    if let Some(refused) = refused_in_isolate(&limits, &key, ceiling, now) {
        return refused;
    }
    let mut checks = Vec::with_capacity(2);
    let mut admitted_locally = 0;
    if let Some(quota) = limits.quota(class) {
        if class == RouteClass::Read && !limits.exact_reads {
            match admit_read_locally(&key, quota, now) {
                Ok(standing) => return Outcome::Admitted(standing),
                Err(unreported) => admitted_locally = unreported,
            }
        }
        checks.push(QuotaCheck {
            client: Some(key.1.key().to_owned()),
            quota,
            cooldown: limits.cooldown,
            admitted_locally,
        });
    }
    if let Some(quota) = shop_ceiling {
        checks.push(shop_check(quota, 0));
    }
    if checks.is_empty() {
        return Outcome::Unlimited;
    }
    let request = CheckRequest { class, checks };
    match object_call::ask(env, org_id, &request).await {
        Ok(verdict) => {
            remember_client_verdict(&key, &request, verdict, now);
            remember_shop_verdict((org_id, class), verdict, now);
            outcome(&request, verdict)
        }
        Err(err) => {
            if admitted_locally > 0 {
                CLIENT_READS.with(|tallies| {
                    if let Some(mut tally) = tallies.get(&key, now) {
                        tally.restore_unreported(admitted_locally);
                        tallies.remember(key.clone(), tally, tally.stale_at_ms(), now);
                    }
                });
            }
            unreachable(env, org_id, class, &err)
        }
    }
}

/// Checks the shop's read ceiling for a read that will reach the origin. Writes were checked
/// against theirs with the client's quota, so they pass here.
pub async fn origin_ceiling(env: &Env, org_id: Uuid, class: RouteClass) -> Outcome {
    if class == RouteClass::Write {
        return Outcome::Unlimited;
    }
    let limits = policy::shop_limits(env, org_id).await;
    let Some(quota) = limits.shop_quota(class) else {
        return Outcome::Unlimited;
    };
    let now = now_ms();
    if let Some(refused) = shop_full(&limits, org_id, class, now) {
        return refused;
    }
    let key = (org_id, class);
    let window = sliding_window::window_ms(quota);
    let local = with_tally(&SHOP_READS, &key, window, now, |tally| {
        match tally.admit_below(threshold(quota.limit, SHOP_LOCAL_PERCENT), now) {
            Some(estimate) => Ok(standing(
                Scope::Shop,
                class,
                quota,
                quota.limit.saturating_sub(estimate + 1),
                tally.reset_ms(now),
            )),
            None => Err(tally.take_unreported()),
        }
    });
    let admitted_locally = match local {
        Ok(standing) => return Outcome::Admitted(standing),
        Err(unreported) => unreported,
    };
    let request = CheckRequest {
        class,
        checks: vec![shop_check(quota, admitted_locally)],
    };
    match object_call::ask(env, org_id, &request).await {
        Ok(verdict) => {
            remember_shop_verdict(key, verdict, now);
            if verdict.admitted {
                with_tally(&SHOP_READS, &key, window, now, |t| t.count_admitted(now));
            }
            outcome(&request, verdict)
        }
        Err(err) => {
            with_tally(&SHOP_READS, &key, window, now, |tally| {
                tally.restore_unreported(admitted_locally);
            });
            unreachable(env, org_id, class, &err)
        }
    }
}

/// Admits a read in isolate memory, or says how many to report to the object with its check.
fn admit_read_locally(
    key: &ClientKey,
    quota: Quota,
    now: u64,
) -> std::result::Result<Standing, u32> {
    let flagged = FLAGGED.with(|flagged| flagged.get(key, now)).is_some();
    let window = sliding_window::window_ms(quota);
    with_tally(&CLIENT_READS, key, window, now, |tally| {
        let local_share = if flagged {
            0
        } else {
            threshold(quota.limit, CLIENT_LOCAL_PERCENT)
        };
        match tally.admit_below(local_share, now) {
            Some(estimate) => Ok(standing(
                Scope::Client,
                key.2,
                quota,
                quota.limit.saturating_sub(estimate + 1),
                tally.reset_ms(now),
            )),
            None => Err(tally.take_unreported()),
        }
    })
}

fn shop_check(quota: Quota, admitted_locally: u32) -> QuotaCheck {
    QuotaCheck {
        client: None,
        quota,
        cooldown: Cooldown::NONE,
        admitted_locally,
    }
}

/// The refusal of a shop whose ceiling for `class` this isolate knows to be reached.
fn shop_full(limits: &ShopLimits, org_id: Uuid, class: RouteClass, now: u64) -> Option<Outcome> {
    let until = SHOP_FULL.with(|full| full.get(&(org_id, class), now))?;
    let quota = limits.shop_quota(class)?;
    Some(Outcome::Refused(standing(
        Scope::Shop,
        class,
        quota,
        0,
        until - now,
    )))
}

fn remember_client_verdict(key: &ClientKey, request: &CheckRequest, verdict: Verdict, now: u64) {
    if verdict.scope != Scope::Client {
        return;
    }
    if verdict.cooling_down {
        let until = now + verdict.reset_ms;
        COOLING.with(|cooling| cooling.remember(key.clone(), until, until, now));
    }
    let Some(quota) = request.checks.first().map(|check| check.quota) else {
        return;
    };
    let window = sliding_window::window_ms(quota);
    if !verdict.admitted {
        let until = now + window;
        FLAGGED.with(|flagged| flagged.remember(key.clone(), (), until, now));
    } else if key.2 == RouteClass::Read {
        with_tally(&CLIENT_READS, key, window, now, |t| t.count_admitted(now));
    }
}

fn remember_shop_verdict(key: ShopKey, verdict: Verdict, now: u64) {
    if verdict.scope == Scope::Shop && !verdict.admitted {
        let until = now + verdict.reset_ms.max(1);
        SHOP_FULL.with(|full| full.remember(key, until, until, now));
    }
}

/// The outcome a verdict means, with the standing of the quota it speaks of.
fn outcome(request: &CheckRequest, verdict: Verdict) -> Outcome {
    let quota = request
        .checks
        .iter()
        .find(|check| check.scope() == verdict.scope)
        .map(|check| check.quota);
    let Some(quota) = quota else {
        return Outcome::Unlimited;
    };
    let standing = standing(
        verdict.scope,
        request.class,
        quota,
        verdict.remaining,
        verdict.reset_ms,
    );
    if verdict.admitted {
        Outcome::Admitted(standing)
    } else {
        Outcome::Refused(standing)
    }
}

fn standing(
    scope: Scope,
    class: RouteClass,
    quota: Quota,
    remaining: u32,
    reset_ms: u64,
) -> Standing {
    Standing {
        scope,
        class,
        quota,
        remaining,
        reset_seconds: fields::whole_seconds(reset_ms),
    }
}

/// Runs `f` on the tally of `key`, made fresh when there is none (or it went stale).
fn with_tally<K: Clone + Eq + std::hash::Hash, R>(
    memo: &'static std::thread::LocalKey<IsolateMemo<K, LocalTally>>,
    key: &K,
    window_ms: u64,
    now: u64,
    f: impl FnOnce(&mut LocalTally) -> R,
) -> R {
    memo.with(|tallies| {
        let mut tally = tallies
            .get(key, now)
            .unwrap_or_else(|| LocalTally::new(window_ms, now));
        let result = f(&mut tally);
        tallies.remember(key.clone(), tally, tally.stale_at_ms(), now);
        result
    })
}

fn unreachable(env: &Env, org_id: Uuid, class: RouteClass, err: &worker::Error) -> Outcome {
    let fallback = policy::when_unreachable(env, class);
    worker::console_error!(
        "rate limiter unreachable for shop {org_id} ({} requests, failing {fallback:?}): {err}",
        class.name()
    );
    Outcome::Unreachable(fallback)
}
