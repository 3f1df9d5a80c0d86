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
mod limiter_object;
mod local_tally;
mod log_store;
mod object_call;
pub mod policy;
mod protocol;
mod sliding_window;

use uuid::Uuid;
use worker::Env;

pub use audience::Audience;
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
/// Reads of its quota a client pays for a read the origin answered "no such item". Honest
/// shoppers follow the shop's own links and almost never meet one; a client guessing ids is
/// held to a tenth of its read quota in not-found answers, then cooled down.
const NOT_FOUND_COST: u32 = 10;

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
/// A shop, one of its ceilings (`Scope::Shop` or `Scope::SignedIn`), a class.
type ShopKey = (Uuid, Scope, RouteClass);

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
    match refused_in_isolate(&limits, &key, audience, now_ms()) {
        Some(Outcome::Refused(standing)) => Some(standing),
        _ => None,
    }
}

/// A client in cooldown, or a write (not an admin's) to a shop whose write ceiling is reached.
fn refused_in_isolate(
    limits: &ShopLimits,
    key: &ClientKey,
    audience: Audience,
    now: u64,
) -> Option<Outcome> {
    let (org_id, class) = (key.0, key.2);
    if let Some(until) = COOLING.with(|cooling| cooling.get(key, now)) {
        if let Some(quota) = own_quota(limits, audience, class) {
            return Some(Outcome::Refused(standing(
                audience.own_scope(),
                class,
                quota,
                0,
                until - now,
            )));
        }
    }
    match (class, audience) {
        (RouteClass::Write, Audience::Anonymous | Audience::SignedIn) => {
            shop_full(limits, (org_id, Scope::Shop, class), now)
        }
        _ => None,
    }
}

/// The caller's own quota for `class`: a client's, or an admin's.
fn own_quota(limits: &ShopLimits, audience: Audience, class: RouteClass) -> Option<Quota> {
    match audience {
        Audience::Admin => limits.admin_quota(),
        Audience::Uploader => limits.upload_quota(),
        Audience::Anonymous | Audience::SignedIn => limits.quota(class),
    }
}

/// The quota of one of the shop's ceilings.
fn ceiling_quota(limits: &ShopLimits, scope: Scope, class: RouteClass) -> Option<Quota> {
    match scope {
        Scope::SignedIn => limits.signed_in_read_quota(),
        Scope::Shop => limits.shop_quota(class),
        Scope::Client | Scope::Admin | Scope::Upload => None,
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
    if let Some(refused) = refused_in_isolate(&limits, &key, audience, now) {
        return refused;
    }
    let mut checks = Vec::with_capacity(2);
    let mut admitted_locally = 0;
    if let Some(quota) = own_quota(&limits, audience, class) {
        if class == RouteClass::Read && !limits.exact_reads {
            match admit_read_locally(&key, audience.own_scope(), quota, now) {
                Ok(standing) => return Outcome::Admitted(standing),
                Err(unreported) => admitted_locally = unreported,
            }
        } else if class == RouteClass::Read {
            // Nothing is admitted here, but not-founds may have been charged (`found_nothing`).
            admitted_locally = CLIENT_READS
                .with(|tallies| {
                    let mut tally = tallies.get(&key, now)?;
                    let charged = tally.take_unreported();
                    tallies.remember(key.clone(), tally, tally.stale_at_ms(), now);
                    Some(charged)
                })
                .unwrap_or(0);
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
            remember_client_verdict(&key, &request, verdict, now);
            remember_shop_verdict((org_id, Scope::Shop, class), verdict, now);
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
    let Some(quota) = ceiling_quota(&limits, scope, class) else {
        return Outcome::Unlimited;
    };
    let now = now_ms();
    let key = (org_id, scope, class);
    if let Some(refused) = shop_full(&limits, key, now) {
        return refused;
    }
    let window = sliding_window::window_ms(quota);
    let local = with_tally(&SHOP_READS, &key, window, now, |tally| {
        match tally.admit_below(threshold(quota.limit, SHOP_LOCAL_PERCENT), now) {
            Some(estimate) => Ok(standing(
                scope,
                class,
                quota,
                quota.limit.saturating_sub(estimate + 1),
                tally.reset_ms(now),
            )),
            None => Err((tally.take_unreported(), tally.take_given_back())),
        }
    });
    let (admitted_locally, given_back) = match local {
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
            remember_shop_verdict(key, verdict, now);
            if verdict.admitted {
                with_tally(&SHOP_READS, &key, window, now, |t| t.count_admitted(now));
            }
            outcome(&request, verdict)
        }
        Err(err) => {
            with_tally(&SHOP_READS, &key, window, now, |tally| {
                tally.restore_unreported(admitted_locally);
                tally.restore_given_back(given_back);
            });
            unreachable(env, org_id, class, &err)
        }
    }
}

/// A read of `client` that the origin answered "no such item" (not from the cache): the slot it
/// took of the audience's read ceiling is given back (in the isolate at once, in the object's
/// log with the isolate's next check of the ceiling), and the client pays `NOT_FOUND_COST`
/// reads of its own quota (reported to the object with its next check, like any read admitted
/// here).
pub fn found_nothing(org_id: Uuid, client: &Client, audience: Audience) {
    let now = now_ms();
    if let Some(scope) = audience.read_ceiling() {
        SHOP_READS.with(|tallies| {
            let key = (org_id, scope, RouteClass::Read);
            if let Some(mut tally) = tallies.get(&key, now) {
                tally.give_back(now);
                tallies.remember(key, tally, tally.stale_at_ms(), now);
            }
        });
    }
    CLIENT_READS.with(|tallies| {
        let key = (org_id, client.clone(), RouteClass::Read);
        if let Some(mut tally) = tallies.get(&key, now) {
            tally.charge(NOT_FOUND_COST.saturating_sub(1), now);
            tallies.remember(key, tally, tally.stale_at_ms(), now);
        }
    });
}

/// Admits a read in isolate memory, or says how many to report to the object with its check.
fn admit_read_locally(
    key: &ClientKey,
    scope: Scope,
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
                scope,
                key.2,
                quota,
                quota.limit.saturating_sub(estimate + 1),
                tally.reset_ms(now),
            )),
            None => Err(tally.take_unreported()),
        }
    })
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

/// The refusal of a shop whose ceiling `key` this isolate knows to be reached.
fn shop_full(limits: &ShopLimits, key: ShopKey, now: u64) -> Option<Outcome> {
    let until = SHOP_FULL.with(|full| full.get(&key, now))?;
    let (_, scope, class) = key;
    let quota = ceiling_quota(limits, scope, class)?;
    Some(Outcome::Refused(standing(
        scope,
        class,
        quota,
        0,
        until - now,
    )))
}

fn remember_client_verdict(key: &ClientKey, request: &CheckRequest, verdict: Verdict, now: u64) {
    if !verdict.scope.is_holders_own() {
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
    if verdict.scope == key.1 && !verdict.admitted {
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
