//! What this isolate remembers between requests, so most need no call to the Durable Object:
//! clients in cooldown and shops whose ceiling is reached (refused here), clients the object
//! refused (sent to it), and the reads admitted here that it has not been told of yet.

use uuid::Uuid;

use super::{
    audience::Audience,
    client_key::Client,
    fields::{Scope, Standing},
    local_tally::{threshold, LocalTally},
    outcome::{standing, Outcome},
    policy::{Quota, ShopLimits},
    protocol::{CheckRequest, Verdict},
    quotas::{ceiling_quota, own_quota},
    sliding_window,
};
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

pub(super) type ClientKey = (Uuid, Client, RouteClass);
/// A shop, one of its ceilings (`Scope::Shop` or `Scope::SignedIn`), a class.
pub(super) type ShopKey = (Uuid, Scope, RouteClass);

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

/// A client in cooldown, or a write (not an admin's) to a shop whose write ceiling is reached.
pub(super) fn refused_in_isolate(
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
pub(super) fn admit_read_locally(
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

/// Nothing is admitted in the isolate when every read asks the object, but not-founds may have
/// been charged (`found_nothing`): takes them, to report with the check.
pub(super) fn take_charged_reads(key: &ClientKey, now: u64) -> u32 {
    CLIENT_READS
        .with(|tallies| {
            let mut tally = tallies.get(key, now)?;
            let charged = tally.take_unreported();
            tallies.remember(key.clone(), tally, tally.stale_at_ms(), now);
            Some(charged)
        })
        .unwrap_or(0)
}

/// The object could not be told of `reported` reads: they wait for the next check.
pub(super) fn restore_client_reads(key: &ClientKey, reported: u32, now: u64) {
    if reported == 0 {
        return;
    }
    CLIENT_READS.with(|tallies| {
        if let Some(mut tally) = tallies.get(key, now) {
            tally.restore_unreported(reported);
            tallies.remember(key.clone(), tally, tally.stale_at_ms(), now);
        }
    });
}

/// Admits a read reaching the origin under the shop's ceiling `key` in isolate memory, or says
/// what to report to the object with its check: reads admitted here, slots given back.
pub(super) fn admit_ceiling_read_locally(
    key: ShopKey,
    quota: Quota,
    now: u64,
) -> std::result::Result<Standing, (u32, u32)> {
    let (_, scope, class) = key;
    let window = sliding_window::window_ms(quota);
    with_tally(&SHOP_READS, &key, window, now, |tally| {
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
    })
}

/// The object admitted a read under the ceiling `key`.
pub(super) fn count_ceiling_read(key: ShopKey, quota: Quota, now: u64) {
    let window = sliding_window::window_ms(quota);
    with_tally(&SHOP_READS, &key, window, now, |t| t.count_admitted(now));
}

/// The object could not be told of a report on the ceiling `key`: it waits for the next check.
pub(super) fn restore_ceiling_reads(
    key: ShopKey,
    quota: Quota,
    (admitted_locally, given_back): (u32, u32),
    now: u64,
) {
    let window = sliding_window::window_ms(quota);
    with_tally(&SHOP_READS, &key, window, now, |tally| {
        tally.restore_unreported(admitted_locally);
        tally.restore_given_back(given_back);
    });
}

/// The refusal of a shop whose ceiling `key` this isolate knows to be reached.
pub(super) fn shop_full(limits: &ShopLimits, key: ShopKey, now: u64) -> Option<Outcome> {
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

pub(super) fn remember_client_verdict(
    key: &ClientKey,
    request: &CheckRequest,
    verdict: Verdict,
    now: u64,
) {
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

pub(super) fn remember_shop_verdict(key: ShopKey, verdict: Verdict, now: u64) {
    if verdict.scope == key.1 && !verdict.admitted {
        let until = now + verdict.reset_ms.max(1);
        SHOP_FULL.with(|full| full.remember(key, until, until, now));
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
