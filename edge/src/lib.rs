//! The FurnitureOps edge Worker.
//!
//! Every shop domain points here. The Worker maps the request's host to its shop, refuses what
//! it can refuse cheaply (unknown shops, oversized bodies), and forwards API calls to the origin
//! as `/api/tenant/{org_id}/...`, streaming the answer back. This file only wires the modules
//! together; each concern lives in its own module.

mod auth;
mod body;
mod forward;
mod problem;
mod request_id;
mod storefront;
mod tenant;

use api::ProblemKind;
use worker::{event, Context, Env, Request, Response, Result};

use crate::problem::problem_response;

#[event(start)]
fn start() {
    console_error_panic_hook::set_once();
}

#[event(fetch)]
async fn fetch(mut req: Request, env: Env, _ctx: Context) -> Result<Response> {
    let request_id = request_id::settle(&req);
    // Read (capped) before any decision, so every answer leaves the connection reusable.
    let Some(body) = body::read_capped(&mut req).await? else {
        return problem_response(
            ProblemKind::PayloadTooLarge,
            &format!(
                "the request body is larger than {} bytes",
                body::MAX_BODY_BYTES
            ),
            &request_id,
        );
    };
    let path = req.path();
    let Some(api_path) = path.strip_prefix("/api/") else {
        return storefront::serve(&req, &env, &request_id).await;
    };
    let host = tenant::request_host(&req);
    let Some(org_id) = tenant::org_for_host(&env, &host).await? else {
        return problem_response(
            ProblemKind::UnknownShop,
            &format!("no shop is served on {host}"),
            &request_id,
        );
    };
    let access = auth::Access::of(&req.method(), api_path);
    if let Err(refusal) = auth::authorize(&req, &env, org_id, access) {
        return problem_response(refusal.kind, &refusal.detail, &request_id);
    }
    let target = forward::Target {
        org_id,
        api_path,
        request_id: &request_id,
    };
    forward::to_origin(&req, body, &env, target).await
}
