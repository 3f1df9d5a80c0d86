//! Purchases the edge refuses by itself, counted for the shop admins' live sale view.
//!
//! A buy refused here (over a rate limit, while the shop's sales are paused, of an item the edge
//! knows to be sold out, or shed while the origin is overloaded) never reaches
//! the origin, so the origin cannot count it. The isolate counts it per shop in memory instead,
//! and reports the counts to the origin (`POST /api/tenant/{org_id}/edge/refusals`) one second
//! after the first refusal it has not reported: at most one report per shop, isolate and
//! second, whatever the refusal rate, sent after the response (`waitUntil`) so no buyer waits
//! for it. The origin adds the counts to its own and publishes them to every origin.
//!
//! A client counts once per shop and second whatever it sends (`CLIENT_SECOND`): the view
//! tells the owner how many shoppers were turned away, and one shopper hammering a paused sale
//! (refused before any limiter, so a retry costs no quota) must not inflate it. The memory of
//! who was counted is an `IsolateMemo`, capped, so many clients cannot grow it either.
//!
//! Only an edge that shares `EDGE_SHARED_SECRET` with the origin reports (the origin takes
//! reports from nobody else). A report the origin does not take in time (or while it rests
//! after failures) is dropped with a log line: the view shows fewer refusals, never made-up
//! ones. Counts held by an isolate that is evicted inside that second are lost the same way.

use std::{cell::RefCell, collections::HashMap, time::Duration};

use api::live_sale::EdgeRefusals;
use uuid::Uuid;
use worker::{Context, Delay, Env, Method, Request};

use crate::{
    clock::now_ms,
    edge_secret, forward,
    isolate_memo::IsolateMemo,
    origin_calls::{self, OriginPolicy},
    request_id,
    route::RouteClass,
    trace_context::TraceContext,
};

/// How long refusals gather before their report goes.
const GATHER: Duration = Duration::from_secs(1);

/// Why the edge refused a purchase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EdgeRefusal {
    RateLimited,
    Paused,
    SoldOut,
    Busy,
}

thread_local! {
    /// Per shop, what this isolate refused and has not reported yet. A shop is here exactly
    /// while its report is waiting to go.
    static PENDING: RefCell<HashMap<Uuid, EdgeRefusals>> = RefCell::new(HashMap::new());
    /// Clients counted in the current second, per shop.
    static COUNTED: IsolateMemo<(Uuid, String), ()> = IsolateMemo::default();
}

/// How long a client counts once.
const CLIENT_SECOND_MS: u64 = 1_000;

/// Who was refused, for what, in which shop.
#[derive(Debug, Clone, Copy)]
pub struct Refused<'a> {
    pub org_id: Uuid,
    /// The rate limiter's key for the client (`rate_limit::Client::key`).
    pub client: &'a str,
    pub refusal: EdgeRefusal,
}

/// Counts a refused purchase, once per client, shop and second; the first count since the last
/// report schedules the next report, a second from now, on `ctx`.
pub fn count(env: &Env, ctx: &Context, refused: Refused<'_>, trace: &TraceContext) {
    if edge_secret::trusted(env).is_none() {
        return;
    }
    let Refused {
        org_id,
        client,
        refusal,
    } = refused;
    let now = now_ms();
    let seen_key = (org_id, client.to_owned());
    let seen = COUNTED.with(|counted| counted.get(&seen_key, now).is_some());
    if seen {
        return;
    }
    COUNTED.with(|counted| counted.remember(seen_key, (), now + CLIENT_SECOND_MS, now));
    let first = PENDING.with(|pending| {
        let mut pending = pending.borrow_mut();
        let first = !pending.contains_key(&org_id);
        let counts = pending.entry(org_id).or_default();
        match refusal {
            EdgeRefusal::RateLimited => counts.rate_limited += 1,
            EdgeRefusal::Paused => counts.paused += 1,
            EdgeRefusal::SoldOut => counts.sold_out += 1,
            EdgeRefusal::Busy => counts.busy += 1,
        }
        first
    });
    if first {
        ctx.wait_until(report_later(env.clone(), org_id, trace.clone()));
    }
}

/// Waits out the gathering second, then sends what `org_id` gathered.
async fn report_later(env: Env, org_id: Uuid, trace: TraceContext) {
    Delay::from(GATHER).await;
    let Some(counts) = PENDING.with(|pending| pending.borrow_mut().remove(&org_id)) else {
        return;
    };
    let request_id = request_id::mint();
    let request = match report_request(&env, org_id, &counts, &request_id, &trace) {
        Ok(request) => request,
        Err(err) => {
            worker::console_error!("refusal report of {org_id} not made: {err}");
            return;
        }
    };
    let policy = OriginPolicy::from_env(&env);
    let deadline = policy.deadlines.of(RouteClass::Read);
    let answered = origin_calls::call(&policy.breaker, request, deadline, |response| async move {
        Ok(response.status_code())
    })
    .await;
    match answered {
        Ok(204) => {}
        Ok(status) => {
            worker::console_error!("refusal report {request_id} of {org_id}: origin said {status}")
        }
        Err(failure) => worker::console_error!(
            "refusal report {request_id} of {org_id} dropped: {failure:?} ({counts:?})"
        ),
    }
}

fn report_request(
    env: &Env,
    org_id: Uuid,
    counts: &EdgeRefusals,
    request_id: &str,
    trace: &TraceContext,
) -> worker::Result<Request> {
    let headers = forward::edge_headers(request_id, trace)?;
    headers.set("content-type", "application/json")?;
    let body = serde_json::to_string(counts)?;
    let url = forward::tenant_url(env, org_id, api::routes::EDGE_REFUSALS)?;
    forward::signed(env, Method::Post, &url, headers, body.as_bytes())
}
