//! The request path through the edge, in the order refusals are cheapest:
//!
//! 1. the body, read with a cap (413), so every answer leaves the connection reusable (a
//!    picture upload's cap is 10 MB, the API's 16 KiB);
//! 2. the route (`/images/...` are the shop's pictures, `images::serve`; other paths outside
//!    `/api/` are the storefront's and the admin console's pages; the
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
//!    a buy of an item whose sold-out mark ran out, admitted by all of these, takes the turn to
//!    ask the origin (a buy refused here never holds it: see `purchases::sold_out`);
//! 7. a picture upload's bytes are recognised and stored in R2 (415, 422; `images`), and its
//!    metadata goes on in their place; inventory reads from the cache (looked up while the limiter decides; a reader with an
//!    honoured write position only from an entry known to include that write), everything else
//!    checked against the audience's read ceiling (429; an inventory read gets the last good
//!    copy, marked stale, instead) and forwarded to the origin with the request id and trace
//!    context, within the deadline of its route class (503 `origin-timeout` past it); an
//!    inventory read the origin cannot answer gets the shop's last good copy, marked stale; an
//!    item the origin does not know costs its reader, not the shop's ceiling;
//! 8. after a successful purchase the shop's cached answers that list the item are dropped,
//!    after a kill-switch flip what the edge knew of the switch, after an item write (a
//!    restock) the item's cached answers and its sold-out mark, after a change to the shop's
//!    domains what the isolate knew of its hosts.
//!
//! The kill switch, sold-out items and the resting origin come before the limiter: all are
//! refused from isolate memory (a sold-out buy after one cache read for its receipt), and a
//! buyer retrying uses up no quota. A purchase refused at step 4 or 6 (paused, sold out, rate
//! limited, shed) is counted for the shop admins' live sale view (`refusal_reports`), a
//! second's worth at a time. Refused requests never reach the
//! origin, so nothing is written for them. A request's calls to the origin (a purchase's
//! kill-switch poll, then the purchase) share one deadline, counted from step 4. `HEAD` is
//! answered as `GET` is (an inventory read from the same cache entry), without the body.

mod admission;
mod refusals;
mod request;

use worker::{Context, Env, Method, Request, Result};

use crate::{
    forward::{self, SharedRead},
    images, inventory_cache,
    inventory_read::InventoryRead,
    purchases, rate_limit,
    respond::Answer,
    sales_pause, tenant,
};
use admission::Admitted;
use refusals::with_standing;
pub use request::Identity;
use request::Settled;

pub async fn handle(req: Request, env: &Env, ctx: &Context, id: Identity<'_>) -> Result<Answer> {
    let head = req.method() == Method::Head;
    let answer = answer(req, env, ctx, id).await?;
    if head {
        answer.without_body()
    } else {
        Ok(answer)
    }
}

/// Steps 1-3 settle the request, 4-6 admit it (or refuse it), 7 answers it, 8 forgets what the
/// answer made stale.
async fn answer(mut req: Request, env: &Env, ctx: &Context, id: Identity<'_>) -> Result<Answer> {
    let mut request = match Settled::settle(&mut req, env, id).await? {
        Ok(request) => request,
        Err(answer) => return Ok(answer),
    };
    let admitted = match admission::admit(&mut request, &req, env, ctx, id).await? {
        Ok(admitted) => admitted,
        Err(answer) => return Ok(answer),
    };
    let standing = admitted.standing;
    let answer = from_origin(&mut request, admitted, &req, env, ctx, id).await?;
    forget_what_changed(&request, &answer, env).await;
    Ok(with_standing(answer, standing))
}

/// Step 7: the origin's answer, through the inventory cache for a read, through the sale's
/// receipt and the shop's admission for a purchase.
async fn from_origin(
    request: &mut Settled,
    admitted: Admitted,
    req: &Request,
    env: &Env,
    ctx: &Context,
    id: Identity<'_>,
) -> Result<Answer> {
    let Admitted { entry, reader, .. } = admitted;
    // A picture's bytes stay at the edge: the origin is sent what was stored instead.
    let mut stored_picture = None;
    if request.route().is_image_upload() {
        match images::store(env, request.org_id, req, &request.body, id.request_id).await? {
            Ok(metadata) => stored_picture = Some(metadata),
            Err(refusal) => return Ok(refusal),
        }
    }
    let canonical_path = request.inventory_read.as_ref().map(InventoryRead::api_path);
    let query = match &request.inventory_read {
        Some(read) => read.query(),
        None => request.url.query().map(str::to_owned),
    };
    let target = forward::Target {
        org_id: request.org_id,
        api_path: canonical_path.as_deref().unwrap_or(&request.api_path),
        query: query.as_deref(),
        request_id: id.request_id,
        trace: id.trace,
        caller: request
            .caller
            .as_ref()
            .or(reader.as_ref().map(|read| &read.reader)),
        shared: request.inventory_read.as_ref().map(|_| SharedRead {
            write_position: reader.as_ref().map(|read| read.sealed.as_str()),
        }),
        as_get: request.inventory_read.is_some(),
        content_type: stored_picture.as_ref().map(|_| "application/json"),
    };
    let body = stored_picture.as_deref().unwrap_or(&request.body);
    let origin_request = forward::origin_request(req, body, env, target)?;
    let (policy, left) = (&request.policy, request.budget.left());
    let answer = match (entry, request.buy.take()) {
        (Some(entry), _) => {
            entry
                .fetch(env, origin_request, id.request_id, policy, left)
                .await?
        }
        (None, Some(buy)) => {
            buy.send(ctx, origin_request, id.request_id, policy, left)
                .await?
        }
        (None, None) => forward::send(origin_request, id.request_id, policy, left).await?,
    };
    if matches!(request.inventory_read, Some(InventoryRead::Item(_))) && answer.status() == 404 {
        rate_limit::found_nothing(request.org_id, &request.client, request.audience);
    }
    Ok(answer)
}

/// Step 8: after a successful purchase the shop's cached answers that list the item, after an
/// item write its cached answers and sold-out mark, after a domain change what the isolate knew
/// of the shop's hosts, after a kill-switch flip what the edge knew
/// of the switch.
async fn forget_what_changed(request: &Settled, answer: &Answer, env: &Env) {
    if !(200..300).contains(&answer.status()) {
        return;
    }
    let route = request.route();
    let (host, org_id) = (request.host.as_str(), request.org_id);
    if route.is_purchase() {
        inventory_cache::invalidate(host, org_id, request.bought_item).await;
    }
    if route.is_item_write() {
        // `PATCH admin/items/{id}` (and its pictures) names the item; a create leaves the whole
        // shop to reopen.
        let item_id = route
            .written_item()
            .and_then(|id| uuid::Uuid::parse_str(id).ok());
        purchases::item_written(org_id, item_id);
        inventory_cache::invalidate(host, org_id, item_id).await;
    }
    if route.is_kill_switch_flip() {
        sales_pause::forget(org_id);
    }
    if route.is_domain_write() {
        tenant::forget_domains(env, org_id, &request.api_path).await;
    }
}
