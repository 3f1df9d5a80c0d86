//! Forwarding to the origin: `/api/<rest>` on a shop domain becomes
//! `{ORIGIN_URL}/api/tenant/{org_id}/<rest>`, with only the headers the origin needs, plus the
//! request id and the trace context, within the deadline of its route class. The caller's
//! verified claims go along sealed for this one request (`api::token::edge_claims`), so the
//! origin need not check an asymmetric signature a second time, and every request the edge
//! sends the origin (forwarded ones, its own status polls and reports) carries the edge's proof
//! over the request as sent (`api::edge_proof`, made last by `signed`). With the secret, the
//! caller's bearer token is not forwarded at all: its verified claims go sealed instead, so
//! nothing seen on the hop can be replayed as a token through the Worker.

use std::time::Duration;

use api::{
    edge_proof::{self, is_loopback_host, BoundHeaders, ProvedRequest},
    headers,
    token::{
        edge_claims::{self, Binding},
        VerifiedToken,
    },
};
use uuid::Uuid;
use worker::{
    js_sys::Uint8Array, Env, Headers, Method, Request, RequestInit, Response, Result, Url,
};

use crate::{
    edge_secret,
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
    /// The token the edge verified, if the route needed one (or a reader's, whose write
    /// position is honoured).
    pub caller: Option<&'a VerifiedToken>,
    /// The answer is shared with other callers (an inventory read for the cache): it must not
    /// depend on this caller's token or cookies, only on the one write position it must
    /// include, if any (sealed, as the origin issued it).
    pub shared: Option<SharedRead<'a>>,
    /// Asked as `GET` whatever the client's method: a `HEAD` answered from the inventory
    /// cache fills the entry a `GET` reads.
    pub as_get: bool,
    /// Sent as this content type whatever the client's (a picture upload's metadata, JSON).
    pub content_type: Option<&'a str>,
}

/// A read whose answer other callers get too.
#[derive(Debug, Clone, Copy)]
pub struct SharedRead<'a> {
    pub write_position: Option<&'a str>,
}

/// What a shared answer must not depend on.
const PER_CALLER: [&str; 3] = ["authorization", "cookie", headers::WRITE_LSN];

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

impl Target<'_> {
    fn method(&self, req: &Request) -> Method {
        if self.as_get {
            Method::Get
        } else {
            req.method()
        }
    }
}

/// Whether `ORIGIN_URL` keeps the hop private: `https://`, or plain `http://` to a loopback
/// address (development, tests). Anything else would carry every shopper's request in the
/// clear, so the gateway answers `500 misconfigured` instead of using it.
pub fn origin_url_is_private(env: &Env) -> bool {
    thread_local! {
        static PRIVATE: std::cell::OnceCell<bool> = const { std::cell::OnceCell::new() };
    }
    PRIVATE.with(|private| {
        *private.get_or_init(|| {
            let Ok(raw) = env.var("ORIGIN_URL").map(|url| url.to_string()) else {
                return false;
            };
            let Ok(url) = Url::parse(&raw) else {
                return false;
            };
            let loopback = is_loopback_host(url.host_str().unwrap_or_default());
            url.scheme() == "https" || (url.scheme() == "http" && loopback)
        })
    })
}

/// Whether the origin is somewhere other than plain `http://` on loopback: false only in
/// development and tests, where the Worker itself is reached over plain http too.
pub fn origin_is_remote(env: &Env) -> bool {
    let Ok(raw) = env.var("ORIGIN_URL").map(|url| url.to_string()) else {
        return true;
    };
    Url::parse(&raw).map_or(true, |url| {
        !(url.scheme() == "http" && is_loopback_host(url.host_str().unwrap_or_default()))
    })
}

/// `{ORIGIN_URL}/api/tenant/{org_id}/{rest}`.
pub fn tenant_url(env: &Env, org_id: Uuid, rest: &str) -> Result<String> {
    let origin = env.var("ORIGIN_URL")?.to_string();
    Ok(format!(
        "{}/api/tenant/{org_id}/{rest}",
        origin.trim_end_matches('/')
    ))
}

/// The headers every edge call to the origin carries.
pub fn edge_headers(request_id: &str, trace: &TraceContext) -> Result<Headers> {
    let outbound = Headers::new();
    outbound.set(headers::REQUEST_ID, request_id)?;
    outbound.set(headers::TRACEPARENT, &trace.traceparent())?;
    if let Some(state) = trace.tracestate() {
        outbound.set(headers::TRACESTATE, state)?;
    }
    Ok(outbound)
}

/// The request to `url` with `outbound` headers and `body`, proved by the edge when it holds
/// the shared secret. Nothing may change the request after this.
pub fn signed(
    env: &Env,
    method: Method,
    url: &str,
    outbound: Headers,
    body: &[u8],
) -> Result<Request> {
    let url = Url::parse(url).map_err(|err| worker::Error::RustError(err.to_string()))?;
    if let Some(keys) = edge_secret::trusted(env) {
        let path_and_query = match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_owned(),
        };
        let bound = BoundHeaders::read(|name| outbound.get(name).ok().flatten());
        let header = |name: &str| bound.get(name);
        let request = ProvedRequest {
            method: method.as_ref(),
            path_and_query: &path_and_query,
            body,
        };
        let now_ms = i64::try_from(crate::clock::now_ms()).unwrap_or(i64::MAX);
        let proof = keys.proofs.prove(request, header, now_ms);
        outbound.set(edge_proof::HEADER, &proof)?;
    }
    let mut init = RequestInit::new();
    init.with_method(method.clone()).with_headers(outbound);
    if !matches!(method, Method::Get | Method::Head) {
        init.with_body(Some(Uint8Array::from(body).into()));
    }
    Request::new_with_init(url.as_str(), &init)
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
    let outbound = edge_headers(target.request_id, target.trace)?;
    // With the shared secret, the caller's verified claims travel sealed and bound to this
    // request; the token itself stays at the edge, so nothing on the hop can be reused as one.
    let sealing = edge_secret::trusted(env).is_some();
    for name in FORWARDED {
        if target.shared.is_some() && PER_CALLER.contains(&name) {
            continue;
        }
        if sealing && name == "authorization" {
            continue;
        }
        if let (Some(content_type), "content-type") = (target.content_type, name) {
            outbound.set(name, content_type)?;
        } else if let Some(value) = req.headers().get(name)? {
            outbound.set(name, &value)?;
        }
    }
    if let Some(position) = target.shared.and_then(|shared| shared.write_position) {
        outbound.set(headers::WRITE_LSN, position)?;
    }
    if let Some(correlation) = request_id::correlation(req) {
        outbound.set(headers::CORRELATION_ID, &correlation)?;
    }
    if let (Some(verified), Some(keys)) = (target.caller, edge_secret::trusted(env)) {
        let path = format!("/api/tenant/{}/{}", target.org_id, target.api_path);
        let method = target.method(req);
        let binding = Binding {
            method: method.as_ref(),
            path: &path,
            org_id: target.org_id,
            request_id: target.request_id,
        };
        let now_ms = i64::try_from(crate::clock::now_ms()).unwrap_or(i64::MAX);
        let now = chrono::DateTime::from_timestamp_millis(now_ms).unwrap_or_default();
        outbound.set(
            edge_claims::HEADER,
            &keys.claims.seal(binding, verified, now),
        )?;
    }
    if let Some(ip) = req.headers().get(headers::CF_CONNECTING_IP)? {
        outbound.set("x-forwarded-for", &ip)?;
    }
    signed(env, target.method(req), &url, outbound, body)
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
