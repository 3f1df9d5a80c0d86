//! Steps 4-6: whether a settled request goes on to the origin. What isolate memory already
//! knows is answered first (a paused shop, a sold-out item, a resting origin, a client cooling
//! down), then the rate limiter decides while the inventory cache is looked in, then a shop's
//! purchases may be shed and the audience's ceiling applied, and last a buy of an item whose
//! sold-out mark ran out takes the probe's turn (only an admitted buy may). A purchase refused
//! here is counted for the shop admins' live sale view.

use api::ProblemKind;
use futures::future::join;
use worker::{Context, Env, Request, Result};

use super::{
    refusals::{admission, too_many_requests, with_standing},
    request::{Identity, Settled},
};
use crate::{
    inventory_cache::Entry,
    origin_calls::{self, OriginFailure},
    problem::problem_retry_after,
    purchases::Known,
    rate_limit::{self, Outcome, Standing},
    read_your_writes::{self, HonouredPosition},
    refusal_reports::{self, EdgeRefusal, Refused},
    respond::Answer,
    route::RouteClass,
    sales_pause,
};

/// A request the origin is to answer.
#[derive(Debug)]
pub struct Admitted {
    /// The client's standing against its quota, when one applies.
    pub standing: Option<Standing>,
    /// Where an inventory read is cached.
    pub entry: Option<Entry>,
    /// The write position an inventory read must include, honoured for its reader.
    pub reader: Option<HonouredPosition>,
}

/// Steps 4-6, or the answer that ends the request there.
pub async fn admit(
    request: &mut Settled,
    req: &Request,
    env: &Env,
    ctx: &Context,
    id: Identity<'_>,
) -> Result<std::result::Result<Admitted, Answer>> {
    if let Some(refusal) = known_in_memory(request, env, ctx, id).await? {
        return Ok(Err(refusal));
    }
    let (org_id, class) = (request.org_id, request.route().class());
    // Looking in the cache has no effect, so it overlaps the limiter's round trip. A reader
    // who just wrote and sent its own write's sealed position must see that write.
    let (entry, reader) = cache_entry(request, req, env);
    let lookup = async {
        match &entry {
            Some(entry) => entry.cached().await,
            None => None,
        }
    };
    let check = rate_limit::check(env, org_id, request.client.clone(), request.audience, class);
    let (outcome, cached) = join(check, lookup).await;
    let standing = match admission(outcome, id.request_id)? {
        Ok(standing) => standing,
        Err(refusal) => {
            if request.route().is_purchase() && refusal.status() == 429 {
                count(request, EdgeRefusal::RateLimited, env, ctx, id);
            }
            return Ok(Err(refusal));
        }
    };
    if let Some(hit) = cached {
        return Ok(Err(with_standing(hit, standing)));
    }
    let refusal = shed_or_ceiling(request, entry.as_ref(), standing, env, ctx, id);
    if let Some(refusal) = refusal.await? {
        return Ok(Err(refusal));
    }
    if let Some(known) = probe_or_sold_out(request, env, ctx, id).await? {
        return Ok(Err(with_standing(known, standing)));
    }
    Ok(Ok(Admitted {
        standing,
        entry,
        reader,
    }))
}

/// Steps 4-5, and the start of 6: refusals isolate memory can give without any I/O (but a
/// sold-out buy's one cache read for its receipt).
async fn known_in_memory(
    request: &mut Settled,
    env: &Env,
    ctx: &Context,
    id: Identity<'_>,
) -> Result<Option<Answer>> {
    if request.route().is_purchase() {
        let status_call = sales_pause::StatusCall {
            org_id: request.org_id,
            request_id: id.request_id,
            trace: id.trace,
            policy: &request.policy,
            deadline: request
                .budget
                .left()
                .min(request.policy.deadlines.of(RouteClass::Read)),
        };
        if let Some(paused) = sales_pause::paused(env, status_call).await {
            count(request, EdgeRefusal::Paused, env, ctx, id);
            let response = problem_retry_after(
                ProblemKind::SalesPaused,
                &paused.detail(),
                id.request_id,
                paused.retry_after_seconds,
            )?;
            return Ok(Some(response.into()));
        }
    }
    if let Some(buy) = &mut request.buy {
        let known = buy.known_sold_out(id.request_id).await?;
        if let Some(answer) = known_answer(request, known, env, ctx, id) {
            return Ok(Some(answer));
        }
    }
    if request.inventory_read.is_none() {
        if let Some(retry_after_ms) = origin_calls::resting_for() {
            let resting = OriginFailure::Resting { retry_after_ms };
            return Ok(Some(resting.problem(id.request_id)?.into()));
        }
    }
    // A client this isolate already refuses (cooling down, or a write past the shop's full
    // ceiling) is answered before anything costs I/O: a refused flood pays no cache lookup.
    let (org_id, class) = (request.org_id, request.route().class());
    let known = rate_limit::known_refusal(env, org_id, &request.client, request.audience, class);
    match known.await {
        Some(refused) => too_many_requests(refused, id.request_id).map(Some),
        None => Ok(None),
    }
}

