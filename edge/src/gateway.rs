//! The request path through the edge, in the order refusals are cheapest:
//!
//! 1. the body, read with a cap (413), so every answer leaves the connection reusable;
//! 2. the route (paths outside `/api/` are the storefront's and the admin console's pages; the
//!    origin's `/api/edge/...` routes take only the edge's own reports, so a client asking for
//!    one is told there is no such route) and the shop, from the host (404 unknown);
//! 3. the caller's token, when the route needs one (401/403); an inventory read's query, kept
//!    to the parameters the origin knows in one canonical form (400 for a malformed one), so
//!    no client-chosen spelling makes a new cache entry;
//! 4. purchases while the shop's sales are paused (503 `sales-paused`), and purchases of an item
//!    the isolate knows to be sold out (409 `out-of-stock`; a retried key that bought gets its
//!    sale replayed), see `purchases`;
//! 5. what only the origin can answer while the origin is resting after repeated failures
//!    (503 `origin-unavailable` with `Retry-After`, from isolate memory);
//! 6. the rate limiter for the shop, client, audience (anonymous, signed in, admin) and route
//!    class (429, or 503 when it cannot be asked and the class fails closed); a client the
//!    isolate knows to be cooling down (and a write to a shop whose write ceiling is reached)
//!    is refused from isolate memory before the cache is looked at, so a refused flood costs
//!    no I/O. The shop's admins count against no shop ceiling (by default writes have none);
//!    a shop's purchases are shed (503 `shop-busy`) only while the origin is overloaded by them;
//! 7. inventory reads from the cache (looked up while the limiter decides; a reader with an
//!    honoured write position only from an entry known to include that write), everything else
//!    checked against the audience's read ceiling (429; an inventory read gets the last good
//!    copy, marked stale, instead) and forwarded to the origin with the request id and trace
//!    context, within the deadline of its route class (503 `origin-timeout` past it); an
//!    inventory read the origin cannot answer gets the shop's last good copy, marked stale; an
//!    item the origin does not know costs its reader, not the shop's ceiling;
//! 8. after a successful purchase the shop's cached answers that list the item are dropped,
//!    after a kill-switch flip what the edge knew of the switch, after an item write (a
//!    restock) the item's cached answers and its sold-out mark.
//!
//! The kill switch, sold-out items and the resting origin come before the limiter: all are
//! refused from isolate memory (a sold-out buy after one cache read for its receipt), and a
//! buyer retrying uses up no quota. A purchase refused at step 4 or 6 (paused, sold out, rate
//! limited, shed) is counted for the shop admins' live sale view (`refusal_reports`), a
//! second's worth at a time. Refused requests never reach the
//! origin, so nothing is written for them. A request's calls to the origin (a purchase's
//! kill-switch poll, then the purchase) share one deadline, counted from step 4. `HEAD` is
//! answered as `GET` is (an inventory read from the same cache entry), without the body.

use api::{headers, ProblemKind};
use futures::future::join;
use worker::{Context, Env, Method, Request, Result};

use crate::{
    auth, body, edge_secret,
    forward::{self, SharedRead},
    inventory_cache,
    inventory_read::InventoryRead,
    origin_calls::{self, OriginFailure, OriginPolicy},
    pages,
    problem::{problem_response, problem_retry_after},
    purchases::{self, Buy, Known},
    rate_limit::{self, policy::WhenUnreachable, Audience, Client, Outcome, Standing},
    read_your_writes,
    refusal_reports::{self, EdgeRefusal, Refused},
    respond::Answer,
    route::{Route, RouteClass},
    sales_pause, tenant,
    trace_context::TraceContext,
};

/// Go on (reporting the client's standing, when a quota applies), or answer with a refusal.
type Admission = std::result::Result<Option<Standing>, Answer>;

/// Who is asking for what, settled before the request is looked at.
#[derive(Debug, Clone, Copy)]
pub struct Identity<'a> {
    pub request_id: &'a str,
    pub trace: &'a TraceContext,
}

pub async fn handle(req: Request, env: &Env, ctx: &Context, id: Identity<'_>) -> Result<Answer> {
    let head = req.method() == Method::Head;
    let answer = answer(req, env, ctx, id).await?;
    if head {
        answer.without_body()
    } else {
        Ok(answer)
    }
}

