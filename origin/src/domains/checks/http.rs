//! The HTTP check: the origin asks `http://{hostname}{path}` and expects the challenge's body.
//! Only the edge answers that path, and only on a hostname with a pending claim, so a pass
//! proves the hostname's DNS reaches the platform.
//!
//! The request is an attacker's chance to make the origin fetch something, so it is held
//! short: a few seconds in all, redirects not followed (a redirect is a failure, not a hop to
//! somewhere else), and at most `MAX_BODY_BYTES` read. With `DOMAIN_CHECK_HTTP_VIA` set (the
//! development stack and the tests), it connects there and names the hostname in `Host:`.

use std::time::Duration;

use axum::http::header::HOST;
use futures::StreamExt;

use super::Failed;

/// More than any challenge body; the rest of a larger answer is never read.
const MAX_BODY_BYTES: usize = 1024;

/// Passes when `http://{host}{path}` answers 200 with `body`.
pub async fn check(
    host: &str,
    path: &str,
    body: &str,
    via: Option<&str>,
    timeout: Duration,
) -> Result<(), Failed> {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .connect_timeout(timeout)
        .build()
        .map_err(|err| Failed::internal(format!("HTTP client: {err}")))?;
    let request = match via {
        Some(via) => client
            .get(format!("{}{path}", via.trim_end_matches('/')))
            .header(HOST, host),
        None => client.get(format!("http://{host}{path}")),
    };
    let response = request.send().await.map_err(|err| {
        let what = if err.is_timeout() {
            "did not answer in time"
        } else {
            "could not be reached"
        };
        Failed::owner(format!(
            "http://{host}{path} {what}: point the hostname's CNAME at the platform and wait for DNS"
        ))
    })?;
    let status = response.status();
    if !status.is_success() {
        return Err(Failed::owner(format!(
            "http://{host}{path} answered {status}, not the challenge: the hostname does not reach \
             the platform yet (check its CNAME)"
        )));
    }
    let answered = read_capped(response).await;
    if answered.trim() == body {
        Ok(())
    } else {
        Err(Failed::owner(format!(
            "http://{host}{path} answered something else than the challenge: the hostname reaches \
             another server (check its CNAME)"
        )))
    }
}

/// The body's first `MAX_BODY_BYTES` bytes, as text (what fails to arrive counts as nothing).
async fn read_capped(response: reqwest::Response) -> String {
    let mut stream = response.bytes_stream();
    let mut body = Vec::new();
    while let Some(Ok(chunk)) = stream.next().await {
        let room = MAX_BODY_BYTES - body.len();
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() >= MAX_BODY_BYTES {
            break;
        }
    }
    String::from_utf8_lossy(&body).into_owned()
}
