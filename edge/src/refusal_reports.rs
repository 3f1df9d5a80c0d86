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
//! Only an edge that shares `EDGE_SHARED_SECRET` with the origin reports (the origin takes
//! reports from nobody else). A report the origin does not take in time (or while it rests
//! after failures) is dropped with a log line: the view shows fewer refusals, never made-up
//! ones. Counts held by an isolate that is evicted inside that second are lost the same way.

use std::{cell::RefCell, collections::HashMap, time::Duration};

use api::live_sale::EdgeRefusals;
use uuid::Uuid;
use worker::{Context, Delay, Env, Method, Request, RequestInit};

use crate::{
    forward,
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
}

/// Counts a refused purchase of `org_id`; the first one since the last report schedules the
/// next report, a second from now, on `ctx`.
pub fn count(env: &Env, ctx: &Context, org_id: Uuid, refusal: EdgeRefusal, trace: &TraceContext) {
    if env.secret("EDGE_SHARED_SECRET").is_err() {
        return;
    }
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
    let headers = forward::edge_headers(env, request_id, trace)?;
    headers.set("content-type", "application/json")?;
    let body = serde_json::to_string(counts)?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_headers(headers)
        .with_body(Some(body.into()));
    Request::new_with_init(&forward::tenant_url(env, org_id, "edge/refusals")?, &init)
}
