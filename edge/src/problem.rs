//! Refusals made at the edge, in the same problem+json shape the origin uses.

use api::{headers, Problem, ProblemKind};
use worker::{Response, Result};

pub fn problem_response(kind: ProblemKind, detail: &str, request_id: &str) -> Result<Response> {
    let problem = Problem::new(kind, detail).with_request_id(Some(request_id.to_owned()));
    let mut response = Response::from_json(&problem)?.with_status(kind.status());
    let headers = response.headers_mut();
    headers.set("content-type", headers::PROBLEM_JSON)?;
    headers.set(headers::REQUEST_ID, request_id)?;
    if kind.status() == 503 {
        headers.set("retry-after", "1")?;
    }
    Ok(response)
}
