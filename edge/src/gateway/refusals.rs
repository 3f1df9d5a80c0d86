//! The answers the gateway refuses with, and the rate-limit fields every answer to a limited
//! client carries.

use api::{headers, ProblemKind};
use worker::Result;

use crate::{
    problem::{problem_response, problem_retry_after},
    rate_limit::{policy::WhenUnreachable, Outcome, Standing},
    respond::Answer,
};

/// Go on (reporting the client's standing, when a quota applies), or answer with a refusal.
pub type Admission = std::result::Result<Option<Standing>, Answer>;

/// What the limiter's outcome means: go on (reporting the client's standing, if limited), or
/// the refusal to answer with.
pub fn admission(outcome: Outcome, request_id: &str) -> Result<Admission> {
    Ok(match outcome {
        Outcome::Admitted(standing) => Ok(Some(standing)),
        Outcome::Unlimited | Outcome::Unreachable(WhenUnreachable::Open) => Ok(None),
        Outcome::Refused(standing) => Err(too_many_requests(standing, request_id)?),
        Outcome::Unreachable(WhenUnreachable::Closed) => Err(refuse(
            ProblemKind::Unavailable,
            "the shop is busy; please try again shortly",
            request_id,
        )?),
    })
}

pub fn refuse(kind: ProblemKind, detail: &str, request_id: &str) -> Result<Answer> {
    Ok(problem_response(kind, detail, request_id)?.into())
}

pub fn too_many_requests(standing: Standing, request_id: &str) -> Result<Answer> {
    let detail = format!(
        "too many {} requests; try again in {} s",
        standing.class.name(),
        standing.reset_seconds.max(1)
    );
    let response = problem_retry_after(
        ProblemKind::RateLimited,
        &detail,
        request_id,
        standing.reset_seconds,
    )?;
    Ok(with_standing(response.into(), Some(standing)))
}

pub fn with_standing(answer: Answer, standing: Option<Standing>) -> Answer {
    match standing {
        Some(standing) => answer
            .with(headers::RATELIMIT_POLICY, standing.policy_field())
            .with(headers::RATELIMIT, standing.ratelimit_field()),
        None => answer,
    }
}
