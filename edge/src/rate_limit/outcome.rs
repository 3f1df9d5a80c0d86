//! What the limiter answers for one request, and the standing of the quota it speaks of.

use super::{
    fields::{self, Scope, Standing},
    policy::{Quota, WhenUnreachable},
    protocol::{CheckRequest, Verdict},
};
use crate::route::RouteClass;

/// The limiter's answer for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// No quota applies to this shop and class.
    Unlimited,
    Admitted(Standing),
    Refused(Standing),
    /// The limiter could not be asked.
    Unreachable(WhenUnreachable),
}

/// The outcome a verdict means, with the standing of the quota it speaks of.
pub(super) fn outcome(request: &CheckRequest, verdict: Verdict) -> Outcome {
    let quota = request
        .checks
        .iter()
        .find(|check| check.scope() == verdict.scope)
        .map(|check| check.quota);
    let Some(quota) = quota else {
        return Outcome::Unlimited;
    };
    let standing = standing(
        verdict.scope,
        request.class,
        quota,
        verdict.remaining,
        verdict.reset_ms,
    );
    if verdict.admitted {
        Outcome::Admitted(standing)
    } else {
        Outcome::Refused(standing)
    }
}

pub(super) fn standing(
    scope: Scope,
    class: RouteClass,
    quota: Quota,
    remaining: u32,
    reset_ms: u64,
) -> Standing {
    Standing {
        scope,
        class,
        quota,
        remaining,
        reset_seconds: fields::whole_seconds(reset_ms),
    }
}
