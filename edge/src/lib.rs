//! The FurnitureOps edge Worker.
//!
//! Every shop domain points here. The Worker maps the request's host to its shop, refuses what
//! it can refuse cheaply (unknown shops, oversized bodies, bad tokens, purchases while sales are
//! paused, clients over their rate limit), answers inventory reads from a one-second cache, and
//! forwards the rest to the origin as `/api/tenant/{org_id}/...`. It serves the storefront and
//! the admin console pages itself (from its static assets), stores and serves the shops'
//! pictures (R2; a scheduled sweep deletes orphans), and reports the purchases it refused to the origin for the
//! admins' live sale view. This file only wires the
//! modules together: `gateway` holds the request path, each concern lives in its own module,
//! and the rate limiter's Durable Object class is exported from `rate_limit`.

// No function longer than a screen: `too-many-lines-threshold` in clippy.toml.
#![warn(clippy::too_many_lines)]

mod auth;
mod body;
mod clock;
mod edge_secret;
mod forward;
mod gateway;
mod images;
mod inventory_cache;
mod inventory_read;
mod isolate_memo;
mod origin_calls;
mod pages;
mod problem;
mod purchases;
mod rate_limit;
mod read_your_writes;
mod refusal_reports;
mod request_id;
mod respond;
mod route;
mod sales_pause;
mod settings;
mod single_flight;
mod tenant;
mod token_keys;
mod trace_context;
mod web_crypto;

use api::{headers, ProblemKind};
use worker::{event, Context, Env, Request, Response, Result, ScheduleContext, ScheduledEvent};

pub use rate_limit::RateLimiter;

use crate::{problem::problem_response, respond::Answer, trace_context::TraceContext};

#[event(start)]
fn start() {
    console_error_panic_hook::set_once();
}

/// The cron triggers (wrangler.toml `[triggers]`): the orphan sweep of stored pictures.
#[event(scheduled)]
async fn scheduled(_event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    match images::sweep(&env).await {
        Ok(deleted) => worker::console_log!("image sweep: {deleted} orphaned pictures deleted"),
        Err(err) => worker::console_error!("image sweep failed: {err}"),
    }
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> Result<Response> {
    let request_id = request_id::mint();
    let correlation = request_id::correlation(&req);
    let trace = TraceContext::continue_or_start(&req);
    let identity = gateway::Identity {
        request_id: &request_id,
        trace: &trace,
    };
    let answer = match gateway::handle(req, &env, &ctx, identity).await {
        Ok(answer) => answer,
        Err(err) => {
            worker::console_error!("request {request_id} failed at the edge: {err}");
            let detail = "the edge could not handle this request";
            Answer::from(problem_response(
                ProblemKind::Internal,
                detail,
                &request_id,
            )?)
        }
    };
    let answer = answer.with(headers::REQUEST_ID, request_id);
    match correlation {
        Some(correlation) => answer.with(headers::CORRELATION_ID, correlation),
        None => answer,
    }
    .finish()
}
