//! Forwarding to the origin: `/api/<rest>` on a shop domain becomes
//! `{ORIGIN_URL}/api/tenant/{org_id}/<rest>`, with only the headers the origin needs, plus the
//! request id, the trace context and the edge secret, within the deadline of its route class.
//! The caller's verified claims go along sealed for this one request (`api::token::edge_claims`),
//! so the origin need not check an asymmetric signature a second time.

use std::time::Duration;

use api::{
    headers,
    token::{
        edge_claims::{self, Binding, EdgeClaimsKey},
        VerifiedToken,
    },
};
use uuid::Uuid;
use worker::{js_sys::Uint8Array, Env, Headers, Method, Request, RequestInit, Response, Result};

use crate::{
    origin_calls::{self, OriginFailure, OriginPolicy},
    request_id,
    respond::Answer,
    trace_context::TraceContext,
};

/// Where a request goes: which shop, which API path and query, under which request id and trace.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub org_id: Uuid,
    pub api_path: &'a str,
    pub query: Option<&'a str>,
    pub request_id: &'a str,
    pub trace: &'a TraceContext,
    /// The token the edge verified, if the route needed one.
    pub caller: Option<&'a VerifiedToken>,
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

/// `{ORIGIN_URL}/api/tenant/{org_id}/{rest}`.
pub fn tenant_url(env: &Env, org_id: Uuid, rest: &str) -> Result<String> {
    let origin = env.var("ORIGIN_URL")?.to_string();
    Ok(format!(
        "{}/api/tenant/{org_id}/{rest}",
        origin.trim_end_matches('/')
    ))
}

/// The headers every edge call to the origin carries.
pub fn edge_headers(env: &Env, request_id: &str, trace: &TraceContext) -> Result<Headers> {
    let outbound = Headers::new();
    outbound.set(headers::REQUEST_ID, request_id)?;
    outbound.set(headers::TRACEPARENT, &trace.traceparent())?;
    if let Some(state) = trace.tracestate() {
        outbound.set(headers::TRACESTATE, state)?;
    }
    if let Ok(secret) = env.secret("EDGE_SHARED_SECRET") {
        outbound.set(headers::EDGE_SECRET, &secret.to_string())?;
    }
    Ok(outbound)
}

/// The origin's version of `req`.
pub fn origin_request(
    req: &Request,
    body: &[u8],
    env: &Env,
    target: Target<'_>,
) -> Result<Request> {
    let query = target.query.map(|q| format!("?{q}")).unwrap_or_default();
    let url = format!(
        "{}{query}",
        tenant_url(env, target.org_id, target.api_path)?
    );
    let outbound = edge_headers(env, target.request_id, target.trace)?;
    for name in FORWARDED {
        if let Some(value) = req.headers().get(name)? {
            outbound.set(name, &value)?;
        }
    }
    if let Some(correlation) = request_id::correlation(req) {
        outbound.set(headers::CORRELATION_ID, &correlation)?;
    }
    if let (Some(verified), Ok(secret)) = (target.caller, env.secret("EDGE_SHARED_SECRET")) {
        let key = EdgeClaimsKey::from_edge_secret(secret.to_string().as_bytes());
        let path = format!("/api/tenant/{}/{}", target.org_id, target.api_path);
        let method = req.method();
        let binding = Binding {
            method: method.as_ref(),
            path: &path,
            org_id: target.org_id,
            request_id: target.request_id,
        };
        let now_ms = i64::try_from(crate::clock::now_ms()).unwrap_or(i64::MAX);
        let now = chrono::DateTime::from_timestamp_millis(now_ms).unwrap_or_default();
        outbound.set(edge_claims::HEADER, &key.seal(binding, verified, now))?;
    }
    if let Some(ip) = req.headers().get(headers::CF_CONNECTING_IP)? {
        outbound.set("x-forwarded-for", &ip)?;
    }
    let method = req.method();
    let mut init = RequestInit::new();
    init.with_method(method.clone()).with_headers(outbound);
    if !matches!(method, Method::Get | Method::Head) {
        init.with_body(Some(Uint8Array::from(body).into()));
    }
    Request::new_with_init(&url, &init)
}

/// Sends `request` to the origin within `deadline`; an origin that cannot answer (or is resting)
/// is a 503 problem with `Retry-After`.
pub async fn send(
    request: Request,
    request_id: &str,
    policy: &OriginPolicy,
    deadline: Duration,
) -> Result<Answer> {
    answer(exchange(request, policy, deadline).await, request_id)
}

/// Sends `request` to the origin within `deadline`: its response, or why there is none.
pub async fn exchange(
    request: Request,
    policy: &OriginPolicy,
    deadline: Duration,
) -> std::result::Result<Response, OriginFailure> {
    origin_calls::call(&policy.breaker, request, deadline, |response| async {
        Ok(response)
    })
    .await
}

/// The answer to give for what `exchange` brought back.
pub fn answer(
    answered: std::result::Result<Response, OriginFailure>,
    request_id: &str,
) -> Result<Answer> {
    Ok(match answered {
        Ok(response) => Answer::from(response),
        Err(failure) => {
            worker::console_error!("request {request_id} got no origin answer: {failure:?}");
            Answer::from(failure.problem(request_id)?)
        }
    })
}
