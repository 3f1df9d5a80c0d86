//! The whole-request deadline.
//!
//! tower-http's `TimeoutLayer` answers a bare status with an empty body. tower's timeout
//! instead fails with a typed `Elapsed` error, which axum's `HandleErrorLayer` hands to
//! `refuse`, so a slow request gets the same problem+json `503` with `Retry-After` as every other
//! "try again shortly" answer. The abandoned handler is dropped: its transaction rolls back.

use api::{Problem, ProblemKind};
use axum::{response::Response, BoxError};

use crate::{observability::request_id, web::error::problem_response};

/// Turns a timed-out request into `503` problem+json.
pub async fn refuse(err: BoxError) -> Response {
    let request_id = request_id::current();
    let problem = if err.is::<tower::timeout::error::Elapsed>() {
        tracing::warn!("request ran out of time");
        Problem::new(
            ProblemKind::Unavailable,
            "the request took too long; try again shortly",
        )
    } else {
        tracing::error!(error = %err, "request failed in a middleware");
        Problem::new(ProblemKind::Internal, ProblemKind::Internal.title())
    };
    problem_response(&problem.with_request_id(request_id))
}
