//! The kill switch at the edge: while a shop's sales are paused, its purchases are refused here
//! with 503, `Retry-After` and `sales-paused`, so a paused flash sale never reaches the origin.
//!
//! The origin stays authoritative (every purchase transaction reads the switch itself). The
//! edge learns the switch from `GET {ORIGIN_URL}/api/tenant/{org_id}/sales` and remembers it per
//! shop in the isolate for at most `REMEMBER_MS`, so a flip is obeyed here within about two
//! seconds; concurrent purchases that find nothing remembered share one status request. A flip
//! made through this isolate is obeyed at once. When the status cannot be read (the origin
//! answers nothing within the deadline the caller gives, out of the purchase's own budget, or
//! is resting) the purchase goes on, and the origin decides.

use std::time::Duration;

use api::sales::SalesStatus;
use uuid::Uuid;
use worker::{Env, Method, Request, Response, Result};

use crate::{
    clock::now_ms,
    forward,
    isolate_memo::IsolateMemo,
    origin_calls::{self, OriginPolicy},
    single_flight,
    single_flight::SingleFlight,
    trace_context::TraceContext,
};

/// How long a shop's status is trusted.
const REMEMBER_MS: u64 = 1_000;
/// What a paused buyer is told to wait when the origin names no time.
const DEFAULT_RETRY_AFTER_SECONDS: u64 = 30;

/// Why purchases are refused, and for how long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paused {
    pub reason: Option<String>,
    pub retry_after_seconds: u64,
}

impl Paused {
    fn from_status(status: SalesStatus) -> Option<Self> {
        status.paused.then(|| Self {
            reason: status.reason,
            retry_after_seconds: status
                .retry_after_seconds
                .and_then(|s| u64::try_from(s).ok())
                .filter(|s| *s > 0)
                .unwrap_or(DEFAULT_RETRY_AFTER_SECONDS),
        })
    }

    pub fn detail(&self) -> String {
        match &self.reason {
            Some(reason) => format!("sales are paused: {reason}"),
            None => "sales are paused".to_owned(),
        }
    }
}

thread_local! {
    /// `None`: selling (or the status could not be read, and the origin will decide).
    static KNOWN: IsolateMemo<Uuid, Option<Paused>> = IsolateMemo::default();
    static FLIGHTS: SingleFlight<Uuid, Option<Paused>> = SingleFlight::default();
}

/// Where a status request goes and how long it may take.
#[derive(Debug, Clone, Copy)]
pub struct StatusCall<'a> {
    pub org_id: Uuid,
    pub request_id: &'a str,
    pub trace: &'a TraceContext,
    pub policy: &'a OriginPolicy,
    pub deadline: Duration,
}

/// Whether the shop's sales are paused, as far as the edge knows.
pub async fn paused(env: &Env, call: StatusCall<'_>) -> Option<Paused> {
    let StatusCall {
        org_id,
        request_id,
        trace,
        policy,
        deadline,
    } = call;
    let policy = policy.breaker;
    if let Some(known) = KNOWN.with(|known| known.get(&org_id, now_ms())) {
        return known;
    }
    let request = status_request(env, org_id, request_id, trace);
    let read = || async move {
        let status = match request {
            Ok(request) => origin_calls::call(&policy, request, deadline, read_status)
                .await
                .unwrap_or_else(|failure| {
                    worker::console_error!(
                        "sales status of {org_id} unreadable ({failure:?}), the origin decides"
                    );
                    None
                }),
            Err(err) => {
                worker::console_error!("sales status request of {org_id} not made: {err}");
                None
            }
        };
        let paused = status.and_then(Paused::from_status);
        let now = now_ms();
        KNOWN.with(|known| known.remember(org_id, paused.clone(), now + REMEMBER_MS, now));
        paused
    };
    single_flight::share(&FLIGHTS, org_id, read, single_flight::worker_ticks()).await
}

/// Forgets what the edge knows of `org_id`'s switch (after a flip through this isolate).
pub fn forget(org_id: Uuid) {
    KNOWN.with(|known| known.forget(&org_id));
    FLIGHTS.with(|flights| flights.forget(|key| *key == org_id));
}

fn status_request(
    env: &Env,
    org_id: Uuid,
    request_id: &str,
    trace: &TraceContext,
) -> Result<Request> {
    let url = forward::tenant_url(env, org_id, api::routes::SALES)?;
    let headers = forward::edge_headers(request_id, trace)?;
    forward::signed(env, Method::Get, &url, headers, &[])
}

/// The status in an answer of the origin; `None` (logged) when it answered something else.
async fn read_status(mut response: Response) -> Result<Option<SalesStatus>> {
    if response.status_code() != 200 {
        worker::console_error!(
            "the origin answered {} to a sales status request",
            response.status_code()
        );
        return Ok(None);
    }
    response.json::<SalesStatus>().await.map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(paused: bool, reason: Option<&str>, retry: Option<i64>) -> SalesStatus {
        SalesStatus {
            paused,
            reason: reason.map(str::to_owned),
            retry_after_seconds: retry,
        }
    }

    #[test]
    fn a_paused_status_says_why_and_for_how_long() {
        assert_eq!(Paused::from_status(status(false, None, None)), None);
        let paused = Paused::from_status(status(true, Some("glitch"), Some(12))).unwrap();
        assert_eq!(paused.retry_after_seconds, 12);
        assert_eq!(paused.detail(), "sales are paused: glitch");
        let unnamed = Paused::from_status(status(true, None, Some(-3))).unwrap();
        assert_eq!(unnamed.retry_after_seconds, DEFAULT_RETRY_AFTER_SECONDS);
        assert_eq!(unnamed.detail(), "sales are paused");
    }
}
