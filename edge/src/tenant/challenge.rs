//! The HTTP challenge of a claimed hostname: `GET {CHALLENGE_PREFIX}{token}` on that hostname
//! is answered with the claim's body (text/plain, never cached), which is how the origin learns
//! that the hostname's DNS reaches the platform. Nothing else of any shop is served on a host
//! that is not live.
//!
//! A claim made after this isolate remembered the host as unknown must not wait for the
//! negative period: a challenge request that matches nothing re-asks the origin, at most once a
//! second per host, so an owner's "check now" passes at once and a flood of made-up tokens
//! costs the origin one lookup a second per host.

use api::{domains::CHALLENGE_PREFIX, ProblemKind};
use worker::{Env, Method, Request, Response, Result};

use super::{
    asking::Asking,
    host,
    lookup::{self, Found, Question},
};
use crate::{
    clock::now_ms,
    isolate_memo::IsolateMemo,
    problem::{problem_response, problem_retry_after},
    rate_limit::{Audience, Client},
};

/// How often a host's challenges may be re-asked for a token that matched none.
const REASK_EVERY_MS: u64 = 1_000;

thread_local! {
    static REASKED: IsolateMemo<String, ()> = IsolateMemo::default();
}

/// Whether `path` is a challenge's.
pub fn is_challenge_path(path: &str) -> bool {
    path.starts_with(CHALLENGE_PREFIX)
}

/// The answer to a request under `CHALLENGE_PREFIX`.
pub async fn answer_challenge(req: &Request, env: &Env, asking: Asking<'_>) -> Result<Response> {
    let request_id = asking.request_id;
    if !matches!(req.method(), Method::Get | Method::Head) {
        return problem_response(ProblemKind::NotFound, "no such route", request_id);
    }
    let host = host::request_host(req);
    let unknown = || {
        let detail = format!("no challenge of {host} is served here");
        problem_response(ProblemKind::UnknownShop, &detail, request_id)
    };
    if !host::is_hostname(&host) {
        return unknown();
    }
    let path = req.path();
    let client = Client::of(None, Audience::Anonymous, req);
    let mut question = Question {
        host: &host,
        client: &client,
        asking,
        afresh: false,
    };
    loop {
        let record = match lookup::find(env, question).await {
            Found::Record(record) => record,
            Found::OverBudget(retry) => return over_budget(request_id, retry),
        };
        let matching = record.lookup.challenges.iter().find(|c| c.path == path);
        if let Some(challenge) = matching {
            let response = Response::ok(challenge.body.clone())?;
            return Ok(response.with_headers(challenge_headers(request_id)?));
        }
        if question.afresh || !reask_due(&host) {
            return unknown();
        }
        question.afresh = true;
    }
}

/// Whether `host` may be re-asked now (and if so, the next time is a second away).
fn reask_due(host: &str) -> bool {
    let now = now_ms();
    REASKED.with(|reasked| {
        let host = host.to_owned();
        if reasked.get(&host, now).is_some() {
            return false;
        }
        reasked.remember(host, (), now + REASK_EVERY_MS, now);
        true
    })
}

fn challenge_headers(request_id: &str) -> Result<worker::Headers> {
    let headers = worker::Headers::new();
    headers.set("content-type", "text/plain; charset=utf-8")?;
    headers.set("cache-control", "no-store")?;
    headers.set(api::headers::REQUEST_ID, request_id)?;
    Ok(headers)
}

pub fn over_budget(request_id: &str, retry_after: u64) -> Result<Response> {
    let detail =
        format!("too many requests for domains no shop is served on; try again in {retry_after} s");
    problem_retry_after(ProblemKind::RateLimited, &detail, request_id, retry_after)
}