async fn answer(mut req: Request, env: &Env, ctx: &Context, id: Identity<'_>) -> Result<Answer> {
    let request_id = id.request_id;
    let Some(body) = body::read_capped(&mut req).await? else {
        let detail = format!(
            "the request body is larger than {} bytes",
            body::MAX_BODY_BYTES
        );
        return refuse(ProblemKind::PayloadTooLarge, &detail, request_id);
    };
    let path = req.path();
    let Some(api_path) = path.strip_prefix("/api/") else {
        return pages::serve(&req, env, request_id).await.map(Answer::from);
    };
    if edge_secret::keys(env).is_err() {
        let detail = "the edge's shared secret is too weak to trust; its operator must set a \
                      strong EDGE_SHARED_SECRET";
        return refuse(ProblemKind::Misconfigured, detail, request_id);
    }
    if !forward::origin_url_is_private(env) {
        let detail = "the edge would reach its origin in the clear; its operator must set an \
                      https:// ORIGIN_URL";
        return refuse(ProblemKind::Misconfigured, detail, request_id);
    }
    if Route::is_origin_only(api_path) {
        return refuse(ProblemKind::NotFound, "no such route", request_id);
    }
    let host = tenant::request_host(&req);
    let Some(org_id) = tenant::org_for_host(env, &host).await? else {
        let detail = format!("no shop is served on {host}");
        return refuse(ProblemKind::UnknownShop, &detail, request_id);
    };
    let method = req.method();
    let route = Route {
        method: &method,
        api_path,
    };
    let access = auth::Access::of(&method, api_path);
    let caller = match auth::authorize(&req, env, org_id, access).await {
        Ok(caller) => caller,
        Err(refusal) => return refuse(refusal.kind, &refusal.detail, request_id),
    };
    // Whose budgets the request spends: a shopper's token on a public read is only for that.
    let signed_in = match &caller {
        None if route.is_cacheable() => auth::signed_in(&req, env, org_id).await,
        _ => None,
    };
    let claims = caller.as_ref().or(signed_in.as_ref()).map(|v| &v.claims);
    let audience = Audience::of(access == auth::Access::Admin, claims.is_some());
    let policy = OriginPolicy::from_env(env);
    let budget = policy.deadlines.budget(route.class());
    let url = req.url()?;
    // An inventory read in its canonical form: what it is cached under and forwarded as.
    let inventory_read = if route.is_cacheable() {
        let pairs = url
            .query_pairs()
            .map(|(name, value)| (name.into_owned(), value.into_owned()));
        let cursors = crate::inventory_read::cursors(env);
        match InventoryRead::parse(api_path, pairs, &cursors, org_id) {
            Ok(read) => Some(read),
            Err(detail) => return refuse(ProblemKind::MalformedRequest, &detail, request_id),
        }
    } else {
        None
    };
    let answerable_from_cache = inventory_read.is_some();
    let client = Client::of(claims, audience, &req);
    let subject = caller.as_ref().map(|verified| verified.claims.sub.as_str());
    let mut buy = route
        .is_purchase()
        .then(|| Buy::new(&host, org_id, &req, &body, subject));

    if route.is_purchase() {
        let status_call = sales_pause::StatusCall {
            org_id,
            request_id,
            trace: id.trace,
            policy: &policy,
            deadline: budget.left().min(policy.deadlines.of(RouteClass::Read)),
        };
        if let Some(paused) = sales_pause::paused(env, status_call).await {
            let refused = Refused {
                org_id,
                client: client.key(),
                refusal: EdgeRefusal::Paused,
            };
            refusal_reports::count(env, ctx, refused, id.trace);
            let response = problem_retry_after(
                ProblemKind::SalesPaused,
                &paused.detail(),
                request_id,
                paused.retry_after_seconds,
            )?;
            return Ok(response.into());
        }
    }
    if let Some(buy) = &mut buy {
        match buy.known_sold_out(request_id).await? {
            Some(Known::Replayed(sale)) => return Ok(sale),
            Some(Known::SoldOut(refusal)) => {
                let refused = Refused {
                    org_id,
                    client: client.key(),
                    refusal: EdgeRefusal::SoldOut,
                };
                refusal_reports::count(env, ctx, refused, id.trace);
                return Ok(refusal);
            }
            None => {}
        }
    }

    if !answerable_from_cache {
        if let Some(retry_after_ms) = origin_calls::resting_for() {
            let resting = OriginFailure::Resting { retry_after_ms };
            return Ok(resting.problem(request_id)?.into());
        }
    }

    // A client this isolate already refuses (cooling down, or a write past the shop's full
    // ceiling) is answered before anything costs I/O: a refused flood pays no cache lookup.
    let known = rate_limit::known_refusal(env, org_id, &client, audience, route.class()).await;
    if let Some(refused) = known {
        return too_many_requests(refused, request_id);
    }

    // Looking in the cache has no effect, so it overlaps the limiter's round trip. A reader
    // who just wrote and sent its own write's sealed position must see that write.
    let reader = match &inventory_read {
        Some(_) => read_your_writes::honoured(&req, env, org_id, signed_in.as_ref()),
        None => None,
    };
    let entry = inventory_read
        .as_ref()
        .map(|read| inventory_cache::Entry::new(&host, org_id, read, reader.clone()));
    let lookup = async {
        match &entry {
            Some(entry) => entry.cached().await,
            None => None,
        }
    };
    let (outcome, cached) = join(
        rate_limit::check(env, org_id, client.clone(), audience, route.class()),
        lookup,
    )
    .await;
    let standing = match admission(outcome, request_id)? {
        Ok(standing) => standing,
        Err(refusal) => {
            if route.is_purchase() && refusal.status() == 429 {
                let refused = Refused {
                    org_id,
                    client: client.key(),
                    refusal: EdgeRefusal::RateLimited,
                };
                refusal_reports::count(env, ctx, refused, id.trace);
            }
            return Ok(refusal);
        }
    };
    if let Some(hit) = cached {
        return Ok(with_standing(hit, standing));
    }
    if let Some(shed) = buy
        .as_ref()
        .map(|buy| buy.shed(request_id))
        .transpose()?
        .flatten()
    {
        let refused = Refused {
            org_id,
            client: client.key(),
            refusal: EdgeRefusal::Busy,
        };
        refusal_reports::count(env, ctx, refused, id.trace);
        return Ok(with_standing(shed, standing));
    }
    // The shop's ceiling guards the origin, so only what reaches it counts; a copy that costs
    // the origin nothing beats a refusal.
    let ceiling = rate_limit::origin_ceiling(env, org_id, audience, route.class()).await;
    if let Outcome::Refused(ceiling) = ceiling {
        if let Some(entry) = &entry {
            if let Some(copy) = entry.last_good(env).await {
                return Ok(with_standing(copy, standing));
            }
        }
        return too_many_requests(ceiling, request_id);
    }

    let canonical_path = inventory_read.as_ref().map(InventoryRead::api_path);
    let query = match &inventory_read {
        Some(read) => read.query(),
        None => url.query().map(str::to_owned),
    };
    let target = forward::Target {
        org_id,
        api_path: canonical_path.as_deref().unwrap_or(api_path),
        query: query.as_deref(),
        request_id,
        trace: id.trace,
        caller: caller.as_ref().or(reader.as_ref().map(|read| &read.reader)),
        shared: inventory_read.as_ref().map(|_| SharedRead {
            write_position: reader.as_ref().map(|read| read.sealed.as_str()),
        }),
        as_get: answerable_from_cache,
    };
    let origin_request = forward::origin_request(&req, &body, env, target)?;
    let item_id = buy.as_ref().and_then(Buy::item_id);
    let answer = match (entry, buy) {
        (Some(entry), _) => {
            let fetch = entry.fetch(env, origin_request, request_id, &policy, budget.left());
            fetch.await?
        }
        (None, Some(buy)) => {
            let send = buy.send(ctx, origin_request, request_id, &policy, budget.left());
            send.await?
        }
        (None, None) => forward::send(origin_request, request_id, &policy, budget.left()).await?,
    };
    if matches!(inventory_read, Some(InventoryRead::Item(_))) && answer.status() == 404 {
        rate_limit::found_nothing(org_id, &client, audience);
    }
    if route.is_purchase() && (200..300).contains(&answer.status()) {
        inventory_cache::invalidate(&host, org_id, item_id).await;
    }
    if route.is_item_write() && (200..300).contains(&answer.status()) {
        purchases::item_written(org_id, api_path);
        let written = api_path.strip_prefix("admin/items/");
        let item_id = written.and_then(|id| uuid::Uuid::parse_str(id).ok());
        inventory_cache::invalidate(&host, org_id, item_id).await;
    }
    if route.is_kill_switch_flip() && (200..300).contains(&answer.status()) {
        sales_pause::forget(org_id);
    }
    Ok(with_standing(answer, standing))
}

