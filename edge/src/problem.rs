//! Refusals made at the edge, in the same problem+json shape the origin uses.

use api::{headers, Problem, ProblemKind};
use worker::{Response, Result};

/// A refusal; a 503 tells the client to retry after a second.
pub fn problem_response(kind: ProblemKind, detail: &str, request_id: &str) -> Result<Response> {
    problem_body(Problem::new(kind, detail), request_id)
}

/// A refusal whose problem carries more than its kind and detail (an `out-of-stock`'s units
/// left); a 503 tells the client to retry after a second.
pub fn problem_body(problem: Problem, request_id: &str) -> Result<Response> {
    let retry_after = (problem.status == 503).then_some(1);
    respond(problem, request_id, retry_after)
}

/// A refusal that tells the client how many seconds to wait before trying again.
pub fn problem_retry_after(
    kind: ProblemKind,
    detail: &str,
    request_id: &str,
    seconds: u64,
) -> Result<Response> {
    respond(Problem::new(kind, detail), request_id, Some(seconds.max(1)))
}

fn respond(problem: Problem, request_id: &str, retry_after: Option<u64>) -> Result<Response> {
    let problem = problem.with_request_id(Some(request_id.to_owned()));
    let mut response = Response::from_json(&problem)?.with_status(problem.status);
    let headers = response.headers_mut();
    headers.set("content-type", headers::PROBLEM_JSON)?;
    headers.set(headers::REQUEST_ID, request_id)?;
    if let Some(seconds) = retry_after {
        headers.set(headers::RETRY_AFTER, &seconds.to_string())?;
    }
    Ok(response)
}
