//! Every call from the edge to the origin goes through `call`, so none can hang a shopper and
//! none is made while the origin is known to be down:
//!
//! - each call has a deadline (`deadlines`); past it the subrequest is cancelled through its
//!   `AbortSignal`, so the origin's connection is freed too, and the caller gets
//!   `OriginFailure::TimedOut`;
//! - each outcome is reported to the isolate's circuit breaker (`breaker`), and while it is
//!   open calls are refused at once with `OriginFailure::Resting`.
//!
//! The deadline covers what `read` does with the response as well: inventory answers are read
//! in full within it, while a forwarded answer (an event stream among them) is handed on as
//! soon as its headers arrive.

mod breaker;
mod deadlines;

use std::{cell::RefCell, future::Future, pin::pin, time::Duration};

use api::ProblemKind;
use futures::future::{select, Either};
use serde::de::DeserializeOwned;
use worker::{AbortController, Delay, Env, Fetch, Request, Response};

pub use breaker::BreakerPolicy;
pub use deadlines::{Budget, Deadlines};

use crate::{
    clock::now_ms,
    problem::problem_retry_after,
    settings::{self, SettingError},
};
use breaker::{Breaker, Health, Permission};

const DEADLINES_VAR: &str = "ORIGIN_DEADLINES_MS";
const BREAKER_VAR: &str = "ORIGIN_BREAKER";
/// A probe holds its turn this much past its deadline, for the time it takes to report.
const PROBE_GRACE_MS: u64 = 1_000;

thread_local! {
    static BREAKER: RefCell<Breaker> = RefCell::new(Breaker::default());
    /// The policy as read from the isolate's vars: they cannot change while it lives.
    static POLICY: std::cell::OnceCell<OriginPolicy> = const { std::cell::OnceCell::new() };
}

/// How the edge treats the origin: deadlines per route class and when to stop calling.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OriginPolicy {
    pub deadlines: Deadlines,
    pub breaker: BreakerPolicy,
}

impl OriginPolicy {
    /// The policy the Worker's vars set, read (and their JSON parsed) once per isolate.
    pub fn from_env(env: &Env) -> Self {
        POLICY.with(|policy| {
            *policy.get_or_init(|| Self {
                deadlines: setting(env, DEADLINES_VAR),
                breaker: setting(env, BREAKER_VAR),
            })
        })
    }
}

/// A setting's value; its default when it is not set or cannot be read (logged), so a typo
/// cannot take the shop down.
fn setting<T: DeserializeOwned + Default>(env: &Env, name: &str) -> T {
    settings::json_var(env, name).unwrap_or_else(|err| {
        if !matches!(err, SettingError::Missing) {
            worker::console_error!("setting {name} is {err}; using the defaults");
        }
        T::default()
    })
}

/// Why the origin gave no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OriginFailure {
    /// No answer within the deadline; the subrequest was cancelled.
    TimedOut,
    /// No connection, it broke before the answer was read, or a proxy in front of the origin
    /// answered 502 (and `TimedOut` for its 504).
    Unreachable,
    /// Not called: the origin is resting after repeated failures.
    Resting { retry_after_ms: u64 },
}

impl OriginFailure {
    /// How long a client should wait: the rest of the breaker's pause, else a second.
    pub fn retry_after_seconds(self) -> u64 {
        let millis = match self {
            Self::Resting { retry_after_ms } => retry_after_ms,
            Self::TimedOut | Self::Unreachable => resting_for().unwrap_or(1_000),
        };
        millis.div_ceil(1_000).max(1)
    }

    /// The refusal a client gets: 503 with `Retry-After`.
    pub fn problem(self, request_id: &str) -> worker::Result<Response> {
        let (kind, detail) = match self {
            Self::TimedOut => (
                ProblemKind::OriginTimeout,
                "the shop did not answer in time; try again shortly (a purchase retried with \
                 the same Idempotency-Key is never made twice)",
            ),
            Self::Unreachable => (
                ProblemKind::OriginUnavailable,
                "the shop cannot be reached right now; try again shortly",
            ),
            Self::Resting { .. } => (
                ProblemKind::OriginUnavailable,
                "the shop is catching up; try again shortly",
            ),
        };
        problem_retry_after(kind, detail, request_id, self.retry_after_seconds())
    }
}

/// How long the origin still rests (the breaker is open), if it does.
pub fn resting_for() -> Option<u64> {
    BREAKER.with(|breaker| breaker.borrow().resting_for(now_ms()))
}

/// Sends `request` to the origin and hands its response to `read`, all within `deadline`.
pub async fn call<T, Fut>(
    policy: &BreakerPolicy,
    request: Request,
    deadline: Duration,
    read: impl FnOnce(Response) -> Fut,
) -> Result<T, OriginFailure>
where
    Fut: Future<Output = worker::Result<T>>,
{
    if deadline.is_zero() {
        return Err(OriginFailure::TimedOut);
    }
    let deadline_ms = u64::try_from(deadline.as_millis()).unwrap_or(u64::MAX);
    let lease_ms = deadline_ms.saturating_add(PROBE_GRACE_MS);
    let permission = BREAKER.with(|breaker| breaker.borrow_mut().admit(now_ms(), lease_ms));
    if let Permission::Refused { retry_after_ms } = permission {
        return Err(OriginFailure::Resting { retry_after_ms });
    }
    let target = request.path();
    let cancel = AbortController::default();
    let signal = cancel.signal();
    let exchange = pin!(async move {
        let response = Fetch::Request(request).send_with_signal(&signal).await?;
        let status = response.status_code();
        Ok::<_, worker::Error>((status, read(response).await?))
    });
    let (health, outcome) = match select(exchange, Delay::from(deadline)).await {
        // A proxy in front of the origin (a load balancer) saying it got no answer is, for the
        // client, no answer: the same 503 with `Retry-After`, and the same key is safe to send
        // again.
        Either::Left((Ok((status, value)), _)) => match Health::of_status(status) {
            Health::Answered => (Health::Answered, Ok(value)),
            Health::Failed if status == 504 => (Health::Failed, Err(OriginFailure::TimedOut)),
            Health::Failed => (Health::Failed, Err(OriginFailure::Unreachable)),
        },
        Either::Left((Err(err), _)) => {
            worker::console_error!("origin call to {target} failed: {err}");
            (Health::Failed, Err(OriginFailure::Unreachable))
        }
        Either::Right(((), _)) => {
            cancel.abort();
            worker::console_error!("origin call to {target} cancelled after {deadline_ms} ms");
            (Health::Failed, Err(OriginFailure::TimedOut))
        }
    };
    BREAKER.with(|breaker| breaker.borrow_mut().record(health, policy, now_ms()));
    if permission == Permission::Probe {
        worker::console_log!("origin probe {target}: {health:?}");
    }
    outcome
}