/// The end of step 6: a shop's purchases shed while the origin is overloaded by them, and the
/// audience's ceiling, which guards the origin, so only what reaches it counts; a copy that
/// costs the origin nothing beats a refusal. The ceiling's refusal reports the ceiling's
/// standing; the others the client's.
async fn shed_or_ceiling(
    request: &Settled,
    entry: Option<&Entry>,
    standing: Option<Standing>,
    env: &Env,
    ctx: &Context,
    id: Identity<'_>,
) -> Result<Option<Answer>> {
    if let Some(buy) = &request.buy {
        if let Some(shed) = buy.shed(id.request_id)? {
            count(request, EdgeRefusal::Busy, env, ctx, id);
            return Ok(Some(with_standing(shed, standing)));
        }
    }
    let (org_id, class) = (request.org_id, request.route().class());
    let ceiling = rate_limit::origin_ceiling(env, org_id, request.audience, class).await;
    let Outcome::Refused(ceiling) = ceiling else {
        return Ok(None);
    };
    if let Some(copy) = entry.map(|entry| entry.last_good(env)) {
        if let Some(copy) = copy.await {
            return Ok(Some(with_standing(copy, standing)));
        }
    }
    too_many_requests(ceiling, id.request_id).map(Some)
}

/// The last step for a buy every other step admitted: one that found its item's sold-out mark
/// run out takes the probe's turn now, so a buy refused earlier (a client cooling down, over
/// its quota, or shed) never holds the turn an honest buyer needs; if another buy took the turn
/// first, this one is answered as a sold-out buy.
async fn probe_or_sold_out(
    request: &mut Settled,
    env: &Env,
    ctx: &Context,
    id: Identity<'_>,
) -> Result<Option<Answer>> {
    let Some(buy) = &mut request.buy else {
        return Ok(None);
    };
    let known = buy.take_probe(id.request_id).await?;
    Ok(known_answer(request, known, env, ctx, id))
}

/// What the edge answers for a buy of an item it knows to be sold out, counting a refusal.
fn known_answer(
    request: &Settled,
    known: Option<Known>,
    env: &Env,
    ctx: &Context,
    id: Identity<'_>,
) -> Option<Answer> {
    match known? {
        Known::Replayed(sale) => Some(sale),
        Known::SoldOut(refusal) => {
            count(request, EdgeRefusal::SoldOut, env, ctx, id);
            Some(refusal)
        }
    }
}

/// Counts a refused purchase for the shop admins' live sale view.
fn count(request: &Settled, refusal: EdgeRefusal, env: &Env, ctx: &Context, id: Identity<'_>) {
    let refused = Refused {
        org_id: request.org_id,
        client: request.client.key(),
        refusal,
    };
    refusal_reports::count(env, ctx, refused, id.trace);
}

/// Where a read is cached and whose write position it must include.
fn cache_entry(
    request: &Settled,
    req: &Request,
    env: &Env,
) -> (Option<Entry>, Option<HonouredPosition>) {
    let Some(read) = &request.inventory_read else {
        return (None, None);
    };
    let reader = read_your_writes::honoured(req, env, request.org_id, request.signed_in.as_ref());
    let entry = Entry::new(&request.host, request.org_id, read, reader.clone());
    (Some(entry), reader)
}
