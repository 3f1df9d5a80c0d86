//! Asking the shop's limiter object, with a deadline: past it the limiter counts as unreachable
//! and the route class's fallback applies.

use std::time::Duration;

use futures::future::{select, Either};
use uuid::Uuid;
use worker::{Delay, Env, Method, Request, RequestInit, Result};

use super::protocol::{CheckRequest, Verdict, CHECK_URL};

const BINDING: &str = "RATE_LIMITER";
/// How long a check may take before the limiter counts as unreachable.
const CHECK_TIMEOUT: Duration = Duration::from_millis(1_000);

/// The name of a shop's limiter object.
pub fn object_name(org_id: Uuid) -> String {
    format!("shop:{org_id}")
}

pub async fn ask(env: &Env, org_id: Uuid, check: &CheckRequest) -> Result<Verdict> {
    let stub = env
        .durable_object(BINDING)?
        .id_from_name(&object_name(org_id))?
        .get_stub()?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_body(Some(serde_json::to_string(check)?.into()));
    let request = Request::new_with_init(CHECK_URL, &init)?;
    let call = Box::pin(async move {
        let mut response = stub.fetch_with_request(request).await?;
        if response.status_code() != 200 {
            return Err(worker::Error::RustError(format!(
                "the limiter answered {}",
                response.status_code()
            )));
        }
        response.json::<Verdict>().await
    });
    match select(call, Delay::from(CHECK_TIMEOUT)).await {
        Either::Left((verdict, _)) => verdict,
        Either::Right(_) => Err(worker::Error::RustError(format!(
            "no answer within {} ms",
            CHECK_TIMEOUT.as_millis()
        ))),
    }
}
