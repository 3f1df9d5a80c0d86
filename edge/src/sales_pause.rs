//! The kill switch at the edge: while a shop's sales are paused, its purchases are refused here
//! with 503, `Retry-After` and `sales-paused`, so a paused flash sale never reaches the origin.
//!
//! The origin stays authoritative (every purchase transaction reads the switch itself). The
//! edge learns the switch from `GET {ORIGIN_URL}/api/tenant/{org_id}/sales` and remembers it per
//! shop in the isolate for at most `REMEMBER_MS`, so a flip is obeyed here within about two
//! seconds; concurrent purchases that find nothing remembered share one status request. A flip
//! made through this isolate is obeyed at once. When the status cannot be read the purchase
//! goes on, and the origin decides.

use api::sales::SalesStatus;
use uuid::Uuid;
use worker::{Env, Fetch, Method, Request, RequestInit, Result};

use crate::{
    clock::now_ms, forward, isolate_memo::IsolateMemo, single_flight, single_flight::SingleFlight,
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

/// Whether `org_id`'s sales are paused, as far as the edge knows.
pub async fn paused(
    env: &Env,
    org_id: Uuid,
    request_id: &str,
    trace: &TraceContext,
) -> Option<Paused> {
    if let Some(known) = KNOWN.with(|known| known.get(&org_id, now_ms())) {
        return known;
    }
    let request = status_request(env, org_id, request_id, trace);
    let read = || async move {
        let paused = match request {
            Ok(request) => read_status(request).await,
            Err(err) => Err(err),
        }
        .unwrap_or_else(|err| {
            worker::console_error!(
                "sales status of {org_id} unreadable, the origin decides: {err}"
            );
            None
        });
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
    let mut init = RequestInit::new();
    init.with_method(Method::Get)
        .with_headers(forward::edge_headers(env, request_id, trace)?);
    Request::new_with_init(&forward::tenant_url(env, org_id, "sales")?, &init)
}

async fn read_status(request: Request) -> Result<Option<Paused>> {
    let mut response = Fetch::Request(request).send().await?;
    if response.status_code() != 200 {
        return Err(worker::Error::RustError(format!(
            "the origin answered {}",
            response.status_code()
        )));
    }
    Ok(Paused::from_status(response.json::<SalesStatus>().await?))
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
