//! The FurnitureOps edge Worker.
//!
//! Every shop domain points here. The Worker maps the request's host to its shop, refuses what
//! it can refuse cheaply (unknown shops, oversized bodies), and forwards API calls to the origin
//! as `/api/tenant/{org_id}/...`, streaming the answer back. This file only wires the modules
//! together; each concern lives in its own module.

mod forward;
mod problem;
mod request_id;
mod tenant;

use api::ProblemKind;
use worker::{event, Context, Env, Request, Response, Result};

use crate::problem::problem_response;

#[event(start)]
fn start() {
    console_error_panic_hook::set_once();
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    let request_id = request_id::settle(&req);
    let path = req.path();
    let Some(api_path) = path.strip_prefix("/api/") else {
        return problem_response(ProblemKind::NotFound, "no such route", &request_id);
    };
    let host = tenant::request_host(&req);
    let Some(org_id) = tenant::org_for_host(&env, &host).await? else {
        return problem_response(
            ProblemKind::UnknownShop,
            &format!("no shop is served on {host}"),
            &request_id,
        );
    };
    forward::to_origin(req, &env, org_id, api_path, &request_id).await
}