/// What the limiter's outcome means: go on (reporting the client's standing, if limited), or
/// the refusal to answer with.
fn admission(outcome: Outcome, request_id: &str) -> Result<Admission> {
    Ok(match outcome {
        Outcome::Admitted(standing) => Ok(Some(standing)),
        Outcome::Unlimited | Outcome::Unreachable(WhenUnreachable::Open) => Ok(None),
        Outcome::Refused(standing) => Err(too_many_requests(standing, request_id)?),
        Outcome::Unreachable(WhenUnreachable::Closed) => Err(refuse(
            ProblemKind::Unavailable,
            "the shop is busy; please try again shortly",
            request_id,
        )?),
    })
}

fn refuse(kind: ProblemKind, detail: &str, request_id: &str) -> Result<Answer> {
    Ok(problem_response(kind, detail, request_id)?.into())
}

fn too_many_requests(standing: Standing, request_id: &str) -> Result<Answer> {
    let detail = format!(
        "too many {} requests; try again in {} s",
        standing.class.name(),
        standing.reset_seconds.max(1)
    );
    let response = problem_retry_after(
        ProblemKind::RateLimited,
        &detail,
        request_id,
        standing.reset_seconds,
    )?;
    Ok(with_standing(response.into(), Some(standing)))
}

fn with_standing(answer: Answer, standing: Option<Standing>) -> Answer {
    match standing {
        Some(standing) => answer
            .with(headers::RATELIMIT_POLICY, standing.policy_field())
            .with(headers::RATELIMIT, standing.ratelimit_field()),
        None => answer,
    }
}
