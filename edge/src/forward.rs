//! Forwarding to the origin: `/api/<rest>` on a shop domain becomes
//! `{ORIGIN_URL}/api/tenant/{org_id}/<rest>`, with only the headers the origin needs.

use api::{headers, ProblemKind};
use uuid::Uuid;
use worker::{
    js_sys::Uint8Array, Env, Fetch, Headers, Method, Request, RequestInit, Response, Result,
};

use crate::problem::problem_response;

/// Where a request goes: which shop, which API path, under which request id.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub org_id: Uuid,
    pub api_path: &'a str,
    pub request_id: &'a str,
}

/// Request headers passed through to the origin. `x-write-lsn` and `cookie` carry the caller's
/// read-your-writes position (the origin reads only its own cookie).
const FORWARDED: [&str; 7] = [
    "authorization",
    "content-type",
    "idempotency-key",
    "prefer",
    "accept",
    headers::WRITE_LSN,
    "cookie",
];

pub async fn to_origin(
    req: &Request,
    body: Vec<u8>,
    env: &Env,
    target: Target<'_>,
) -> Result<Response> {
    let Target {
        org_id,
        api_path,
        request_id,
    } = target;
    let origin = env.var("ORIGIN_URL")?.to_string();
    let query = req
        .url()?
        .query()
        .map(|q| format!("?{q}"))
        .unwrap_or_default();
    let url = format!(
        "{}/api/tenant/{org_id}/{api_path}{query}",
        origin.trim_end_matches('/')
    );

    let outbound = Headers::new();
    for name in FORWARDED {
        if let Some(value) = req.headers().get(name)? {
            outbound.set(name, &value)?;
        }
    }
    outbound.set(headers::REQUEST_ID, request_id)?;
    if let Some(ip) = req.headers().get("cf-connecting-ip")? {
        outbound.set("x-forwarded-for", &ip)?;
    }
    if let Ok(secret) = env.secret("EDGE_SHARED_SECRET") {
        outbound.set(headers::EDGE_SECRET, &secret.to_string())?;
    }

    let method = req.method();
    let mut init = RequestInit::new();
    init.with_method(method.clone()).with_headers(outbound);
    if !matches!(method, Method::Get | Method::Head) {
        init.with_body(Some(Uint8Array::from(body.as_slice()).into()));
    }

    match Fetch::Request(Request::new_with_init(&url, &init)?)
        .send()
        .await
    {
        Ok(response) => Ok(response),
        Err(err) => {
            worker::console_error!("origin unreachable for request {request_id}: {err}");
            problem_response(
                ProblemKind::Unavailable,
                "the shop is temporarily unavailable",
                request_id,
            )
        }
    }
}
