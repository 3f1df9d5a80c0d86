//! Request bodies at the edge, read with a cap.
//!
//! A refusal must still read what the client already sent: workerd closes a keep-alive
//! connection whose request body was left unread, and a client that reuses it (or is still
//! sending) sees a reset instead of our answer. So an oversized body is read and thrown away up
//! to `DRAIN_LIMIT_BYTES`; only past that is the connection given up. Nothing past the cap is kept.
//!
//! The cap is the API's `MAX_BODY_BYTES`, except for a picture upload's (`api::images`,
//! 10 MB). A body that says in `Content-Length` it is longer than both the cap and the drain
//! limit is refused before a byte of it is read, and a body that turns out longer than the cap
//! while it streams in is given up as soon as it passes what would be drained: a client can
//! never make the edge hold more than the cap.

use futures::StreamExt;
use worker::{Method, Request, Result};

/// Largest request body the edge accepts (the origin enforces the same).
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// How much of an oversized body is read and discarded so the client still gets its 413.
const DRAIN_LIMIT_BYTES: usize = 1024 * 1024;

/// The body, or `None` when it is larger than `max` bytes.
pub async fn read_capped(req: &mut Request, max: usize) -> Result<Option<Vec<u8>>> {
    // A request without a body (a bodiless POST too) has no stream to read.
    if matches!(req.method(), Method::Get | Method::Head) || req.inner().body().is_none() {
        return Ok(Some(Vec::new()));
    }
    let declared = req
        .headers()
        .get("content-length")?
        .and_then(|length| length.trim().parse::<usize>().ok());
    if declared.is_some_and(|length| length > max.max(DRAIN_LIMIT_BYTES)) {
        return Ok(None);
    }
    let mut body = Vec::new();
    let mut seen = 0usize;
    let mut stream = req.stream()?;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        seen += chunk.len();
        if seen <= max {
            body.extend_from_slice(&chunk);
        } else if seen > max.max(DRAIN_LIMIT_BYTES) {
            break;
        }
    }
    Ok((seen <= max).then_some(body))
}
